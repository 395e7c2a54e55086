"""Cases in storage: the second schema migration, version checks, and verify over the cases' chains."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import COUNTY, H1, doctor, make_engine, register
from tamperkit import tamper

import renew_fsm
from renew_fsm import Refused
from renew_fsm.model import Case, Record
from renew_fsm.storage import ConflictError, open_storage
from renew_fsm.storage.base import SCHEMA_VERSION, CaseWrites
from renew_fsm.verify import verify
from renew_fsm.world import Agency

APP = "agency_application"
NEW_COLUMNS = ("result_on", "appeal_on", "institution")
NEW_TABLES = ("cases", "credentials", "case_files")


def _to_schema_1(url: str) -> None:
    """Make a store look as schema 1 left it: no appeal columns, no case tables, no institution on instances."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for column in NEW_COLUMNS:
                conn.execute(f"ALTER TABLE instances DROP COLUMN {column}")  # type: ignore[arg-type]
            for table in NEW_TABLES:
                conn.execute(f"DROP TABLE {table}")  # type: ignore[arg-type]
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        return
    with sqlite3.connect(url) as conn:
        for column in NEW_COLUMNS:
            conn.execute(f"ALTER TABLE instances DROP COLUMN {column}")
        for table in NEW_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_a_schema_1_store_is_upgraded_in_place(sql_url: str) -> None:
    e = make_engine(sql_url)
    register(e)
    e.close()
    _to_schema_1(sql_url)
    e = renew_fsm.open(sql_url)
    try:
        assert e.storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert e.storage.tally(e.cycle) == [("H1", "registered", None, None, 1)]  # filled by migration 3
        assert e.state("D1").state == "registered"  # the rows survive, the new columns start empty
        e.fire("D1", "record_violation", COUNTY, {"finding": "kickbacks", "reason": "回扣"})
        e.fire("D1", "request_appeal", doctor(), {"reason": "举报不实"})
        assert e.storage.load(e.cycle, ["D1"])["D1"][0].appeal_on == "2021-04-20"
        e.case_fire(APP, "H1", "allow_application", COUNTY)
        assert verify(e).ok
    finally:
        e.close()
    again = renew_fsm.open(sql_url)  # opening an up-to-date store migrates nothing
    try:
        assert again.case_state(APP, "H1").state == "allowed"
    finally:
        again.close()


def _record(case: Case, seq: int) -> Record:
    return Record(
        case.cycle,
        case.id,
        seq,
        "allow_application",
        "not_allowed",
        "allowed",
        "admin",
        "NN",
        "2021-04-20T09:00:00+08:00",
        "{}",
        "",
        f"hash-{seq}",
    )


def test_commit_case_checks_the_version_and_writes_nothing_on_a_conflict(url: str) -> None:
    store = open_storage(url)
    try:
        first = Case(APP, "H1", "H1", "allowed", 1, frozenset(), "{}", "hash-1")
        store.commit_case(0, first, _record(first, 1), CaseWrites(agency=Agency("H1", "NN", "医院")))
        before = store.world_version()
        with pytest.raises(ConflictError):  # a second creation loses
            store.commit_case(0, first, _record(first, 1), CaseWrites())
        second = Case(APP, "H1", "H1", "applied", 2, frozenset(), '{"materials":"m"}', "hash-2")
        with pytest.raises(ConflictError):  # read at version 5: changed since
            store.commit_case(5, second, _record(second, 2), CaseWrites(assign=("H1", "H9")))
        assert store.load_case(APP, "H1") == first
        assert store.world_version() == before
        assert len(store.history(first.cycle, "H1")) == 1
        store.commit_case(1, second, _record(second, 2), CaseWrites(assign=("H1", "H9")))
        assert store.load_case(APP, "H1") == second
        assert store.load_world(None).agencies == [Agency("H1", "NN", "医院", frozenset({"H9"}))]
        assert store.world_version() == before + 1
        assert [c.id for c in store.scan_cases(APP, None, 10)] == ["H1"]
        assert store.scan_cases(APP, "H1", 10) == [] and store.scan_cases("account", None, 10) == []
    finally:
        store.close()


def _tamper(url: str, sql: str) -> None:
    tamper(url, sql)


@pytest.mark.parametrize(
    ("sql", "finding"),
    [
        (
            "UPDATE history SET data = '{\"reason\":\"改过\"}' WHERE cycle = 'case:agency_application' AND seq = 3",
            "does not match its hash",
        ),
        ("UPDATE cases SET state = 'agency' WHERE id = 'H1'", "state is 'agency' but history gives 'rejected'"),
        ("UPDATE cases SET subject = 'H2' WHERE id = 'H1'", "subject is 'H2'"),
        ("DELETE FROM history WHERE cycle = 'case:agency_application' AND seq = 1", "a record is missing"),
        ("DELETE FROM cases WHERE id = 'H1'", "history for a case that does not exist"),
    ],
)
def test_verify_finds_an_edited_case(sql_url: str, sql: str, finding: str) -> None:
    e = make_engine(sql_url)
    e.case_fire(APP, "H1", "allow_application", COUNTY)
    e.case_fire(APP, "H1", "apply_agency", H1, {"materials": "材料"})
    e.case_fire(APP, "H1", "reject_agency", COUNTY, {"reason": "材料不全"})
    assert verify(e).ok
    e.close()
    _tamper(sql_url, sql)
    e = renew_fsm.open(sql_url)
    try:
        report = verify(e)
        assert not report.ok
        assert any(finding in str(f) for f in report.findings), [str(f) for f in report.findings]
    finally:
        e.close()


def test_a_case_conflict_is_reported_as_conflict(url: str) -> None:
    e = make_engine(url)
    e.case_fire(APP, "H1", "allow_application", COUNTY)
    stale = e.storage.load_case(APP, "H1")
    e.case_fire(APP, "H1", "apply_agency", H1, {"materials": "材料"})
    original = e.storage.load_case
    e.storage.load_case = lambda machine, case_id: stale  # type: ignore[method-assign]
    try:
        with pytest.raises(Refused) as refused:
            e.case_fire(APP, "H1", "disallow_application", COUNTY)
    finally:
        e.storage.load_case = original  # type: ignore[method-assign]
    assert refused.value.code == "conflict"
    assert e.case_state(APP, "H1").state == "applied"
