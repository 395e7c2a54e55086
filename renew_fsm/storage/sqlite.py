"""The embedded default: one SQLite file (WAL), schema by sqlite-utils, hot writes by ``executemany``.

Every write runs in ``BEGIN IMMEDIATE`` so two processes on one file take
turns (queued on a lock file beside the database, see ``WriterTurn``); the
version check in the ``UPDATE`` turns a lost race into ``ConflictError``.
sqlite-utils creates and migrates the schema; the hot path uses raw
``sqlite3`` statements, which are several times faster than its inserts.

What the connection read before — the settings, a doctor's instance and keyed
records — answers an online fire's reads (``deciding``) until ``PRAGMA data_version``
says another connection wrote.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.request import pathname2url

import sqlite_utils

from ..model import Doctor, Instance, Record
from ..rules.policy import ExemptionReason
from . import planner
from .base import (
    INSTANCE_COLUMNS,
    ConflictError,
    StorageError,
    doctor_from_row,
    guarded,
    instance_from_row,
    instance_row,
    record_from_row,
)
from .sql import (
    ALL_HISTORY,
    DOCTORS,
    HISTORY,
    INSERT_DOCTOR,
    INSERT_HISTORY,
    INSERT_INSTANCE,
    PAIR_SPLIT,
    SELECT_PAIR,
    SQLITE,
    UPDATE_INSTANCE,
    QueueAsk,
    SQLStore,
)
from .sqlite_lock import WriterTurn
from .sqlite_migrations import GUARDS, MIGRATIONS, SCHEMA_VERSION
from .url import StoreURL

#: How ``sqlite3`` binds a ``None``: it looks the object up as one to adapt — its adapters, then
#: ``__adapt__`` and ``__conform__`` — before binding NULL, several times the cost of an int, and
#: a simulated event binds two on average (its instance's update, its record).  Adapted to itself,
#: it binds the same NULL after one lookup.  No value a program binds changes, and a ``None``
#: adapter the host registered first is kept.  Registered when a store is opened, not at import:
#: importing the package leaves the host's ``sqlite3`` as it was.
_NONE_ADAPTER = {}.get


def _register_none_adapter() -> None:
    if (type(None), sqlite3.PrepareProtocol) not in getattr(sqlite3, "adapters", {}):
        sqlite3.register_adapter(type(None), _NONE_ADAPTER)


CHUNK = 500
#: One doctor's instance and registry row: an online request's read.
LOAD_ONE = f"SELECT {SELECT_PAIR} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = ? AND i.doctor = ?"
#: A doctor's records that carry an idempotency key (along ``idx_history_idempotency``), the key last.
KEYED_RECORDS = (
    f"SELECT {HISTORY} FROM history WHERE cycle = ? AND doctor = ? AND idempotency_key IS NOT NULL ORDER BY seq"
)
#: Page cache of a connection, in KiB (negative: SQLite's unit for "KiB, not pages").  A larger
#: cache wrote a large simulation no faster and cost every process the memory; the file's pages
#: stay in the OS cache either way.
CACHE_KIB = -16384
#: Log pages after which a commit copies the write-ahead log back into the database (SQLite: 1,000).
#: The copy runs inside COMMIT, so the writers queued behind it wait: copying less often makes
#: fewer online fires wait behind one, and a bulk simulation goes as fast.  It must stay inside
#: the turn: copied while the next writer appended, the log never started again from the top and
#: grew without end in a large simulation.
CHECKPOINT_PAGES = 10_000
#: While reading a whole table once (statistics, counts) the cache is of no use: keep it small.
SCAN_CACHE_KIB = -8192
#: How many doctors a connection remembers between requests (see ``SQLiteStorage.load``) before it
#: starts again: about 1.5 KB each, so a few MB a connection, and a service holds one connection
#: per engine of its pool.
PAIRS_REMEMBERED = 4096


def _fresh_instance(cycle: str) -> tuple[list[str], list[Any]]:
    """The columns of a new instance that are not NULL, and their values (the doctor's id aside).

    The others are left out of the insert: the ``sqlite3`` module binds a ``None`` through its
    adapter lookup, several times the cost of an int, and a new instance is mostly NULL, so
    inserting only the set columns is much faster than inserting every one.
    """
    row = zip(INSTANCE_COLUMNS, instance_row(Instance("", cycle)), strict=True)
    pairs = [(col, value) for col, value in row if value is not None and col != "doctor"]
    return [col for col, _ in pairs], [value for _, value in pairs]


def _frozen_copy(path: str, failure: Exception) -> str | None:
    """The URI to open ``path`` by as an unchanging file, when it is a copy in a folder this account
    cannot write to (a backup handed to an auditor, a read-only share); else None.

    A database in WAL mode needs its ``-shm`` file beside it even to be read;
    in such a folder SQLite can neither make one nor open the file
    ("attempt to write a readonly database").  Opened ``immutable`` it reads
    the file alone: right for a copy nobody writes (nobody can write in that
    folder either), wrong if a write-ahead log beside it holds changes not yet
    copied back, so then it is refused, saying what to do.
    """
    code = getattr(failure, "sqlite_errorcode", 0) & 0xFF
    if code not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN) or not os.path.isfile(path):
        return None
    if os.path.exists(f"{path}-wal") and os.path.getsize(f"{path}-wal") > 0:
        raise StorageError(
            f"{path} can only be read here, and changes in {path}-wal are not yet in it; "
            "copy the database with its -wal file to a folder you can write to, and open that"
        ) from None
    return f"file:{pathname2url(os.path.abspath(path))}?immutable=1"


@guarded
class SQLiteStorage(SQLStore):
    dialect = SQLITE
    UNIQUE_VIOLATION = (sqlite3.IntegrityError,)

    def __init__(self, path: str | StoreURL, *, timeout: float = 30.0, create: bool = True) -> None:
        """``path``: a SQLite file, ``:memory:`` or a ``file:`` URI, read by ``StoreURL.parse``."""
        where = path if isinstance(path, StoreURL) else StoreURL.parse(path)
        if where.kind != "sqlite":
            raise StorageError(f"{where.text!r} is not a SQLite database: open it with renew_fsm.open")
        _register_none_adapter()
        # What error messages name and worker processes reopen: the file as given, without sqlite:///.
        self.url = where.text.removeprefix("sqlite:///")
        self.where = where
        self._lock = threading.RLock()
        #: What this connection has read stays true while no other connection commits to the file
        #: and this one writes only through ``commit`` (see ``_unchanged``): the settings (the
        #: world's version, the clock) and the instances read or committed one at a time.  A
        #: service firing one event per request then reads nothing before its write.
        self._seen: int | None = None
        #: Inside ``deciding``: the one look at its start answers for every read.
        self._vouched = False
        self._meta: dict[str, str | None] = {}
        self._pairs: dict[tuple[str, str], tuple[Instance, Doctor]] = {}
        #: A doctor's records that carry an idempotency key, by key (the idempotency check's read).
        self._keyed: dict[tuple[str, str], dict[str, Record]] = {}
        self.turn = WriterTurn(None, timeout)
        target, uri = where.sqlite_target()
        failure = self._open(target, timeout, create=create and not where.read_only, uri=uri)
        if failure is not None and where.path is not None and not where.read_only:
            frozen = _frozen_copy(where.path, failure)
            if frozen is not None:
                failure = self._open(frozen, timeout, create=create, uri=True)
        if isinstance(failure, StorageError):
            raise failure
        if failure is not None:
            raise StorageError(f"cannot open SQLite database {self.url!r}: {failure}")

    def _open(
        self, target: str, timeout: float, *, create: bool, uri: bool = False
    ) -> sqlite3.Error | StorageError | None:
        """None once ``target`` is open; else why not, with the file let go (a second try may follow)."""
        try:
            self._connect(target, timeout, uri=uri, create=create)
        except (sqlite3.Error, StorageError) as exc:
            self._release()
            return exc
        return None

    def _connect(self, target: str, timeout: float, *, uri: bool = False, create: bool = True) -> None:
        """Open ``target`` with our pragmas, give a new file its schema; ``uri``: a read-only file or copy
        (no write-ahead log, no writers' queue); ``create=False``: refuse a file without our tables
        before anything is written to it."""
        #: What another connection to the same file opens (``all_history`` reads on its own).
        self._target, self._uri = target, uri
        self.conn = c = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=timeout, uri=uri)
        in_memory, read_only = self.where.in_memory, uri
        c.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # Before the WAL pragma (it rewrites a file's header) and the lock file beside it: a store is
        # made only in a new or empty file, never among another program's tables.
        ours = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        others = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone()
        if ours is None and (others or not create) and not in_memory:
            why = "it holds another program's tables" if others else "none of its tables are there"
            raise StorageError(f"{self.url} is not a renew_fsm store ({why}); nothing was changed")
        if not in_memory and not read_only:
            c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        # A bounded page cache keeps memory flat at any size; the OS caches the file anyway.
        c.execute(f"PRAGMA cache_size = {CACHE_KIB}")
        c.execute("PRAGMA temp_store = MEMORY")
        # Only beside a file SQLite has read as a database (the pragmas above) — no litter
        # next to a file someone mistook for one.  A read-only copy has no writers to queue.
        if not in_memory and not read_only:
            self.turn = WriterTurn(target, timeout)
            if self.turn.fd is not None:
                c.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        self.db = sqlite_utils.Database(c)
        self._upgrade()

    # -- plumbing ---------------------------------------------------------------------------
    def _unchanged(self) -> bool:
        """Whether the file is as this connection last saw it; if not, forget what was read.

        ``PRAGMA data_version`` is SQLite's per-connection counter of other connections' commits,
        kept in shared memory: reading it touches no table.  This connection's own writes do not
        move it, so ``write`` forgets by itself, and ``commit`` remembers what it wrote.
        """
        seen = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if seen == self._seen:
            return True
        self._seen = seen
        self._meta.clear()
        self._pairs.clear()
        self._keyed.clear()
        return False

    def _fresh(self) -> bool:
        return self._vouched or self._unchanged()

    @contextmanager
    def deciding(self) -> Iterator[None]:
        """One ``data_version`` look at the start vouches for the block's reads: the world's version,
        the doctor's instance and keyed records come from memory while nobody else has written.

        The decision stays outside the write transaction, as the batch path's does: held inside the
        writers' turn it let a writer that had just finished take the turn straight back while the
        others slept between their tries, and their waits grew long.  The ``UPDATE``'s version
        check still catches a writer that comes between the look and the write.
        """
        with self._lock:
            if self._vouched:
                yield
                return
            self._unchanged()
            self._vouched = True
            try:
                yield
            finally:
                self._vouched = False

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # Whatever this write changes, nothing read before it is vouched for (``commit`` says
            # what is still true after its own write).
            self._seen, self._vouched = None, False
            turn = self.turn.take()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise self._not_written(exc) from None
            finally:
                if turn:
                    self.turn.give()

    def _not_written(self, exc: sqlite3.OperationalError) -> Exception:
        """A typed refusal to write, like the queue's own, instead of a driver error: another program
        that does not queue held SQLite's lock past busy_timeout, or this account may only read the
        file (a read-only copy still opens, see _upgrade).  Any other failure as it is."""
        code = exc.sqlite_errorcode & 0xFF
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StorageError(
                f"{self.url} is locked by another program (waited up to {self.turn.timeout:g} s); nothing was written"
            )
        if code == sqlite3.SQLITE_READONLY:
            return StorageError(f"{self.url} can only be read here (a read-only file or folder); nothing was written")
        return exc

    def _reading(self) -> threading.RLock:
        return self._lock

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read of several tables that sees one state of them (a read transaction, under the lock)."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def guards_missing(self) -> list[str]:
        """The guard triggers not in the database (someone with the file dropped them)."""
        with self._lock:
            have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return sorted(set(GUARDS) - have)

    def _schema_version(self) -> int:
        """The file's schema version; a newer one than this code knows is refused, read-only or not."""
        have = 0
        if self.db["meta"].exists():
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            have = int(row[0]) if row else 0
        if have > SCHEMA_VERSION:
            raise StorageError(
                f"{self.url} has schema version {have}; this renew_fsm knows up to {SCHEMA_VERSION} — upgrade it"
            )
        return have

    def _upgrade(self) -> None:
        # A current database is opened without writing, so a read-only copy (a backup handed to
        # an auditor, an account that may only read) can be verified and counted.
        have = self._schema_version()
        if have == SCHEMA_VERSION:
            return
        self._migrate()

    def _migrate(self) -> None:
        with self.write():
            have = self._schema_version()  # again, in the turn: another process may have migrated it
            for version in range(have, SCHEMA_VERSION):
                MIGRATIONS[version](self.db)
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('world_version', '0')")

    def close(self) -> None:
        self._release()

    def _release(self) -> None:
        """Let go of the file; also after a failed open, which may try again (``close`` is for good)."""
        with self._lock:
            if hasattr(self, "conn"):  # not when the file could not even be opened
                self.conn.close()
            self.turn.close()

    def _bump(self, c: sqlite3.Connection) -> None:
        c.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'world_version'")

    # -- settings and the world ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            if self._fresh() and key in self._meta:
                return self._meta[key]
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            value = self._meta[key] = row[0] if row else None
            return value

    def meta_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        # A range on the primary key, not LIKE: the prefix may hold % or _.
        with self._lock:
            rows = self.conn.execute(
                "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + "\U0010ffff")
            ).fetchall()
        return [(k, v) for k, v in rows]

    def changes(self, cycle: str, after: int, limit: int) -> list[tuple[int, Record]]:
        # The rowid: one writer at a time commits, so rowid order is commit order; history is never
        # deleted from, so a VACUUM keeps the rowids as they are.
        with self._lock:
            rows = self.conn.execute(
                f"SELECT rowid, {HISTORY} FROM history WHERE cycle = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                (cycle, after, limit),
            ).fetchall()
        return [(row[0], record_from_row(row[1:])) for row in rows]

    def delete_meta(self, keys: Sequence[str]) -> None:
        with self.write() as c:
            c.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in keys])

    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None:
        with self.write() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
            )
            if c.total_changes != before:
                self._log_rows(c, "exemption_reasons", [(cycle, rid) for rid in reasons])
            self._bump(c)

    # -- doctors and instances ------------------------------------------------------------------
    def _stored_doctors(self, c: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Doctor]:
        cols = DOCTORS
        old: dict[str, Doctor] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            rows = c.execute(f"SELECT {cols} FROM doctors WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            old.update((row[0], doctor_from_row(row)) for row in rows)
        return old

    def _add_instances(self, c: sqlite3.Connection, cycle: str, doctors: Sequence[Doctor]) -> None:
        cols, values = _fresh_instance(cycle)
        c.executemany(
            f"INSERT OR IGNORE INTO instances (doctor, {', '.join(cols)}, institution)"
            f" VALUES (?, {', '.join('?' * len(cols))}, ?)",
            [(d.id, *values, d.institution) for d in doctors],
        )

    def _insert_new(
        self, c: sqlite3.Connection, doctor_rows: list[Any], instance_rows: list[Any], records: Sequence[Record]
    ) -> None:
        c.executemany(INSERT_DOCTOR, doctor_rows)
        c.executemany(INSERT_INSTANCE, instance_rows)
        # Bound from plain tuples, never ``Record``s: ``sqlite3`` reads a tuple subclass's
        # parameters through ``__getitem__``, a Python-level call per column; copying is cheaper.
        c.executemany(INSERT_HISTORY, map(tuple, records))

    def doctors_with_id_cards(self, id_cards: Sequence[str]) -> dict[str, str]:
        cards = list(dict.fromkeys(id_cards))
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(cards), CHUNK):
                chunk = cards[start : start + CHUNK]
                sql = f"SELECT id_card, id FROM doctors WHERE id_card IN ({','.join('?' * len(chunk))})"
                found.update(self.conn.execute(sql, chunk).fetchall())
        return found

    def ensure_instances(self, cycle: str) -> int:
        cols, values = _fresh_instance(cycle)
        with self.write() as c:
            cur = c.execute(
                f"INSERT OR IGNORE INTO instances (doctor, {', '.join(cols)}, institution)"
                f" SELECT d.id, {', '.join('?' * len(cols))}, d.institution FROM doctors d",
                values,
            )
            return cur.rowcount

    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]:
        """The doctors' instances and registry rows; one doctor alone (an online request) is
        remembered, and read again only once the file has changed (``_unchanged``)."""
        if len(doctor_ids) == 1:
            return self._load_one(cycle, doctor_ids[0])
        out: dict[str, tuple[Instance, Doctor]] = {}
        ids = list(dict.fromkeys(doctor_ids))
        with self._lock:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                rows = self.conn.execute(
                    f"SELECT {SELECT_PAIR} FROM instances i JOIN doctors d ON d.id = i.doctor "
                    f"WHERE i.cycle = ? AND i.doctor IN ({','.join('?' * len(chunk))})",
                    [cycle, *chunk],
                )
                for row in rows:
                    out[row[0]] = (instance_from_row(row), doctor_from_row(row[PAIR_SPLIT:]))
        return out

    def _load_one(self, cycle: str, doctor: str) -> dict[str, tuple[Instance, Doctor]]:
        with self._lock:
            pair = self._pairs.get((cycle, doctor)) if self._fresh() else None
            if pair is None:
                row = self.conn.execute(LOAD_ONE, (cycle, doctor)).fetchone()
                if row is None:
                    return {}
                if len(self._pairs) >= PAIRS_REMEMBERED:
                    self._pairs.clear()
                    self._keyed.clear()
                pair = self._pairs[cycle, doctor] = (instance_from_row(row), doctor_from_row(row[PAIR_SPLIT:]))
            return {doctor: pair}

    def commit(self, updates: Sequence[tuple[int, Instance]], records: Sequence[Record]) -> None:
        seen = self._seen
        try:
            with self.write() as c:
                if len(updates) == 1 and len(records) == 1:  # an online fire: ``execute``, no iterators
                    expected, inst = updates[0]
                    cur = c.execute(UPDATE_INSTANCE, (*instance_row(inst)[2:], inst.cycle, inst.doctor, expected))
                    if cur.rowcount != 1:
                        raise ConflictError("an instance changed since it was read")
                    c.execute(INSERT_HISTORY, tuple(records[0]))
                else:
                    params = [(*instance_row(inst)[2:], inst.cycle, inst.doctor, ver) for ver, inst in updates]
                    if c.executemany(UPDATE_INSTANCE, params).rowcount != len(params):
                        raise ConflictError("an instance changed since it was read")
                    c.executemany(INSERT_HISTORY, map(tuple, records))  # plain tuples: see ``_insert_new``
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"history already has this record ({exc})") from None
        if len(updates) == 1 and seen is not None:
            self._remember_commit(updates[0][1], records)
            self._seen = seen

    def _remember_commit(self, inst: Instance, records: Sequence[Record]) -> None:
        """After ``commit`` of one instance: what was read before it still holds (another connection's
        commit meanwhile moved ``data_version`` past what was seen, so the next look notices it), and
        the instance and its keys are as written."""
        key = (inst.cycle, inst.doctor)
        pair = self._pairs.get(key)
        if pair is not None:
            self._pairs[key] = (inst, pair[1])
        keyed = self._keyed.get(key)
        if keyed is not None:
            for r in records:
                if r.doctor != inst.doctor:  # (records of a doctor it did not move: not ``commit``'s use)
                    self._keyed.clear()
                    return
                if r.idempotency_key is not None:
                    keyed[r.idempotency_key] = r

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None:
        """Read with the doctor's other keyed records, remembered like the doctor's instance: a
        client sending a key with every request has it checked without a read."""
        with self._lock:
            keyed = self._keyed.get((cycle, doctor_id)) if self._fresh() else None
            if keyed is None:
                rows = self.conn.execute(KEYED_RECORDS, (cycle, doctor_id)).fetchall()
                keyed = {row[-1]: record_from_row(row) for row in rows}
                if len(self._keyed) >= PAIRS_REMEMBERED:
                    self._keyed.clear()
                self._keyed[cycle, doctor_id] = keyed
            return keyed.get(key)

    def all_history(self, cycle: str) -> Iterable[Record]:
        conn = (
            sqlite3.connect(self._target, check_same_thread=False, uri=self._uri)
            if not self.where.in_memory
            else self.conn
        )
        try:
            cur = conn.execute(ALL_HISTORY, (cycle,))
            for row in cur:
                yield record_from_row(row)
        finally:
            if conn is not self.conn:
                conn.close()

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count) over the cycle: what statistics add up.

        One pass over the table counted in Python: SQLite's GROUP BY sorts every row
        first, which takes longer than counting them.
        """
        with self._scanning():
            rows = self.conn.execute(
                "SELECT institution, state, program, reason FROM instances NOT INDEXED WHERE cycle = ?", (cycle,)
            )
            counts = Counter(rows)
        return [(*key, n) for key, n in counts.items()]

    def checkpoint(self) -> None:
        """A passive checkpoint: it copies the committed log back while writers go on appending, and
        leaves the turn to them.  The one a commit makes every ``CHECKPOINT_PAGES`` pages, inside
        its writer's turn, then finds little left to copy, and that writer waits less for the disk."""
        with self._lock:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    @contextmanager
    def _scanning(self) -> Iterator[None]:
        """A one-pass read over a whole table would fill the page cache with pages it never reads again."""
        with self._lock:
            self.conn.execute(f"PRAGMA cache_size = {SCAN_CACHE_KIB}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA cache_size = {CACHE_KIB}")

    def _queue_page(self, ask: QueueAsk) -> list[tuple[Instance, Doctor]]:
        """Two ways to find the page, chosen per call by which reads fewer rows
        (``planner``): walk the jurisdiction's doctors along ``doctors
        (institution)`` (a hospital, a county), or walk each to-do state along
        ``instances (cycle, state, doctor)`` and keep the jurisdiction's rows (a
        city, an agency of a whole city, the province).  Either walk reads index
        entries and doctor ids only; the page's full rows are loaded once at
        the end.
        """
        cycle, institutions, doctor, after, limit = ask.cycle, ask.institutions, ask.doctor, ask.after, ask.limit
        clauses = ask.clauses
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = {}
        for state, need, forbid in clauses:
            by_state.setdefault(state, []).append((need, forbid))
        with self._lock:
            if doctor is not None:
                ids = [doctor] if after is None or doctor > after else []
                found = self.load(cycle, ids)
                rows = [found[d] for d in ids if d in found]
                return [(i, d) for i, d in rows if planner.wanted(i, by_state)]
            if institutions is not None and planner.jurisdiction_is_smaller(
                self.conn, cycle, by_state, institutions, limit
            ):
                ids = planner.queue_by_doctors(self.conn, cycle, by_state, institutions, after, limit)
            else:
                ids = planner.queue_by_states(self.conn, cycle, by_state, institutions, after, limit)
            found = self.load(cycle, ids)
        return [found[d] for d in ids if d in found]
