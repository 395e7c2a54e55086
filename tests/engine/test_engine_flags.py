"""Flags: the suspected-cheating mark, discipline findings, assisted testing (SPEC §2)."""

from __future__ import annotations

import pytest
from conftest import A1, CITY, COUNTY, EXAM, H1, H2, PROVINCE, at, doctor, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor, Refused

DAY = at("2021-06-02")


def code(e: renew_fsm.Engine, *args: object, **kwargs: object) -> str:
    try:
        e.fire(*args, **kwargs)  # type: ignore[arg-type]
    except Refused as refused:
        return f"{refused.code}:{refused.rule}" if refused.rule else refused.code
    return "ok"


def test_mark_and_unmark_suspected(engine: renew_fsm.Engine) -> None:
    register(engine)
    assert code(engine, "D1", "mark_suspected", A1, at=DAY) == "invalid_transition"  # not testing yet
    engine.fire("D1", "choose_general", doctor("D1"), {"self_evaluation": "完成本职工作"})
    engine.fire("D1", "approve_program", H1, {"work_performance": "pass", "ethics": "pass"})
    engine.fire("D1", "confirm_program", A1)
    assert code(engine, "D1", "mark_suspected", H2, at=DAY) == "forbidden"  # not H2's doctor
    view = engine.fire("D1", "mark_suspected", H1, {"reason": "照片异常"}, at=DAY)
    assert (view.state, view.flags) == ("general.testing", ("suspected",))
    assert code(engine, "D1", "mark_suspected", A1, at=DAY) == "guard_failed:not_eligible"  # already marked
    assert code(engine, "D1", "unmark_suspected", H1, at=DAY) == "forbidden"  # admins only
    assert code(engine, "D1", "unmark_suspected", A1, at=DAY) == "forbidden"
    assert code(engine, "D1", "unmark_suspected", Actor("admin", "GL"), at=DAY) == "forbidden"
    view = engine.fire("D1", "unmark_suspected", PROVINCE, at=DAY)
    assert view.flags == ()
    assert code(engine, "D1", "unmark_suspected", PROVINCE, at=DAY) == "guard_failed:not_eligible"
    assert engine.fire("D1", "mark_suspected", A1, at=DAY).flags == ("suspected",)
    events = [(r.event, r.from_state, r.to_state, r.role) for r in engine.history("D1")[-3:]]
    assert events == [
        ("mark_suspected", "general.testing", "general.testing", "institution"),
        ("unmark_suspected", "general.testing", "general.testing", "admin"),
        ("mark_suspected", "general.testing", "general.testing", "agency"),
    ]
    # The mark stays through the tests and the grade.
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=DAY)
    view = engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 70}, at=DAY)
    assert (view.state, view.flags) == ("general.awaiting_grade", ("suspected",))
    view = engine.fire("D1", "grade", A1, at=at("2021-07-01"))
    assert (view.state, view.flags) == ("qualified", ("suspected",))
    assert engine.fire("D1", "unmark_suspected", COUNTY, at=at("2021-07-02")).flags == ()


@pytest.mark.parametrize(
    ("finding", "flags"), [("cheating", ("published",)), ("communicating", ()), ("camera_blocked", ())]
)
def test_a_discipline_finding_fails_the_doctor(engine: renew_fsm.Engine, finding: str, flags: tuple[str, ...]) -> None:
    to_testing(engine, "D1", "simple")
    assert code(engine, "D1", "discipline", A1, {"finding": finding, "reason": "r"}, at=DAY) == "forbidden"
    view = engine.fire("D1", "discipline", CITY, {"finding": finding, "reason": "监考发现"}, at=DAY)
    assert (view.state, view.reason, view.flags) == ("unqualified", "discipline", flags)
    assert view.instance.finding == finding


def test_cheating_in_the_re_exam_cancels_the_registration(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 10}, at=DAY)
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 90}, at=DAY)
    engine.fire("D1", "grade", A1, at=at("2021-07-01"))
    engine.fire("D1", "suspend", COUNTY, {"months": 3}, at=at("2021-07-02"))
    engine.fire("D1", "confirm_reexam", PROVINCE, at=at("2021-07-03"))
    view = engine.fire("D1", "discipline", PROVINCE, {"finding": "cheating", "reason": "替考"}, at=at("2021-11-10"))
    assert (view.state, view.reason, view.flags) == ("registration_cancelled", "discipline", ("published",))


@pytest.mark.parametrize(
    ("born", "eligible"),
    [("1960-01-01", True), ("1970-12-31", True), ("1971-01-01", False), ("1985-06-01", False)],
)
def test_assisted_testing_is_for_doctors_of_50_or_more(url: str, born: str, eligible: bool) -> None:
    """50 at the period end (2020-12-31): born 1970-12-31 is 50 that day; born 1971-01-01 is not."""
    e = make_engine(url, [doctor_cmd("D1", born=born, since="2010-09-01")])
    register(e)
    assert code(e, "D1", "approve_assistance", H1) == "guard_failed:not_eligible"  # nothing asked yet
    if eligible:
        view = e.fire("D1", "request_assistance", doctor("D1"), {"reason": "不会使用手机"})
        assert (view.state, view.flags) == ("registered", ("assistance_requested",))
        assert code(e, "D1", "request_assistance", doctor("D1")) == "guard_failed:not_eligible"  # asked already
        assert code(e, "D1", "approve_assistance", H2) == "forbidden"
        view = e.fire("D1", "approve_assistance", H1)
        assert view.flags == ("assistance_requested", "assisted")
        assert code(e, "D1", "approve_assistance", H1) == "guard_failed:not_eligible"  # approved already
    else:
        assert code(e, "D1", "request_assistance", doctor("D1")) == "guard_failed:not_eligible"
        assert e.state("D1").flags == ()
    e.close()


def test_assistance_is_settled_before_the_grade(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    assert engine.fire("D1", "request_assistance", doctor("D1"), at=DAY).flags == ("assistance_requested",)
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 70}, at=DAY)
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 70}, at=DAY)
    assert code(engine, "D1", "approve_assistance", H1, at=DAY) == "invalid_transition"
