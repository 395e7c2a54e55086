"""Branch conditions: which of an event's transitions fires.

A condition is judged on the instance *after* the transition's effects (the
score just recorded counts), so ``tests_complete`` after ``record_score`` sees
the new attempt.  Pure functions of ``(instance, policy, command, at)``.
"""

from __future__ import annotations

import datetime as dt

from ..model import Act, Instance
from .policy import Policy
from .results import ATTEMPTS, BEST, DUE_FLAGS, FAILED, program_tests, test_passed

__all__ = ["ATTEMPTS", "BEST", "test_passed"]


def test_done(inst: Instance, policy: Policy, test: str, license: str) -> bool:
    return test_passed(inst, policy, test, license) or getattr(inst, ATTEMPTS[test]) >= policy.tests[test].attempts


def tests_complete(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> bool:
    """Every test of the round has passed, been exempted, or used its attempts."""
    if inst.state.startswith("reexam"):
        # Each item the re-exam covers is sat or evaluated once (its flag goes when it is).
        return not inst.flags & DUE_FLAGS
    return all(test_done(inst, policy, t, act.doctor.license) for t in program_tests(inst))


def tests_pass(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> bool:
    if inst.state.startswith("reexam"):
        return FAILED not in inst.flags
    return all(test_passed(inst, policy, t, act.doctor.license) for t in program_tests(inst))


def evaluation_passed(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> bool:
    """Both work performance and ethics were evaluated ``pass`` by the institution."""
    return inst.work_performance == "pass" and inst.ethics == "pass"


def returns_to(inst: Instance, policy: Policy, act: Act, at: dt.datetime, state: str) -> bool:
    """The deferral sub-flow goes back to the state held when the request was made."""
    return inst.deferred_from == state


def listed_after_makeup(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> bool:
    """An upheld appeal against an absence once the make-up has closed: the re-exam list is the one
    assessment left."""
    return inst.reason == "absent" and policy.day(at) > policy.windows.makeup.end
