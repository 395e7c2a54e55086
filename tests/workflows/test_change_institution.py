"""变更卫生机构 (SPEC §1): only out of the cycle; a county within itself, a city across its
counties, the province across its cities; the registry changes and the doctor's history keeps it."""

from __future__ import annotations

import json

import pytest
from conftest import A1, CITY, COUNTY, H1, H2, PROVINCE, doctor, doctor_cmd, make_engine

import renew_fsm
from renew_fsm import Actor, Fire, Refused
from renew_fsm.verify import verify

H3 = Actor("institution", "H3")
H4 = Actor("institution", "H4")
GUILIN = Actor("admin", "GL")


@pytest.fixture
def e(url: str) -> renew_fsm.Engine:
    """D1 at H1 (NN-QX); H4 in NN-QX too; H2 in NN-XN; H3 in Guilin; an industry organisation in NN."""
    engine = make_engine(url)
    engine.apply({"op": "institution", "id": "H4", "region": "NN-QX", "name": "青秀区第二医院"})
    engine.apply({"op": "institution", "id": "ORG", "region": "NN", "name": "医学会", "kind": "industry_org"})
    return engine


def moved(e: renew_fsm.Engine, target: str, admin: Actor) -> str:
    """'ok' (and the doctor is at ``target``), or the refusal's code."""
    try:
        e.change_institution("D1", target, admin)
    except Refused as refused:
        return refused.code
    assert e.storage.get_doctor("D1").institution == target  # type: ignore[union-attr]
    return "ok"


def test_county_within_itself_city_across_counties_province_across_cities(e: renew_fsm.Engine) -> None:
    assert moved(e, "H2", COUNTY) == "forbidden"  # NN-XN is another county
    assert moved(e, "H4", COUNTY) == "ok"  # within NN-QX
    assert moved(e, "H3", CITY) == "forbidden"  # Guilin is another city
    assert moved(e, "H2", CITY) == "ok"  # across Nanning's counties
    assert moved(e, "H1", COUNTY) == "forbidden"  # NN-QX does not govern H2, where the doctor now is
    assert moved(e, "H3", GUILIN) == "forbidden"  # nor does Guilin
    assert moved(e, "H3", PROVINCE) == "ok"  # across cities
    assert moved(e, "H1", GUILIN) == "forbidden"  # Guilin governs H3, not H1
    assert verify(e).ok


def test_the_new_institution_takes_the_doctor_on_and_the_history_keeps_the_move(e: renew_fsm.Engine) -> None:
    view = e.change_institution("D1", "H2", CITY)
    assert (view.state, view.version) == ("not_enrolled", 1)
    record = e.history("D1")[-1]
    assert (record.event, record.from_state, record.to_state, record.role, record.actor) == (
        "change_institution",
        "not_enrolled",
        "not_enrolled",
        "admin",
        "NN",
    )
    assert json.loads(record.data) == {"institution": "H2", "previous": "H1"}
    with pytest.raises(Refused) as refused:
        e.fire("D1", "enroll", H1)
    assert refused.value.code == "forbidden"
    assert e.fire("D1", "enroll", H2).state == "enrolled"
    assert verify(e).ok
    counted = {row[0] for row in e.storage.tally(e.cycle) if row[1] == "enrolled"}
    assert counted == {"H2"}, "the statistics count the doctor at the new institution"


def test_only_out_of_the_cycle(e: renew_fsm.Engine) -> None:
    e.fire("D1", "enroll", H1)
    assert moved(e, "H2", CITY) == "invalid_transition"
    e.fire("D1", "admin_exit", CITY, {"reason": "调动"})  # 驳回到退出当前周期 first
    assert moved(e, "H2", CITY) == "ok"


def test_refusals(e: renew_fsm.Engine) -> None:
    assert moved(e, "H404", CITY) == "not_found"
    assert moved(e, "ORG", CITY) == "bad_input"  # doctors practise at health institutions
    assert moved(e, "H1", CITY) == "guard_failed"  # already there
    for actor in (H1, A1, doctor("D1"), Actor("system")):
        assert moved(e, "H2", actor) == "forbidden", actor
    with pytest.raises(Refused) as stale:
        e.change_institution("D1", "H2", CITY, previous="H4")
    assert stale.value.code == "conflict"
    assert e.storage.get_doctor("D1").institution == "H1"  # type: ignore[union-attr]
    assert e.history("D1") == []


def test_fire_and_the_replay_op_do_the_same_the_batch_path_refuses_it(e: renew_fsm.Engine) -> None:
    assert e.fire("D1", "change_institution", CITY, {"institution": "H2"}).version == 1
    e.apply(
        {
            "op": "fire",
            "doctor": "D1",
            "event": "change_institution",
            "actor": {"role": "admin", "id": "NN"},
            "data": {"institution": "H1", "previous": "H2"},
        }
    )
    assert e.storage.get_doctor("D1").institution == "H1"  # type: ignore[union-attr]
    [result] = e.fire_many([Fire("D1", "change_institution", CITY, {"institution": "H2"})])
    assert isinstance(result, Refused) and result.code == "bad_input"
    assert e.storage.get_doctor("D1").institution == "H1"  # type: ignore[union-attr]


def test_other_doctors_are_not_moved(url: str) -> None:
    e = make_engine(url, [doctor_cmd("D1"), doctor_cmd("D2", serial=2)])
    e.change_institution("D1", "H2", PROVINCE)
    assert [e.storage.get_doctor(d).institution for d in ("D1", "D2")] == ["H2", "H1"]  # type: ignore[union-attr]
    assert e.history("D2") == []
