"""How a record is judged when a window closes, what the re-exam covers, and who may be cancelled (issue 30).

Plain calls of the rules with hand-built instances under the Guangxi 2019–2020 policy.
"""

from __future__ import annotations

import datetime as dt

import pytest

from renew_fsm.rules import conditions, effects, guards
from renew_fsm.rules.results import reexam_items, unfinished_reason

from .test_guards import NOON, POLICY, an_act, at_beijing, instance, refused


@pytest.mark.parametrize(
    ("program", "scores", "flags", "reason"),
    [
        # No attempt at all: 缺考.
        ("general", {}, set(), "absent"),
        ("simple", {}, set(), "absent"),
        # Sat business (40) and never humanities: judged on the business test.
        ("general", {"business_attempts": 1, "business_best": 40.0}, set(), "business_level"),
        # Business passed, humanities failed three times with attempts left: humanities.
        (
            "general",
            {"business_attempts": 1, "business_best": 80.0, "humanities_attempts": 3, "humanities_best": 50.0},
            set(),
            "humanities",
        ),
        # Business passed, humanities never sat: humanities not passed.
        ("general", {"business_attempts": 1, "business_best": 80.0}, set(), "humanities"),
        # Exempted from business, one humanities attempt failed.
        ("general", {"humanities_attempts": 1, "humanities_best": 30.0}, {"business_exempt"}, "humanities"),
        ("simple", {"humanities_attempts": 2, "humanities_best": 59.0}, set(), "humanities"),
    ],
)
def test_a_doctor_who_took_part_is_judged_on_the_tests(
    program: str, scores: dict[str, float], flags: set[str], reason: str
) -> None:
    inst = instance(state=f"{program}.testing", program=program, flags=frozenset(flags), **scores)
    assert unfinished_reason(inst, POLICY, "physician") == reason
    assert effects.judge_unfinished(inst, POLICY, an_act(), NOON) == {"reason": reason}


@pytest.mark.parametrize(
    ("program", "reason", "fields", "items"),
    [
        ("general", "business_level", {"business_best": 40.0, "humanities_best": 80.0}, ("business",)),
        ("general", "business_level", {"business_best": 40.0, "humanities_best": 50.0}, ("business", "humanities")),
        ("general", "humanities", {"business_best": 80.0, "humanities_best": 50.0}, ("humanities",)),
        ("simple", "humanities", {"humanities_best": 50.0}, ("humanities",)),
        ("general", "absent", {}, ("business", "humanities")),
        ("simple", "absent", {}, ("humanities",)),
        # A failed evaluation or a conduct finding: evaluated afresh, not a test.
        ("general", "work_performance", {}, ("evaluation",)),
        ("simple", "ethics", {}, ("evaluation",)),
        ("general", "violation", {"business_best": 80.0, "humanities_best": 80.0}, ("evaluation",)),
        # A discipline finding voids the tests it was made in, passed or not.
        ("general", "discipline", {"business_best": 80.0, "humanities_best": 80.0}, ("business", "humanities")),
    ],
)
def test_the_reexam_reassesses_what_failed(
    program: str, reason: str, fields: dict[str, float], items: tuple[str, ...]
) -> None:
    inst = instance(state="reexam.suspended", program=program, reason=reason, **fields)
    assert reexam_items(inst, POLICY, "physician") == items
    planned = effects.plan_reexam(inst, POLICY, an_act(), NOON)["flags"]
    assert planned == frozenset(f"reexam_{item}" for item in items)


