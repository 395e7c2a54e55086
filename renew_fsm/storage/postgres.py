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

import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import psycopg

from ..model import Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from . import sql as shared
from .base import (
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    ConflictError,
    StorageError,
    doctor_from_row,
    guarded,
    instance_row,
    record_from_row,
    record_row,
)
from .postgres_migrations import GUARDS, MIGRATIONS, SCHEMA_VERSION
from .sql import POSTGRES, SELECT_PAIR, QueueAsk, SQLStore, pairs

#: The shared statements with PostgreSQL's placeholder.
_UPDATE_INSTANCE, _INSERT_HISTORY = POSTGRES(shared.UPDATE_INSTANCE), POSTGRES(shared.INSERT_HISTORY)
_INSERT_DOCTOR, _INSERT_INSTANCE = POSTGRES(shared.INSERT_DOCTOR), POSTGRES(shared.INSERT_INSTANCE)
_UPSERT_META, _ALL_HISTORY = POSTGRES(shared.UPSERT_META), POSTGRES(shared.ALL_HISTORY)
_INSERT_REASON_IF_NEW = POSTGRES(shared.INSERT_REASON_IF_NEW)
_HISTORY, _DOCTORS = shared.HISTORY, shared.DOCTORS

_MOVE_ONE = (
    f"WITH moved AS ({_UPDATE_INSTANCE} RETURNING 1) INSERT INTO history ({_HISTORY}) "
    f"SELECT {', '.join('%s::integer' if c == 'seq' else '%s::text' for c in HISTORY_COLUMNS)} FROM moved"
)
#: From this many records a commit sends them by COPY (a round trip more, then the rows at full
#: speed); fewer go as INSERTs, which for a fire's one or two records is the quicker.
COPY_FROM = 64


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
class PostgresStorage(SQLStore):
    #: What ``guarded`` passes to ``_failure``: psycopg's errors, of which a lost connection is ours to name.
    DRIVER_ERRORS = (psycopg.Error,)
    UNIQUE_VIOLATION = (psycopg.errors.UniqueViolation,)
    dialect = POSTGRES

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
    def write(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._writing(), self.conn.transaction(), self.conn.cursor() as cur:
            yield cur

    def _reading(self) -> AbstractContextManager[None]:
        return nullcontext()  # one thread at a time per store (see ``conn``)

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Cursor[Any]]:
        """A read of several tables that sees one state of them."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cur

    def _lock_log(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('renew_fsm registry_log'))")

    def _said(self, exc: Exception) -> str:
        return _said(exc) if isinstance(exc, psycopg.Error) else str(exc)

    def guards_missing(self) -> list[str]:
        """The guard triggers not in the database, or disabled (the owner may do either)."""
        rows = self.conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid IN (to_regclass('history'), to_regclass('registry_log'))"
            " AND tgenabled <> 'D'"
        ).fetchall()
        return sorted(set(GUARDS) - {r[0] for r in rows})

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
        # Not ``write``: what goes wrong here is told by ``_open_failure``, in the terms of opening.
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
    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        # starts_with, not LIKE: the prefix may hold % or _.
        rows = self.conn.execute(
            "SELECT key, value FROM meta WHERE starts_with(key, %s) ORDER BY key", (prefix,)
        ).fetchall()
        return [(k, v) for k, v in rows]

    def changes(self, cycle: str, after: int, limit: int) -> list[tuple[int, Record]]:
        rows = self.conn.execute(
            f"SELECT id, {_HISTORY} FROM history WHERE cycle = %s AND id > %s AND id <= %s ORDER BY id LIMIT %s",
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
        with self.write() as cur:
            cur.execute("DELETE FROM meta WHERE key = ANY(%s)", (list(keys),))

    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None:
        with self.write() as cur:
            if reasons:
                held = {r[0] for r in cur.execute("SELECT id FROM exemption_reasons WHERE cycle = %s", (cycle,))}
                cur.executemany(
                    _INSERT_REASON_IF_NEW, [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()]
                )
                self._log_rows(cur, "exemption_reasons", [(cycle, rid) for rid in reasons if rid not in held])
            self._bump(cur)

    # -- doctors and instances ---------------------------------------------------------------
    def _stored_doctors(self, cur: psycopg.Cursor[Any], ids: Sequence[str]) -> dict[str, Doctor]:
        sql = f"SELECT {_DOCTORS} FROM doctors WHERE id = ANY(%s)"
        return {row[0]: doctor_from_row(row) for row in cur.execute(sql, (list(ids),)).fetchall()}

    def _add_instances(self, cur: psycopg.Cursor[Any], cycle: str, doctors: Sequence[Doctor]) -> None:
        cur.executemany(
            f"{_INSERT_INSTANCE} ON CONFLICT DO NOTHING",
            [(*instance_row(Instance(d.id, cycle)), d.institution) for d in doctors],
        )

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
        with self.write() as cur:
            cur.execute(
                f"INSERT INTO instances ({cols}, institution) SELECT {values}, d.institution FROM doctors d"
                " ON CONFLICT DO NOTHING",
                params,
            )
            return cur.rowcount

    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]:
        rows = self.conn.execute(
            f"SELECT {SELECT_PAIR} FROM instances i JOIN doctors d ON d.id = i.doctor "
            "WHERE i.cycle = %s AND i.doctor = ANY(%s)",
            (cycle, list(dict.fromkeys(doctor_ids))),
        ).fetchall()
        return {inst.doctor: (inst, doc) for inst, doc in pairs(rows)}

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
            with self.write() as cur:
                _execute(cur, _UPDATE_INSTANCE, params)
                if cur.rowcount != len(params):
                    raise ConflictError("an instance changed since it was read")
                _insert_records(cur, records)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(f"history already has this record ({exc.diag.message_primary})") from None

    def _insert_new(
        self, cur: psycopg.Cursor[Any], doctors: list[Any], instances: list[Any], records: Sequence[Record]
    ) -> None:
        if doctors:
            _execute(cur, _INSERT_DOCTOR, doctors)
            _execute(cur, _INSERT_INSTANCE, instances)
        _insert_records(cur, records)

    def all_history(self, cycle: str) -> Iterable[Record]:
        """Streamed on a connection of its own (a named cursor holds its transaction open)."""
        with _connect(self.url, autocommit=False) as conn, conn.cursor(name="renew_fsm_history") as cur:
            cur.itersize = 10000
            try:
                cur.execute(_ALL_HISTORY, (cycle,))
                for row in cur:
                    yield record_from_row(row)
            except psycopg.Error as exc:
                if not conn.broken:
                    raise
                raise StorageError(_LOST_READ.format(_said(exc))) from None

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count) over the cycle: what statistics add up."""
        rows = self.conn.execute(
            "SELECT institution, state, program, reason, count(*) FROM instances WHERE cycle = %s GROUP BY 1, 2, 3, 4",
            (cycle,),
        ).fetchall()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def checkpoint(self) -> None:
        """Nothing to do: the server's own checkpointer copies its log back."""

    def _queue_page(self, ask: QueueAsk) -> list[tuple[Instance, Doctor]]:
        """With no jurisdiction limit (the province, the testing app) each state is
        an ordered walk of the (cycle, state, doctor) index, as in ``scan``;
        otherwise one query, and PostgreSQL's planner — which has statistics —
        picks between the institution index and the state index.
        """
        cycle, clauses, institutions, doctor, after, limit = (
            ask.cycle,
            ask.clauses,
            ask.institutions,
            ask.doctor,
            ask.after,
            ask.limit,
        )
        base = f"SELECT {SELECT_PAIR} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = %s"
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
        return pairs(rows)


def _insert_records(cur: psycopg.Cursor[Any], records: Sequence[Record]) -> None:
    """A few records as ``INSERT``s, many by ``COPY``."""
    if len(records) < COPY_FROM:
        if records:
            _execute(cur, _INSERT_HISTORY, [record_row(rec) for rec in records])
        return
    with cur.copy(f"COPY history ({_HISTORY}) FROM STDIN") as copy:
        for rec in records:
            copy.write_row(record_row(rec))


def _execute(cur: psycopg.Cursor[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One row by ``execute``: ``executemany`` sets up a pipeline even for one, a good part of a fire."""
    if len(rows) == 1:
        cur.execute(sql, rows[0])
    else:
        cur.executemany(sql, rows)


def _pg_clause_sql(clauses: Sequence[tuple[str, frozenset[str], frozenset[str]]]) -> tuple[str, list[Any]]:
    """The work queue's clauses (``sql.clause_sql``) with PostgreSQL's ``strpos`` and placeholder."""
    where, params = shared.clause_sql(clauses, "i.state", "strpos")
    return POSTGRES(where), params
