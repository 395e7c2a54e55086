"""参加考核 after 确认考核周期: with ``[registration] require_cycle_confirmation`` an institution enrols
doctors only once it has confirmed taking part in the cycle; the confirmation reaches the guard
through the world (``Policy.confirmed``), on the single and the batch path and in another engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import H1, H2, REGISTRATION_DAY, WORLD, doctor_cmd

import renew_fsm
from renew_fsm import Fire, Refused
from renew_fsm.rules.policy import PolicyError, load, parse

SHIPPED = Path(renew_fsm.__file__).parent / "rules" / "policies" / "guangxi-2019-2020.toml"


def policy_file(tmp_path: Path, switch: str = "true") -> Path:
    text = SHIPPED.read_text(encoding="utf-8").replace('version = "2021.1"', 'version = "2021.1-c"')
    path = tmp_path / "confirmation.toml"
    path.write_text(text + f"\n[registration]\nrequire_cycle_confirmation = {switch}\n", encoding="utf-8")
    return path


def engine_with(url: str, tmp_path: Path) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    doctors = [doctor_cmd("D1"), doctor_cmd("D2", serial=2), doctor_cmd("D3", "H2", serial=3)]
    for cmd in [*WORLD[:-1], {"op": "policy", "file": str(policy_file(tmp_path))}, *doctors]:
        engine.apply(cmd)
    engine.apply({"op": "clock", "at": REGISTRATION_DAY})
    return engine


def rule(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def test_the_switch_is_off_by_default_and_must_be_a_boolean(tmp_path: Path) -> None:
    assert load("guangxi-2019-2020").registration.require_cycle_confirmation is False
    assert load(str(policy_file(tmp_path))).registration.require_cycle_confirmation is True
    with pytest.raises(PolicyError, match=r"registration\.require_cycle_confirmation"):
        parse(policy_file(tmp_path, '"yes"').read_text(encoding="utf-8"))


def test_an_institution_enrols_once_it_has_confirmed_the_cycle(url: str, tmp_path: Path) -> None:
    engine = engine_with(url, tmp_path)
    try:
        assert rule(lambda: engine.fire("D1", "enroll", H1)) == ("guard_failed", "cycle_not_confirmed")
        assert engine.state("D1").state == "not_enrolled" and engine.history("D1") == []
        engine.case_fire("organisation", "institution:H1", "confirm_cycle", H1)
        results = engine.fire_many([Fire("D1", "enroll", H1), Fire("D2", "enroll", H1), Fire("D3", "enroll", H2)])
        assert [getattr(r, "state", None) for r in results[:2]] == ["enrolled", "enrolled"]
        assert isinstance(results[2], Refused) and results[2].rule == "cycle_not_confirmed"
        assert "enroll" not in engine.allowed("D3", H2)
        engine.case_fire("organisation", "institution:H2", "confirm_cycle", H2)
        assert "enroll" in engine.allowed("D3", H2)
    finally:
        engine.close()


def test_another_engine_sees_a_confirmation_made_after_it_loaded_the_world(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    first = engine_with(db, tmp_path)
    second = renew_fsm.open(db)
    try:
        assert rule(lambda: second.fire("D1", "enroll", H1))[1] == "cycle_not_confirmed"  # its world is loaded
        first.case_fire("organisation", "institution:H1", "confirm_cycle", H1)
        assert second.fire("D1", "enroll", H1).state == "enrolled"
    finally:
        first.close()
        second.close()
