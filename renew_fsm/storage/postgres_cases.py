"""PostgreSQL: the schema's second migration, the institution change and workflow cases.

Mixed into ``PostgresStorage`` (which provides ``conn``, ``_write`` and ``_bump``);
the same contract as SQLite's ``sqlite_cases``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg

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

#: Rows of a logged table ``registry_rows`` reads at a time.
REGISTRY_PAGE = 5000
INSERT_LOG = f"INSERT INTO registry_log ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join(['%s'] * len(LOG_COLUMNS))})"
#: The role the service connects as (the guide's "database role"): it may read and append to the
#: append-only tables, never update, delete or truncate them; the rest of the store it may change.
APP_ROLE = "renew_fsm_app"


def _baseline(cur: psycopg.Cursor[Any]) -> None:
    """The registry log's first entries: the rows already there (by the unkeyed rule: there was no log)."""
    if cur.execute("SELECT 1 FROM registry_log LIMIT 1").fetchone() is not None:
        return  # (the step run again on a store that has its log)
    for table in REGISTRY_KEYS:
        cur.execute(f"SELECT * FROM {table}")  # type: ignore[arg-type]
        names = [d[0] for d in cur.description or ()]
        changes = {row_name(table, r): row_digest(r) for r in dict_rows(names, cur.fetchall())}
        if changes:
            tail = cur.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            cur.execute(INSERT_LOG, new_entry(None, tail, table, changes))  # type: ignore[arg-type]


#: The guard triggers by name: each append-only table refuses rewrites row by row and truncation.
GUARDS = [f"{table}_{what}_refused" for table in APPEND_ONLY for what in ("rewrite", "truncate")]

