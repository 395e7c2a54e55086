"""The store commands of the CLI: ``replay``, ``state``, ``history``, ``verify``, and where ``stats`` and
``notice`` write — outputs and failures.

Every failure a user can cause ends with a message and a non-zero status, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import WORLD, doctor_cmd

FIRE_ENROLL = {"op": "fire", "doctor": "D1", "event": "enroll", "actor": {"role": "institution", "id": "H1"}}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def scenario(tmp_path: Path, *lines: dict[str, Any] | str, name: str = "s.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def assert_clean_failure(result: subprocess.CompletedProcess[str], status: int) -> None:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip(), "a failure must say why"


def basic(tmp_path: Path, *extra: dict[str, Any] | str) -> Path:
    return scenario(tmp_path, *WORLD, doctor_cmd("D1"), {"op": "clock", "at": "2021-04-20T09:00:00+08:00"}, *extra)


# -- replay -------------------------------------------------------------------------------------


def test_invalid_json_stops_the_replay_naming_the_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, WORLD[0], WORLD[1], '{"op": "region", "id": "NN-QX",', WORLD[2])
    result = cli("replay", str(path))
    assert_clean_failure(result, 2)
    assert "line 3" in result.stderr
    assert "not valid JSON" in result.stderr


@pytest.mark.parametrize("bad", ['{"op": "teleport"}', '{"op": ["region"]}', '{"op": null}', '{"id": "GX"}'])
def test_an_unknown_op_stops_the_replay(tmp_path: Path, bad: str) -> None:
    result = cli("replay", str(scenario(tmp_path, WORLD[0], "", bad)))
    assert_clean_failure(result, 2)
    assert "line 3" in result.stderr and "unknown op" in result.stderr


def test_a_line_that_is_not_utf8_stops_the_replay(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(WORLD[0]).encode() + b"\n" + '{"op": "region", "id": "Ü"}'.encode("latin-1") + b"\n")
    result = cli("replay", str(path))
    assert_clean_failure(result, 2)
    assert "line 2" in result.stderr


def test_a_missing_scenario_file_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("replay", str(tmp_path / "nope.jsonl"))
    assert_clean_failure(result, 2)


def test_replay_json_has_exactly_the_shape_of_spec_5(tmp_path: Path) -> None:
    bad_card = {**doctor_cmd("D2", serial=2), "id_card": "12345"}
    path = basic(
        tmp_path,
        FIRE_ENROLL,
        {**FIRE_ENROLL, "actor": {"role": "institution", "id": "H2"}},  # line 16: forbidden
        bad_card,  # line 17: a refused setup line; the replay goes on
        {"op": "fire", "doctor": "D1", "event": "submit_info", "actor": {"role": "doctor", "id": "D1"}},
        {"op": "clock", "at": "2021-06-05T09:00:00+08:00"},
        {**FIRE_ENROLL, "doctor": "D1"},  # line 20: invalid_transition
        {
            "op": "fire",
            "doctor": "D1",
            "event": "request_deferral",
            "actor": {"role": "doctor", "id": "D1"},
            "data": {"reason": "生病"},
        },  # line 21: guard_failed, deferral_deadline_passed
    )
    assert len(WORLD) == 12  # so the line numbers above hold
    result = cli("replay", str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"doctors", "errors"}
    assert out["doctors"] == {"D1": {"state": "info_submitted", "reason": None, "flags": []}}
    assert all(set(e) == {"line", "code", "rule", "message"} for e in out["errors"])
    assert [(e["line"], e["code"], e["rule"]) for e in out["errors"]] == [
        (16, "forbidden", None),
        (17, "bad_input", None),
        (20, "invalid_transition", None),
        (21, "guard_failed", "deferral_deadline_passed"),
    ]
    assert all(isinstance(e["message"], str) and e["message"] for e in out["errors"])


def test_replay_prints_a_table_without_json(tmp_path: Path) -> None:
    path = basic(tmp_path, FIRE_ENROLL, {**FIRE_ENROLL, "actor": {"role": "institution", "id": "H2"}})
    result = cli("replay", str(path))
    assert result.returncode == 0, result.stderr
    assert "D1" in result.stdout and "enrolled" in result.stdout
    assert "1 refused command(s)" in result.stdout and "forbidden" in result.stdout


def test_replay_with_db_keeps_the_store_for_the_other_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "kept.db")
    path = basic(
        tmp_path,
        FIRE_ENROLL,
        {
            "op": "fire",
            "doctor": "D1",
            "event": "submit_info",
            "actor": {"role": "doctor", "id": "D1"},
            "data": {"phone": "13800000000"},
        },
    )
    assert cli("replay", str(path), "--db", db, "--json").returncode == 0

    state = cli("state", "D1", "--db", db)
    assert state.returncode == 0, state.stderr
    shown = json.loads(state.stdout)
    assert {k: shown[k] for k in ("doctor", "state", "reason", "flags", "version")} == {
        "doctor": "D1",
        "state": "info_submitted",
        "reason": None,
        "flags": [],
        "version": 2,
    }
    assert (shown["state_label_zh"], shown["state_label_en"]) == ("待卫生机构审核", "details awaiting the institution")

    history = cli("history", "D1", "--db", db, "--json")
    assert history.returncode == 0, history.stderr
    records = json.loads(history.stdout)
    assert [(r["seq"], r["event"], r["from_state"], r["to_state"], r["role"], r["actor"]) for r in records] == [
        (1, "enroll", "not_enrolled", "enrolled", "institution", "H1"),
        (2, "submit_info", "enrolled", "info_submitted", "doctor", "D1"),
    ]
    assert json.loads(records[1]["data"]) == {"phone": "13800000000"}
    assert (records[1]["event_label_zh"], records[1]["to_state_label_zh"]) == ("确认个人信息", "待卫生机构审核")

    table = cli("history", "D1", "--db", db)
    assert table.returncode == 0
    assert "D1: 2 event(s)" in table.stdout and "submit_info" in table.stdout
    assert "确认个人信息 submit_info" in table.stdout and "医师 doctor:D1" in table.stdout
    assert "已纳入，待医师确认个人信息 → 待卫生机构审核" in table.stdout

    allowed = cli("allowed", "D1", "--as", "institution:H1", "--db", db)
    assert allowed.returncode == 0, allowed.stderr
    events = json.loads(allowed.stdout)
    assert events["events"] == ["cancel_enrollment", "approve_info", "reject_info"]
    assert [e["label_zh"] for e in events["event_labels"]] == ["取消参加考核", "审核通过个人信息", "驳回个人信息"]

    verified = cli("verify", "--db", db)
    assert verified.returncode == 0, verified.stderr
    assert "1 instance(s), 2 history record(s)" in verified.stdout


def test_an_unknown_doctor_is_not_found(tmp_path: Path) -> None:
    db = str(tmp_path / "kept.db")
    assert cli("replay", str(basic(tmp_path)), "--db", db).returncode == 0
    for command in ("state", "history"):
        result = cli(command, "D404", "--db", db)
        assert_clean_failure(result, 1)
        assert "not_found" in result.stderr and "D404" in result.stderr


# -- a database that is not there, or not a database ----------------------------------------------


@pytest.mark.parametrize("command", [["verify"], ["history", "D1"], ["state", "D1"]])
def test_a_missing_database_is_reported_and_not_created(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "missing.db"
    result = cli(*command, "--db", str(missing))
    assert_clean_failure(result, 1)
    assert "no database" in result.stderr and "missing.db" in result.stderr
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["verify"], ["history", "D1"], ["state", "D1"]])
def test_the_default_database_is_not_created_either(tmp_path: Path, command: list[str]) -> None:
    result = cli(*command, cwd=tmp_path)
    assert_clean_failure(result, 1)
    assert "renew-fsm.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "garbage", "unreachable postgres"])
def test_a_bad_database_is_reported(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        target = str(tmp_path)
    elif kind == "garbage":
        garbage = tmp_path / "garbage.db"
        garbage.write_text("these are not the pages you are looking for\n" * 200)
        target = str(garbage)
    else:
        target = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    for command in (["verify"], ["history", "D1"], ["state", "D1"]):
        result = cli(*command, "--db", target)
        assert_clean_failure(result, 1)
        assert "error:" in result.stderr


# -- an output file that cannot be written -----------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A small simulated cycle and a doctor in it with a final result (for a notice)."""
    db = str(tmp_path_factory.mktemp("sim") / "sim.db")
    assert cli("simulate", "--db", db, "--doctors", "30").returncode == 0
    with sqlite3.connect(db) as conn:
        (qualified,) = conn.execute("SELECT doctor FROM instances WHERE state = 'qualified' LIMIT 1").fetchone()
    return db, qualified


@pytest.mark.parametrize("what", ["stats xlsx", "stats json", "stats csv", "notice html", "notice pdf"])
def test_an_output_in_a_missing_folder_is_reported(tmp_path: Path, simulated: tuple[str, str], what: str) -> None:
    db, qualified = simulated
    command, kind = what.split()
    folder = tmp_path / "no" / "such" / "folder"
    args = ["--format", kind] if command == "stats" else [qualified]
    result = cli(command, *args, "--db", db, "--out", str(folder / f"out.{kind}"))
    assert_clean_failure(result, 1)
    assert "error:" in result.stderr and "No such file or directory" in result.stderr
    assert list(tmp_path.iterdir()) == []
