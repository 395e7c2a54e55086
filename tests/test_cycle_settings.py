"""本周期考核设置 and 免考设置 as the province admin's recorded acts (``cycle_settings``).

Replayed from the scenario, then read back: each act is a history record naming its actor, the
world follows the acts (the exemption list the doctor's rules judge by), and a refused act
writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.replay import replay_file
from renew_fsm.verify import verify

SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "examples"
    / "scenarios"
    / "cycle_settings_are_the_province_admins_recorded_acts.jsonl"
)
GX = Actor("admin", "GX")


@pytest.fixture
def settled(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    replay_file(engine, SCENARIO)
    yield engine
    engine.close()


def test_every_act_is_a_record_naming_the_province_admin(settled):
    records = settled.case_history("cycle_settings", "GX")
    assert [r.event for r in records] == [
        "set_policy",
        "add_exemption_reason",
        "add_exemption_reason",
        "edit_exemption_reason",
        "open_exemption_reason",
        "close_exemption_reason",
        "delete_exemption_reason",
    ]
    assert {(r.role, r.actor) for r in records} == {("admin", "GX")}
    loaded = json.loads(records[0].data)
    policy = settled.policy
    assert (loaded["policy"], loaded["version"]) == (policy.id, policy.version)
    assert len(loaded["sha256"]) == 64
    assert verify(settled).ok


def test_the_exemption_list_is_what_the_acts_made_it(settled):
    reasons = settled.policy.business_exemptions.reasons
    # seeded from the policy file, senior_title added then closed, rural_service added then deleted
    assert sorted(reasons) == ["promotion_exam", "residency_training", "senior_title"]
    assert reasons["senior_title"].open is False
    assert reasons["residency_training"].open is True


def test_loading_the_policy_made_the_cycles_instances(settled):
    assert sorted(settled.instances()) == ["D1", "D2"]


def test_deleting_a_reason_in_use_is_refused_and_writes_nothing(settled):
    before = len(settled.case_history("cycle_settings", "GX"))
    with pytest.raises(Refused) as refused:
        settled.case_fire("cycle_settings", "GX", "delete_exemption_reason", GX, {"reason_id": "senior_title"})
    assert (refused.value.code, refused.value.rule) == ("guard_failed", "reason_in_use")
    assert len(settled.case_history("cycle_settings", "GX")) == before
    assert "senior_title" in settled.policy.business_exemptions.reasons


def test_only_the_province_admin_sets_the_cycle(settled):
    for actor in (Actor("admin", "NN"), Actor("institution", "H1"), Actor("agency", "A1"), Actor("system")):
        with pytest.raises(Refused) as refused:
            settled.case_fire("cycle_settings", "GX", "open_exemption_reason", actor, {"reason_id": "senior_title"})
        assert refused.value.code == "forbidden", actor


def test_a_changed_policy_under_a_loaded_version_is_a_conflict(settled, tmp_path: Path):
    from renew_fsm.rules.policy import shipped

    text = Path(shipped()["guangxi-2019-2020"]).read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("max_months = 6", "max_months = 5"), encoding="utf-8")
    with pytest.raises(Refused) as refused:
        settled.case_fire("cycle_settings", "GX", "set_policy", GX, {"file": str(changed)})
    assert refused.value.code == "conflict"
