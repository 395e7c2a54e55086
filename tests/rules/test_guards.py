"""Every rule at its boundary, called as the plain function it is, under the Guangxi 2019–2020 policy.

The boundaries are where a province's doctors argue: a score equal to the
line, a 60th birthday on the last day of the period, exactly five years of
practice, the first and last minute of a window when the clock reports UTC.
Rules are pure functions of (instance, policy, command, time), so each case
is one call with hand-built values — no engine, no store, no clock.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from renew_fsm import rules
from renew_fsm.model import Act, Actor, Doctor, Instance
from renew_fsm.rules import conditions, effects, guards
from renew_fsm.rules.policy import Policy, Window, load
from renew_fsm.rules.verdict import Verdict, add_months, anniversary

from .policy_text import GUANGXI

POLICY = load(GUANGXI)
BEIJING = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
D = dt.date.fromisoformat
#: Any time will do for rules that do not look at it.
NOON = dt.datetime(2021, 6, 2, 12, 0, tzinfo=BEIJING)


def doctor(**changes: Any) -> Doctor:
    base = Doctor(
        id="D1",
        institution="H1",
        name="医师D1",
        id_card="450103197003150011",
        license="physician",
        birth_date=D("1970-03-15"),
        practice_since=D("2000-09-01"),
        record="good",
    )
    return attrs.evolve(base, **changes)


def instance(**changes: Any) -> Instance:
    return Instance("D1", GUANGXI, **changes)


def an_act(data: dict[str, Any] | None = None, *, event: str = "any", at: dt.datetime = NOON, **who: Any) -> Act:
    return Act(event, Actor("doctor", "D1"), data or {}, doctor(**who), at)


def refused(verdict: Verdict, rule: str) -> bool:
    """Refused under ``rule``, with a reason in both languages."""
    return not verdict.ok and verdict.rule == rule and bool(verdict.zh) and bool(verdict.en)


def with_period_end(end: str) -> Policy:
    return attrs.evolve(POLICY, period=Window(POLICY.period.start, D(end)))


# -- pass lines: a score equal to the line passes -------------------------------------------------


@pytest.mark.parametrize(
    ("license", "score", "passes"),
    [("physician", 60, True), ("physician", 59.9, False), ("assistant", 55, True), ("assistant", 54.9, False)],
)
def test_business_line_by_licence(license: str, score: float, passes: bool) -> None:
    inst = instance(business_best=score)
    assert conditions.test_passed(inst, POLICY, "business", license) is passes


@pytest.mark.parametrize(
    ("license", "business", "passes"),
    [("physician", 60, True), ("physician", 59.9, False), ("assistant", 55, True), ("assistant", 54.9, False)],
)
def test_general_program_result_follows_the_business_line(license: str, business: float, passes: bool) -> None:
    inst = instance(state="general.awaiting_grade", program="general", business_best=business, humanities_best=80)
    assert conditions.tests_pass(inst, POLICY, an_act(license=license), NOON) is passes


@pytest.mark.parametrize(("license", "score", "passes"), [("assistant", 60, True), ("assistant", 59.9, False)])
def test_humanities_line_is_60_for_an_assistant_too(license: str, score: float, passes: bool) -> None:
    """The assistant's 55 is the business line only: 55 in humanities fails an assistant."""
    inst = instance(state="simple.awaiting_grade", program="simple", humanities_best=score)
    assert conditions.tests_pass(inst, POLICY, an_act(license=license), NOON) is passes


def test_the_best_attempt_counts() -> None:
    effect = effects.record_score
    inst = instance(state="simple.testing", program="simple", humanities_attempts=2, humanities_best=72)
    changes = effect(inst, POLICY, an_act({"test": "humanities", "score": 41}), NOON)
    assert changes == {"humanities_attempts": 3, "humanities_best": 72}


def test_an_exempted_test_passes_without_a_score() -> None:
    inst = instance(state="general.awaiting_grade", program="general", humanities_best=61, flags={"business_exempt"})
    assert conditions.tests_pass(inst, POLICY, an_act(), NOON)


