"""One simulation writes to a store at a time, and its worker processes hold the store with it.

A second ``renew-fsm simulate`` on a store another one is still writing to (a
``--resume`` started in another terminal, or while the workers of a run whose
parent was killed are still committing) read where the run stood, then wrote
the same doctors again: ``ConflictError … UNIQUE constraint failed`` and a
traceback.  So a run holds the store for its whole length, and the second is
refused before it writes anything (``hold`` raises ``Busy``).

SQLite: an ``flock`` on ``<file>-run`` beside the database, as the writers'
turns are held on ``<file>-writer`` (``storage.sqlite_lock.WriterTurn``) — but for
the whole run, not one transaction.  The workers are forked with the open file,
and an ``flock`` belongs to the open file, not to the process: it stays held
until the last process holding it exits, however it exits.  PostgreSQL: a
session advisory lock, shared by the run and each worker on its own
connection; a newcomer asks for it exclusively, which it gets only when none of
them is left (the server lets go of a session's locks when the session ends,
after its last commit).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; nothing keeps two runs apart there but SQLite's own lock
    fcntl = None  # type: ignore[assignment]

#: The advisory lock's key: one per database and schema, so runs in two schemas of one server don't meet.
_PG_KEY = "hashtext('renew_fsm simulation ' || current_schema())"
#: Tries to lock a lock file that was unlinked between opening and locking it (its holder finished).
_TRIES = 5


class Busy(Exception):
    """Another simulation (or its workers) is still writing to the store; nothing was written."""


class _FileLock:
    """The SQLite store's run lock: ``flock`` on ``<file>-run``, holding the runner's process id."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}-run"
        self.fd: int | None = None

    def take(self) -> bool:
        """Whether the lock is ours now (also when the lock file cannot be made: then nothing is held)."""
        if fcntl is None:
            return True
        for _ in range(_TRIES):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                return True  # a folder this account cannot write to: it cannot write the store either
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # A holder unlinks the file before letting go of it: a lock taken on an unlinked file
            # keeps nobody out, so it is taken again on the file now at the path.
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    os.ftruncate(fd, 0)
                    os.write(fd, str(os.getpid()).encode())
                    self.fd = fd
                    return True
            os.close(fd)
        return False

    def holder(self) -> str:
        with contextlib.suppress(OSError, ValueError), open(self.path, encoding="ascii") as f:
            return f"started by process {int(f.read().strip())}"
        return "another process"

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


class _AdvisoryLock:
    """The PostgreSQL store's run lock: a shared advisory lock, taken only when nobody holds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    def take(self) -> bool:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True)
        except psycopg.Error:
            return True  # opening the store says what is wrong with the URL or the server
        try:
            if not conn.execute(f"SELECT pg_try_advisory_lock({_PG_KEY})").fetchone()[0]:
                conn.close()
                return False
            # Held shared from here on, as the workers hold it: a newcomer's exclusive try fails
            # while any of us is left.
            conn.execute(f"SELECT pg_try_advisory_lock_shared({_PG_KEY})")
            conn.execute(f"SELECT pg_advisory_unlock({_PG_KEY})")
        except psycopg.Error:
            conn.close()
            return True  # a schema that does not exist yet, say: opening the store says so
        self.conn = conn
        return True

    def holder(self) -> str:
        return "another session of this database"

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _lock_for(url: str) -> tuple[str, _FileLock | _AdvisoryLock] | None:
    """The run lock of the store at ``url`` and its key in this process; None in memory (nobody else sees it)."""
    from ..storage.url import StoreURL

    where = StoreURL.parse(url)
    if where.kind == "postgres":
        return url, _AdvisoryLock(url)
    path = where.path
    if path is None:
        return None
    real = os.path.realpath(path)
    return real, _FileLock(real)


#: Locks this process holds, by store, with how many ``hold`` blocks hold each: the command line
#: takes it before deleting or opening the store, and ``simulate`` inside it takes it again.
_HELD: dict[str, list[Any]] = {}


@contextlib.contextmanager
def hold(url: str) -> Iterator[None]:
    """The store at ``url`` for this run alone, until the block ends; ``Busy`` if another run has it."""
    found = _lock_for(str(url))
    if found is None:
        yield
        return
    key, lock = found
    if key in _HELD:
        _HELD[key][1] += 1
    else:
        if not lock.take():
            raise Busy(
                f"another simulation is still writing to {url} ({lock.holder()}): nothing was written; "
                "let it finish or stop it, then run this again (--resume continues a stopped run)"
            )
        _HELD[key] = [lock, 1]
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if not _HELD[key][1]:
            _HELD.pop(key)[0].release()


def share_in_worker(url: str) -> Any:
    """In a worker process: hold the run's PostgreSQL lock on a connection of its own (what to keep open).

    SQLite needs nothing: the worker was forked holding the lock file.  A worker's own session keeps
    a newcomer out until the server has finished the worker's last commit, even if the worker
    outlives its parent by a page.
    """
    from ..storage.url import StoreURL

    if StoreURL.parse(str(url)).kind != "postgres":
        return None
    import psycopg

    try:
        conn = psycopg.connect(str(url), autocommit=True)
    except psycopg.Error:
        return None  # the worker's own connection to the store fails next, and says why
    # Never waits: only a newcomer's exclusive try could stand in the way, and the parent's shared
    # hold keeps every newcomer from getting it.
    conn.execute(f"SELECT pg_try_advisory_lock_shared({_PG_KEY})")
    return conn
