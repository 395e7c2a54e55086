"""PostgreSQL: the schema's second migration, the institution change and workflow cases.

Mixed into ``PostgresStorage`` (which provides ``conn``, ``_write`` and ``_bump``);
the same contract as SQLite's ``sqlite_cases``.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from typing import Any

import psycopg

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

#: Migration 1 is frozen at the schema-1 columns; ``IF NOT EXISTS`` keeps this safe on a store made
#: by the short-lived code that built them from the running fields.
MIGRATION_2: list[str] = [
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS result_on text",
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS appeal_on text",
    "CREATE TABLE IF NOT EXISTS cases (machine text NOT NULL, id text NOT NULL, subject text NOT NULL,"
    " state text NOT NULL, version integer NOT NULL, flags text, data text, head text, PRIMARY KEY (machine, id))",
    "CREATE INDEX IF NOT EXISTS idx_cases_machine_subject ON cases (machine, subject)",
    "CREATE TABLE IF NOT EXISTS credentials (account text PRIMARY KEY, hash text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS case_files (machine text, id text, name text, content text, PRIMARY KEY (machine, id))",
]

_SET = ", ".join(f"{c} = %s" for c in INSTANCE_COLUMNS[2:])
UPDATE_INSTANCE = f"UPDATE instances SET {_SET} WHERE cycle = %s AND doctor = %s AND version = %s"
INSERT_HISTORY = (
    f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(HISTORY_COLUMNS))})"
)
_CASE_COLS = ", ".join(CASE_COLUMNS)
_INSERT_CASE = f"INSERT INTO cases ({_CASE_COLS}) VALUES ({', '.join(['%s'] * len(CASE_COLUMNS))})"
_UPDATE_CASE = (
    "UPDATE cases SET subject = %s, state = %s, version = %s, flags = %s, data = %s, head = %s "
    "WHERE machine = %s AND id = %s AND version = %s"
)


class PostgresCases:
    conn: psycopg.Connection[Any]

    def _write(self) -> AbstractContextManager[psycopg.Cursor[Any]]: ...  # provided by PostgresStorage
    def _bump(self, cur: psycopg.Cursor[Any]) -> None: ...

    def move_doctor(self, expected: int, inst: Instance, record: Record, institution: str) -> None:
        try:
            with self._write() as cur:
                cur.execute(UPDATE_INSTANCE, (*instance_row(inst)[2:], inst.cycle, inst.doctor, expected))
                if cur.rowcount != 1:
                    raise ConflictError(f"{inst.doctor} changed since it was read")
                cur.execute("UPDATE doctors SET institution = %s WHERE id = %s", (institution, inst.doctor))
                cur.execute("UPDATE instances SET institution = %s WHERE doctor = %s", (institution, inst.doctor))
                cur.execute(INSERT_HISTORY, tuple(record))
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(f"history already has this record ({exc.diag.message_primary})") from None

    def load_case(self, machine: str, case_id: str) -> Case | None:
        row = self.conn.execute(
            f"SELECT {_CASE_COLS} FROM cases WHERE machine = %s AND id = %s", (machine, case_id)
        ).fetchone()
        return case_from_row(row) if row else None

    def commit_case(self, expected: int, case: Case, record: Record, writes: CaseWrites) -> None:
        try:
            with self._write() as cur:
                if expected == 0:
                    cur.execute(_INSERT_CASE, case_row(case))
                else:
                    row = case_row(case)
                    cur.execute(_UPDATE_CASE, (*row[2:], case.machine, case.id, expected))
                    if cur.rowcount != 1:
                        raise ConflictError(f"case {case.machine}/{case.id} changed since it was read")
                cur.execute(INSERT_HISTORY, tuple(record))
                self._case_writes(cur, case, writes)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(
                f"case {case.machine}/{case.id} changed since it was read ({exc.diag.message_primary})"
            ) from None

    def _case_writes(self, cur: psycopg.Cursor[Any], case: Case, w: CaseWrites) -> None:
        if w.agency is not None:
            a = w.agency
            cur.execute(
                "INSERT INTO agencies (id, region, name) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET region = excluded.region, name = excluded.name",
                (a.id, a.region, a.name),
            )
        if w.assign is not None:
            cur.execute(
                "INSERT INTO assignments (agency, institution) VALUES (%s, %s) ON CONFLICT DO NOTHING", w.assign
            )
        if w.unassign is not None:
            cur.execute("DELETE FROM assignments WHERE agency = %s AND institution = %s", w.unassign)
        if w.profile is not None:
            doctor, profile = w.profile
            cur.execute(
                "UPDATE doctors SET profile = %s WHERE id = %s",
                (json.dumps(profile, ensure_ascii=False, sort_keys=True), doctor),
            )
        if w.registry is not None:
            doctor, fields = w.registry
            columns = [c for c in CORRECTABLE if c in fields]  # names from our list, never the caller's
            if columns:
                cur.execute(
                    f"UPDATE doctors SET {', '.join(f'{col} = %s' for col in columns)} WHERE id = %s",  # type: ignore[arg-type]
                    (*(fields[col] for col in columns), doctor),
                )
        if w.credential is not None:
            cur.execute(
                "INSERT INTO credentials (account, hash) VALUES (%s, %s) "
                "ON CONFLICT (account) DO UPDATE SET hash = excluded.hash",
                w.credential,
            )
        if w.file is not None:
            cur.execute(
                "INSERT INTO case_files (machine, id, name, content) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (machine, id) DO UPDATE SET name = excluded.name, content = excluded.content",
                (case.machine, case.id, *w.file),
            )
        if w.policy is not None:
            policy_id, version, text = w.policy
            cur.execute(
                "INSERT INTO policies (id, version, text, loaded_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id, version) DO UPDATE SET text = excluded.text, loaded_at = excluded.loaded_at",
                (policy_id, version, text, dt.datetime.now(dt.UTC).isoformat()),
            )
            cur.execute(
                "INSERT INTO meta (key, value) VALUES ('policy', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"{policy_id}@{version}",),
            )
        if w.seed_reasons is not None:
            cycle, reasons = w.seed_reasons
            if reasons:
                cur.executemany(
                    "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
                )
        if w.reason is not None:
            cycle, rid, reason = w.reason
            if reason is None:
                cur.execute("DELETE FROM exemption_reasons WHERE cycle = %s AND id = %s", (cycle, rid))
            else:
                cur.execute(
                    "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (cycle, id) DO UPDATE SET text = excluded.text, open = excluded.open",
                    (cycle, rid, reason.text, int(reason.open)),
                )
        if w.revoke is not None:
            cur.execute("DELETE FROM assignments WHERE agency = %s", (w.revoke,))
            cur.execute("DELETE FROM agencies WHERE id = %s", (w.revoke,))
        if w.world:
            self._bump(cur)

    def scan_cases(self, machine: str, after: str | None, limit: int) -> list[Case]:
        rows = self.conn.execute(
            f"SELECT {_CASE_COLS} FROM cases WHERE machine = %s AND id > %s ORDER BY id LIMIT %s",
            (machine, after if after is not None else "", limit),
        ).fetchall()
        return [case_from_row(r) for r in rows]

    def set_credential(self, account: str, hashed: str) -> None:
        """Replace an account's hash alone (a sign-in upgrading it to the current parameters)."""
        with self._write() as cur:
            cur.execute("UPDATE credentials SET hash = %s WHERE account = %s", (hashed, account))

    def credential(self, account: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM credentials WHERE account = %s", (account,)).fetchone()
        return row[0] if row else None

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT name, content FROM case_files WHERE machine = %s AND id = %s", (machine, case_id)
        ).fetchone()
        return (row[0], row[1]) if row else None


__all__ = ["MIGRATION_2", "PostgresCases"]
