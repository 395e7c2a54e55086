"""Branch conditions: which of an event's transitions fires.

A condition is judged on the instance *after* the transition's effects (the
score just recorded counts), so ``tests_complete`` after ``record_score`` sees
the new attempt.  Pure functions of ``(instance, policy, command, at)``.
"""

from __future__ import annotations

import datetime as dt

from ..model import Command, Instance
from .guards import program_test
from .policy import Policy

BEST = {"humanities": "humanities_best", "business": "business_best"}
ATTEMPTS = {"humanities": "humanities_attempts", "business": "business_attempts"}


def program_tests(inst: Instance) -> tuple[str, ...]:
    return ("humanities",) if inst.program == "simple" else ("business", "humanities")


def test_passed(inst: Instance, policy: Policy, test: str, license: str) -> bool:
    """Exempted, or the best attempt reaches the line (a score equal to the line passes)."""
    if f"{test}_exempt" in inst.flags:
        return True
    best = getattr(inst, BEST[test])
    return best is not None and best >= policy.pass_line(test, license)


def test_done(inst: Instance, policy: Policy, test: str, license: str) -> bool:
    return test_passed(inst, policy, test, license) or getattr(inst, ATTEMPTS[test]) >= policy.tests[test].attempts


def reexam_passed(inst: Instance, policy: Policy, license: str) -> bool:
    return inst.reexam_best is not None and inst.reexam_best >= policy.pass_line(program_test(inst), license)


def tests_complete(inst: Instance, policy: Policy, cmd: Command, at: dt.datetime) -> bool:
    """Every test of the round has passed, been exempted, or used its attempts."""
    if inst.state.startswith("reexam"):
        return inst.reexam_attempts >= policy.reexam.attempts
    return all(test_done(inst, policy, t, cmd.doctor.license) for t in program_tests(inst))


def tests_pass(inst: Instance, policy: Policy, cmd: Command, at: dt.datetime) -> bool:
    if inst.state.startswith("reexam"):
        return reexam_passed(inst, policy, cmd.doctor.license)
    return all(test_passed(inst, policy, t, cmd.doctor.license) for t in program_tests(inst))


def evaluation_passed(inst: Instance, policy: Policy, cmd: Command, at: dt.datetime) -> bool:
    """Both work performance and ethics were evaluated ``pass`` by the institution."""
    return inst.work_performance == "pass" and inst.ethics == "pass"


def returns_to(inst: Instance, policy: Policy, cmd: Command, at: dt.datetime, state: str) -> bool:
    """The deferral sub-flow goes back to the state held when the request was made."""
    return inst.deferred_from == state
