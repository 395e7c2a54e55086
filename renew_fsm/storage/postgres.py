"""PostgreSQL through psycopg 3, for a provincial or national service.

Same tables and the same contract as SQLite.  Writes run in one transaction
at READ COMMITTED: a concurrent writer to the same instance waits on the row
lock, then finds the version moved and the ``UPDATE`` matches nothing —
``ConflictError``.  Schema creation and upgrades take an advisory lock so two
services starting at once do not race.

A connection the server drops (a restart, a failover, an idle timeout) fails
the call that finds it gone with ``StorageError``, and the next call connects
again; no write is ever retried here, since whether it was saved is unknown.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ..model import Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from ..world import Agency, Institution, Region
from .base import (
    DOCTOR_COLUMNS,
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    SCHEMA_VERSION,
    V1_DOCTOR_COLUMNS,
    V1_HISTORY_COLUMNS,
    V1_INSTANCE_COLUMNS,
    V5_DOCTOR_COLUMNS,
    ConflictError,
    StorageError,
    WorldRows,
    check_doctor_batch,
    doctor_digests,
    doctor_from_row,
    doctor_row,
    guarded,
    instance_from_row,
    instance_row,
    new_doctor_rows,
    page_end,
    policy_text_sha256,
    record_from_row,
    record_row,
    same_doctor,
    scan_keyset,
)
from .postgres_cases import INSERT_HISTORY, MIGRATION_2, MIGRATION_6, UPDATE_INSTANCE, PostgresCases
from .registry import row_digest

_NUMERIC = {
    "version": "integer",
    "humanities_attempts": "integer",
    "business_attempts": "integer",
    "reexam_attempts": "integer",
    "suspension_months": "integer",
    "humanities_best": "double precision",
    "business_best": "double precision",
    "reexam_best": "double precision",
}
_INSTANCE_DDL = ", ".join(f"{c} {_NUMERIC.get(c, 'text')}" for c in V1_INSTANCE_COLUMNS)
_HISTORY_DDL = ", ".join(f"{c} {'integer' if c == 'seq' else 'text'}" for c in V1_HISTORY_COLUMNS)

MIGRATIONS: list[list[str] | list[str | Callable[[psycopg.Cursor[Any]], None]]] = [
    [
        "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text)",
        "CREATE TABLE IF NOT EXISTS regions (id text PRIMARY KEY, level text, name text, parent text)",
        "CREATE TABLE IF NOT EXISTS institutions (id text PRIMARY KEY, region text, name text, kind text)",
        "CREATE TABLE IF NOT EXISTS agencies (id text PRIMARY KEY, region text, name text)",
        "CREATE TABLE IF NOT EXISTS assignments (agency text, institution text, PRIMARY KEY (agency, institution))",
        "CREATE TABLE IF NOT EXISTS policies"
        " (id text, version text, text text, loaded_at text, PRIMARY KEY (id, version))",
        "CREATE TABLE IF NOT EXISTS exemption_reasons"
        " (cycle text, id text, text text, open integer, PRIMARY KEY (cycle, id))",
        f"CREATE TABLE IF NOT EXISTS doctors ({', '.join(f'{c} text' for c in V1_DOCTOR_COLUMNS)}, PRIMARY KEY (id))",
        "CREATE INDEX IF NOT EXISTS idx_doctors_institution ON doctors (institution)",
        f"CREATE TABLE IF NOT EXISTS instances ({_INSTANCE_DDL}, PRIMARY KEY (cycle, doctor))",
        "CREATE INDEX IF NOT EXISTS idx_instances_cycle_state_doctor ON instances (cycle, state, doctor)",
        f"CREATE TABLE IF NOT EXISTS history (id bigserial PRIMARY KEY, {_HISTORY_DDL})",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_cycle_doctor_seq ON history (cycle, doctor, seq)",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_idempotency ON history (cycle, doctor, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL",
    ],
    MIGRATION_2,
    # 3: each instance carries its doctor's institution, so the statistics need no join.
    [
        "ALTER TABLE instances ADD COLUMN IF NOT EXISTS institution text",
        "UPDATE instances i SET institution = d.institution FROM doctors d WHERE d.id = i.doctor",
    ],
    # 4: the ids the store sorts and pages by compare by code point ("C"), whatever the database's
    # collation: under ICU's en-US, 'a1' < 'D-3' < 'd2' < 'D9', where SQLite and memory give
    # 'D-3' < 'D9' < 'a1' < 'd2' — pages and queues disagreed between backends.  On the columns,
    # not in each ORDER BY, so keyset comparisons agree and the indexes (rebuilt here) serve them.
    [
        'ALTER TABLE doctors ALTER COLUMN id TYPE text COLLATE "C"',
        'ALTER TABLE instances ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN doctor TYPE text COLLATE "C"',
        'ALTER TABLE history ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN doctor TYPE text COLLATE "C"',
        'ALTER TABLE cases ALTER COLUMN machine TYPE text COLLATE "C", ALTER COLUMN id TYPE text COLLATE "C"',
        'ALTER TABLE exemption_reasons ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN id TYPE text COLLATE "C"',
    ],
    # 5: the doctors' optional registry fields, and an index on the id-card number (one person is
    # one registry entry, checked on every doctor added).
    [
        f"ALTER TABLE doctors {', '.join(f'ADD COLUMN IF NOT EXISTS {c} text' for c in V5_DOCTOR_COLUMNS)}",
        "CREATE INDEX IF NOT EXISTS idx_doctors_id_card ON doctors (id_card)",
    ],
    # 6: the registry log, each policy's SHA-256, the guard triggers and the application role.
    MIGRATION_6,
]
assert len(MIGRATIONS) == SCHEMA_VERSION

_MOVE_ONE = (
    f"WITH moved AS ({UPDATE_INSTANCE} RETURNING 1) INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) "
    f"SELECT {', '.join('%s::integer' if c == 'seq' else '%s::text' for c in HISTORY_COLUMNS)} FROM moved"
)
#: From this many records a commit sends them by COPY (a round trip more, then the rows at full
#: speed); fewer go as INSERTs (one update and one record: 0.75–0.81 ms against COPY's 1.03).
COPY_FROM = 64
_SELECT = ", ".join([*(f"i.{c}" for c in INSTANCE_COLUMNS), *(f"d.{c}" for c in DOCTOR_COLUMNS)])
_N = len(INSTANCE_COLUMNS)
_UPSERT_META = "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


#: The transactions of this database that have written (hold a transaction id), other than ours.
_WRITERS = (
    "SELECT pid, backend_xid::text FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)

_LOST_WRITE = (
    "lost the connection to PostgreSQL during a write ({}); it may or may not have been saved — "
    "read it again before deciding, or retry with an idempotency key"
)
_LOST_READ = "lost the connection to PostgreSQL during a read ({}); nothing was written — try again"


def _shown(url: str) -> str:
    """``url`` fit for an error message or a log: without its password."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def _said(exc: psycopg.Error) -> str:
    """What the server or libpq said, on one line (without the statement it quotes)."""
    return exc.diag.message_primary or " ".join(str(exc).split())


