"""Time-driven sweeps: who is swept when a window closes, and that sweeping twice changes nothing."""

from __future__ import annotations

import pytest
from conftest import A1, COUNTY, EXAM, H1, PROVINCE, SYSTEM, at, doctor, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Refused

AFTER_FIRST_ROUND = at("2021-06-28")
AFTER_MAKEUP = at("2021-11-06")


def defer(e: renew_fsm.Engine, did: str) -> None:
    e.fire(did, "request_deferral", doctor(did), {"reason": "援外医疗"}, at=at("2021-05-20"))
    e.fire(did, "approve_deferral", H1, at=at("2021-05-21"))
    assert e.fire(did, "approve_deferral", COUNTY, at=at("2021-05-22")).state == "deferred"


@pytest.fixture
def cohort(url: str) -> renew_fsm.Engine:
    """Eight doctors of H1 at every kind of place when the first round closes."""
    ids = ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8"]
    e = make_engine(url, [doctor_cmd(d, serial=i) for i, d in enumerate(ids, 1)])
    e.fire("D2", "enroll", H1)  # enrolled, never went further
    to_testing(e, "D3", "general")  # testing, never sat
    to_testing(e, "D4", "general")  # finished the tests: awaiting the grade
    e.fire("D4", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-06-02"))
    e.fire("D4", "record_score", EXAM, {"test": "humanities", "score": 70}, at=at("2021-06-02"))
    register(e, "D5")
    defer(e, "D5")  # deferred: waits for the make-up
    register(e, "D6")
    e.fire("D6", "request_deferral", doctor("D6"), {"reason": "生病"}, at=at("2021-05-20"))  # awaiting a decision
    to_testing(e, "D7", "general")  # asked to be exempted, still under review
    e.fire("D7", "apply_exemption", doctor("D7"), {"reason_id": "promotion_exam"}, at=at("2021-06-02"))
    register(e, "D8")
    defer(e, "D8")  # deferred, and will come back for the make-up
    return e


def states(e: renew_fsm.Engine) -> dict[str, tuple[str, str | None]]:
    return {d: (v.state, v.reason) for d in e.instances() for v in [e.state(d)]}


def test_closing_the_first_round_makes_the_absent_unqualified_once(cohort: renew_fsm.Engine) -> None:
    e = cohort
    before = states(e)
    assert e.sweep("close_first_round", at=AFTER_FIRST_ROUND) == 3
    after = states(e)
    absent = ("unqualified", "absent")
    assert {d for d in after if after[d] != before[d]} == {"D2", "D3", "D7"}
    assert after["D1"] == ("not_enrolled", None)
    assert after["D2"] == after["D3"] == after["D7"] == absent
    assert after["D4"] == ("general.awaiting_grade", None)
    assert after["D5"] == after["D8"] == ("deferred", None)
    assert after["D6"] == ("deferral.requested", None)
    last = e.history("D3")[-1]
    assert (last.event, last.from_state, last.to_state, last.role) == (
        "close_first_round",
        "general.testing",
        "unqualified",
        "system",
    )
    # Idempotent: the second run moves nobody and writes nothing.
    counts = {d: len(e.history(d)) for d in e.instances()}
    assert e.sweep("close_first_round", at=AFTER_FIRST_ROUND) == 0
    assert e.sweep("close_first_round", at=at("2021-07-15")) == 0
    assert states(e) == after
    assert {d: len(e.history(d)) for d in e.instances()} == counts


def test_counting_the_sweep_takes_every_page(cohort: renew_fsm.Engine) -> None:
    assert cohort.sweep("close_first_round", at=AFTER_FIRST_ROUND, batch=1) == 3
    assert cohort.sweep("close_first_round", at=AFTER_FIRST_ROUND, batch=1) == 0


def test_a_sweep_before_its_window_closed_is_refused(cohort: renew_fsm.Engine) -> None:
    e = cohort
    before = states(e)
    for event, day in (("close_first_round", "2021-06-27"), ("close_makeup", "2021-11-05")):
        with pytest.raises(Refused) as caught:
            e.sweep(event, at=at(day, 23))
        assert (caught.value.code, caught.value.rule) == ("guard_failed", "window_still_open")
    assert states(e) == before


def test_only_system_events_are_sweeps(engine: renew_fsm.Engine) -> None:
    with pytest.raises(Refused) as caught:
        engine.sweep("enroll")
    assert caught.value.code == "bad_input"
    with pytest.raises(Refused) as caught:
        engine.fire("D1", "close_first_round", H1, at=AFTER_FIRST_ROUND)
    assert caught.value.code == "forbidden"


def test_a_resumed_doctor_is_swept_only_when_the_make_up_closes(cohort: renew_fsm.Engine) -> None:
    e = cohort
    e.sweep("close_first_round", at=AFTER_FIRST_ROUND)
    with pytest.raises(Refused) as caught:  # only inside the make-up window
        e.fire("D8", "resume", doctor("D8"), at=at("2021-10-31"))
    assert (caught.value.code, caught.value.rule) == ("guard_failed", "window_closed")
    view = e.fire("D8", "resume", doctor("D8"), at=at("2021-11-01"))
    assert (view.state, view.flags) == ("registered", ("resumed",))
    # The first round's sweep, run again late, leaves the make-up doctor alone.
    assert e.sweep("close_first_round", at=at("2021-11-03")) == 0
    assert e.state("D8").state == "registered"
    # The make-up's sweep takes the resumed doctor without a result, and the deferred one who never came.
    assert e.sweep("close_makeup", at=AFTER_MAKEUP) == 2
    assert (e.state("D8").state, e.state("D8").reason) == ("unqualified", "absent")
    assert (e.state("D5").state, e.state("D5").reason) == ("unqualified", "absent")
    assert e.state("D6").state == "deferral.requested"  # nobody decided; not the sweep's business
    assert e.state("D4").state == "general.awaiting_grade"
    assert e.sweep("close_makeup", at=AFTER_MAKEUP) == 0


def test_a_resumed_doctor_who_finished_is_not_swept(engine: renew_fsm.Engine) -> None:
    register(engine)
    defer(engine, "D1")
    engine.fire("D1", "resume", SYSTEM, at=at("2021-11-01"))
    engine.fire("D1", "choose_general", doctor("D1"), {"self_evaluation": "完成本职工作"}, at=at("2021-11-01"))
    engine.fire("D1", "approve_program", H1, {"work_performance": "pass", "ethics": "pass"}, at=at("2021-11-01"))
    engine.fire("D1", "confirm_program", A1, at=at("2021-11-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-11-03"))
    view = engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=at("2021-11-03"))
    assert view.state == "general.awaiting_grade"
    assert engine.sweep("close_makeup", at=AFTER_MAKEUP) == 0
    assert engine.fire("D1", "grade", A1, at=at("2021-11-20")).state == "qualified"


