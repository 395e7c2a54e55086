"""The cross-process writers' queue of a SQLite file: an ``flock`` on ``<file>-writer``, taken in turn."""

from __future__ import annotations

import logging
import os
import time
from contextlib import suppress

from .base import StorageError

try:
    import fcntl
except ImportError:  # Windows: no flock; writers wait in SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

#: A queued writer's first and longest pause between tries for its turn, in seconds: short, since
#: an online fire holds the turn for a small fraction of a millisecond and a waiter should not sleep
#: on long after it is free.
FIRST_PAUSE, LONGEST_PAUSE = 20e-6, 1e-4
#: After this long a wait is a long one (a simulator's batch, an import): the pauses go on doubling
#: up to ``LONG_WAIT_PAUSE``, at most that late for a turn held that long, where waking at the short
#: pause would cost the waiter a good part of a core.
LONG_WAIT, LONG_WAIT_PAUSE = 0.01, 0.002
#: A writer kept waiting this long says so once, on the ``renew_fsm.storage`` logger (INFO): a
#: ``replay`` started beside a running ``simulate`` otherwise sat silent until its turn came.
NOTICE_AFTER = 1.0
log = logging.getLogger("renew_fsm.storage")


class WriterTurn:
    """Writers of one database file queue here, across processes: an ``flock`` on ``<file>-writer``.

    SQLite's own busy handler sleeps milliseconds between tries, growing, so a
    writer that loses a race sleeps on long after the lock is free, many times
    longer than the write it waits for.  Here a waiting writer tries again after
    ``FIRST_PAUSE``, then twice as long each time up to ``LONGEST_PAUSE``, so it
    is never much later than the turn is free; once it has waited ``LONG_WAIT``
    the pauses grow to ``LONG_WAIT_PAUSE``.
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
        blocking for us made every turn later), so the wait is a poll.
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


__all__ = ["WriterTurn"]
