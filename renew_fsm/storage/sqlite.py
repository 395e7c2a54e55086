"""The embedded default: one SQLite file (WAL), schema by sqlite-utils, hot writes by ``executemany``.

Every write runs in ``BEGIN IMMEDIATE`` so two processes on one file take
turns (queued on a lock file beside the database, see ``WriterTurn``); the
version check in the ``UPDATE`` turns a lost race into ``ConflictError``.
sqlite-utils creates and migrates the schema; the hot path uses raw
``sqlite3`` statements, which are 2–3× faster than its inserts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.request import pathname2url

import sqlite_utils

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
    same_doctor,
    scan_keyset,
)
from .registry import row_digest
from .sqlite_cases import INSERT_HISTORY, UPDATE_INSTANCE, SQLiteCases, migrate_2, migrate_6
from .url import StoreURL

try:
    import fcntl
except ImportError:  # Windows: no flock; writers wait in SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

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
#: Page cache of a connection, in KiB (negative: SQLite's unit for "KiB, not pages").  16 MiB
#: writes a 200,000-doctor simulation as fast as 32 MiB did (36.1–36.8 s against 36.8–37.0 s)
#: for 16 MB less per process; the file's pages stay in the OS cache either way.
CACHE_KIB = -16384
#: Log pages after which a commit copies the write-ahead log back into the database (SQLite: 1,000).
#: The copy runs inside COMMIT, so the writers queued behind it wait: at 1,000 pages one online
#: fire in 200 did (two clients' p99 4.5 ms); at 10,000 one in 2,000 (p99 0.4 ms), and a bulk
#: simulation goes as fast.  It must stay inside the turn: copied while the next writer
#: appended, the log never started again from the top and grew without end (0.7 GB five
#: minutes into a million-doctor simulation).
CHECKPOINT_PAGES = 10_000
#: A queued writer's first and longest pause between tries for its turn, in seconds.  Two online
#: clients (a fire holds the turn ~0.05 ms): p99 0.7 ms, where a blocking flock gave 0.2 ms but no
#: deadline; four: 1.9 ms against 4.3 ms.
FIRST_PAUSE, LONGEST_PAUSE = 20e-6, 1e-4
#: After this long a wait is a long one (a simulator's batch, an import): the pauses go on doubling
#: up to ``LONG_WAIT_PAUSE``, at most that late for a turn held that long, where waking every 0.1 ms
#: cost the waiter 12 % of a core.
LONG_WAIT, LONG_WAIT_PAUSE = 0.01, 0.002
#: A writer kept waiting this long says so once, on the ``renew_fsm.storage`` logger (INFO): a
#: ``replay`` started beside a running ``simulate`` otherwise sat silent for up to 30 s.
NOTICE_AFTER = 1.0
log = logging.getLogger("renew_fsm.storage")
#: While reading a whole table once (statistics, counts) the cache is of no use: keep it small.
SCAN_CACHE_KIB = -8192
_INSTANCE_TYPES: dict[str, Any] = {
    "version": int,
    "humanities_attempts": int,
    "business_attempts": int,
    "reexam_attempts": int,
    "suspension_months": int,
    "humanities_best": float,
    "business_best": float,
    "reexam_best": float,
}
_SELECT = ", ".join([*(f"i.{c}" for c in INSTANCE_COLUMNS), *(f"d.{c}" for c in DOCTOR_COLUMNS)])
_N = len(INSTANCE_COLUMNS)


def _migrate_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["regions"].create({"id": str, "level": str, "name": str, "parent": str}, pk="id", if_not_exists=True)
    db["institutions"].create({"id": str, "region": str, "name": str, "kind": str}, pk="id", if_not_exists=True)
    db["agencies"].create({"id": str, "region": str, "name": str}, pk="id", if_not_exists=True)
    db["assignments"].create({"agency": str, "institution": str}, pk=("agency", "institution"), if_not_exists=True)
    db["policies"].create(
        {"id": str, "version": str, "text": str, "loaded_at": str}, pk=("id", "version"), if_not_exists=True
    )
    db["exemption_reasons"].create(
        {"cycle": str, "id": str, "text": str, "open": int}, pk=("cycle", "id"), if_not_exists=True
    )
    db["doctors"].create({c: str for c in V1_DOCTOR_COLUMNS}, pk="id", if_not_exists=True)
    db["doctors"].create_index(["institution"], if_not_exists=True)
    db["instances"].create(
        {c: _INSTANCE_TYPES.get(c, str) for c in V1_INSTANCE_COLUMNS},
        pk=("cycle", "doctor"),
        not_null=["cycle", "doctor", "state", "version"],
        if_not_exists=True,
    )
    db["instances"].create_index(["cycle", "state", "doctor"], if_not_exists=True)
    db["history"].create(
        {c: (int if c == "seq" else str) for c in V1_HISTORY_COLUMNS},
        not_null=["cycle", "doctor", "seq", "event", "hash"],
        if_not_exists=True,
    )
    db["history"].create_index(["cycle", "doctor", "seq"], unique=True, if_not_exists=True)
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_idempotency ON history (cycle, doctor, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )


def _migrate_3(db: sqlite_utils.Database) -> None:
    """Each instance carries its doctor's institution, so the statistics need no join.

    No index on it: every event would pay to move an entry, and the statistics
    read the whole cycle anyway (see ``tally``).
    """
    if "institution" not in db["instances"].columns_dict:
        db.execute("ALTER TABLE instances ADD COLUMN institution TEXT")
    db.execute("UPDATE instances SET institution = (SELECT d.institution FROM doctors d WHERE d.id = instances.doctor)")


def _migrate_4(db: sqlite_utils.Database) -> None:
    """Nothing: schema 4 makes PostgreSQL compare ids by code point, as SQLite's BINARY collation
    always has.  The step is here because the version number is shared: a file says 4 like a
    PostgreSQL store of the same release."""


def _migrate_5(db: sqlite_utils.Database) -> None:
    """The doctors' optional registry fields (empty for the doctors already stored), and an index on
    the id-card number: one person is one registry entry, checked on every doctor added."""
    have = db["doctors"].columns_dict
    for column in V5_DOCTOR_COLUMNS:
        if column not in have:
            db.execute(f"ALTER TABLE doctors ADD COLUMN {column} TEXT")
    db["doctors"].create_index(["id_card"], if_not_exists=True)


#: The schema version since which a SQLite file has not changed (6 added the registry log and the
#: guard triggers, which a read-only copy from before cannot be given).
SAME_FILE_SINCE = 6
#: Schema upgrades, applied in order on open; the position is the version it brings the file to.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_1,
    migrate_2,
    _migrate_3,
    _migrate_4,
    _migrate_5,
    migrate_6,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


INSERT_DOCTOR = f"INSERT INTO doctors ({', '.join(DOCTOR_COLUMNS)}) VALUES ({', '.join('?' * len(DOCTOR_COLUMNS))})"
INSERT_INSTANCE = (
    f"INSERT INTO instances ({', '.join(INSTANCE_COLUMNS)}, institution) "
    f"VALUES ({', '.join('?' * (len(INSTANCE_COLUMNS) + 1))})"
)


def _fresh_instance(cycle: str) -> tuple[list[str], list[Any]]:
    """The columns of a new instance that are not NULL, and their values (the doctor's id aside).

    The others are left out of the insert: the ``sqlite3`` module binds a ``None`` through its
    adapter lookup, five times the cost of an int (0.26 against 0.05 µs), and a new instance is
    mostly NULL — 100,000 instances inserted in 1.0–1.1 s with every column, 0.4–0.55 s without.
    """
    row = zip(INSTANCE_COLUMNS, instance_row(Instance("", cycle)), strict=True)
    pairs = [(col, value) for col, value in row if value is not None and col != "doctor"]
    return [col for col, _ in pairs], [value for _, value in pairs]


class WriterTurn:
    """Writers of one database file queue here, across processes: an ``flock`` on ``<file>-writer``.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15 … ms between tries, so a
    writer that loses a race sleeps on long after the lock is free: the p99 of
    one ``fire`` was 3.5 ms with two online clients, for 0.1 ms of writing.
    Here a waiting writer tries again after 20 µs, then twice as long each time
    up to ``LONGEST_PAUSE`` (0.1 ms), so it is never much later than the turn is
    free; once it has waited ``LONG_WAIT`` the pauses grow to 2 ms.
    SQLite's lock stays the guarantee: a program that does not queue here, or a
    directory where the file cannot be made, leaves only ``busy_timeout``.

    The wait is bounded by ``timeout``, as SQLite's is: a writer stopped inside
    its turn (in a debugger, by ``SIGSTOP``) makes the others give up with
    ``StorageError`` instead of hanging them.  The kernel frees the turn when
    its holder exits, however it exits.
    """

    def __init__(self, database: str | None, timeout: float = 30.0) -> None:
        """``database`` None (in memory): no file, no queue."""
        self.fd: int | None = None
        self.timeout = timeout
        self.database = database
        if fcntl is None or database is None:
            return
        # Read-only is enough for flock, so every account that can read the file can queue; in a
        # directory this account cannot write to there is no queue, as before.
        with suppress(OSError):
            self.fd = os.open(f"{database}-writer", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def take(self) -> bool:
        """Wait for the turn; whether there is a turn to take (no lock file: no).

        A blocking ``flock`` cannot be given a deadline (only a signal ends it,
        and Python takes signals in the main thread alone; a helper thread
        blocking for us put two clients' p99 at 2.2 ms), so the wait is a poll.
        """
        if self.fd is None:
            return False
        pause, started, told = FIRST_PAUSE, None, False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            now = time.monotonic()
            if started is None:
                started = now
            elif now - started >= self.timeout:
                raise StorageError(
                    f"another writer has held the database for more than {self.timeout:g} s "
                    "(a process stopped inside a write?); nothing was written"
                )
            elif not told and now - started >= NOTICE_AFTER:
                told = True
                log.info("waiting for another writer of %s to finish (up to %g s)…", self.database, self.timeout)
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE if now - started < LONG_WAIT else LONG_WAIT_PAUSE)

    def give(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


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
class SQLiteStorage(SQLiteCases):
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
        self._turn = WriterTurn(None, timeout)
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
            self._turn = WriterTurn(target, timeout)
            if self._turn.fd is not None:
                c.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
        self.db = sqlite_utils.Database(c)
        self._upgrade()

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            turn = self._turn.take()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # A typed refusal to write, like the queue's own, not a driver error: another
                # program that does not queue held SQLite's lock past busy_timeout, or this
                # account may only read the file (a read-only copy still opens, see _upgrade).
                code = exc.sqlite_errorcode & 0xFF
                if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise StorageError(
                        f"{self.url} is locked by another program (waited up to {self._turn.timeout:g} s); "
                        "nothing was written"
                    ) from None
                if code == sqlite3.SQLITE_READONLY:
                    raise StorageError(
                        f"{self.url} can only be read here (a read-only file or folder); nothing was written"
                    ) from None
                raise
            finally:
                if turn:
                    self._turn.give()

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
        with self._write():
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
            self._turn.close()

    def _bump(self, c: sqlite3.Connection) -> None:
        c.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'world_version'")

    # -- settings and the world ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

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
                f"SELECT rowid, {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = ? AND rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (cycle, after, limit),
            ).fetchall()
        return [(row[0], record_from_row(row[1:])) for row in rows]

    def delete_meta(self, keys: Sequence[str]) -> None:
        with self._write() as c:
            c.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in keys])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def world_version(self) -> int:
        return int(self.get_meta("world_version") or 0)

    def load_world(self, cycle: str | None) -> WorldRows:
        with self._lock:
            c = self.conn
            c.execute("BEGIN")
            try:
                version = int(c.execute("SELECT value FROM meta WHERE key = 'world_version'").fetchone()[0])
                regions = [Region(*r) for r in c.execute("SELECT id, level, name, parent FROM regions")]
                institutions = [Institution(*r) for r in c.execute("SELECT id, region, name, kind FROM institutions")]
                assigned: dict[str, set[str]] = {}
                for agency, inst in c.execute("SELECT agency, institution FROM assignments"):
                    assigned.setdefault(agency, set()).add(inst)
                agencies = [
                    Agency(aid, region, name, frozenset(assigned.get(aid, ())))
                    for aid, region, name in c.execute("SELECT id, region, name FROM agencies")
                ]
                text = None
                row = c.execute("SELECT value FROM meta WHERE key = 'policy'").fetchone()
                if row:
                    pid, pver = row[0].split("@", 1)
                    text = self.policy_text(pid, pver)
                reasons = {
                    rid: ExemptionReason(rtext, bool(ropen))
                    for rid, rtext, ropen in c.execute(
                        "SELECT id, text, open FROM exemption_reasons WHERE cycle = ? ORDER BY id", (cycle or "",)
                    )
                }
            finally:
                c.execute("COMMIT")
        return WorldRows(version, regions, institutions, agencies, text, reasons)

    def put_region(self, region: Region) -> None:
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO regions (id, level, name, parent) VALUES (?, ?, ?, ?)",
                (region.id, region.level, region.name, region.parent),
            )
            self._log_rows(c, "regions", [(region.id,)])
            self._bump(c)

    def put_institution(self, institution: Institution) -> None:
        i = institution
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO institutions (id, region, name, kind) VALUES (?, ?, ?, ?)",
                (i.id, i.region, i.name, i.kind),
            )
            self._log_rows(c, "institutions", [(i.id,)])
            self._bump(c)

    def put_agency(self, agency: Agency) -> None:
        a = agency
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO agencies (id, region, name) VALUES (?, ?, ?)", (a.id, a.region, a.name))
            held = [r[0] for r in c.execute("SELECT institution FROM assignments WHERE agency = ?", (a.id,))]
            c.execute("DELETE FROM assignments WHERE agency = ?", (a.id,))
            c.executemany(
                "INSERT INTO assignments (agency, institution) VALUES (?, ?)",
                [(a.id, inst) for inst in sorted(a.institutions)],
            )
            self._log_rows(c, "agencies", [(a.id,)])
            self._log_rows(c, "assignments", [(a.id, inst) for inst in sorted({*held, *a.institutions})])
            self._bump(c)

    def put_policy(self, policy_id: str, version: str, text: str) -> None:
        with self._write() as c:
            # The first text stays: records already judged under this id and version name its SHA-256
            # (the engine refuses other rules under a stored name; a re-worded copy changes nothing).
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
            self._bump(c)

    def policy_text(self, policy_id: str, version: str) -> str | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT text FROM policies WHERE id = ? AND version = ?", (policy_id, version)
            ).fetchone()
        return row[0] if row else None

    def put_exemption_reason(self, cycle: str, reason_id: str, reason: ExemptionReason) -> None:
        with self._write() as c:
            c.execute(
                "INSERT OR REPLACE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                (cycle, reason_id, reason.text, int(reason.open)),
            )
            self._log_rows(c, "exemption_reasons", [(cycle, reason_id)])
            self._bump(c)

    def seed_exemption_reasons(self, cycle: str, reasons: dict[str, ExemptionReason]) -> None:
        with self._write() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO exemption_reasons (cycle, id, text, open) VALUES (?, ?, ?, ?)",
                [(cycle, rid, r.text, int(r.open)) for rid, r in reasons.items()],
            )
            if c.total_changes != before:
                self._log_rows(c, "exemption_reasons", [(cycle, rid) for rid in reasons])
            self._bump(c)

    # -- doctors and instances ------------------------------------------------------------------
    def put_doctors(self, doctors: Sequence[Doctor], cycle: str | None) -> list[str]:
        check_doctor_batch(doctors)
        present: list[str] = []
        with self._write() as c:
            for start in range(0, len(doctors), CHUNK):
                chunk = doctors[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                cols = ", ".join(DOCTOR_COLUMNS)
                old = {
                    row[0]: doctor_from_row(row)
                    for row in c.execute(f"SELECT {cols} FROM doctors WHERE id IN ({marks})", [d.id for d in chunk])
                }
                for doc in chunk:
                    if doc.id in old:
                        if not same_doctor(old[doc.id], doc):
                            raise ConflictError(f"doctor {doc.id!r} already exists with other details")
                        present.append(doc.id)
            rows = [doctor_row(d) for d in doctors]
            c.executemany(INSERT_DOCTOR.replace("INSERT", "INSERT OR IGNORE", 1), rows)
            self._log(c, "doctors", doctor_digests(r for r in rows if r[0] not in present))
            if cycle:
                cols, values = _fresh_instance(cycle)
                c.executemany(
                    f"INSERT OR IGNORE INTO instances (doctor, {', '.join(cols)}, institution)"
                    f" VALUES (?, {', '.join('?' * len(cols))}, ?)",
                    [(d.id, *values, d.institution) for d in doctors],
                )
        return present

    def put_new_doctors(
        self, doctors: Sequence[Doctor], instances: Sequence[Instance], records: Sequence[Record]
    ) -> None:
        doctor_rows, instance_rows = new_doctor_rows(doctors, instances, records)
        try:
            with self._write() as c:
                c.executemany(INSERT_DOCTOR, doctor_rows)
                c.executemany(INSERT_INSTANCE, instance_rows)
                c.executemany(INSERT_HISTORY, map(tuple, records))
                # One registry entry for the batch, not one per doctor: the bulk path's only extra row.
                self._log(c, "doctors", doctor_digests(doctor_rows))
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"a new doctor, instance or record is already stored ({exc})") from None

    def get_doctor(self, doctor_id: str) -> Doctor | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {', '.join(DOCTOR_COLUMNS)} FROM doctors WHERE id = ?", (doctor_id,)
            ).fetchone()
        return doctor_from_row(row) if row else None

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
        with self._write() as c:
            cur = c.execute(
                f"INSERT OR IGNORE INTO instances (doctor, {', '.join(cols)}, institution)"
                f" SELECT d.id, {', '.join('?' * len(cols))}, d.institution FROM doctors d",
                values,
            )
            return cur.rowcount

    def load(self, cycle: str, doctor_ids: Sequence[str]) -> dict[str, tuple[Instance, Doctor]]:
        out: dict[str, tuple[Instance, Doctor]] = {}
        ids = list(dict.fromkeys(doctor_ids))
        with self._lock:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                rows = self.conn.execute(
                    f"SELECT {_SELECT} FROM instances i JOIN doctors d ON d.id = i.doctor "
                    f"WHERE i.cycle = ? AND i.doctor IN ({','.join('?' * len(chunk))})",
                    [cycle, *chunk],
                )
                for row in rows:
                    out[row[0]] = (instance_from_row(row), doctor_from_row(row[_N:]))
        return out

    def commit(self, updates: Sequence[tuple[int, Instance]], records: Sequence[Record]) -> None:
        params = [(*instance_row(inst)[2:], inst.cycle, inst.doctor, expected) for expected, inst in updates]
        try:
            with self._write() as c:
                cur = c.executemany(UPDATE_INSTANCE, params)
                if cur.rowcount != len(params):
                    raise ConflictError("an instance changed since it was read")
                c.executemany(INSERT_HISTORY, map(tuple, records))
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"history already has this record ({exc})") from None

    def history(self, cycle: str, doctor_id: str) -> list[Record]:
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = ? AND doctor = ? ORDER BY seq",
                (cycle, doctor_id),
            ).fetchall()
        return [record_from_row(r) for r in rows]

    def instance_ids(self, cycle: str) -> list[str]:
        with self._lock:
            return [
                r[0]
                for r in self.conn.execute("SELECT doctor FROM instances WHERE cycle = ? ORDER BY doctor", (cycle,))
            ]

    def scan(
        self, cycle: str, states: Sequence[str] | None, after: str | None, limit: int, until: str | None = None
    ) -> list[tuple[Instance, Doctor]]:
        """One query per state, each an ordered walk of the (cycle, state, doctor) index.

        ``state IN (…) ORDER BY doctor`` would sort every matching row for each
        page, which makes a paged walk of a million doctors quadratic.
        """
        base = f"SELECT {_SELECT} FROM instances i JOIN doctors d ON d.id = i.doctor WHERE i.cycle = ?"
        keyset, tail = scan_keyset(after, until, "?")
        rows: list[Any] = []
        with self._lock:
            if states is None:
                sql = f"{base}{keyset} ORDER BY i.doctor LIMIT ?"
                rows = self.conn.execute(sql, [cycle, *tail, limit]).fetchall()
            else:
                states = list(dict.fromkeys(states))
                if len(states) > 1:
                    ids = (
                        f"SELECT i.doctor FROM instances i WHERE i.cycle = ? AND i.state = ?{keyset}"
                        " ORDER BY i.doctor LIMIT ?"
                    )
                    walks = [self.conn.execute(ids, [cycle, s, *tail, limit]).fetchall() for s in states]
                    bound = page_end(walks, limit)
                    if bound is not None:
                        keyset, tail = scan_keyset(after, bound, "?")
                sql = f"{base} AND i.state = ?{keyset} ORDER BY i.doctor LIMIT ?"
                for state in states:
                    rows += self.conn.execute(sql, [cycle, state, *tail, limit]).fetchall()
                if len(states) > 1:
                    rows.sort(key=lambda r: r[0])
                    del rows[limit:]  # another writer may have moved a doctor in between
        return [(instance_from_row(r), doctor_from_row(r[_N:])) for r in rows]

    def find_idempotent(self, cycle: str, doctor_id: str, key: str) -> Record | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history "
                "WHERE cycle = ? AND doctor = ? AND idempotency_key = ?",
                (cycle, doctor_id, key),
            ).fetchone()
        return record_from_row(row) if row else None

    def all_history(self, cycle: str) -> Iterable[Record]:
        conn = (
            sqlite3.connect(self._target, check_same_thread=False, uri=self._uri)
            if not self.where.in_memory
            else self.conn
        )
        try:
            cur = conn.execute(
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE cycle = ? ORDER BY doctor, seq", (cycle,)
            )
            for row in cur:
                yield record_from_row(row)
        finally:
            if conn is not self.conn:
                conn.close()

    def cycles(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT DISTINCT cycle FROM instances ORDER BY cycle")]

    def tally(self, cycle: str) -> list[tuple[str, str, str | None, str | None, int]]:
        """(institution, state, program, reason, count) over the cycle: what statistics add up.

        One pass over the table counted in Python: SQLite's GROUP BY sorts every row
        first, which takes longer than counting them (2 s against 1.3 s at a million).
        """
        with self._scanning():
            rows = self.conn.execute(
                "SELECT institution, state, program, reason FROM instances NOT INDEXED WHERE cycle = ?", (cycle,)
            )
            counts = Counter(rows)
        return [(*key, n) for key, n in counts.items()]

    def count_history(self, cycle: str) -> int:
        with self._scanning():
            return self.conn.execute("SELECT count(*) FROM history WHERE cycle = ?", (cycle,)).fetchone()[0]

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

        Two ways to find the page, chosen per call by which reads fewer rows:
        walk the jurisdiction's doctors along ``doctors (institution)`` (a
        hospital, a county), or walk each to-do state along ``instances
        (cycle, state, doctor)`` and keep the jurisdiction's rows (a city, an
        agency of a whole city, the province).  Either walk reads index
        entries and doctor ids only; the page's full rows are loaded once at
        the end.
        """
        if not clauses:
            return []
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = {}
        for state, need, forbid in clauses:
            by_state.setdefault(state, []).append((need, forbid))
        with self._lock:
            if doctor is not None:
                ids = [doctor] if after is None or doctor > after else []
                found = self.load(cycle, ids)
                rows = [found[d] for d in ids if d in found]
                return [(i, d) for i, d in rows if _wanted(i, by_state)]
            if institutions is not None and self._jurisdiction_is_smaller(cycle, by_state, institutions, limit):
                ids = self._queue_by_doctors(cycle, by_state, institutions, after, limit)
            else:
                ids = self._queue_by_states(cycle, by_state, institutions, after, limit)
            found = self.load(cycle, ids)
        return [found[d] for d in ids if d in found]

    def _jurisdiction_is_smaller(
        self,
        cycle: str,
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]],
        institutions: Sequence[str],
        limit: int,
    ) -> bool:
        """Whether walking the jurisdiction's doctors reads fewer rows than walking the to-do states.

        The first reads every doctor of the jurisdiction (``doctors``); the
        second, per state, reads until ``limit`` rows of the jurisdiction turn
        up — about ``limit × all doctors / doctors`` if they are spread evenly —
        or the state runs out.  Counts stop at ``QUEUE_COUNT_CAP``; the number
        of doctors is read off the rowid, which costs nothing.
        """
        cap = QUEUE_COUNT_CAP
        marks = ",".join("?" * len(institutions))
        doctors = self.conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM doctors WHERE institution IN ({marks}) LIMIT ?)", [*institutions, cap]
        ).fetchone()[0]
        if doctors >= cap:
            return False
        everyone = self.conn.execute("SELECT max(rowid) FROM doctors").fetchone()[0] or 1
        per_state = limit * everyone / max(doctors, 1)
        walk = 0.0
        for state in by_state:
            waiting = self.conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM instances WHERE cycle = ? AND state = ? LIMIT ?)",
                (cycle, state, cap),
            ).fetchone()[0]
            walk += min(waiting, per_state)
            if walk > doctors:
                return True
        return False

    def _queue_by_doctors(
        self,
        cycle: str,
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]],
        institutions: Sequence[str],
        after: str | None,
        limit: int,
    ) -> list[str]:
        # ``+i.state``: look each doctor's instance up once by its key, not once per to-do state.
        where, params = _clause_sql(by_state, "+i.state")
        marks = ",".join("?" * len(institutions))
        # The unary + stops SQLite from carrying ``id > ?`` over to instances as a range, which it then
        # prefers to the ``doctor = d.id`` equality: one range scan per doctor (seconds, not milliseconds).
        keyset = " AND +d.id > ?" if after is not None else ""
        # CROSS JOIN keeps the doctors of the jurisdiction as the outer loop.
        sql = (
            "SELECT d.id FROM doctors d CROSS JOIN instances i "
            f"WHERE d.institution IN ({marks}){keyset} AND i.cycle = ? AND i.doctor = d.id AND ({where}) "
            "ORDER BY d.id LIMIT ?"
        )
        args = [*institutions, *([after] if after is not None else []), cycle, *params, limit]
        return [r[0] for r in self.conn.execute(sql, args)]

    def _queue_by_states(
        self,
        cycle: str,
        by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]],
        institutions: Sequence[str] | None,
        after: str | None,
        limit: int,
    ) -> list[str]:
        keyset = " AND i.doctor > ?" if after is not None else ""
        inside = ""
        if institutions is not None:
            # The unary + keeps SQLite walking the state index instead of the institution one.
            inside = f" AND +d.institution IN ({','.join('?' * len(institutions))})"
        ids: list[str] = []
        for state, options in by_state.items():
            where, params = _clause_sql({state: options})
            sql = (
                "SELECT i.doctor FROM instances i CROSS JOIN doctors d "
                f"WHERE i.cycle = ? AND i.state = ?{keyset} AND d.id = i.doctor AND ({where}){inside} "
                "ORDER BY i.doctor LIMIT ?"
            )
            args = [cycle, state, *([after] if after is not None else []), *params, *(institutions or ()), limit]
            ids += [r[0] for r in self.conn.execute(sql, args)]
        return sorted(ids)[:limit]

    def put_institutions(self, institutions: Sequence[Institution]) -> None:
        """Insert or replace many institutions in one transaction (a CSV import: all or nothing)."""
        with self._write() as c:
            c.executemany(
                "INSERT OR REPLACE INTO institutions (id, region, name, kind) VALUES (?, ?, ?, ?)",
                [(i.id, i.region, i.name, i.kind) for i in institutions],
            )
            # Digests of the rows as written, not read back: a nation's import writes 80,000 at once.
            rows = ({"id": i.id, "region": i.region, "name": i.name, "kind": i.kind} for i in institutions)
            self._log(c, "institutions", {row["id"]: row_digest(row) for row in rows})
            self._bump(c)


#: How far the work queue counts a jurisdiction or a state before calling it "large".
QUEUE_COUNT_CAP = 5000


def _clause_sql(
    by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]], column: str = "i.state"
) -> tuple[str, list[Any]]:
    """``(state = ? AND flag tests) OR …`` for the work queue; flags are stored comma-joined."""
    parts: list[str] = []
    params: list[Any] = []
    for state, options in by_state.items():
        for need, forbid in options:
            tests = [f"{column} = ?"]
            params.append(state)
            for flag in sorted(need):
                tests.append("instr(',' || coalesce(i.flags, '') || ',', ?) > 0")
                params.append(f",{flag},")
            for flag in sorted(forbid):
                tests.append("instr(',' || coalesce(i.flags, '') || ',', ?) = 0")
                params.append(f",{flag},")
            parts.append("(" + " AND ".join(tests) + ")")
    return " OR ".join(parts), params


def _wanted(inst: Instance, by_state: dict[str, list[tuple[frozenset[str], frozenset[str]]]]) -> bool:
    return any(need <= inst.flags and not (forbid & inst.flags) for need, forbid in by_state.get(inst.state, ()))
