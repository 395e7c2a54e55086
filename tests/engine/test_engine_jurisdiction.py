"""Who may act on whom (SPEC §1), and the authority's corrections (admin_exit, admin_rechoose)."""

from __future__ import annotations

import pytest
from conftest import (
    A1,
    A2,
    CITY,
    COUNTY,
    EXAM,
    H1,
    H2,
    PROVINCE,
    at,
    doctor,
    doctor_cmd,
    make_engine,
    register,
    to_testing,
)

import renew_fsm
from renew_fsm import Actor, Refused

H3 = Actor("institution", "H3")


@pytest.fixture
def province(url: str) -> renew_fsm.Engine:
    """D1 at H1 (NN-QX), D2 at H2 (NN-XN), D3 at H3 (GL-XF), all enrolled."""
    e = make_engine(url, [doctor_cmd("D1", "H1"), doctor_cmd("D2", "H2", serial=2), doctor_cmd("D3", "H3", serial=3)])
    for did, inst in (("D1", H1), ("D2", H2), ("D3", H3)):
        e.fire(did, "enroll", inst)
    return e


def exits(e: renew_fsm.Engine, did: str, admin: Actor) -> str:
    """The code of an admin_exit, or 'ok' (and enrol the doctor again for the next try)."""
    try:
        e.fire(did, "admin_exit", admin, {"reason": "材料不全"})
    except Refused as refused:
        return refused.code
    e.fire(did, "enroll", Actor("institution", e.storage.get_doctor(did).institution))  # type: ignore[union-attr]
    return "ok"


def test_an_admin_acts_inside_its_region_subtree(province: renew_fsm.Engine) -> None:
    e = province
    assert exits(e, "D1", COUNTY) == "ok"  # NN-QX on its own county's doctor
    assert exits(e, "D2", COUNTY) == "forbidden"  # not on the neighbouring county's
    assert exits(e, "D2", Actor("admin", "NN-XN")) == "ok"
    assert exits(e, "D1", CITY) == "ok"  # NN on H1 and H2, both inside Nanning
    assert exits(e, "D2", CITY) == "ok"
    assert exits(e, "D3", CITY) == "forbidden"  # H3 is in Guilin
    assert exits(e, "D3", Actor("admin", "GL")) == "ok"
    for did in ("D1", "D2", "D3"):
        assert exits(e, did, PROVINCE) == "ok"  # GX everywhere
    assert exits(e, "D1", Actor("admin", "ZZ")) == "forbidden"  # a region that does not exist


def test_institutions_and_agencies_act_on_their_own_doctors(province: renew_fsm.Engine) -> None:
    e = province
    for did, inst in (("D1", H1), ("D2", H2), ("D3", H3)):
        e.fire(did, "submit_info", doctor(did))
        e.fire(did, "approve_info", inst)
    # A1 is assigned H1 and H2; A2 is assigned H3.
    assert e.fire("D1", "confirm_registration", A1).state == "registered"
    assert e.fire("D2", "confirm_registration", A1).state == "registered"
    with pytest.raises(Refused) as caught:
        e.fire("D3", "confirm_registration", A1)
    assert caught.value.code == "forbidden"
    assert e.fire("D3", "confirm_registration", A2).state == "registered"


def test_reassigning_an_agency_moves_its_jurisdiction(province: renew_fsm.Engine) -> None:
    e = province
    e.fire("D3", "submit_info", doctor("D3"))
    e.fire("D3", "approve_info", H3)
    e.apply({"op": "agency", "id": "A1", "region": "NN", "assigned": ["H1", "H2", "H3"]})
    e.apply({"op": "agency", "id": "A2", "region": "GL", "assigned": []})
    with pytest.raises(Refused) as caught:
        e.fire("D3", "confirm_registration", A2)
    assert caught.value.code == "forbidden"
    assert e.fire("D3", "confirm_registration", A1).state == "registered"


