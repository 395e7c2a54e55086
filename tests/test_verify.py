"""``renew-fsm verify``: a copy of a database passes untouched and names every instance edited by hand."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import A1, EXAM, H1, at, doctor, doctor_cmd, make_engine, to_testing
from tamperkit import REGUARD_PG, REGUARD_SQLITE, UNGUARD_PG, UNGUARD_SQLITE

import renew_fsm
from renew_fsm.verify import verify

DOCTORS = ["D1", "D2", "D3", "D4"]


def build(url: str) -> renew_fsm.Engine:
    """Four doctors with histories of different lengths; D4 qualified, D1 only enrolled."""
    e = make_engine(url, [doctor_cmd(d, serial=i) for i, d in enumerate(DOCTORS, 1)])
    e.fire("D1", "enroll", H1)
    for d in ("D2", "D3", "D4"):
        to_testing(e, d, "general")
    e.fire("D4", "record_score", EXAM, {"test": "business", "score": 75}, at=at("2021-06-02"))
    e.fire("D4", "record_score", EXAM, {"test": "humanities", "score": 75}, at=at("2021-06-02"))
    e.fire("D4", "grade", A1, at=at("2021-07-01"))
    e.fire("D3", "mark_suspected", A1, {"reason": "照片异常"}, at=at("2021-06-02"))
    return e


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "original.db"
    build(str(path)).close()
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        ["renew-fsm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def copy(original: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    shutil.copy(original, target)
    return target


def test_an_untouched_copy_passes(original: Path, tmp_path: Path) -> None:
    result = cli("verify", "--db", str(copy(original, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "4 instance(s)" in result.stdout
    assert "✗" not in result.stdout + result.stderr


TAMPERING = {
    "a state row set to qualified": ("UPDATE instances SET state = 'qualified' WHERE doctor = 'D2'", "D2"),
    "a flag removed from a state row": ("UPDATE instances SET flags = '' WHERE doctor = 'D3'", "D3"),
    "a score raised in a state row": ("UPDATE instances SET business_best = 90 WHERE doctor = 'D4'", "D4"),
    "a history row's data edited": (
        """UPDATE history SET data = '{"ethics":"pass","work_performance":"fail"}'"""
        " WHERE doctor = 'D3' AND event = 'approve_program'",
        "D3",
    ),
    "a history row's data emptied": (
        "UPDATE history SET data = '{}' WHERE doctor = 'D2' AND event = 'approve_program'",
        "D2",
    ),
    "a history row's data made unreadable": (
        "UPDATE history SET data = 'not json' WHERE doctor = 'D4' AND event = 'record_score' AND seq = 8",
        "D4",
    ),
    "a history row's time made unreadable": ("UPDATE history SET at = 'yesterday' WHERE doctor = 'D1'", "D1"),
    "a history row's actor edited": ("UPDATE history SET actor = 'H2' WHERE doctor = 'D2' AND seq = 1", "D2"),
    "a history row's target edited": (
        "UPDATE history SET to_state = 'unqualified' WHERE doctor = 'D4' AND event = 'grade'",
        "D4",
    ),
    "a history row deleted": ("DELETE FROM history WHERE doctor = 'D3' AND seq = 2", "D3"),
    "the newest history row deleted": ("DELETE FROM history WHERE doctor = 'D1' AND seq = 1", "D1"),
    "two history rows swapped": (
        "UPDATE history SET seq = -seq WHERE doctor = 'D2' AND seq IN (2, 3);"
        " UPDATE history SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE doctor = 'D2' AND seq < 0",
        "D2",
    ),
}


@pytest.mark.parametrize("edit", TAMPERING, ids=list(TAMPERING))
def test_a_hand_edited_copy_is_reported(original: Path, tmp_path: Path, edit: str) -> None:
    sql, culprit = TAMPERING[edit]
    target = copy(original, tmp_path)
    conn = sqlite3.connect(target)
    conn.executescript(UNGUARD_SQLITE + sql + ";" + REGUARD_SQLITE)
    assert conn.total_changes >= 1
    conn.close()
    result = cli("verify", "--db", str(target))
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stderr.splitlines() if "✗" in line]
    named = {line.split("✗", 1)[1].split(":", 1)[0].strip() for line in problems[:-1]}
    assert named == {culprit}, result.stderr
    assert "problem(s)" in problems[-1]
    assert "Traceback" not in result.stderr


def test_verify_finds_nothing_wrong_after_a_busy_day(url: str) -> None:
    e = build(url)
    report = verify(e)
    assert report.ok, report.findings
    assert report.checked == 4
    assert report.records == sum(len(e.history(d)) for d in DOCTORS)
    e.close()


PG_EDITS: dict[str, tuple[str, str]] = {
    "state": ("UPDATE instances SET state = 'qualified' WHERE doctor = 'D2'", "D2"),
    "history data": ("UPDATE history SET data = '{}' WHERE doctor = 'D3' AND event = 'approve_program'", "D3"),
    "history deleted": ("DELETE FROM history WHERE doctor = 'D4' AND event = 'grade'", "D4"),
}


@pytest.mark.parametrize("edit", PG_EDITS, ids=list(PG_EDITS))
def test_verify_reports_hand_edits_on_postgres(pg_url: str, edit: str) -> None:
    import psycopg

    e = build(pg_url)
    assert verify(e).ok
    sql, culprit = PG_EDITS[edit]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(UNGUARD_PG)
        assert conn.execute(sql).rowcount == 1
        conn.execute(REGUARD_PG)
    report = verify(e)
    assert not report.ok
    assert {f.doctor for f in report.findings} == {culprit}
    e.close()
    # The command line says the same about the same database.
    result = cli("verify", "--db", pg_url)
    assert result.returncode == 1
    assert culprit in result.stderr and "Traceback" not in result.stderr


def test_the_rebuilt_state_matches_field_by_field(url: str) -> None:
    """Rebuilding replays effects too: counters and flags, not only the state name."""
    e = build(url)
    e.fire("D2", "record_score", EXAM, {"test": "humanities", "score": 40}, at=at("2021-06-02"))
    e.fire("D2", "record_score", EXAM, {"test": "humanities", "score": 55}, at=at("2021-06-03"))
    e.fire("D2", "request_assistance", doctor("D2"), at=at("2021-06-03"))
    assert verify(e).ok
    e.close()


def test_doctors_moved_while_verify_reads_are_not_findings(url: str) -> None:
    """Verify runs beside a live service: another writer moving doctors between verify's reading of
    their history and of their instances is not tampering (thousands of false findings before)."""
    e = build(url)
    other = renew_fsm.Engine(e.storage)  # another service's engine on the same store
    scan = e.storage.scan

    def scan_after_writes(*args: object, **kwargs: object) -> object:
        # The history stream has started: these land after it was read, before the instances are.
        e.storage.scan = scan  # type: ignore[method-assign]
        other.fire("D1", "submit_info", doctor("D1"))
        other.fire("D2", "record_score", EXAM, {"test": "business", "score": 70}, at=at("2021-06-03"))
        return scan(*args, **kwargs)

    e.storage.scan = scan_after_writes  # type: ignore[method-assign]
    report = verify(e)
    assert report.ok, report.findings
    assert report.checked == len(DOCTORS)
    # Tampering is still found: the instance edited, its history not.
    tampered = e.storage.load(e.cycle, ["D4"])["D4"][0]
    e.storage.commit([(tampered.version, tampered._replace(state="unqualified"))], [])
    assert [f.doctor for f in verify(e).findings] == ["D4"]
    e.close()
