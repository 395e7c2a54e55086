"""Chinese first: every id a person reads has its label from the machine data, and no Chinese
refusal message names a state or an event by its id (issue 34)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import renew_fsm
import renew_fsm.replay as replay_module
from renew_fsm import labels
from renew_fsm.errors import Refused
from renew_fsm.machines import MACHINES
from renew_fsm.machines.graph import build
from renew_fsm.model import FLAGS
from renew_fsm.replay import ReplayStop, replay_file
from renew_fsm.stats import REASONS

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def test_a_nested_state_reads_with_its_program() -> None:
    assert labels.state("general.submitted").zh == "一般程序·已申请并自评，待卫生机构评定"
    assert labels.state("simple.submitted").zh.startswith("简易程序·")
    assert labels.state("general.submitted").en.startswith("general program · ")
    assert labels.state_zh("general.submitted") == "状态「一般程序·已申请并自评，待卫生机构评定」"
    assert labels.event_zh("choose_general") == "操作「选择一般程序并自评」"


def test_a_case_machines_state_is_named_by_its_own_machine() -> None:
    # ``new`` means something different in every case machine.
    assert labels.state("new", "account").zh == "未新增"
    assert labels.state("new", "export_request").zh == "未申请"


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_state_and_event_has_a_chinese_label(machine: str) -> None:
    for node in build(MACHINES[machine]).nodes.values():
        label = labels.state(node.id, machine)
        assert label.zh.endswith(node.zh) and label.zh != node.id
        assert label.en.endswith(node.en)
    for name, event in MACHINES[machine].events.items():
        assert labels.event(name, machine) == (event.zh, event.en)


def test_every_flag_and_reason_has_a_chinese_label() -> None:
    assert set(labels.FLAGS) == set(FLAGS)
    assert set(labels.REASONS) == set(REASONS)
    for table in (labels.FLAGS, labels.REASONS):
        assert all(re.search(r"[\u4e00-\u9fff]", label.zh) for label in table.values())


def test_an_unknown_id_reads_as_itself() -> None:
    assert labels.state("nowhere") == ("nowhere", "nowhere")
    assert labels.event("no_such_event") == ("no_such_event", "no_such_event")


def test_labelled_view_and_record_keep_every_id_key() -> None:
    engine = renew_fsm.open(":memory:")
    try:
        replay_file(engine, SCENARIOS / "admin_sends_a_doctor_back_to_choose_the_program_again.jsonl")
        doctor = engine.instances()[0]
        view = engine.state(doctor)
        out = labels.view(view)
        assert {k: out[k] for k in view.as_dict()} == view.as_dict()
        assert out["state_label_zh"] == labels.state(view.state).zh
        record = engine.history(doctor)[-1]
        rec = labels.record(record)
        assert {k: rec[k] for k in record._asdict()} == record._asdict()
        assert rec["event_label_zh"] == labels.event(record.event).zh
        assert rec["to_state_label_zh"] == labels.state(record.to_state).zh
    finally:
        engine.close()


def _ids() -> tuple[set[str], set[str]]:
    states = {n for m in MACHINES.values() for n in build(m).nodes}
    events = {e for m in MACHINES.values() for e in m.events}
    return states, events


def test_no_chinese_refusal_of_any_scenario_names_a_state_or_event_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay every scenario and read every refusal's Chinese message as a person would."""
    seen: list[Refused] = []
    original = replay_module._refusal

    def spy(number: int, refused: Refused, *rest: object, **named: object) -> dict[str, object]:
        seen.append(refused)
        return original(number, refused, *rest, **named)  # type: ignore[arg-type]

    monkeypatch.setattr(replay_module, "_refusal", spy)
    for path in sorted(SCENARIOS.glob("*.jsonl")):
        engine = renew_fsm.open(":memory:")
        try:
            replay_file(engine, path)
        except ReplayStop:
            pass
        finally:
            engine.close()
    assert len({r.code for r in seen}) >= 5, "the scenarios refuse in many ways; the sweep must see them"
    states, events = _ids()
    dotted = {s for s in states if "." in s}
    word = re.compile(r"(?<![A-Za-z0-9_])[a-z_]+(?:\.[a-z_]+)*(?![A-Za-z0-9_])")
    bad = []
    for refused in seen:
        for token in word.findall(refused.message_zh):
            if token in dotted or token in events:
                bad.append((refused.code, refused.message_zh))
    assert not bad, bad
    assert any("状态「" in r.message_zh for r in seen)