def _connect(url: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=autocommit)
    except psycopg.Error as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL at {_shown(url)} ({_said(exc)}): check that the server "
            "is up and the URL's host, port, database, user and password"
        ) from None


@guarded
class PostgresStorage(PostgresCases):
    #: What ``guarded`` passes to ``_failure``: psycopg's errors, of which a lost connection is ours to name.
    DRIVER_ERRORS = (psycopg.Error,)

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self._create = create
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()
        try:
            self._connect()
            self._upgrade()
        except psycopg.Error as exc:
            failure = self._open_failure(exc)
            self._release()
            raise failure from None
        except StorageError:
            self._release()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        conn = _connect(self.url, autocommit=True)
        with self._guard:
            gone, self._conn = self._conn, conn
        if gone is not None:
            gone.close()
        return conn

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The store's one connection.  A psycopg connection carries one transaction at a time, so a
        store (an engine) serves one thread at a time: a service checks engines out of a bounded
        pool (``renew_fsm.service``), which bounds its connections too — a connection per thread
        made a service with a few hundred threads exhaust the server's ``max_connections``.

        One the server dropped is replaced on the call after the one that found it gone (which
        raised ``StorageError``).  ``closed`` is psycopg's own flag, read without a round trip.
        """
        conn = self._conn
        return conn if conn is not None and not conn.closed else self._connect()

    def _lost(self) -> bool:
        """Whether the connection broke (psycopg's flag: closed, but not by us).

        Only that is a lost connection: an ``OperationalError`` also reports a cancelled
        statement or a lock timeout on a connection that still works.
        """
        conn = self._conn
        return conn is not None and conn.broken

    def _failure(self, exc: psycopg.Error) -> StorageError | None:
        """A read that lost its connection (``guarded`` asks; writes say their own, see ``_writing``)."""
        return StorageError(_LOST_READ.format(_said(exc))) if self._lost() else None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write's failures a service must handle, as ``StorageError`` rather than driver errors.

        A role that may only read (a statistics account) or a read-only standby:
        nothing was written, as SQLite says of a read-only file.  A connection
        lost during a write leaves the write unknown: the server may have
        committed it just before the loss, and nothing here can tell.  So the
        message says so, and nothing retries it.
        """
        try:
            yield
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction) as exc:
            raise StorageError(f"this role can only read here ({_said(exc)}); nothing was written") from None
        except psycopg.Error as exc:
            if not self._lost():
                raise
            raise StorageError(_LOST_WRITE.format(_said(exc))) from None

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._writing(), self.conn.transaction(), self.conn.cursor() as cur:
            yield cur

    def _schema_version(self, cur: psycopg.Cursor[Any]) -> int:
        """The database's schema version; a newer one than this code knows is refused."""
        cur.execute("SELECT to_regclass('meta')")
        have = 0
        if cur.fetchone()[0] is not None:  # type: ignore[index]
            cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            row = cur.fetchone()
            have = int(row[0]) if row else 0
        if have > SCHEMA_VERSION:
            raise StorageError(f"the database has schema version {have}; this renew_fsm knows {SCHEMA_VERSION}")
        return have

    def _upgrade(self) -> None:
        # A current database is opened without writing, so a role that may only read opens it.
        with self.conn.cursor() as cur:
            have = self._schema_version(cur)
        if have == SCHEMA_VERSION:
            return
        if have == 0 and not self._create:
            raise StorageError(
                f"PostgreSQL at {_shown(self.url)} holds no renew_fsm store (none of its tables are in "
                f"{self._search_path()}); nothing was changed"
            )
        # Not ``_write``: what goes wrong here is told by ``_open_failure``, in the terms of opening.
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('renew_fsm schema'))")
            have = self._schema_version(cur)  # again, under the lock: another process may have migrated
            for version in range(have, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    if callable(statement):  # a step SQL alone cannot take (digests computed here)
                        statement(cur)
                    else:
                        cur.execute(statement)  # type: ignore[arg-type]
            cur.execute(_UPSERT_META, ("schema_version", str(SCHEMA_VERSION)))
            cur.execute("INSERT INTO meta (key, value) VALUES ('world_version', '0') ON CONFLICT DO NOTHING")

    def _open_failure(self, exc: psycopg.Error) -> StorageError:
        """Why the store could not be opened, and what to fix."""
        where = f"PostgreSQL at {_shown(self.url)}"
        if isinstance(exc, psycopg.errors.InvalidSchemaName):
            path = self._search_path()
            missing = f"schema {path} does not exist" if "," not in path else f"none of the schemas {path} exists"
            return StorageError(
                f"{missing} in {where}: create it, or fix search_path (the URL's options=-csearch_path%3D…)"
            )
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return StorageError(
                f"this role may not create or upgrade renew_fsm's tables in {where} ({_said(exc)}): "
                "open the store once as a role that may (the schema's owner), then this one can read it"
            )
        return StorageError(f"cannot set up renew_fsm's tables in {where}: {_said(exc)}")

    def _search_path(self) -> str:
        try:
            return str(self.conn.execute("SHOW search_path").fetchone()[0])  # type: ignore[index]
        except psycopg.Error:
            return "(the search_path)"

    def close(self) -> None:
        self._release()

    def _release(self) -> None:
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _bump(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'world_version'")

    # -- settings and the world -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        # starts_with, not LIKE: the prefix may hold % or _.
        rows = self.conn.execute(
            "SELECT key, value FROM meta WHERE starts_with(key, %s) ORDER BY key", (prefix,)
        ).fetchall()
        return [(k, v) for k, v in rows]

    def changes(self, cycle: str, after: int, limit: int) -> list[tuple[int, Record]]:
        rows = self.conn.execute(
            f"SELECT id, {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = %s AND id > %s AND id <= %s "
            "ORDER BY id LIMIT %s",
            (cycle, after, self._settled_id(), limit),
        ).fetchall()
        return [(int(row[0]), record_from_row(row[1:])) for row in rows]

    def _settled_id(self, wait: float = 2.0) -> int:
        """The highest history id below which no record can still appear.

        An id is handed out when its row is inserted, not when it commits, so a writer still in
        flight may hold an id lower than one already visible.  Read the last id handed out, then
        wait for the writers of this database in progress at that moment to end: every id up to
        it is then committed or never will be.  (Each writer writes a row before it inserts
        history, so it has its transaction id — and shows in ``pg_stat_activity`` — by the time
        it holds a history id.)  A writer that runs longer than ``wait`` (a large import) holds
        the feed back until it ends.
        """
        last, called = self.conn.execute("SELECT last_value, is_called FROM history_id_seq").fetchone()  # type: ignore[misc]
        horizon = int(last) if called else 0
        running = set(self.conn.execute(_WRITERS).fetchall())
        deadline = time.monotonic() + wait
        while running:
            time.sleep(0.005)
            running &= set(self.conn.execute(_WRITERS).fetchall())
            if running and time.monotonic() > deadline:
                return -1  # nothing is settled yet: the page is empty, and the reader asks again
        return horizon

    def delete_meta(self, keys: Sequence[str]) -> None:
        with self._write() as cur:
            cur.execute("DELETE FROM meta WHERE key = ANY(%s)", (list(keys),))

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as cur:
            cur.execute(_UPSERT_META, (key, value))

    def world_version(self) -> int:
        return int(self.get_meta("world_version") or 0)

    def load_world(self, cycle: str | None) -> WorldRows:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("SELECT value FROM meta WHERE key = 'world_version'")
            version = int(cur.fetchone()[0])  # type: ignore[index]
            regions = [Region(*r) for r in cur.execute("SELECT id, level, name, parent FROM regions").fetchall()]
            institutions = [
                Institution(*r) for r in cur.execute("SELECT id, region, name, kind FROM institutions").fetchall()
            ]
            assigned: dict[str, set[str]] = {}
            for agency, inst in cur.execute("SELECT agency, institution FROM assignments").fetchall():
                assigned.setdefault(agency, set()).add(inst)
            agencies = [
                Agency(aid, region, name, frozenset(assigned.get(aid, ())))
                for aid, region, name in cur.execute("SELECT id, region, name FROM agencies").fetchall()
            ]
            text = None
            row = cur.execute("SELECT value FROM meta WHERE key = 'policy'").fetchone()
            if row:
                pid, pver = row[0].split("@", 1)
                found = cur.execute("SELECT text FROM policies WHERE id = %s AND version = %s", (pid, pver)).fetchone()
                text = found[0] if found else None
            reasons = {
                rid: ExemptionReason(rtext, bool(ropen))
                for rid, rtext, ropen in cur.execute(
                    "SELECT id, text, open FROM exemption_reasons WHERE cycle = %s ORDER BY id", (cycle or "",)
                ).fetchall()
            }
        return WorldRows(version, regions, institutions, agencies, text, reasons)

    def put_region(self, region: Region) -> None:
        with self._write() as cur:
            cur.execute(
                "INSERT INTO regions (id, level, name, parent) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET level = excluded.level, name = excluded.name, parent = excluded.parent",
                (region.id, region.level, region.name, region.parent),
            )
            self._log_rows(cur, "regions", [(region.id,)])
            self._bump(cur)

    def put_institution(self, institution: Institution) -> None:
        i = institution
        with self._write() as cur:
            cur.execute(
                "INSERT INTO institutions (id, region, name, kind) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET region = excluded.region, name = excluded.name, kind = excluded.kind",
                (i.id, i.region, i.name, i.kind),
            )
            self._log_rows(cur, "institutions", [(i.id,)])
            self._bump(cur)

    def put_agency(self, agency: Agency) -> None:
        a = agency
        with self._write() as cur:
            cur.execute(
                "INSERT INTO agencies (id, region, name) VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET region = excluded.region, name = excluded.name",
                (a.id, a.region, a.name),
            )
            held = [r[0] for r in cur.execute("SELECT institution FROM assignments WHERE agency = %s", (a.id,))]
            cur.execute("DELETE FROM assignments WHERE agency = %s", (a.id,))
            if a.institutions:
                cur.executemany(
                    "INSERT INTO assignments (agency, institution) VALUES (%s, %s)",
                    [(a.id, inst) for inst in sorted(a.institutions)],
                )
            self._log_rows(cur, "agencies", [(a.id,)])
            self._log_rows(cur, "assignments", [(a.id, inst) for inst in sorted({*held, *a.institutions})])
            self._bump(cur)

    def put_policy(self, policy_id: str, version: str, text: str) -> None:
        with self._write() as cur:
            # The first text stays: records already judged under this id and version name its SHA-256.
            cur.execute(
                "INSERT INTO policies (id, version, text, loaded_at, sha256) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id, version) DO NOTHING",
                (policy_id, version, text, dt.datetime.now(dt.UTC).isoformat(), policy_text_sha256(text)),
            )
            cur.execute(_UPSERT_META, ("policy", f"{policy_id}@{version}"))
            self._bump(cur)

    def policy_text(self, policy_id: str, version: str) -> str | None:
        row = self.conn.execute(
            "SELECT text FROM policies WHERE id = %s AND version = %s", (policy_id, version)
        ).fetchone()
        return row[0] if row else None

    def put_exemption_reason(self, cycle: str, reason_id: str, reason: ExemptionReason) -> None:
        with self._write() as cur:
            cur.execute(
                "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (cycle, id) DO UPDATE SET text = excluded.text, open = excluded.open",
                (cycle, reason_id, reason.text, int(reason.open)),
            )
            self._log_rows(cur, "exemption_reasons", [(cycle, reason_id)])
            self._bump(cur)

    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None:
        with self._write() as cur:
            if reasons:
                held = {r[0] for r in cur.execute("SELECT id FROM exemption_reasons WHERE cycle = %s", (cycle,))}
                cur.executemany(
                    "INSERT INTO exemption_reasons (cycle, id, text, open) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
                )
                self._log_rows(cur, "exemption_reasons", [(cycle, rid) for rid in reasons if rid not in held])
            self._bump(cur)

    # -- doctors and instances ---------------------------------------------------------------
    def put_doctors(self, doctors: Sequence[Doctor], cycle: str | None) -> list[str]:
        check_doctor_batch(doctors)
        present: list[str] = []
        cols = ", ".join(DOCTOR_COLUMNS)
        with self._write() as cur:
            old = {
                row[0]: doctor_from_row(row)
                for row in cur.execute(
                    f"SELECT {cols} FROM doctors WHERE id = ANY(%s)", ([d.id for d in doctors],)
                ).fetchall()
            }
            for doc in doctors:
                if doc.id in old:
                    if not same_doctor(old[doc.id], doc):
                        raise ConflictError(f"doctor {doc.id!r} already exists with other details")
                    present.append(doc.id)
            fresh = [d for d in doctors if d.id not in old]
            if fresh:
                rows = [doctor_row(d) for d in fresh]
                cur.executemany(f"{INSERT_DOCTOR} ON CONFLICT DO NOTHING", rows)
                self._log(cur, "doctors", doctor_digests(rows))
            if cycle and doctors:
                cur.executemany(
                    f"{INSERT_INSTANCE} ON CONFLICT DO NOTHING",
                    [(*instance_row(Instance(d.id, cycle)), d.institution) for d in doctors],
                )
        return present

    def get_doctor(self, doctor_id: str) -> Doctor | None:
        row = self.conn.execute(
            f"SELECT {', '.join(DOCTOR_COLUMNS)} FROM doctors WHERE id = %s", (doctor_id,)
        ).fetchone()
        return doctor_from_row(row) if row else None

    def doctors_with_id_cards(self, id_cards: Sequence[str]) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT id_card, id FROM doctors WHERE id_card = ANY(%s)", (list(dict.fromkeys(id_cards)),)
        ).fetchall()
        return dict(rows)

    def ensure_instances(self, cycle: str) -> int:
        fresh = instance_row(Instance("", cycle))
        cols = ", ".join(INSTANCE_COLUMNS)
        values = ", ".join("d.id" if c == "doctor" else "%s" for c in INSTANCE_COLUMNS)
        params = [v for c, v in zip(INSTANCE_COLUMNS, fresh, strict=True) if c != "doctor"]
        with self._write() as cur:
            cur.execute(
                f"INSERT INTO instances ({cols}, institution) SELECT {values}, d.institution FROM doctors d"
                " ON CONFLICT DO NOTHING",
                params,
            )
            return cur.rowcount

    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]:
        rows = self.conn.execute(
            f"SELECT {_SELECT} FROM instances i JOIN doctors d ON d.id = i.doctor "
            "WHERE i.cycle = %s AND i.doctor = ANY(%s)",
            (cycle, list(dict.fromkeys(doctor_ids))),
        ).fetchall()
        return {row[0]: (instance_from_row(row), doctor_from_row(row[_N:])) for row in rows}

    def commit(self, updates: Sequence[tuple[int, Instance]], records: Sequence[Record]) -> None:
        params = [(*instance_row(inst)[2:], inst.cycle, inst.doctor, expected) for expected, inst in updates]
        try:
            if len(params) == 1 and len(records) == 1:
                # A service's fire: one statement, its own transaction, one round trip — where
                # BEGIN, UPDATE, INSERT and COMMIT took four.  No row moved: nothing inserted.
                with self._writing():
                    moved = self.conn.execute(_MOVE_ONE, (*params[0], *record_row(records[0]))).rowcount
                if moved != 1:
                    raise ConflictError("an instance changed since it was read")
                return
            with self._write() as cur:
                _execute(cur, UPDATE_INSTANCE, params)
                if cur.rowcount != len(params):
                    raise ConflictError("an instance changed since it was read")
                _insert_records(cur, records)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(f"history already has this record ({exc.diag.message_primary})") from None

    def put_new_doctors(
        self, doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
    ) -> None:
        doctor_rows, instance_rows = new_doctor_rows(doctors, instances, records)
        try:
            with self._write() as cur:
                if doctors:
                    _execute(cur, INSERT_DOCTOR, doctor_rows)
                    _execute(cur, INSERT_INSTANCE, instance_rows)
                _insert_records(cur, records)
                # One registry entry for the batch, not one per doctor.
                self._log(cur, "doctors", doctor_digests(doctor_rows))
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(
                f"a new doctor, instance or record is already stored ({exc.diag.message_primary})"
            ) from None

    def history(self, cycle: str, doctor_id: str) -> list[Record]:
        rows = self.conn.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = %s AND doctor = %s ORDER BY seq",
            (cycle, doctor_id),
        ).fetchall()
        return [record_from_row(r) for r in rows]

    def instance_ids(self, cycle: str) -> list[str]:
        rows = self.conn.execute("SELECT doctor FROM instances WHERE cycle = %s ORDER BY doctor", (cycle,))
        return [r[0] for r in rows.fetchall()]

    def scan(
        self, cycle: str, states: Sequence[str] | None, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[Instance, Doctor]]:
        """One query per state, each an ordered walk of the (cycle, state, doctor) index (see SQLite)."""
        base = f"SELECT {_SELECT} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = %s"
        keyset, tail = scan_keyset(after, until, "%s")
        rows: list[Any] = []
        if states is None:
            rows = self.conn.execute(f"{base}{keyset} ORDER BY i.doctor LIMIT %s", [cycle, *tail, limit]).fetchall()
        else:
            states = list(dict.fromkeys(states))
            if len(states) > 1:
                ids = (
                    f"SELECT i.doctor FROM instances i WHERE i.cycle = %s AND i.state = %s{keyset}"
                    " ORDER BY i.doctor LIMIT %s"
                )
                walks = [self.conn.execute(ids, [cycle, s, *tail, limit]).fetchall() for s in states]  # type: ignore[arg-type]
                bound = page_end(walks, limit)
                if bound is not None:
                    keyset, tail = scan_keyset(after, bound, "%s")
            sql = f"{base} AND i.state = %s{keyset} ORDER BY i.doctor LIMIT %s"
            for state in states:
                rows += self.conn.execute(sql, [cycle, state, *tail, limit]).fetchall()  # type: ignore[arg-type]
            if len(states) > 1:
                rows.sort(key=lambda r: r[0])
                del rows[limit:]
        return [(instance_from_row(r), doctor_from_row(r[_N:])) for r in rows]

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None:
        row = self.conn.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history "
            "WHERE cycle = %s AND doctor = %s AND idempotency_key = %s",
            (cycle, doctor_id, key),
        ).fetchone()
        return record_from_row(row) if row else None

    def all_history(self, cycle: str) -> Iterable[Record]:
        """Streamed on a connection of its own (a named cursor holds its transaction open)."""
        with _connect(self.url, autocommit=False) as conn, conn.cursor(name="renew_fsm_history") as cur:
            cur.itersize = 10000
            try:
                cur.execute(
                    f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = %s ORDER BY doctor, seq",
                    (cycle,),
                )
                for row in cur:
                    yield record_from_row(row)
            except psycopg.Error as exc:
                if not conn.broken:
                    raise
                raise StorageError(_LOST_READ.format(_said(exc))) from None

    def cycles(self) -> list[str]:
        rows = self.conn.execute("SELECT DISTINCT cycle FROM instances ORDER BY cycle").fetchall()
        return [r[0] for r in rows]

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count) over the cycle: what statistics add up."""
        rows = self.conn.execute(
            "SELECT institution, state, program, reason, count(*) FROM instances WHERE cycle = %s GROUP BY 1, 2, 3, 4",
            (cycle,),
        ).fetchall()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def checkpoint(self) -> None:
        """Nothing to do: the server's own checkpointer copies its log back."""

    def count_history(self, cycle: str) -> int:
        return self.conn.execute("SELECT count(*) FROM history WHERE cycle = %s", (cycle,)).fetchone()[0]  # type: ignore[index]

    def work_queue(
        self,
        cycle: str,
        clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]],
        institutions: Sequence[str] | None,
        doctor: str | None,
        after: str | None,
        limit: int,
    ) -> list[tuple[Instance, Doctor]]:
        """A page of the instances matching ``clauses`` inside the jurisdiction, by doctor id (see base).

        With no jurisdiction limit (the province, the testing app) each state is
        an ordered walk of the (cycle, state, doctor) index, as in ``scan``;
        otherwise one query, and PostgreSQL's planner — which has statistics —
        picks between the institution index and the state index.
        """
        if not clauses:
            return []
        base = f"SELECT {_SELECT} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = %s"
        keyset = " AND i.doctor > %s" if after is not None else ""
        tail: list[Any] = [after] if after is not None else []
        if doctor is not None:
            base += " AND i.doctor = %s"
            tail = [doctor, *tail]
        rows: list[Any] = []
        if institutions is None:
            by_state: dict[str, list[tuple[str, frozenset[str], frozenset[str]]]] = {}
            for clause in clauses:
                by_state.setdefault(clause[0], []).append(clause)
            for group in by_state.values():
                where, params = _pg_clause_sql(group)
                sql = f"{base}{keyset} AND ({where}) ORDER BY i.doctor LIMIT %s"
                rows += self.conn.execute(sql, [cycle, *tail, *params, limit]).fetchall()  # type: ignore[arg-type]
            if len(by_state) > 1:
                rows.sort(key=lambda r: r[0])
                del rows[limit:]
        else:
            where, params = _pg_clause_sql(clauses)
            sql = f"{base}{keyset} AND d.institution = ANY(%s) AND ({where}) ORDER BY i.doctor LIMIT %s"
            rows = self.conn.execute(sql, [cycle, *tail, list(institutions), *params, limit]).fetchall()  # type: ignore[arg-type]
        return [(instance_from_row(r), doctor_from_row(r[_N:])) for r in rows]

    def put_institutions(self, institutions: Sequence[Institution]) -> None:
        """Insert or replace many institutions in one transaction (a CSV import: all or nothing)."""
        with self._write() as cur:
            if institutions:
                cur.executemany(
                    "INSERT INTO institutions (id, region, name, kind) VALUES (%s, %s, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET region = excluded.region, name = excluded.name, kind = excluded.kind",
                    [(i.id, i.region, i.name, i.kind) for i in institutions],
                )
                rows = ({"id": i.id, "region": i.region, "name": i.name, "kind": i.kind} for i in institutions)
                self._log(cur, "institutions", {row["id"]: row_digest(row) for row in rows})
            self._bump(cur)