@pytest.mark.parametrize(
    ("test", "license", "score", "passes"),
    [
        ("business", "assistant", 55, True),
        ("business", "assistant", 54.9, False),
        ("business", "physician", 59.9, False),
        ("humanities", "assistant", 55, False),  # humanities is 60 for everyone, in the re-exam too
        ("humanities", "physician", 60, True),
    ],
)
def test_a_reexam_test_follows_its_line(test: str, license: str, score: float, passes: bool) -> None:
    due = frozenset({f"reexam_{test}"})
    inst = instance(state="reexam.listed", program="general", reason="business_level", flags=due)
    act = an_act({"test": test, "score": score}, license=license)
    after = inst.evolve(effects.record_score(inst, POLICY, act, NOON))
    assert f"reexam_{test}" not in after.flags  # sat once
    assert conditions.tests_complete(after, POLICY, act, NOON)
    assert conditions.tests_pass(after, POLICY, act, NOON) is passes


def test_a_reexam_of_two_tests_is_complete_only_when_both_are_sat_and_fails_if_either_does() -> None:
    inst = instance(
        state="reexam.listed",
        program="general",
        reason="business_level",
        flags=frozenset({"reexam_business", "reexam_humanities"}),
    )
    first = an_act({"test": "business", "score": 40})
    after = inst.evolve(effects.record_score(inst, POLICY, first, NOON))
    assert not conditions.tests_complete(after, POLICY, first, NOON)
    second = an_act({"test": "humanities", "score": 90})
    done = after.evolve(effects.record_score(after, POLICY, second, NOON))
    assert conditions.tests_complete(done, POLICY, second, NOON)
    assert not conditions.tests_pass(done, POLICY, second, NOON)
    assert effects.fail_grade(done, POLICY, second, NOON) == {"reason": "business_level", "flags": frozenset()}


@pytest.mark.parametrize(("attempts", "best", "complete"), [(9, 59, False), (10, 59, True), (1, 60, True)])
def test_humanities_is_done_when_passed_or_its_ten_attempts_are_spent(
    attempts: int, best: float, complete: bool
) -> None:
    inst = instance(state="simple.testing", program="simple", humanities_attempts=attempts, humanities_best=best)
    assert conditions.tests_complete(inst, POLICY, an_act(), NOON) is complete


def test_general_program_is_complete_only_with_both_tests_done() -> None:
    scored = instance(state="general.testing", program="general", business_attempts=1, business_best=50)
    assert not conditions.tests_complete(scored, POLICY, an_act(), NOON)
    both = scored._replace(humanities_attempts=1, humanities_best=60)
    assert conditions.tests_complete(both, POLICY, an_act(), NOON)


# -- age and years of practice, at the period end (2020-12-31) ---------------------------------------


@pytest.mark.parametrize(("born", "ok"), [("1960-12-31", True), ("1961-01-01", False), ("1950-06-01", True)])
def test_age_60_exemption_is_judged_at_the_period_end(born: str, ok: bool) -> None:
    verdict = guards.humanities_exemption_applies(
        instance(), POLICY, an_act({"reason_id": "age_60"}, birth_date=D(born)), NOON
    )
    assert verdict.ok if ok else refused(verdict, "not_eligible")


def test_tcm_1998_has_no_automatic_check() -> None:
    """The institution and the agency judge the proof; a 30-year-old may apply."""
    verdict = guards.humanities_exemption_applies(
        instance(), POLICY, an_act({"reason_id": "tcm_1998"}, birth_date=D("1990-01-01")), NOON
    )
    assert verdict.ok


def test_an_unknown_humanities_exemption_is_not_eligible() -> None:
    verdict = guards.humanities_exemption_applies(instance(), POLICY, an_act({"reason_id": "age_55"}), NOON)
    assert refused(verdict, "not_eligible") and "age_60" in verdict.en