#: 6: the registry log, each policy's SHA-256, triggers refusing to rewrite the append-only tables
#: (whoever asks, the owner too), and the application role with INSERT and SELECT only on them.
MIGRATION_6: list[str | Callable[[psycopg.Cursor[Any]], None]] = [
    "CREATE TABLE IF NOT EXISTS registry_log (seq bigint PRIMARY KEY, at text NOT NULL, tbl text NOT NULL,"
    " rows text NOT NULL, hash text NOT NULL)",
    "ALTER TABLE policies ADD COLUMN IF NOT EXISTS sha256 text",
    "UPDATE policies SET sha256 = encode(sha256(convert_to(text, 'UTF8')), 'hex')",
    _baseline,
    "CREATE OR REPLACE FUNCTION renew_fsm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION '% is append-only: its rows are never updated or deleted', TG_TABLE_NAME; END $$",
    *(  # (the names of GUARDS)
        f"CREATE OR REPLACE TRIGGER {table}_{what}_refused BEFORE {verb} ON {table} FOR EACH {each} "
        "EXECUTE FUNCTION renew_fsm_append_only()"
        for table in APPEND_ONLY
        for what, verb, each in (("rewrite", "UPDATE OR DELETE", "ROW"), ("truncate", "TRUNCATE", "STATEMENT"))
    ),
    f"""DO $$
BEGIN
    BEGIN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES '
                   'TO {APP_ROLE}', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}',
                   current_schema());
    REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(APPEND_ONLY)} FROM {APP_ROLE};
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'renew_fsm: role {APP_ROLE} not set up (this role may not create roles); see the guide';
END $$""",
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
    key: HistoryKey | None = None

    # -- the registry log (see ``registry``) -------------------------------------------------------
    def _log(self, cur: psycopg.Cursor[Any], table: str, changes: dict[str, str | None]) -> None:
        """Append the entry for ``changes``; the lock (held to commit) keeps one writer at the tail."""
        if changes:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('renew_fsm registry_log'))")
            tail = cur.execute("SELECT seq, hash FROM registry_log ORDER BY seq DESC LIMIT 1").fetchone()
            cur.execute(INSERT_LOG, new_entry(self.key, tail, table, changes))

    def _log_rows(self, cur: psycopg.Cursor[Any], table: str, keys: list[tuple[Any, ...]]) -> None:
        """Log the rows named by ``keys`` as they now stand (read back: what is stored is what is logged)."""
        where = " AND ".join(f"{k} = %s" for k in REGISTRY_KEYS[table])
        changes: dict[str, str | None] = {}
        for key in keys:
            row = cur.execute(f"SELECT * FROM {table} WHERE {where}", key).fetchone()  # type: ignore[arg-type]
            names = [d[0] for d in cur.description or ()]
            changes[key_name(key)] = row_digest(dict(zip(names, row, strict=True))) if row else None
        self._log(cur, table, changes)

    def registry_log(self) -> list[tuple[int, str, str, str, str]]:
        sql = f"SELECT {', '.join(LOG_COLUMNS)} FROM registry_log ORDER BY seq"
        return self.conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def registry_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Streamed in pages along the key (a nation's doctors are millions of rows)."""
        if table not in REGISTRY_KEYS:
            raise ValueError(f"{table!r} is not a logged table")
        keys = REGISTRY_KEYS[table]
        order = ", ".join(keys)
        after: tuple[Any, ...] | None = None
        while True:
            where = f"WHERE ({order}) > ({', '.join(['%s'] * len(keys))})" if after is not None else ""
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {table} {where} ORDER BY {order} LIMIT {REGISTRY_PAGE}", after)  # type: ignore[arg-type]
                page = list(dict_rows([d[0] for d in cur.description or ()], cur.fetchall()))
            yield from page
            if len(page) < REGISTRY_PAGE:
                return
            after = tuple(page[-1][k] for k in keys)

    def guards_missing(self) -> list[str]:
        """The guard triggers not in the database, or disabled (the owner may do either)."""
        rows = self.conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid IN (to_regclass('history'), to_regclass('registry_log'))"
            " AND tgenabled <> 'D'"
        ).fetchall()
        return sorted(set(GUARDS) - {r[0] for r in rows})

    def policies(self) -> list[tuple[str, str, str, str | None]]:
        return self.conn.execute("SELECT id, version, text, sha256 FROM policies ORDER BY id, version").fetchall()

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
                self._log_rows(cur, "doctors", [(inst.doctor,)])
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
            self._log_rows(cur, "agencies", [(a.id,)])
        if w.assign is not None:
            cur.execute(
                "INSERT INTO assignments (agency, institution) VALUES (%s, %s) ON CONFLICT DO NOTHING", w.assign
            )
            self._log_rows(cur, "assignments", [w.assign])
        if w.unassign is not None:
            cur.execute("DELETE FROM assignments WHERE agency = %s AND institution = %s", w.unassign)
            self._log_rows(cur, "assignments", [w.unassign])
        if w.profile is not None:
            doctor, profile = w.profile
            cur.execute(
                "UPDATE doctors SET profile = %s WHERE id = %s",
                (json.dumps(profile, ensure_ascii=False, sort_keys=True), doctor),
            )
            self._log_rows(cur, "doctors", [(doctor,)])
        if w.registry is not None:
            doctor, fields = w.registry
            columns = [c for c in CORRECTABLE if c in fields]  # names from our list, never the caller's
            if columns:
                cur.execute(
                    f"UPDATE doctors SET {', '.join(f'{col} = %s' for col in columns)} WHERE id = %s",  # type: ignore[arg-type]
                    (*(fields[col] for col in columns), doctor),
                )
                self._log_rows(cur, "doctors", [(doctor,)])
        if w.credential is not None:
            cur.execute(
                "INSERT INTO credentials (account, hash) VALUES (%s, %s) "
                "ON CONFLICT (account) DO UPDATE SET hash = excluded.hash",
                w.credential,
            )
            self._log_rows(cur, "credentials", [(w.credential[0],)])
        if w.file is not None:
            cur.execute(
                "INSERT INTO case_files (machine, id, name, content) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (machine, id) DO UPDATE SET name = excluded.name, content = excluded.content",
                (case.machine, case.id, *w.file),
            )
            self._log_rows(cur, "case_files", [(case.machine, case.id)])
        if w.policy is not None:
            policy_id, version, text = w.policy
            # The first text stays, as ``put_policy`` keeps it: records judged under it name its SHA-256.
            cur.execute(
                "INSERT INTO policies (id, version, text, loaded_at, sha256) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id, version) DO NOTHING",
                (policy_id, version, text, dt.datetime.now(dt.UTC).isoformat(), policy_text_sha256(text)),
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
                self._log_rows(cur, "exemption_reasons", [(cycle, rid) for rid in reasons])
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
            self._log_rows(cur, "exemption_reasons", [(cycle, rid)])
        if w.revoke is not None:
            released = cur.execute(
                "SELECT agency, institution FROM assignments WHERE agency = %s", (w.revoke,)
            ).fetchall()
            cur.execute("DELETE FROM assignments WHERE agency = %s", (w.revoke,))
            cur.execute("DELETE FROM agencies WHERE id = %s", (w.revoke,))
            self._log_rows(cur, "assignments", [tuple(row) for row in released])
            self._log_rows(cur, "agencies", [(w.revoke,)])
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
            self._log_rows(cur, "credentials", [(account,)])

    def credential(self, account: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM credentials WHERE account = %s", (account,)).fetchone()
        return row[0] if row else None

    def case_file(self, machine: str, case_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT name, content FROM case_files WHERE machine = %s AND id = %s", (machine, case_id)
        ).fetchone()
        return (row[0], row[1]) if row else None


__all__ = ["APP_ROLE", "MIGRATION_2", "MIGRATION_6", "PostgresCases"]
