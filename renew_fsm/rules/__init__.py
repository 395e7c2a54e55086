"""The rule registry: every rule id a machine file may name, bound to its function.

A rule id is ``name`` or ``name:argument`` (``window_open:registration``,
``set_flag:published``).  Three kinds: *guards* refuse a transition, *conditions*
choose between an event's transitions, *effects* write into the instance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from . import conditions, effects, guards
from .verdict import PASS, Verdict


@attrs.frozen
class Rule:
    fn: Callable[..., Any]
    #: Takes the argument after ``:`` (and must be given one).
    param: str | None = None
    #: Judged on the command's data, so ``allowed()`` cannot tell in advance.
    reads_data: bool = False


GUARDS: dict[str, Rule] = {
    "window_open": Rule(guards.window_open, param="window"),
    "cycle_confirmed": Rule(guards.cycle_confirmed),
    "window_over": Rule(guards.window_over, param="window"),
    "before_deferral_deadline": Rule(guards.before_deferral_deadline),
    "no_score_yet": Rule(guards.no_score_yet),
    "simple_not_refused": Rule(guards.simple_not_refused),
    "simple_condition_met": Rule(guards.simple_condition_met, reads_data=True),
    "humanities_exemption_applies": Rule(guards.humanities_exemption_applies, reads_data=True),
    "exemption_not_forbidden": Rule(guards.exemption_not_forbidden),
    "business_exemption_open": Rule(guards.business_exemption_open, reads_data=True),
    "no_business_score": Rule(guards.no_business_score),
    "test_in_program": Rule(guards.test_in_program, reads_data=True),
    "attempts_remain": Rule(guards.attempts_remain, reads_data=True),
    "suspension_in_range": Rule(guards.suspension_in_range, reads_data=True),
    "suspension_over": Rule(guards.suspension_over),
    "suspension_ended_in_time": Rule(guards.suspension_ended_in_time),
    "assistance_age": Rule(guards.assistance_age),
    "flag_set": Rule(guards.flag_set, param="flag"),
    "flag_clear": Rule(guards.flag_clear, param="flag"),
    "resumed": Rule(guards.resumed),
    "not_resumed": Rule(guards.not_resumed),
    "not_appealed": Rule(guards.not_appealed),
    "appeal_in_time": Rule(guards.appeal_in_time),
    "appeal_answerable": Rule(guards.appeal_answerable),
    "result_may_be_set_aside": Rule(guards.result_may_be_set_aside),
    "result_is_score": Rule(guards.result_is_score),
    "test_sat": Rule(guards.test_sat, reads_data=True),
    "reevaluation_due": Rule(guards.reevaluation_due),
    "before_reexam_closes": Rule(guards.before_reexam_closes),
    "institution_differs": Rule(guards.institution_differs, reads_data=True),
    # workflow cases
    "subject_kind": Rule(guards.subject_kind, param="kind"),
    "not_assigned": Rule(guards.not_assigned, reads_data=True),
    "assigned": Rule(guards.assigned, reads_data=True),
    "assigned_nowhere_else": Rule(guards.assigned_nowhere_else, reads_data=True),
    "registered_in_cycle": Rule(guards.registered_in_cycle),
    # the organisations' own records
    "attempt_recorded": Rule(guards.attempt_recorded, reads_data=True),
    "reason_unused": Rule(guards.reason_unused, reads_data=True),
    "cycle_not_confirmed": Rule(guards.cycle_not_confirmed, reads_data=True),
    "second_level": Rule(guards.second_level),
    "doctor_in_no_department": Rule(guards.doctor_in_no_department, reads_data=True),
    "doctor_here": Rule(guards.doctor_here, reads_data=True),
    "department_unused": Rule(guards.department_unused, reads_data=True),
}

CONDITIONS: dict[str, Rule] = {
    "tests_complete": Rule(conditions.tests_complete),
    "tests_pass": Rule(conditions.tests_pass),
    "evaluation_passed": Rule(conditions.evaluation_passed),
    "returns_to": Rule(conditions.returns_to, param="state"),
    "listed_after_makeup": Rule(conditions.listed_after_makeup),
}

EFFECTS: dict[str, Rule] = {
    "set_program": Rule(effects.set_program, param="program"),
    "clear_program": Rule(effects.clear_program),
    "store_evaluation": Rule(effects.store_evaluation),
    "clear_evaluation": Rule(effects.clear_evaluation),
    "fail_evaluation": Rule(effects.fail_evaluation),
    "record_score": Rule(effects.record_score),
    "fail_grade": Rule(effects.fail_grade),
    "judge_unfinished": Rule(effects.judge_unfinished),
    "close_reexam": Rule(effects.close_reexam),
    "plan_reexam": Rule(effects.plan_reexam),
    "list_without_suspension": Rule(effects.list_without_suspension),
    "pending_if_suspended_past_window": Rule(effects.pending_if_suspended_past_window),
    "store_reevaluation": Rule(effects.store_reevaluation),
    "confirm_reevaluation": Rule(effects.confirm_reevaluation),
    "correct_score": Rule(effects.correct_score),
    "set_flag": Rule(effects.set_flag, param="flag"),
    "clear_flag": Rule(effects.clear_flag, param="flag"),
    "set_reason": Rule(effects.set_reason, param="reason"),
    "store_exemption_reason": Rule(effects.store_exemption_reason),
    "exempt": Rule(effects.exempt, param="test"),
    "reject_exemption": Rule(effects.reject_exemption),
    "remember_state": Rule(effects.remember_state),
    "start_suspension": Rule(effects.start_suspension),
    "discipline": Rule(effects.discipline),
    "reset_cycle": Rule(effects.reset_cycle),
    "violation": Rule(effects.violation),
    "result_given": Rule(effects.result_given),
    "store_appeal_day": Rule(effects.store_appeal_day),
    "pass_evaluation": Rule(effects.pass_evaluation),
    "set_aside_result": Rule(effects.set_aside_result),
    "to_makeup_if_late": Rule(effects.to_makeup_if_late),
    # workflow cases
    "remember": Rule(effects.remember, param="field"),
    "forget": Rule(effects.forget, param="field"),
    "assign": Rule(effects.assign),
    "withdraw": Rule(effects.withdraw),
    "store_changes": Rule(effects.store_changes),
    "store_export": Rule(effects.store_export),
    "count": Rule(effects.count, param="key"),
    # the organisations' own records
    "store_photos": Rule(effects.store_photos),
    "store_policy": Rule(effects.store_policy),
    "count_reasons": Rule(effects.count_reasons, param="change"),
    "store_info": Rule(effects.store_info),
    "store_members": Rule(effects.store_members, param="body"),
    "confirm_cycle": Rule(effects.confirm_cycle),
    "store_department": Rule(effects.store_department),
    "place_doctor": Rule(effects.place_doctor),
    "remove_doctor": Rule(effects.remove_doctor),
}

#: The registry by kind of rule (a machine file's ``guards``, ``conditions``, ``effects``).
RULE_KINDS: dict[str, dict[str, Rule]] = {"guard": GUARDS, "condition": CONDITIONS, "effect": EFFECTS}
#: The old name, kept for code that imports it.
KINDS = RULE_KINDS


def split(ref: str) -> tuple[str, str | None]:
    name, _, arg = ref.partition(":")
    return name, (arg or None)


def problem(kind: str, ref: str) -> str | None:
    """Why ``ref`` cannot be bound as a ``kind`` rule, or ``None`` if it can."""
    name, arg = split(ref)
    rule = RULE_KINDS[kind].get(name)
    if rule is None:
        return f"unknown {kind} rule {name!r}"
    if rule.param and arg is None:
        return f"{kind} rule {name!r} needs an argument ({name}:<{rule.param}>)"
    if not rule.param and arg is not None:
        return f"{kind} rule {name!r} takes no argument"
    return None


def bind(kind: str, ref: str) -> Callable[..., Any]:
    """The function for ``ref`` with its argument filled in: call it as ``f(inst, policy, act, at)``."""
    name, arg = split(ref)
    rule = RULE_KINDS[kind][name]
    return functools.partial(rule.fn, **{rule.param: arg}) if rule.param else rule.fn


def reads_data(ref: str) -> bool:
    return GUARDS[split(ref)[0]].reads_data


__all__ = ["CONDITIONS", "EFFECTS", "GUARDS", "PASS", "RULE_KINDS", "Rule", "Verdict", "bind", "problem", "reads_data"]