@pytest.mark.parametrize(
    ("condition", "since", "record", "ok"),
    [
        ("good_record_5y", "2015-12-31", "good", True),  # exactly 5 years: "5年以上" includes 5
        ("good_record_5y", "2016-01-01", "good", False),  # a day short
        ("good_record_5y", "2015-12-31", "none", False),  # needs a good-conduct record
        ("good_record_5y", "2015-12-31", "bad", False),
        ("clean_record_12y", "2008-12-31", "none", True),  # exactly 12 years, no bad record
        ("clean_record_12y", "2008-12-31", "good", True),
        ("clean_record_12y", "2009-01-01", "good", False),  # a day short
        ("clean_record_12y", "2008-12-31", "bad", False),
        ("clean_record_12y", "1990-01-01", "bad", False),  # no number of years outweighs a bad record
    ],
)
def test_simple_program_conditions(condition: str, since: str, record: str, ok: bool) -> None:
    act = an_act({"condition": condition}, practice_since=D(since), record=record)
    verdict = guards.simple_condition_met(instance(), POLICY, act, NOON)
    assert verdict.ok if ok else refused(verdict, "not_eligible")


def test_an_unknown_simple_condition_names_the_known_ones() -> None:
    verdict = guards.simple_condition_met(instance(), POLICY, an_act({"condition": "good_record_3y"}), NOON)
    assert refused(verdict, "not_eligible") and "good_record_5y" in verdict.en


def test_a_refused_simple_program_stays_refused_for_the_cycle() -> None:
    assert guards.simple_not_refused(instance(), POLICY, an_act(), NOON).ok
    assert refused(
        guards.simple_not_refused(instance(flags={"simple_refused"}), POLICY, an_act(), NOON), "not_eligible"
    )


@pytest.mark.parametrize(("born", "ok"), [("1970-12-31", True), ("1971-01-01", False)])
def test_assistance_from_age_50_at_the_period_end(born: str, ok: bool) -> None:
    verdict = guards.assistance_age(instance(), POLICY, an_act(birth_date=D(born)), NOON)
    assert verdict.ok if ok else refused(verdict, "not_eligible")


# -- 29 February: the anniversary in a common year is 1 March --------------------------------------


def test_a_29_february_anniversary_falls_on_1_march_in_a_common_year() -> None:
    assert anniversary(D("2016-02-29"), 5) == D("2021-03-01")
    assert anniversary(D("2016-02-29"), 4) == D("2020-02-29")


@pytest.mark.parametrize(("period_end", "ok"), [("2021-02-28", False), ("2021-03-01", True)])
def test_five_years_from_29_february_are_complete_on_1_march(period_end: str, ok: bool) -> None:
    act = an_act({"condition": "good_record_5y"}, practice_since=D("2016-02-29"))
    verdict = guards.simple_condition_met(instance(), with_period_end(period_end), act, NOON)
    assert verdict.ok is ok


@pytest.mark.parametrize(("period_end", "ok"), [("2022-02-28", False), ("2022-03-01", True)])
def test_born_29_february_turns_50_on_1_march_in_a_common_year(period_end: str, ok: bool) -> None:
    verdict = guards.assistance_age(instance(), with_period_end(period_end), an_act(birth_date=D("1972-02-29")), NOON)
    assert verdict.ok is ok


# -- suspension ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("months", "ok"), [(3, True), (4, True), (6, True), (2, False), (7, False), (0, False)])
def test_suspension_is_3_to_6_months(months: int, ok: bool) -> None:
    verdict = guards.suspension_in_range(instance(state="unqualified"), POLICY, an_act({"months": months}), NOON)
    assert verdict.ok if ok else refused(verdict, "suspension_out_of_range")


def test_a_suspension_is_over_on_its_monthly_anniversary_in_beijing() -> None:
    inst = instance(state="reexam.listed", suspended_on=D("2021-07-09"), suspension_months=4)
    last_minute = dt.datetime(2021, 11, 8, 15, 59, tzinfo=UTC)  # 11-08 23:59 Beijing
    first_minute = dt.datetime(2021, 11, 8, 16, 0, tzinfo=UTC)  # 11-09 00:00 Beijing
    assert refused(guards.suspension_over(inst, POLICY, an_act(at=last_minute), last_minute), "suspension_not_over")
    assert guards.suspension_over(inst, POLICY, an_act(at=first_minute), first_minute).ok


