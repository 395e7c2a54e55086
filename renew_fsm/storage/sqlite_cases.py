"""SQLite: the schema's second migration, the institution change and workflow cases.

Mixed into ``SQLiteStorage`` (which provides ``conn``, ``_lock``, ``_write`` and
``_bump``); kept apart so the doctors' hot path in ``sqlite.py`` reads as before.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import sqlite_utils

from ..keys import HistoryKey
from ..model import CORRECTABLE, Case, Instance, Record
from .base import (
    APPEND_ONLY,
    CASE_COLUMNS,
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    CaseWrites,
    ConflictError,
    case_from_row,
    case_row,
    instance_row,
    policy_text_sha256,
)
from .registry import LOG_COLUMNS, REGISTRY_KEYS, dict_rows, key_name, new_entry, row_digest, row_name

_SET = ", ".join(f"{c} = ?" for c in INSTANCE_COLUMNS[2:])
UPDATE_INSTANCE = f"UPDATE instances SET {_SET} WHERE cycle = ? AND doctor = ? AND version = ?"
#: Bound from a plain tuple, never a ``Record``: ``sqlite3`` reads a tuple subclass's parameters
#: through ``__getitem__``, a Python-level call per column (0.76 k instructions, 9.9 k a record —
#: 5 % of a simulated event); ``tuple(record)`` copies the thirteen in 0.5 k.
INSERT_HISTORY = f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
_CASE_COLS = ", ".join(CASE_COLUMNS)
_INSERT_CASE = f"INSERT INTO cases ({_CASE_COLS}) VALUES ({', '.join('?' * len(CASE_COLUMNS))})"
_UPDATE_CASE = (
    "UPDATE cases SET subject = ?, state = ?, version = ?, flags = ?, data = ?, head = ? "
    "WHERE machine = ? AND id = ? AND version = ?"
)


#: Rows of a logged table ``registry_rows`` reads at a time.
REGISTRY_PAGE = 5000
INSERT_LOG = f"INSERT INTO registry_log ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
#: What the database refuses on the append-only tables, whoever asks: the triggers' names and bodies.
GUARDS = {
    f"{table}_{verb.lower()}_refused": (
        f"CREATE TRIGGER IF NOT EXISTS {table}_{verb.lower()}_refused BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: its rows are never updated or deleted'); END"
    )
    for table in APPEND_ONLY
    for verb in ("UPDATE", "DELETE")
}


def migrate_6(db: sqlite_utils.Database) -> None:
    """The registry log (with a first entry per table holding the rows already there, by the
    unkeyed rule: the store had no log before), each policy's SHA-256, and the guard triggers."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS registry_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, tbl TEXT NOT NULL,"
        " rows TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    if "sha256" not in db["policies"].columns_dict:
        db.execute("ALTER TABLE policies ADD COLUMN sha256 TEXT")
    for pid, version, text in db.execute("SELECT id, version, text FROM policies").fetchall():
        db.execute(
            "UPDATE policies SET sha256 = ? WHERE id = ? AND version = ?", (policy_text_sha256(text), pid, version)
        )
    already = db.execute("SELECT 1 FROM registry_log LIMIT 1").fetchone() is not None
    for table in REGISTRY_KEYS if not already else ():
        cur = db.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        changes = {row_name(table, r): row_digest(r) for r in dict_rows(names, cur.fetchall())}
        if changes:
            tail = db.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            db.execute(INSERT_LOG, new_entry(None, tail, table, changes))
    for sql in GUARDS.values():
        db.execute(sql)


def migrate_2(db: sqlite_utils.Database) -> None:
    """The appeal's days on ``instances``; the workflow tables.

    Migration 1 is frozen at the schema-1 columns; a store made by the short-lived code that
    built them from the running fields may already have these, so they are added where missing.
    """
    have = db["instances"].columns_dict
    for column in ("result_on", "appeal_on"):
        if column not in have:
            db.execute(f"ALTER TABLE instances ADD COLUMN {column} TEXT")
    db["cases"].create(
        {
            "machine": str,
            "id": str,
            "subject": str,
            "state": str,
            "version": int,
            "flags": str,
            "data": str,
            "head": str,
        },
        pk=("machine", "id"),
        not_null=["machine", "id", "subject", "state", "version"],
        if_not_exists=True,
    )
    db["cases"].create_index(["machine", "subject"], if_not_exists=True)
    db["credentials"].create({"account": str, "hash": str}, pk="account", not_null=["hash"], if_not_exists=True)
    db["case_files"].create(
        {"machine": str, "id": str, "name": str, "content": str}, pk=("machine", "id"), if_not_exists=True
    )