def test_closing_the_re_exam_cancels_the_registration_of_those_who_did_not_sit(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.sweep("close_first_round", at=AFTER_FIRST_ROUND)
    engine.fire("D1", "suspend", COUNTY, {"months": 3}, at=at("2021-07-02"))
    engine.fire("D1", "confirm_reexam", PROVINCE, at=at("2021-07-03"))
    with pytest.raises(Refused) as caught:
        engine.sweep("close_reexam", at=at("2021-11-28"))
    assert caught.value.rule == "window_still_open"
    assert engine.sweep("close_reexam", at=at("2021-11-29")) == 1
    assert (engine.state("D1").state, engine.state("D1").reason) == ("registration_cancelled", "absent")
    assert engine.sweep("close_reexam", at=at("2021-11-29")) == 0


def test_the_replay_sweep_op_uses_the_clock(url: str) -> None:
    e = make_engine(url)
    e.fire("D1", "enroll", H1)
    e.apply({"op": "clock", "at": "2021-06-28T00:00:00+08:00"})
    assert e.apply({"op": "sweep", "event": "close_first_round"}) == 1
    assert e.apply({"op": "sweep", "event": "close_first_round"}) == 0
    assert e.history("D1")[-1].at == "2021-06-28T00:00:00+08:00"
    e.close()
