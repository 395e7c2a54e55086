"""An insider with write access to the database — a DBA, a stolen application account — edits it.

Each edit the issue tried (all of which ``verify`` passed before) is made here on SQLite and on
PostgreSQL, with the guard triggers taken off first as such an insider would; ``renew-fsm verify``
(with the history key, as a province runs it) must exit 1 naming what changed.  With an anchor
taken before, even someone who also has the key is caught.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import A1, CITY, COUNTY, EXAM, H1, PROVINCE, SYSTEM, at, doctor_cmd, make_engine, to_testing
from tamperkit import tamper

import renew_fsm
from renew_fsm.history import rebuild
from renew_fsm.keys import ENV_KEY, ENV_KEY_FILE, HistoryKey
from renew_fsm.runtime import chain_hash, chain_mac
from renew_fsm.storage.base import INSTANCE_COLUMNS, instance_row

KEY = "5a" * 32
CYCLE = "guangxi-2019-2020"
DAY = at("2021-06-02")


@pytest.fixture
def store(sql_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    return build(sql_url, monkeypatch)


@pytest.fixture
def pg_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    return build(pg_url, monkeypatch)


def build(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store signed with KEY: D1 qualified, D2 failed the business test, D3 enrolled; two
    accounts (an institution's and the city admin's) and an export produced."""
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    monkeypatch.setenv(ENV_KEY, KEY)
    e = make_engine(url, [doctor_cmd(d, serial=n) for n, d in enumerate(("D1", "D2", "D3"), 1)])
    to_testing(e, "D1")
    e.fire("D1", "record_score", EXAM, {"test": "business", "score": 75}, at=DAY)
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 75}, at=DAY)
    e.fire("D1", "grade", A1, at=at("2021-07-01"))
    to_testing(e, "D2")
    e.fire("D2", "record_score", EXAM, {"test": "business", "score": 5}, at=DAY)
    e.fire("D3", "enroll", H1)
    for account, holder, superior in (("h1", "institution:H1", COUNTY), ("nn", "admin:NN", PROVINCE)):
        e.case_fire("account", account, "create_account", superior, {"name": account}, subject=holder)
        e.case_fire("account", account, "activate_account", superior)
    e.case_fire("export_request", "X1", "request_export", CITY, subject="NN", at=DAY)
    e.case_fire("export_request", "X1", "produce_export", SYSTEM, at=DAY)
    e.close()
    return url


def verify_cli(url: str, *extra: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_KEY_FILE)}
    if key is not None:
        env[ENV_KEY] = key
    env["COLUMNS"] = "300"
    return subprocess.run(
        ["renew-fsm", "verify", "--db", url, *extra], capture_output=True, text=True, env=env, timeout=180
    )


def named(result: subprocess.CompletedProcess[str]) -> set[str]:
    """What the ✗ lines name (the text before the first colon), the summary apart."""
    lines = [line for line in result.stderr.splitlines() if line.strip().startswith("✗")][:-1]
    return {line.split("✗", 1)[1].split(":", 1)[0].strip() for line in lines}