def test_a_suspension_from_the_31st_ends_on_the_last_day_of_a_short_month() -> None:
    assert add_months(D("2021-08-31"), 3) == D("2021-11-30")
    assert add_months(D("2021-11-30"), 3) == D("2022-02-28")
    assert add_months(D("2021-07-09"), 6) == D("2022-01-09")


# -- windows: whole days in Beijing, whatever zone the clock reports ------------------------------------

WINDOWS = ("registration", "first_round", "grading", "makeup", "makeup_grading", "reexam", "reexam_grading")
CLOCK_ZONES = (UTC, ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), dt.timezone(dt.timedelta(hours=14)))


def beijing_minute(day: dt.date, hour: int, minute: int, zone: dt.tzinfo) -> dt.datetime:
    """A Beijing wall-clock minute, as a clock in ``zone`` reports it."""
    return dt.datetime.combine(day, dt.time(hour, minute), BEIJING).astimezone(zone)


def window_verdict(window: str, at: dt.datetime) -> Verdict:
    return guards.window_open(instance(), POLICY, an_act(at=at), at, window=window)


@pytest.mark.parametrize("zone", CLOCK_ZONES, ids=str)
@pytest.mark.parametrize("window", WINDOWS)
def test_first_and_last_minute_of_every_window(window: str, zone: dt.tzinfo) -> None:
    span: Window = getattr(POLICY.windows, window)
    day_before, day_after = span.start - dt.timedelta(days=1), span.end + dt.timedelta(days=1)
    first = beijing_minute(span.start, 0, 0, zone)
    last = beijing_minute(span.end, 23, 59, zone)
    assert window_verdict(window, first).ok, f"{window} closed at its first minute {first.isoformat()}"
    assert window_verdict(window, last).ok, f"{window} closed at its last minute {last.isoformat()}"
    assert refused(window_verdict(window, beijing_minute(day_before, 23, 59, zone)), "window_closed")
    assert refused(window_verdict(window, beijing_minute(day_after, 0, 0, zone)), "window_closed")


@pytest.mark.parametrize(
    ("utc", "ok"),
    [
        ("2021-04-18T15:59:00+00:00", False),  # 04-18 23:59 in Beijing
        ("2021-04-18T16:00:00+00:00", True),  # 04-19 00:00 in Beijing: registration opens
        ("2021-05-28T15:59:00+00:00", True),  # 05-28 23:59: the last minute
        ("2021-05-28T16:00:00+00:00", False),  # 05-29 00:00: closed
    ],
)
def test_registration_opens_at_midnight_beijing_when_the_clock_says_utc(utc: str, ok: bool) -> None:
    at = dt.datetime.fromisoformat(utc)
    assert window_verdict("registration", at).ok is ok


def test_the_closed_window_message_names_the_window_and_the_beijing_day() -> None:
    at = dt.datetime.fromisoformat("2021-04-18T15:59:00+00:00")
    verdict = window_verdict("registration", at)
    assert "2021-04-19" in verdict.en and "2021-04-18" in verdict.en and "报名" in verdict.zh


@pytest.mark.parametrize(
    ("state", "flags", "day", "ok"),
    [
        ("general.testing", set(), "2021-06-27", True),  # first round
        ("general.testing", set(), "2021-11-02", False),  # the make-up is not for them
        ("general.testing", {"resumed"}, "2021-11-02", True),  # back from a deferral: the make-up window
        ("general.testing", {"resumed"}, "2021-06-02", False),
        ("reexam.listed", set(), "2021-11-06", True),  # the re-exam window
        ("reexam.listed", set(), "2021-11-05", False),
    ],
)
def test_the_exam_window_follows_the_doctors_round(state: str, flags: set[str], day: str, ok: bool) -> None:
    at = dt.datetime.combine(D(day), dt.time(10), BEIJING)
    inst = instance(state=state, flags=frozenset(flags))
    assert guards.window_open(inst, POLICY, an_act(at=at), at, window="exam").ok is ok