def test_a_second_engine_sees_the_world_the_first_one_changed(sql_url: str) -> None:
    first = make_engine(sql_url)
    second = renew_fsm.open(sql_url)
    assert second.fire("D1", "enroll", H1).state == "enrolled"
    first.apply({"op": "institution", "id": "H9", "region": "NN-QX"})
    first.apply(doctor_cmd("D9", "H9", serial=9))
    assert second.fire("D9", "enroll", Actor("institution", "H9")).state == "enrolled"
    first.close()
    second.close()


def test_admin_exit_sends_the_doctor_out_of_the_cycle(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 30}, at=at("2021-06-02"))
    view = engine.fire("D1", "admin_exit", COUNTY, {"reason": "不属于本周期考核对象"}, at=at("2021-06-03"))
    assert (view.state, view.reason, view.flags) == ("not_enrolled", None, ())
    inst = view.instance
    assert (inst.program, inst.humanities_attempts, inst.humanities_best) == (None, 0, None)
    last = engine.history("D1")[-1]
    assert (last.event, last.from_state, last.to_state, last.role, last.actor) == (
        "admin_exit",
        "general.testing",
        "not_enrolled",
        "admin",
        "NN-QX",
    )
    assert "不属于本周期考核对象" in last.data
    # Out of the cycle: nothing but enrolment again (while registration is open).
    with pytest.raises(Refused) as caught:
        engine.fire("D1", "admin_exit", COUNTY, {"reason": "again"})
    assert caught.value.code == "invalid_transition"
    assert engine.fire("D1", "enroll", H1, at=at("2021-05-01")).state == "enrolled"


def test_admin_exit_cannot_erase_a_published_cheating_finding(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.fire("D1", "discipline", CITY, {"finding": "cheating", "reason": "替考"}, at=at("2021-06-02"))
    for event in ("admin_exit", "admin_rechoose"):
        with pytest.raises(Refused) as caught:
            engine.fire("D1", event, PROVINCE, {"reason": "重新纳入"}, at=at("2021-06-03"))
        assert caught.value.code == "invalid_transition"
    view = engine.state("D1")
    assert (view.state, view.reason, view.flags) == ("unqualified", "discipline", ("published",))


def test_admin_exit_cannot_undo_a_final_result(engine: renew_fsm.Engine) -> None:
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 90}, at=at("2021-06-02"))
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 90}, at=at("2021-06-02"))
    assert engine.fire("D1", "grade", A1, at=at("2021-07-01")).state == "qualified"
    with pytest.raises(Refused) as caught:
        engine.fire("D1", "admin_exit", PROVINCE, {"reason": "x"}, at=at("2021-07-02"))
    assert caught.value.code == "invalid_transition"


def test_admin_rechoose_sends_the_doctor_back_to_choose_a_program(engine: renew_fsm.Engine) -> None:
    register(engine)
    engine.fire("D1", "choose_simple", doctor("D1"), {"condition": "good_record_5y", "self_evaluation": "执业行为良好"})
    view = engine.fire("D1", "admin_rechoose", COUNTY, {"reason": "应按一般程序"})
    assert view.state == "registered"
    assert (view.instance.program, view.instance.condition) == (None, None)
    chosen = engine.fire("D1", "choose_general", doctor("D1"), {"self_evaluation": "完成本职工作"})
    assert chosen.state == "general.submitted"
    engine.fire("D1", "approve_program", H1, {"work_performance": "pass", "ethics": "pass"})
    assert engine.fire("D1", "admin_rechoose", CITY, {"reason": "再选"}).state == "registered"
    with pytest.raises(Refused) as caught:  # not from registered itself
        engine.fire("D1", "admin_rechoose", CITY, {"reason": "再选"})
    assert caught.value.code == "invalid_transition"
    with pytest.raises(Refused) as caught:  # nor by another county
        engine.fire("D1", "choose_general", doctor("D1"), {"self_evaluation": "完成本职工作"})
        engine.fire("D1", "admin_rechoose", Actor("admin", "NN-XN"), {"reason": "越权"})
    assert caught.value.code == "forbidden"
    with pytest.raises(Refused) as caught:  # and only by an admin
        engine.fire("D1", "admin_rechoose", H1, {"reason": "x"})
    assert caught.value.code == "forbidden"
    assert engine.state("D1").state == "general.submitted"
