"""``renew-fsm history DOCTOR --db URL`` on a simulated doctor: the trail an office reads back.

A doctor whose cycle went through a discipline finding, a suspension and the
re-exam: the trail must show every event with who did it, when and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm.simulate import simulate

from .conftest import cli


@pytest.fixture(scope="module")
def disciplined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[renew_fsm.Record]]:
    """A 2,000-doctor run and one doctor in it with a discipline finding, with their history from the library."""
    db = tmp_path_factory.mktemp("history") / "history.db"
    engine = renew_fsm.open(str(db))
    simulate(engine, 2000, 7)
    doctor = next(r.doctor for r in engine.storage.all_history(engine.cycle) if r.event == "discipline")
    records = engine.history(doctor)
    engine.close()
    return db, doctor, records


def test_the_json_trail_is_the_doctors_history_record_for_record(
    disciplined: tuple[Path, str, list[renew_fsm.Record]],
) -> None:
    db, doctor, records = disciplined
    result = cli("history", doctor, "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert len(printed) == len(records) >= 5
    for line, record in zip(printed, records, strict=True):
        assert line["seq"] == record.seq and line["event"] == record.event
        assert (line["role"], line["actor"], line["at"]) == (record.role, record.actor, record.at)
        assert (line["from_state"], line["to_state"]) == (record.from_state, record.to_state)
        assert json.loads(line["data"]) == json.loads(record.data)
    discipline = next(line for line in printed if line["event"] == "discipline")
    assert discipline["role"] == "admin"
    assert json.loads(discipline["data"])["reason"] == "监考照片认定"
    assert printed[0]["event"] == "enroll" and printed[0]["role"] == "institution"


def test_the_table_has_a_row_per_event_with_actor_and_time(
    disciplined: tuple[Path, str, list[renew_fsm.Record]],
) -> None:
    db, doctor, records = disciplined
    result = cli("history", doctor, "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert f"{doctor}: {len(records)} event(s)" in result.stdout
    lines = result.stdout.splitlines()
    for record in records:
        actor = f"{record.role}:{record.actor}" if record.actor else record.role
        row = [line for line in lines if f" {record.event} " in line and record.at in line]
        assert len(row) == 1, (record.seq, record.event)
        assert actor in row[0], (record.seq, record.event)


def test_each_event_is_one_line_with_its_reason_in_full(disciplined: tuple[Path, str, list[renew_fsm.Record]]) -> None:
    db, doctor, records = disciplined
    result = cli("history", doctor, "--db", str(db))
    lines = result.stdout.splitlines()
    for record in records:
        row = [line for line in lines if f" {record.event} " in line and record.at in line]
        assert len(row) == 1
        reason = json.loads(record.data).get("reason")
        if reason:
            assert reason in row[0], (record.event, row[0])
    # No continuation lines: a title, the table's rules and header, and one line per event.
    events = [line for line in lines if line.startswith("│")]
    assert len(events) == len(records)


def test_an_unknown_doctor_has_no_trail(disciplined: tuple[Path, str, list[renew_fsm.Record]]) -> None:
    db, _, _ = disciplined
    result = cli("history", "D9999999", "--db", str(db))
    assert result.returncode == 1
    assert "not_found" in result.stderr and "Traceback" not in result.stderr