@pytest.mark.parametrize(
    ("state", "flags", "day", "ok"),
    [
        ("general.awaiting_grade", set(), "2021-07-09", True),
        ("general.awaiting_grade", set(), "2021-07-10", False),
        ("general.awaiting_grade", {"resumed"}, "2021-11-28", True),  # make-up grading
        ("reexam.awaiting_grade", set(), "2021-11-28", True),
        ("reexam.awaiting_grade", set(), "2021-11-29", False),
    ],
)
def test_the_grading_window_follows_the_doctors_round(state: str, flags: set[str], day: str, ok: bool) -> None:
    at = dt.datetime.combine(D(day), dt.time(10), BEIJING)
    inst = instance(state=state, flags=frozenset(flags))
    assert guards.window_open(inst, POLICY, an_act(at=at), at, window="grading").ok is ok


@pytest.mark.parametrize(
    ("utc", "ok"),
    [("2021-06-27T15:59:00+00:00", False), ("2021-06-27T16:00:00+00:00", True)],
)
def test_the_first_round_sweep_runs_from_the_first_minute_after_the_window(utc: str, ok: bool) -> None:
    at = dt.datetime.fromisoformat(utc)
    verdict = guards.window_over(instance(), POLICY, an_act(at=at), at, window="first_round")
    assert verdict.ok if ok else refused(verdict, "window_still_open")


@pytest.mark.parametrize(
    ("utc", "ok"),
    [
        ("2021-05-30T15:59:00+00:00", True),  # 05-30 23:59 in Beijing: the deadline day
        ("2021-05-30T16:00:00+00:00", False),  # 05-31 00:00: too late
    ],
)
def test_deferral_requests_until_the_end_of_the_deadline_day(utc: str, ok: bool) -> None:
    at = dt.datetime.fromisoformat(utc)
    verdict = guards.before_deferral_deadline(instance(state="registered"), POLICY, an_act(at=at), at)
    assert verdict.ok if ok else refused(verdict, "deferral_deadline_passed")


def test_a_deferral_is_refused_once_a_score_is_recorded() -> None:
    assert guards.no_score_yet(instance(state="general.testing"), POLICY, an_act(), NOON).ok
    scored = instance(state="general.testing", humanities_attempts=1, humanities_best=30)
    assert refused(guards.no_score_yet(scored, POLICY, an_act(), NOON), "not_eligible")


# -- attempts, tests and exemptions ----------------------------------------------------------------------


#: A doctor listed for the re-exam of the business test, not yet sat.
DUE_BUSINESS = frozenset({"reexam_business"})


@pytest.mark.parametrize(
    ("program", "state", "test", "used", "ok"),
    [
        ("simple", "simple.testing", "humanities", {"humanities_attempts": 9}, True),
        ("simple", "simple.testing", "humanities", {"humanities_attempts": 10}, False),
        ("general", "general.testing", "business", {"business_attempts": 0}, True),
        ("general", "general.testing", "business", {"business_attempts": 1}, False),
        # The re-exam has one attempt of each test it covers, whatever was used in the first round:
        # the test's due flag goes once it is sat.
        ("general", "reexam.listed", "business", {"flags": DUE_BUSINESS, "business_attempts": 1}, True),
        ("general", "reexam.listed", "business", {"reexam_attempts": 1}, False),
    ],
)
def test_attempts(program: str, state: str, test: str, used: dict[str, Any], ok: bool) -> None:
    inst = instance(state=state, program=program, **used)
    verdict = guards.attempts_remain(inst, POLICY, an_act({"test": test}), NOON)
    assert verdict.ok if ok else refused(verdict, "attempts_exhausted")


