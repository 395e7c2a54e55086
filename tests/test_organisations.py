"""本机构信息 and 科室信息维护, replayed from the scenario and read back by each role."""

from __future__ import annotations

from pathlib import Path

import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.lists import doctor_list, doctor_profile
from renew_fsm.organisations import cycle_confirmed, department_of, departments, organisation_record
from renew_fsm.replay import replay_file
from renew_fsm.verify import verify

SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "examples"
    / "scenarios"
    / "organisations_keep_their_own_records_and_two_levels_of_departments.jsonl"
)
H1 = Actor("institution", "H1")


@pytest.fixture
def kept(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    replay_file(engine, SCENARIO)
    yield engine
    engine.close()


def test_an_authority_keeps_its_committee_and_office(kept):
    record = organisation_record(kept, Actor("admin", "NN"), "admin:NN")
    assert [m["name"] for m in record["committee"]] == ["王主任", "刘副主任"]
    assert record["office"] == [{"name": "陈干事", "post": "办公室主任", "phone": "0771-1111111"}]
    assert organisation_record(kept, Actor("admin", "GX"), "admin:NN")["info"]["phone"] == "0771-0000000"
    with pytest.raises(Refused) as refused:
        organisation_record(kept, Actor("admin", "NN-QX"), "admin:NN")
    assert refused.value.code == "forbidden"


def test_each_act_is_recorded_with_its_actor(kept):
    records = kept.case_history("organisation", "admin:NN")
    assert [(r.event, r.actor) for r in records] == [
        ("edit_organisation", "NN"),
        ("save_committee", "NN"),
        ("save_office", "GX"),
    ]
    assert verify(kept).ok


def test_an_institution_confirms_the_cycle_once(kept):
    assert cycle_confirmed(kept, "H1") and not cycle_confirmed(kept, "H2")
    assert organisation_record(kept, H1, "institution:H1")["confirmed"] == ["guangxi-2019-2020"]
    # Nothing filled in yet: an empty record for the institution itself, refused to another.
    assert organisation_record(kept, Actor("institution", "H2"), "institution:H2")["state"] == "new"
    with pytest.raises(Refused):
        organisation_record(kept, Actor("institution", "H2"), "institution:H1")


def test_departments_in_two_levels_and_a_doctors_department(kept):
    rows = departments(kept, H1, "H1")
    assert [(r["department"], r["level"]) for r in rows] == [("H1/IM", 1), ("H1/IM-RESP", 2)]
    assert department_of(kept, "D1", "H1") == "H1/IM-RESP"
    assert doctor_profile(kept, H1, "D1")["registry"]["department"] == "H1/IM-RESP"
    page = doctor_list(kept, H1, department="H1/IM-RESP")
    assert [r["doctor"] for r in page.rows] == ["D1", "D2"]
    assert departments(kept, Actor("agency", "A1"), "H1") == rows
    for outsider in (Actor("institution", "H2"), Actor("agency", "A2"), Actor("doctor", "D1")):
        with pytest.raises(Refused):
            departments(kept, outsider, "H1")


def test_a_department_in_use_is_not_deleted_and_nothing_is_written(kept):
    before = kept.case_state("department", "H1/IM-RESP")
    with pytest.raises(Refused) as refused:
        kept.case_fire("department", "H1/IM-RESP", "delete_department", H1)
    assert (refused.value.code, refused.value.rule) == ("guard_failed", "department_in_use")
    assert kept.case_state("department", "H1/IM-RESP") == before
