"""``engine.allowed``: what each actor may fire now, with role, jurisdiction and guards checked."""

from __future__ import annotations

from conftest import A1, A2, CITY, COUNTY, EXAM, H1, H2, PROVINCE, SYSTEM, at, doctor, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor

OTHER_COUNTY = Actor("admin", "NN-XN")


def allowed(e: renew_fsm.Engine, actor: Actor, when: str | None = None) -> set[str]:
    return set(e.allowed("D1", actor, at=at(when) if when else None))


def test_before_enrolment_only_the_institution_may_act(engine: renew_fsm.Engine) -> None:
    assert engine.allowed("D1", H1) == ["enroll"]
    for actor in (H2, A1, A2, EXAM, SYSTEM, doctor("D1"), doctor("D2")):
        assert engine.allowed("D1", actor) == [], actor
    # ... and the authorities over the doctor may change the doctor's institution (only out of the cycle).
    for admin in (PROVINCE, CITY, COUNTY):
        assert engine.allowed("D1", admin) == ["change_institution"], admin
    assert engine.allowed("D1", OTHER_COUNTY) == []
    assert allowed(engine, H1, "2021-06-01") == set()  # registration is over


def test_enrolled(engine: renew_fsm.Engine) -> None:
    engine.fire("D1", "enroll", H1)
    assert allowed(engine, doctor("D1")) == {"submit_info", "request_deferral"}
    assert allowed(engine, doctor("D1"), "2021-05-31") == {"submit_info"}  # the deferral deadline passed
    assert allowed(engine, H1) == {"cancel_enrollment"}
    for admin in (COUNTY, CITY, PROVINCE):
        assert allowed(engine, admin) == {"admin_exit"}
    for outsider in (H2, A2, OTHER_COUNTY, doctor("D2"), Actor("nurse", "N1")):
        assert allowed(engine, outsider) == set(), outsider


def test_registered(engine: renew_fsm.Engine) -> None:
    register(engine)
    assert allowed(engine, doctor("D1")) == {
        "choose_simple",
        "choose_general",
        "request_deferral",
        "request_assistance",
    }
    assert allowed(engine, A1) == {"record_violation"}  # art. 27: from registration on
    engine.fire("D1", "request_assistance", doctor("D1"))
    assert allowed(engine, H1) == {"approve_assistance"}
    assert "request_assistance" not in allowed(engine, doctor("D1"))


def test_testing(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    day = "2021-06-02"
    assert allowed(engine, EXAM, day) == {"record_score"}
    assert allowed(engine, EXAM, "2021-06-28") == set()  # the first round is over
    assert allowed(engine, SYSTEM, day) == set()
    assert allowed(engine, SYSTEM, "2021-06-28") == {"close_first_round"}
    assert allowed(engine, doctor("D1"), day) == {"apply_exemption", "request_assistance"}
    assert allowed(engine, H1, day) == {"mark_suspected"}
    assert allowed(engine, A1, day) == {"mark_suspected", "record_violation"}
    assert allowed(engine, A2, day) == set()
    admin = {"mark_suspected", "discipline", "admin_exit", "admin_rechoose", "record_violation"}
    assert allowed(engine, COUNTY, day) == allowed(engine, CITY, day) == allowed(engine, PROVINCE, day) == admin
    engine.fire("D1", "mark_suspected", A1, at=at(day))
    assert allowed(engine, A1, day) == {"record_violation"}
    assert allowed(engine, COUNTY, day) == admin - {"mark_suspected"} | {"unmark_suspected"}


def test_allowed_events_are_accepted(engine: renew_fsm.Engine) -> None:
    """What allowed() lists goes through (for events whose guards do not read the data)."""
    engine.fire("D1", "enroll", H1)
    for event in engine.allowed("D1", doctor("D1")):
        assert event in {"submit_info", "request_deferral"}
    assert engine.fire("D1", "submit_info", doctor("D1")).state == "info_submitted"
    assert allowed(engine, H1) == {"cancel_enrollment", "approve_info", "reject_info"}
    for event in engine.allowed("D1", H1):
        data = {"reason": "照片不清"} if event == "reject_info" else {}
        other = make_engine("memory:")
        other.fire("D1", "enroll", H1)
        other.fire("D1", "submit_info", doctor("D1"))
        assert other.fire("D1", event, H1, data).version == 3


def test_the_re_exam_is_the_province_s_to_list(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.sweep("close_first_round", at=at("2021-06-28"))
    # A result, once given, is not withdrawn by sending the doctor out of the cycle: no admin_exit.
    assert allowed(engine, COUNTY, "2021-07-02") == {"suspend", "mark_suspected"}
    engine.fire("D1", "suspend", COUNTY, {"months": 3}, at=at("2021-07-02"))
    assert allowed(engine, PROVINCE, "2021-07-03") == {"confirm_reexam", "mark_suspected"}
    assert allowed(engine, CITY, "2021-07-03") == {"mark_suspected"}
    assert allowed(engine, COUNTY, "2021-07-03") == {"mark_suspected"}