@pytest.mark.parametrize(
    ("program", "state", "flags", "test", "ok"),
    [
        ("simple", "simple.testing", set(), "humanities", True),
        ("simple", "simple.testing", set(), "business", False),  # the simple program sits humanities only
        ("general", "general.testing", set(), "business", True),
        ("general", "general.testing", {"business_exempt"}, "business", False),  # exempted: not sat
        # The re-exam re-sits what failed (no score at all: every test of the program).
        ("general", "reexam.listed", set(), "humanities", True),
        ("simple", "reexam.listed", set(), "humanities", True),
        ("simple", "reexam.listed", set(), "business", False),
        # Exempted from business in the first round, failed humanities: the re-exam is humanities.
        ("general", "reexam.listed", {"business_exempt"}, "business", False),
        ("general", "reexam.listed", {"business_exempt"}, "humanities", True),
        # Nothing failed that a test measures (an exempt simple doctor): the program's test.
        ("simple", "reexam.listed", {"humanities_exempt"}, "humanities", True),
    ],
)
def test_which_tests_a_doctor_sits(program: str, state: str, flags: set[str], test: str, ok: bool) -> None:
    inst = instance(state=state, program=program, flags=frozenset(flags), reason="humanities")
    verdict = guards.test_in_program(inst, POLICY, an_act({"test": test}), NOON)
    assert verdict.ok if ok else refused(verdict, "not_eligible")


def test_business_exemption_reasons_and_their_switches() -> None:
    inst = instance(state="general.testing", program="general")
    apply = guards.business_exemption_open
    assert apply(inst, POLICY, an_act({"reason_id": "residency_training"}), NOON).ok
    assert refused(apply(inst, POLICY, an_act({"reason_id": "senior_title"}), NOON), "not_eligible")
    closed_list = attrs.evolve(POLICY, business_exemptions=attrs.evolve(POLICY.business_exemptions, open=False))
    assert refused(apply(inst, closed_list, an_act({"reason_id": "residency_training"}), NOON), "exemption_closed")
    one_closed = POLICY.with_business_reasons(
        {
            **POLICY.business_exemptions.reasons,
            "promotion_exam": attrs.evolve(POLICY.business_exemptions.reasons["promotion_exam"], open=False),
        }
    )
    assert refused(apply(inst, one_closed, an_act({"reason_id": "promotion_exam"}), NOON), "exemption_closed")
    assert apply(inst, one_closed, an_act({"reason_id": "residency_training"}), NOON).ok


def test_a_forbidden_exemption_cannot_be_applied_for_again() -> None:
    forbid = effects.reject_exemption(instance(), POLICY, an_act({"mode": "forbid", "reason": "x"}), NOON)
    supplement = effects.reject_exemption(instance(), POLICY, an_act({"mode": "supplement", "reason": "x"}), NOON)
    assert "exemption_forbidden" in forbid["flags"] and "exemption_forbidden" not in supplement["flags"]
    verdict = guards.exemption_not_forbidden(instance(flags=forbid["flags"]), POLICY, an_act(), NOON)
    assert refused(verdict, "exemption_forbidden")


def test_no_business_exemption_once_the_business_test_is_scored() -> None:
    scored = instance(state="general.testing", program="general", business_attempts=1, business_best=40)
    assert refused(guards.no_business_score(scored, POLICY, an_act(), NOON), "not_eligible")


# -- purity: no clock, no global state -----------------------------------------------------------------------

RULES_DIR = Path(rules.__file__).parent
#: Methods that read the wall clock whatever they are called on (``dt.datetime.now()``, ``date.today()``).
CLOCK_METHODS = ("now", "today", "utcnow")
#: Functions of the ``time`` module that read a clock.
TIME_FUNCTIONS = ("time", "time_ns", "monotonic", "perf_counter", "localtime", "gmtime")


