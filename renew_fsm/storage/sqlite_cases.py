"""SQLite: the schema's second migration, the institution change and workflow cases.

Mixed into ``SQLiteStorage`` (which provides ``conn``, ``_lock``, ``_write`` and
``_bump``); kept apart so the doctors' hot path in ``sqlite.py`` reads as before.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import AbstractContextManager
from typing import Any

import sqlite_utils

from ..model import CORRECTABLE, Case, Instance, Record
from .base import (
    CASE_COLUMNS,
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    CaseWrites,
    ConflictError,
    case_from_row,
    case_row,
    instance_row,
)

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
        if w.assign is not None:
            c.execute("INSERT OR IGNORE INTO assignments (agency, institution) VALUES (?, ?)", w.assign)
        if w.unassign is not None:
            c.execute("DELETE FROM assignments WHERE agency = ? AND institution = ?", w.unassign)
        if w.profile is not None:
            doctor, profile = w.profile
            c.execute(
                "UPDATE doctors SET profile = ? WHERE id = ?",
                (json.dumps(profile, ensure_ascii=False, sort_keys=True), doctor),
            )
        if w.registry is not None:
            doctor, fields = w.registry
            columns = [c for c in CORRECTABLE if c in fields]  # names from our list, never the caller's
            if columns:
                c.execute(
                    f"UPDATE doctors SET {', '.join(f'{col} = ?' for col in columns)} WHERE id = ?",
                    (*(fields[col] for col in columns), doctor),
                )
        if w.credential is not None:
            c.execute("INSERT OR REPLACE INTO credentials (account, hash) VALUES (?, ?)", w.credential)
        if w.file is not None:
            c.execute(
                "INSERT OR REPLACE INTO case_files (machine, id, name, content) VALUES (?, ?, ?, ?)",
                (case.machine, case.id, *w.file),
            )
        if w.policy is not None:
            policy_id, version, text = w.policy
            c.execute(
                "INSERT OR REPLACE INTO policies (id, version, text, loaded_at) VALUES (?, ?, ?, ?)",
                (policy_id, version, text, dt.datetime.now(dt.UTC).isoformat()),
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
        if w.reason is not None:
            cycle, rid, reason = w.reason
            if reason is None:
                c.execute("DELETE FROM exemption_reasons WHERE cycle = ? AND id = ?", (cycle, rid))
            else:
                c.execute(
                    "INSERT OR REPLACE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                    (cycle, rid, reason.text, int(reason.open)),
                )
        if w.revoke is not None:
            c.execute("DELETE FROM assignments WHERE agency = ?", (w.revoke,))
            c.execute("DELETE FROM agencies WHERE id = ?", (w.revoke,))
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


__all__ = ["SQLiteCases", "migrate_2"]