def assert_caught(result: subprocess.CompletedProcess[str], *culprits: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert set(culprits) <= named(result), result.stderr


def test_the_untouched_store_verifies_with_the_key_and_says_so(store: str) -> None:
    result = verify_cli(store)
    assert result.returncode == 0, result.stderr
    assert "valid HMAC with key" in result.stdout and "old unkeyed rule" not in result.stdout


def test_without_the_key_verify_checks_structure_and_says_it_could_not_check_authenticity(store: str) -> None:
    result = verify_cli(store, key=None)
    assert result.returncode == 0, result.stderr
    assert "authenticity NOT checked" in result.stdout


def test_the_wrong_key_is_refused_before_anything_is_read(store: str) -> None:
    result = verify_cli(store, key="6b" * 32)
    assert result.returncode == 2
    assert "signed with the key whose id is" in result.stderr and "Traceback" not in result.stderr


# -- the history -----------------------------------------------------------------------------


def _history(url: str, doctor: str) -> list[renew_fsm.Record]:
    e = renew_fsm.open(url, key=None, create=False)
    try:
        return e.storage.history(CYCLE, doctor)
    finally:
        e.close()


def _rewrite(url: str, records: list[renew_fsm.Record], head: str) -> None:
    for rec in records:
        tamper(
            url,
            "UPDATE history SET actor = ?, hash = ? WHERE cycle = ? AND doctor = ? AND seq = ?",
            (rec.actor, rec.hash, rec.cycle, rec.doctor, rec.seq),
        )
    tamper(url, "UPDATE instances SET head = ? WHERE cycle = ? AND doctor = ?", (head, CYCLE, records[0].doctor))


def _edited_and_rehashed(url: str, sign: Any) -> None:
    """D1's enrolment credited to another institution, then every hash after it recomputed by ``sign``
    and the instance's head with them: the chain holds together again."""
    records, prev, out = _history(url, "D1"), "", []
    for rec in records:
        rec = rec._replace(actor="H2") if rec.seq == 1 else rec
        rec = rec._replace(hash=sign(prev, rec))
        out.append(rec)
        prev = rec.hash
    _rewrite(url, out, prev)


def _old_rule(prev: str, r: renew_fsm.Record) -> str:
    return chain_hash(prev, *r[:11])


def _with(key: HistoryKey, policy_sha: str) -> Any:
    return lambda prev, r: chain_mac(key, prev, *r[:11], policy_sha)


def _policy_sha(url: str) -> str:
    e = renew_fsm.open(url, key=None, create=False)
    try:
        return next(p[3] for p in e.storage.policies() if p[0] == CYCLE)
    finally:
        e.close()


def test_a_record_edited_and_the_chain_rehashed_without_the_key(store: str) -> None:
    _edited_and_rehashed(store, _old_rule)
    result = verify_cli(store)
    assert_caught(result, "D1")
    assert "rehashed without the key" in result.stderr


def test_a_record_edited_and_the_chain_rehashed_with_a_key_of_ones_own(store: str) -> None:
    _edited_and_rehashed(store, _with(HistoryKey(b"\x07" * 32), _policy_sha(store)))
    result = verify_cli(store)
    assert_caught(result, "D1")
    assert "does not match its hash" in result.stderr


def test_the_last_record_cut_and_the_head_recomputed(store: str) -> None:
    records = _history(store, "D1")
    assert tamper(store, "DELETE FROM history WHERE cycle = ? AND doctor = 'D1' AND seq = ?", (CYCLE, len(records)))
    tamper(
        store,
        "UPDATE instances SET head = ?, version = ? WHERE cycle = ? AND doctor = 'D1'",
        (records[-2].hash, len(records) - 1, CYCLE),
    )
    assert_caught(verify_cli(store), "D1")


def test_the_stored_policy_text_changed_under_the_same_version(store: str) -> None:
    """Pass lines set to 1: the same records would now grade a doctor scoring 5 and 5 qualified."""
    e = renew_fsm.open(store, key=None, create=False)
    text = e.storage.policy_text(CYCLE, "2021.1")
    e.close()
    assert text is not None and "physician = 60" in text
    tamper(
        store,
        "UPDATE policies SET text = ? WHERE id = ?",
        (
            text.replace("physician = 60, assistant = 60", "physician = 1, assistant = 1").replace(
                "physician = 60, assistant = 55", "physician = 1, assistant = 1"
            ),
            CYCLE,
        ),
    )
    result = verify_cli(store)
    assert_caught(result, f"policies {CYCLE}@2021.1", "D1", "D2")
    # Rewriting the stored SHA-256 as well only moves the finding onto every keyed record.
    tamper(store, "UPDATE policies SET sha256 = NULL WHERE id = ?", (CYCLE,))
    again = verify_cli(store)
    assert_caught(again, "D1", "D2", "D3")
    assert "does not match its hash" in again.stderr


def test_the_key_mark_removed_to_pass_old_rule_rehashes_as_old_records(store: str) -> None:
    assert tamper(store, "DELETE FROM meta WHERE key = 'key_id'") == 1
    _edited_and_rehashed(store, _old_rule)
    assert_caught(verify_cli(store), "meta key_id")
    # Checking a store never vouches for it: verify did not mark it again.
    e = renew_fsm.open(store, key=None, create=False)
    try:
        assert e.storage.get_meta("key_id") is None
    finally:
        e.close()


# -- the registry -----------------------------------------------------------------------------

REGISTRY_EDITS: dict[str, tuple[str, str]] = {
    "a doctor moved to another city's institution": (
        "UPDATE doctors SET institution = 'H3' WHERE id = 'D3'",
        "doctors D3",
    ),
    "a doctor's licence": ("UPDATE doctors SET license = 'assistant' WHERE id = 'D2'", "doctors D2"),
    "a doctor's name": ("UPDATE doctors SET name = '改名' WHERE id = 'D1'", "doctors D1"),
    "a doctor deleted": ("DELETE FROM doctors WHERE id = 'D3'", "doctors D3"),
    "an institution moved to another region": (
        "UPDATE institutions SET region = 'GL-XF' WHERE id = 'H2'",
        "institutions H2",
    ),
    "a county moved under another city": ("UPDATE regions SET parent = 'GL' WHERE id = 'NN-XN'", "regions NN-XN"),
    "an agency given another's institution": (
        "UPDATE assignments SET agency = 'A1' WHERE institution = 'H3'",
        "assignments A2 / H3",
    ),
    "an assignment added": ("INSERT INTO assignments (agency, institution) VALUES ('A2', 'H1')", "assignments A2 / H1"),
    "a known password hash copied onto the city admin's account": (
        "UPDATE credentials SET hash = (SELECT hash FROM credentials WHERE account = 'h1') WHERE account = 'nn'",
        "credentials nn",
    ),
    "a stored export file": (
        "UPDATE case_files SET content = 'D9,forged' WHERE id = 'X1'",
        "case_files export_request / X1",
    ),
    "an exemption reason reopened": (
        "UPDATE exemption_reasons SET text = '任何理由' WHERE cycle = 'guangxi-2019-2020'",
        "exemption_reasons guangxi-2019-2020",
    ),
}


@pytest.mark.parametrize("edit", REGISTRY_EDITS, ids=list(REGISTRY_EDITS))
def test_a_registry_row_edited_outside_renew_fsm_is_named(store: str, edit: str) -> None:
    sql, culprit = REGISTRY_EDITS[edit]
    assert tamper(store, sql) >= 1
    result = verify_cli(store)
    assert result.returncode == 1, result.stdout + result.stderr
    assert any(name.startswith(culprit) for name in named(result)), result.stderr


def test_the_registry_log_rehashed_without_the_key(store: str) -> None:
    """Editing a row and its log entry's digest, then the log's chain by the old rule, is found too."""
    e = renew_fsm.open(store, key=None, create=False)
    log = e.storage.registry_log()
    e.close()
    from renew_fsm.storage.registry import entry_hash

    prev = ""
    for seq, when, table, rows, _ in log:
        digest = entry_hash(None, prev, seq, when, table, rows)
        tamper(store, "UPDATE registry_log SET hash = ? WHERE seq = ?", (digest, seq))
        prev = digest
    assert_caught(verify_cli(store), "registry_log")


# -- anchors: against someone who has the key too ----------------------------------------------


def anchor(url: str, out: Path) -> dict[str, Any]:
    env = {**os.environ, ENV_KEY: KEY}
    done = subprocess.run(
        ["renew-fsm", "anchor", "--db", url, "--out", str(out)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_rehash_with_the_key_passes_alone_and_is_caught_by_the_anchor(store: str, tmp_path: Path) -> None:
    out = tmp_path / "anchors.jsonl"
    line = anchor(store, out)
    assert line["chains"] >= 3 + 2 + 1 and len(out.read_text().splitlines()) == 1
    assert verify_cli(store, "--anchor", str(out)).returncode == 0
    _edited_and_rehashed(store, _with(HistoryKey(bytes.fromhex(KEY)), _policy_sha(store)))
    # Whoever holds the key can forge a chain the key vouches for: only the anchor can tell.
    assert verify_cli(store).returncode == 0
    result = verify_cli(store, "--anchor", str(out))
    assert_caught(result, "D1")
    assert "anchor line 1" in result.stderr
    # Without the key the anchor still proves it: its folds need no key.
    assert_caught(verify_cli(store, "--anchor", str(out), key=None), "D1")


def test_a_chain_rolled_back_whole_is_caught_by_the_anchor(store: str, tmp_path: Path) -> None:
    """The last record cut and the instance set back to what the records before it rebuild: every
    check on the store alone holds; the anchor does not."""
    out = tmp_path / "anchors.jsonl"
    anchor(store, out)
    records = _history(store, "D1")
    e = renew_fsm.open(store, key=None, create=False)
    doctor = e.storage.get_doctor("D1")
    before, _ = rebuild(e.machine, CYCLE, doctor, records[:-1], lambda v: e.policy_for(CYCLE, v))  # type: ignore[arg-type]
    e.close()
    tamper(store, "DELETE FROM history WHERE cycle = ? AND doctor = 'D1' AND seq = ?", (CYCLE, len(records)))
    columns = INSTANCE_COLUMNS[2:]
    tamper(
        store,
        f"UPDATE instances SET {', '.join(f'{c} = ?' for c in columns)} WHERE cycle = ? AND doctor = 'D1'",
        (*instance_row(before)[2:], CYCLE),
    )
    result = verify_cli(store, "--anchor", str(out))
    assert_caught(result, "D1")
    assert "the chain was cut short" in result.stderr


def test_a_heads_file_changed_after_its_line_was_sent_away(store: str, tmp_path: Path) -> None:
    out = tmp_path / "anchors.jsonl"
    line = anchor(store, out)
    heads = tmp_path / line["heads"]
    heads.write_text(heads.read_text().replace("\t1\t", "\t9\t", 1))
    result = verify_cli(store, "--anchor", str(out))
    assert result.returncode == 1 and "does not match the line's SHA-256" in result.stderr


# -- the database refuses rewrites ---------------------------------------------------------------


@pytest.mark.parametrize("sql", ["UPDATE history SET actor = 'H2'", "DELETE FROM history", "DELETE FROM registry_log"])
def test_the_database_itself_refuses_to_rewrite_history(store: str, sql: str) -> None:
    if store.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)  # type: ignore[arg-type]
            # The guide's application role may not even ask (the triggers aside).
            conn.execute("SET ROLE renew_fsm_app")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)  # type: ignore[arg-type]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("TRUNCATE history")
            assert conn.execute("SELECT count(*) FROM history").fetchone()[0] > 0  # type: ignore[index]
        return
    import sqlite3

    conn = sqlite3.connect(store)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    finally:
        conn.close()


def test_guards_taken_off_and_left_off_are_named(store: str) -> None:
    if store.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute("ALTER TABLE history DISABLE TRIGGER history_rewrite_refused")
        gone = "history_rewrite_refused"
    else:
        import sqlite3

        conn = sqlite3.connect(store)
        conn.execute("DROP TRIGGER history_update_refused")
        conn.close()
        gone = "history_update_refused"
    result = verify_cli(store)
    assert_caught(result, "database")
    assert gone in result.stderr


def test_the_application_role_runs_the_engine(pg_store: str) -> None:
    """The service connects as a login role granted renew_fsm_app (the guide's): it fires, and
    cannot rewrite."""
    import psycopg

    store = pg_store
    login = f"renew_fsm_svc_{os.getpid()}"
    with psycopg.connect(store, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE renew_fsm_app")  # type: ignore[arg-type]
    try:
        as_service = store.replace("postgresql://postgres@", f"postgresql://{login}@")
        e = renew_fsm.open(as_service, key=bytes.fromhex(KEY))
        try:
            e.fire("D3", "submit_info", renew_fsm.Actor("doctor", "D3"))
            assert e.state("D3").state == "info_submitted"
        finally:
            e.close()
        with psycopg.connect(as_service, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE history SET actor = 'H2'")
        assert verify_cli(store).returncode == 0
    finally:
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {login}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {login}")  # type: ignore[arg-type]
