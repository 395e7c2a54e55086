"""撤销考核机构: a revoked agency stops acting, its institutions are released, reassigned or listed."""

from __future__ import annotations

from pathlib import Path

import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.lists import institution_list
from renew_fsm.organisations import revoke_agency
from renew_fsm.replay import replay_file
from renew_fsm.verify import verify

SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "examples"
    / "scenarios"
    / "a_revoked_agency_releases_its_institutions_to_be_reassigned.jsonl"
)
CITY = Actor("admin", "NN")


@pytest.fixture
def revoked(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    replay_file(engine, SCENARIO)
    yield engine
    engine.close()


def unassigned(engine: renew_fsm.Engine, actor: Actor) -> list[str]:
    return [r["institution"] for r in institution_list(engine, actor, unassigned=True).rows]


def test_the_revocation_lists_what_it_released_and_the_world_forgets_the_agency(revoked):
    [record] = revoked.case_history("agency_revocation", "H1")
    assert (record.event, record.role, record.actor) == ("revoke_agency", "admin", "NN-QX")
    assert revoked.case_state("agency_revocation", "H1").data["released"] == ["H2", "H3"]
    assert "H1" not in revoked.world().agencies
    assert sorted(revoked.world().agencies["H5"].institutions) == ["H2"]
    assert verify(revoked).ok


def test_institutions_left_without_an_agency_are_listed_within_jurisdiction(revoked):
    # (H5 is an agency itself; no agency assesses its own doctors either)
    assert unassigned(revoked, CITY) == ["H1", "H3", "H5"]
    assert unassigned(revoked, Actor("admin", "NN-XN")) == ["H5"]
    assert unassigned(revoked, Actor("admin", "NN-QX")) == ["H1", "H3"]


def test_revoke_and_reassign_in_one_call(revoked):
    view, moves = revoke_agency(revoked, "H5", CITY, "合并考核机构", reassign_to="H1")
    assert view.data["released"] == ["H2"]
    # H1 was revoked itself: each reassignment is refused in its place and H2 is left unassigned.
    assert [m.code for m in moves if isinstance(m, Refused)] == ["not_found"]
    assert unassigned(revoked, CITY) == ["H1", "H2", "H3", "H5"]


def test_only_the_authority_over_the_agency_revokes_it(revoked):
    for actor in (Actor("admin", "NN-QX"), Actor("institution", "H5"), Actor("agency", "H5")):
        with pytest.raises(Refused) as refused:
            revoked.case_fire("agency_revocation", "H5", "revoke_agency", actor, {"reason": "无权"})
        assert refused.value.code == "forbidden", actor
    assert "H5" in revoked.world().agencies