INSERT_DOCTOR = f"INSERT INTO doctors ({', '.join(DOCTOR_COLUMNS)}) VALUES ({', '.join(['%s'] * len(DOCTOR_COLUMNS))})"
INSERT_INSTANCE = (
    f"INSERT INTO instances ({', '.join(INSTANCE_COLUMNS)}, institution) "
    f"VALUES ({', '.join(['%s'] * (len(INSTANCE_COLUMNS) + 1))})"
)


def _insert_records(cur: psycopg.Cursor[Any], records: Sequence[Record]) -> None:
    """A few records as ``INSERT``s, many by ``COPY``."""
    if len(records) < COPY_FROM:
        if records:
            _execute(cur, INSERT_HISTORY, [record_row(rec) for rec in records])
        return
    with cur.copy(f"COPY history ({', '.join(HISTORY_COLUMNS)}) FROM STDIN") as copy:
        for rec in records:
            copy.write_row(record_row(rec))


def _execute(cur: psycopg.Cursor[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One row by ``execute``: ``executemany`` sets up a pipeline even for one (0.1 ms of a 1 ms fire)."""
    if len(rows) == 1:
        cur.execute(sql, rows[0])
    else:
        cur.executemany(sql, rows)


def _pg_clause_sql(clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]]) -> tuple[str, list[Any]]:
    """``(state = %s AND flag tests) OR …`` for the work queue; flags are stored comma-joined."""
    parts: list[str] = []
    params: list[Any] = []
    for state, need, forbid in clauses:
        tests = ["i.state = %s"]
        params.append(state)
        for flag in sorted(need):
            tests.append("strpos(',' || coalesce(i.flags, '') || ',', %s) > 0")
            params.append(f",{flag},")
        for flag in sorted(forbid):
            tests.append("strpos(',' || coalesce(i.flags, '') || ',', %s) = 0")
            params.append(f",{flag},")
        parts.append("(" + " AND ".join(tests) + ")")
    return " OR ".join(parts), params