def test_a_fresh_evaluation_is_confirmed_by_the_agency_and_fails_if_either_item_fails() -> None:
    inst = instance(state="reexam.listed", reason="ethics", flags=frozenset({"reexam_evaluation"}))
    assert guards.reevaluation_due(inst, POLICY, an_act(), NOON).ok
    data = {"work_performance": "pass", "ethics": "fail"}
    evaluated = inst.evolve(effects.store_reevaluation(inst, POLICY, an_act(data), NOON))
    assert "reexam_evaluated" in evaluated.flags
    confirmed = evaluated.evolve(effects.confirm_reevaluation(evaluated, POLICY, an_act(), NOON))
    assert conditions.tests_complete(confirmed, POLICY, an_act(), NOON)
    assert not conditions.tests_pass(confirmed, POLICY, an_act(), NOON)
    # A doctor whose re-exam is a test is not re-evaluated.
    tested = instance(state="reexam.listed", reason="humanities", flags=frozenset({"reexam_humanities"}))
    assert refused(guards.reevaluation_due(tested, POLICY, an_act(), NOON), "not_eligible")


@pytest.mark.parametrize(
    ("suspended_on", "months", "in_time"),
    [
        ("2021-07-28", 4, True),  # ends 11-28, the window's last day: the doctor can still sit
        ("2021-07-29", 4, False),  # ends 11-29, after the window
        ("2021-07-10", 6, False),  # ends 2022-01-10
        (None, None, True),  # listed without suspension (an upheld appeal)
    ],
)
def test_only_a_suspension_over_in_time_leads_to_cancellation(
    suspended_on: str | None, months: int | None, in_time: bool
) -> None:
    day = dt.date.fromisoformat(suspended_on) if suspended_on else None
    inst = instance(state="reexam.listed", suspended_on=day, suspension_months=months)
    verdict = guards.suspension_ended_in_time(inst, POLICY, an_act(), NOON)
    assert verdict.ok if in_time else refused(verdict, "suspension_not_over")
    assert (
        "reexam_pending"
        in effects.pending_if_suspended_past_window(inst, POLICY, an_act(), NOON).get("flags", frozenset())
    ) is not in_time


@pytest.mark.parametrize(("day", "ok"), [("2021-11-28", True), ("2021-11-29", False)])
def test_a_finding_after_a_pass_until_the_reexam_closes(day: str, ok: bool) -> None:
    verdict = guards.before_reexam_closes(instance(state="qualified"), POLICY, an_act(), at_beijing(day))
    assert verdict.ok if ok else refused(verdict, "window_closed")


@pytest.mark.parametrize(
    ("reason", "set_aside", "score"),
    [
        ("absent", True, False),
        ("discipline", True, False),
        ("work_performance", True, False),
        ("business_level", False, True),
        ("humanities", False, True),
    ],
)
def test_every_result_has_its_appeal(reason: str, set_aside: bool, score: bool) -> None:
    inst = instance(state="appeal.requested", reason=reason)
    assert guards.result_may_be_set_aside(inst, POLICY, an_act(), NOON).ok is set_aside
    assert guards.result_is_score(inst, POLICY, an_act(), NOON).ok is score


def test_a_corrected_score_replaces_the_recorded_one() -> None:
    inst = instance(state="appeal.requested", program="general", reason="business_level", business_best=58.0)
    cmd = an_act({"test": "business", "score": 61, "reason": "阅卷错误"})
    after = inst.evolve(effects.correct_score(inst, POLICY, cmd, NOON))
    assert after.business_best == 61


@pytest.mark.parametrize(("day", "pending"), [("2021-11-28", False), ("2021-12-02", True)])
def test_listed_by_an_upheld_appeal_after_the_reexam_closed_waits(day: str, pending: bool) -> None:
    """No suspension is a 0-month one from the day of listing: listed too late to sit, the doctor waits."""
    inst = instance(state="appeal.requested", reason="absent")
    listed = inst.evolve(effects.list_without_suspension(inst, POLICY, an_act(), at_beijing(day)))
    assert (listed.suspended_on, listed.suspension_months) == (dt.date.fromisoformat(day), 0)
    flags = effects.pending_if_suspended_past_window(listed, POLICY, an_act(), at_beijing(day)).get("flags", ())
    assert ("reexam_pending" in flags) is pending
    assert guards.suspension_ended_in_time(listed, POLICY, an_act(), at_beijing(day)).ok is not pending