def impurities(source: str) -> list[str]:
    """Reads of the wall clock and ``global``/``nonlocal`` statements in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Global | ast.Nonlocal):
            found.append(f"line {node.lineno}: {type(node).__name__.lower()} {', '.join(node.names)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in CLOCK_METHODS:
                found.append(f"line {node.lineno}: .{name}() reads the wall clock")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "time":
            if node.attr in TIME_FUNCTIONS:
                found.append(f"line {node.lineno}: time.{node.attr} reads the wall clock")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found.append(f"line {node.lineno}: imports from the time module")
    return found


def test_the_purity_check_finds_clock_reads_and_globals() -> None:
    """The check below can fail: each kind of impurity in a sample is reported."""
    sample = (
        "import time\nimport datetime as dt\nfrom datetime import date\nCOUNT = 0\n"
        "def f():\n    global COUNT\n    return dt.datetime.now(), date.today(), time.time(), time.monotonic()\n"
    )
    kinds = impurities(sample)
    assert len(kinds) == 5, kinds
    assert any("global COUNT" in k for k in kinds)
    assert any(".now()" in k for k in kinds) and any(".today()" in k for k in kinds)
    assert any("time.time" in k for k in kinds) and any("time.monotonic" in k for k in kinds)


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_rule_module_reads_the_clock_or_keeps_global_state(path: Path) -> None:
    found = impurities(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize(
    ("registry", "module"),
    [(rules.GUARDS, guards), (rules.CONDITIONS, conditions), (rules.EFFECTS, effects)],
    ids=["guards", "conditions", "effects"],
)
def test_every_registered_rule_is_a_function_of_its_kinds_module_named_by_its_id(
    registry: dict[str, rules.Rule], module: Any
) -> None:
    for rule_id, rule in registry.items():
        assert rule.fn.__module__ == module.__name__, f"{rule_id} lives in {rule.fn.__module__}"
        assert rule.fn.__name__ == rule_id, f"{rule_id} is implemented by {rule.fn.__name__}"
        assert getattr(module, rule_id) is rule.fn


# -- appeals: the days come from the policy ----------------------------------------------------------------------

#: A province whose own rules give 15 days to appeal and 10 to answer.
SHORT_APPEAL = attrs.evolve(POLICY, appeal=attrs.evolve(POLICY.appeal, request_days=15, answer_days=10))


def at_beijing(day: str) -> dt.datetime:
    return dt.datetime.combine(D(day), dt.time(9, 0), BEIJING)


@pytest.mark.parametrize(
    ("policy", "day", "ok"),
    [
        (POLICY, "2021-08-08", True),  # result 07-09 + 30 days: the last day
        (POLICY, "2021-08-09", False),
        (SHORT_APPEAL, "2021-07-24", True),  # + 15 days
        (SHORT_APPEAL, "2021-07-25", False),
    ],
)
def test_an_appeal_is_asked_within_the_policy_s_days_of_the_result(policy: Policy, day: str, ok: bool) -> None:
    unqualified = instance(state="unqualified", reason="ethics", result_on="2021-07-09")
    verdict = guards.appeal_in_time(unqualified, policy, an_act(at=at_beijing(day)), at_beijing(day))
    assert verdict.ok if ok else refused(verdict, "appeal_deadline_passed")
    if not ok:
        days = policy.appeal.request_days
        assert f"within {days} days" in verdict.en and f"{days}日内" in verdict.zh


@pytest.mark.parametrize(
    ("policy", "day", "agency_ok"),
    [
        (POLICY, "2021-08-14", True),  # request 07-15 + 30 days: the agency's last day
        (POLICY, "2021-08-15", False),
        (SHORT_APPEAL, "2021-07-25", True),  # + 10 days
        (SHORT_APPEAL, "2021-07-26", False),
    ],
)
def test_the_agency_answers_within_the_policy_s_days_then_the_authority(
    policy: Policy, day: str, agency_ok: bool
) -> None:
    appealing = instance(state="appeal.requested", reason="ethics", result_on="2021-07-09", appeal_on="2021-07-15")
    when = at_beijing(day)
    for role, ok in (("agency", agency_ok), ("admin", not agency_ok)):
        act = Act("dismiss_appeal", Actor(role, "X"), {}, doctor(), when)
        verdict = guards.appeal_answerable(appealing, policy, act, when)
        expected = "appeal_deadline_passed" if role == "agency" else "appeal_not_overdue"
        assert verdict.ok if ok else refused(verdict, expected), (role, day)