class SQLiteCases:
    conn: sqlite3.Connection
    _lock: Any
    key: HistoryKey | None = None

    # -- the registry log (see ``registry``) -------------------------------------------------------
    def _log(self, c: sqlite3.Connection, table: str, changes: dict[str, str | None]) -> None:
        """Append the entry for ``changes`` (row name → digest, ``None``: gone); inside the writer's
        turn, so the tail read here is still the tail when the entry lands."""
        if changes:
            tail = c.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            c.execute(INSERT_LOG, new_entry(self.key, tail, table, changes))

    def _log_rows(self, c: sqlite3.Connection, table: str, keys: list[tuple[Any, ...]]) -> None:
        """Log the rows named by ``keys`` as they now stand (read back: what is stored is what is logged)."""
        where = " AND ".join(f"{k} = ?" for k in REGISTRY_KEYS[table])
        changes: dict[str, str | None] = {}
        for key in keys:
            cur = c.execute(f"SELECT * FROM {table} WHERE {where}", key)
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
            changes[key_name(key)] = row_digest(dict(zip(names, row, strict=True))) if row else None
        self._log(c, table, changes)

    def registry_log(self) -> list[tuple[int, str, str, str, str]]:
        with self._lock:
            return self.conn.execute(f"SELECT {', '.join(LOG_COLUMNS)} FROM registry_log ORDER BY seq").fetchall()

    def registry_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Streamed in pages along the key (a nation's doctors are millions of rows)."""
        if table not in REGISTRY_KEYS:
            raise ValueError(f"{table!r} is not a logged table")
        keys = REGISTRY_KEYS[table]
        order = ", ".join(keys)
        after: tuple[Any, ...] | None = None
        while True:
            where = f"WHERE ({order}) > ({', '.join('?' * len(keys))})" if after is not None else ""
            with self._lock:
                cur = self.conn.execute(
                    f"SELECT * FROM {table} {where} ORDER BY {order} LIMIT {REGISTRY_PAGE}", after or ()
                )
                names = [d[0] for d in cur.description]
                page = list(dict_rows(names, cur.fetchall()))
            yield from page
            if len(page) < REGISTRY_PAGE:
                return
            after = tuple(page[-1][k] for k in keys)

    def policies(self) -> list[tuple[str, str, str, str | None]]:
        with self._lock:
            return self.conn.execute("SELECT id, version, text, sha256 FROM policies ORDER BY id, version").fetchall()

    def guards_missing(self) -> list[str]:
        """The guard triggers not in the database (someone with the file dropped them)."""
        with self._lock:
            have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return sorted(set(GUARDS) - have)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...  # provided by SQLiteStorage
    def _bump(self, c: sqlite3.Connection) -> None: ...

    def move_doctor(self, expected: int, inst: Instance, record: Record, institution: str) -> None:
        try:
            with self._write() as c:
                cur = c.execute(UPDATE_INSTANCE, (*instance_row(inst)[2:], inst.cycle, inst.doctor, expected))
                if cur.rowcount != 1:
                    raise ConflictError(f"{inst.doctor} changed since it was read")
                c.execute("UPDATE doctors SET institution = ? WHERE id = ?", (institution, inst.doctor))
                c.execute("UPDATE instances SET institution = ? WHERE doctor = ?", (institution, inst.doctor))
                c.execute(INSERT_HISTORY, tuple(record))
                self._log_rows(c, "doctors", [(inst.doctor,)])
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"history already has this record ({exc})") from None

    def load_case(self, machine: str, case_id: str) -> Case | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {_CASE_COLS} FROM cases WHERE machine = ? AND id = ?", (machine, case_id)
            ).fetchone()
        return case_from_row(row) if row else None

    def commit_case(self, expected: int, case: Case, record: Record, writes: CaseWrites) -> None:
        try:
            with self._write() as c:
                if expected == 0:
                    c.execute(_INSERT_CASE, case_row(case))
                else:
                    row = case_row(case)
                    cur = c.execute(_UPDATE_CASE, (*row[2:], case.machine, case.id, expected))
                    if cur.rowcount != 1:
                        raise ConflictError(f"case {case.machine}/{case.id} changed since it was read")
                c.execute(INSERT_HISTORY, tuple(record))
                self._case_writes(c, case, writes)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"case {case.machine}/{case.id} changed since it was read ({exc})") from None

    def _case_writes(self, c: sqlite3.Connection, case: Case, w: CaseWrites) -> None:
        if w.agency is not None:
            a = w.agency
            c.execute(
                "INSERT INTO agencies (id, region, name) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET region = excluded.region, name = excluded.name",
                (a.id, a.region, a.name),
            )
            self._log_rows(c, "agencies", [(a.id,)])
        if w.assign is not None:
            c.execute("INSERT OR IGNORE INTO assignments (agency, institution) VALUES (?, ?)", w.assign)
            self._log_rows(c, "assignments", [w.assign])
        if w.unassign is not None:
            c.execute("DELETE FROM assignments WHERE agency = ? AND institution = ?", w.unassign)
            self._log_rows(c, "assignments", [w.unassign])
        if w.profile is not None:
            doctor, profile = w.profile
            c.execute(
                "UPDATE doctors SET profile = ? WHERE id = ?",
                (json.dumps(profile, ensure_ascii=False, sort_keys=True), doctor),
            )
            self._log_rows(c, "doctors", [(doctor,)])
        if w.registry is not None:
            doctor, fields = w.registry
            columns = [c for c in CORRECTABLE if c in fields]  # names from our list, never the caller's
            if columns:
                c.execute(
                    f"UPDATE doctors SET {', '.join(f'{col} = ?' for col in columns)} WHERE id = ?",
                    (*(fields[col] for col in columns), doctor),
                )
                self._log_rows(c, "doctors", [(doctor,)])
        if w.credential is not None:
            c.execute("INSERT OR REPLACE INTO credentials (account, hash) VALUES (?, ?)", w.credential)
            self._log_rows(c, "credentials", [(w.credential[0],)])
        if w.file is not None:
            c.execute(
                "INSERT OR REPLACE INTO case_files (machine, id, name, content) VALUES (?, ?, ?, ?)",
                (case.machine, case.id, *w.file),
            )
            self._log_rows(c, "case_files", [(case.machine, case.id)])
        if w.policy is not None:
            policy_id, version, text = w.policy
            # The first text stays, as ``put_policy`` keeps it: records judged under it name its SHA-256.
            c.execute(
                "INSERT INTO policies (id, version, text, loaded_at, sha256) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id, version) DO NOTHING",
                (policy_id, version, text, dt.datetime.now(dt.UTC).isoformat(), policy_text_sha256(text)),
            )
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('policy', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"{policy_id}@{version}",),
            )
        if w.seed_reasons is not None:
            cycle, reasons = w.seed_reasons
            c.executemany(
                "INSERT OR IGNORE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
            )
            self._log_rows(c, "exemption_reasons", [(cycle, rid) for rid in reasons])
        if w.reason is not None:
            cycle, rid, reason = w.reason
            if reason is None:
                c.execute("DELETE FROM exemption_reasons WHERE cycle = ? AND id = ?", (cycle, rid))
            else:
                c.execute(
                    "INSERT OR REPLACE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                    (cycle, rid, reason.text, int(reason.open)),
                )
            self._log_rows(c, "exemption_reasons", [(cycle, rid)])
        if w.revoke is not None:
            released = c.execute("SELECT agency, institution FROM assignments WHERE agency = ?", (w.revoke,)).fetchall()
            c.execute("DELETE FROM assignments WHERE agency = ?", (w.revoke,))
            c.execute("DELETE FROM agencies WHERE id = ?", (w.revoke,))
            self._log_rows(c, "assignments", [tuple(row) for row in released])
            self._log_rows(c, "agencies", [(w.revoke,)])
        if w.world:
            self._bump(c)

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {_CASE_COLS} FROM cases WHERE machine = ? AND id > ? ORDER BY id LIMIT ?",
                (machine, after if after is not None else "", limit),
            ).fetchall()
        return [case_from_row(r) for r in rows]

    def set_credential(self, account: str, hashed: str) -> None:
        """Replace an account's hash alone (a sign-in upgrading it to the current parameters)."""
        with self._write() as c:
            c.execute("UPDATE credentials SET hash = ? WHERE account = ?", (hashed, account))
            self._log_rows(c, "credentials", [(account,)])

    def credential(self, account: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT hash FROM credentials WHERE account = ?", (account,)).fetchone()
        return row[0] if row else None

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT name, content FROM case_files WHERE machine = ? AND id = ?", (machine, case_id)
            ).fetchone()
        return (row[0], row[1]) if row else None


__all__ = ["GUARDS", "SQLiteCases", "migrate_2", "migrate_6"]
