"""The manual's situations, replayed (SPEC §5) and compared with what the manual says must happen.

Every ``examples/scenarios/*.jsonl`` is replayed through the library on SQLite
and on PostgreSQL and compared with the ``<name>.expected.json`` beside it:
each doctor's state, reason and flags exactly; each refusal's line, code and
rule exactly, its message only for being there.  After the replay, every
instance must still rebuild from its history (``verify``).

Three scenarios began as known bugs (a new program keeping the old one's
exemption, a business-exempt doctor unable to sit the re-exam, an early sweep
with nobody in scope); they were fixed and now run with the others.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import renew_fsm
from renew_fsm.replay import ReplayStop, replay_file
from renew_fsm.verify import verify

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def scenarios(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def expected_of(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(f"{path.stem}.expected.json").read_text(encoding="utf-8"))


def comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    """What must match exactly: every doctor's view, each refusal's line, code and rule (and the case a
    batch refused), and every workflow case when there are any."""
    keys = ("line", "code", "rule", "case", "doctor")
    out = {
        "doctors": outcome["doctors"],
        "errors": [{k: e[k] for k in keys if k in e} for e in outcome["errors"]],
    }
    if "cases" in outcome:
        out["cases"] = outcome["cases"]
    return out


def assert_outcome(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    # SPEC §5's shape; "cases" only when a workflow case exists (docs/workflows.md).
    assert set(actual) == {"doctors", "errors"} | ({"cases"} if actual.get("cases") else set())
    assert comparable(actual) == comparable(expected)
    for error in actual["errors"]:
        assert isinstance(error["message"], str) and error["message"].strip(), error


def replayed(url: str, path: Path) -> dict[str, Any]:
    engine = renew_fsm.open(url)
    try:
        outcome = replay_file(engine, path).as_dict()
        report = verify(engine)
        assert report.ok, [str(f) for f in report.findings]
    finally:
        engine.close()
    return outcome


def test_every_scenario_has_its_expected_outcome():
    examples = scenarios(EXAMPLES)
    assert len(examples) >= 20
    for path in examples:
        expected = expected_of(path)
        assert expected["doctors"], f"{path.name}: an expected outcome names its doctors"


@pytest.mark.parametrize("path", scenarios(EXAMPLES), ids=lambda p: p.stem)
def test_scenario(path: Path, sql_url: str) -> None:
    assert_outcome(replayed(sql_url, path), expected_of(path))


# -- what a scenario cannot say in its expected file ---------------------------------------------


def test_first_round_sweep_run_again_moves_nobody_and_writes_nothing(tmp_path: Path) -> None:
    path = EXAMPLES / "enrolled_doctors_who_never_finish_the_first_round_are_absent.jsonl"
    engine = renew_fsm.open(str(tmp_path / "store.db"))
    try:
        replay_file(engine, path)
        trail = {d: len(engine.history(d)) for d in engine.instances()}
        assert engine.sweep("close_first_round") == 0
        assert {d: len(engine.history(d)) for d in engine.instances()} == trail
        absent = [r for r in engine.history("D1") if r.event == "close_first_round"]
        assert [(r.from_state, r.to_state, r.role) for r in absent] == [("enrolled", "unqualified", "system")]
    finally:
        engine.close()


def test_deferred_doctor_is_left_alone_by_the_first_round_sweep(tmp_path: Path) -> None:
    path = EXAMPLES / "deferred_doctor_sits_the_makeup_as_first_exam.jsonl"
    engine = renew_fsm.open(str(tmp_path / "store.db"))
    try:
        replay_file(engine, path)
        events = [(r.event, r.from_state, r.to_state) for r in engine.history("D1")]
        assert ("close_first_round", "deferred", "unqualified") not in events
        assert ("resume", "deferred", "registered") in events
        assert "close_first_round" not in [r.event for r in engine.history("D3")]
    finally:
        engine.close()


def test_a_line_that_is_not_json_stops_the_replay_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"op": "region", "id": "GX", "level": "province"}\n{"op": "region",\n', encoding="utf-8")
    engine = renew_fsm.open(":memory:")
    try:
        with pytest.raises(ReplayStop) as stop:
            replay_file(engine, path)
    finally:
        engine.close()
    assert stop.value.line == 2


def test_a_byte_order_mark_before_the_first_line_is_not_part_of_it(tmp_path: Path) -> None:
    source = EXAMPLES / "assistant_physician_scoring_55_passes.jsonl"
    path = tmp_path / "saved_by_notepad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    engine = renew_fsm.open(":memory:")
    try:
        outcome = replay_file(engine, path).as_dict()
    finally:
        engine.close()
    assert_outcome(outcome, expected_of(source))


# -- the command line ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("renew-fsm")
    command = [exe] if exe else [sys.executable, "-c", "from renew_fsm.cli import main; main()"]
    return subprocess.run([*command, *args], capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_cli_replay_json_prints_the_expected_outcome() -> None:
    path = EXAMPLES / "every_refusal_code_is_reported_and_the_replay_goes_on.jsonl"
    done = cli("replay", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert_outcome(json.loads(done.stdout), expected_of(path))


def test_cli_replay_stops_with_status_2_on_an_unknown_op(tmp_path: Path) -> None:
    path = tmp_path / "unknown_op.jsonl"
    path.write_text(
        '{"op": "region", "id": "GX", "level": "province"}\n{"op": "teleport", "doctor": "D1"}\n', encoding="utf-8"
    )
    done = cli("replay", str(path), "--json")
    assert done.returncode == 2
    assert "line 2" in done.stderr
