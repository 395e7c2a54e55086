"""SQLite writers queue on ``<file>-writer``, the log is copied back within a turn, and a
reader that may not write is told so."""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import signal
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from renew_fsm.storage import sqlite as backend
from renew_fsm.storage import sqlite_lock
from renew_fsm.storage.sqlite import SQLiteStorage
from renew_fsm.storage.sqlite_lock import WriterTurn


def test_a_writer_waits_its_turn_where_sqlite_alone_would_give_up(tmp_path: Path) -> None:
    path = str(tmp_path / "turns.db")
    holder, waiter = SQLiteStorage(path), SQLiteStorage(path, timeout=0.05)
    waiter.turn.timeout = 5.0  # SQLite's busy handler gives up after 50 ms, the queue after 5 s
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.write() as c:
            c.execute("INSERT INTO meta (key, value) VALUES ('held', 'yes')")
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(5)
    threading.Timer(0.3, leave.set).start()
    # SQLite's busy handler gives up after 50 ms; the queue waits for the holder's commit.
    waiter.set_meta("after", "yes")
    thread.join()
    assert waiter.get_meta("held") == "yes" and holder.get_meta("after") == "yes"
    holder.close()
    waiter.close()


def test_without_the_queue_the_same_wait_fails(tmp_path: Path) -> None:
    """The counterpart of the test above: the queue, not luck, is what let the writer through."""
    path = str(tmp_path / "turns.db")
    holder = SQLiteStorage(path)
    raw = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    with holder.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
        raw.execute("BEGIN IMMEDIATE")
    raw.close()
    holder.close()


def test_writers_give_up_on_a_process_stopped_in_its_turn(tmp_path: Path) -> None:
    """A writer stopped inside its transaction (a debugger, SIGSTOP) holds the turn; the others
    wait out their timeout and get a typed error, having written nothing, instead of hanging."""
    path = str(tmp_path / "stopped.db")
    waiter = SQLiteStorage(path, timeout=0.2)  # opening writes too (the schema): open it first
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        store = SQLiteStorage(path)
        with store.write() as c:
            c.execute("INSERT INTO meta (key, value) VALUES ('child', 'yes')")
            os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
    try:
        assert os.WIFSTOPPED(os.waitpid(pid, os.WUNTRACED)[1])
        with pytest.raises(backend.StorageError, match=r"another writer has held the database for more than 0\.2 s"):
            waiter.set_meta("waiter", "yes")
    finally:
        os.kill(pid, signal.SIGCONT)
        status = os.waitpid(pid, 0)[1]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # Nothing of the refused write; the stopped writer's commit went through once it went on.
    assert waiter.get_meta("waiter") is None and waiter.get_meta("child") == "yes"
    waiter.set_meta("waiter", "yes")
    assert waiter.get_meta("waiter") == "yes"
    waiter.close()


def test_a_long_wait_tries_less_often(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short waits (an online fire's) are tried every 0.1 ms at most; a long one backs off to 2 ms,
    where trying every 0.1 ms cost the waiter 12 % of a core.  The clock is a fake: no timing here."""
    path = str(tmp_path / "long.db")
    holder = os.open(path + "-writer", os.O_RDONLY | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    clock, pauses = [0.0], []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(sqlite_lock, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    with pytest.raises(backend.StorageError, match="more than 1 s"):
        WriterTurn(path, timeout=1.0).take()
    os.close(holder)
    waited = list(itertools.accumulate(pauses))
    assert pauses[0] == sqlite_lock.FIRST_PAUSE
    assert max(p for p, t in zip(pauses, waited, strict=True) if t < sqlite_lock.LONG_WAIT) == sqlite_lock.LONGEST_PAUSE
    assert max(pauses) == sqlite_lock.LONG_WAIT_PAUSE
    assert 1.0 <= waited[-1] < 1.0 + sqlite_lock.LONG_WAIT_PAUSE
    assert len(pauses) < 700  # ~100 tries in the first 10 ms, then one every 2 ms: ~600, not 10,000


def test_a_program_outside_the_queue_holding_the_lock_gives_a_storage_error(tmp_path: Path) -> None:
    path = str(tmp_path / "outside.db")
    store = SQLiteStorage(path, timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(backend.StorageError, match=r"locked by another program \(waited up to 0\.05 s\)"):
        store.set_meta("k", "v")
    other.execute("ROLLBACK")
    other.close()
    assert store.get_meta("k") is None
    store.set_meta("k", "v")
    assert store.get_meta("k") == "v"
    store.close()


def test_no_lock_file_where_it_cannot_be_made_or_is_not_needed(tmp_path: Path) -> None:
    nowhere = WriterTurn(str(tmp_path / "missing" / "x.db"))
    assert nowhere.fd is None and nowhere.take() is False
    nowhere.give()  # nothing to give back, and no error
    memory = SQLiteStorage(":memory:")
    memory.set_meta("k", "v")
    assert memory.turn.fd is None and memory.get_meta("k") == "v"


def test_no_lock_file_beside_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    with pytest.raises(backend.StorageError, match="not a database"):
        SQLiteStorage(str(notes))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_the_log_is_checkpointed_every_so_many_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "CHECKPOINT_PAGES", 50)
    path = str(tmp_path / "log.db")
    store = SQLiteStorage(path)
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 50
    for n in range(400):
        store.set_meta("counter", str(n))
    # 400 commits of a page each never copied back would be 1.6 MB of log; copied back every
    # 50 pages, the log starts again from the top and stays near 200 KB.
    assert os.path.getsize(path + "-wal") < 600_000
    store.close()


def test_a_checkpoint_beside_a_writer_in_its_turn_copies_the_log_back_without_waiting(tmp_path: Path) -> None:
    """What a simulation's parent does while its workers write: it never takes the turn (with a
    timeout of 50 ms, waiting for it would be a ``StorageError``), so a writer inside its
    transaction is not held up, and the pages committed before are copied into the database."""
    path = str(tmp_path / "copy.db")
    writer, copier = SQLiteStorage(path), SQLiteStorage(path, timeout=0.05)
    for n in range(50):
        writer.set_meta(f"k{n}", "x" * 2000)  # 50 commits of a page or more: under CHECKPOINT_PAGES
    in_the_database = os.path.getsize(path)
    with writer.write() as c:
        c.execute("INSERT INTO meta (key, value) VALUES ('pending', 'yes')")
        copier.checkpoint()
        assert os.path.getsize(path) > in_the_database + 50 * 2000
        assert copier.get_meta("pending") is None  # not committed yet: not copied either
    assert copier.get_meta("pending") == "yes" and copier.get_meta("k49") == "x" * 2000
    writer.close()
    copier.close()


def _two_writers(path: str, commits: int, log_sizes: Path | None = None) -> None:
    """Two forked processes commit ``commits`` rows each, one per transaction, as fast as they can."""
    children = []
    for name in ("a", "b"):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                store = SQLiteStorage(path)
                largest = 0
                for n in range(commits):
                    store.set_meta(f"{name}{n}", str(n))
                    largest = max(largest, os.path.getsize(path + "-wal"))
                store.close()
                if log_sizes is not None:
                    (log_sizes / name).write_text(str(largest))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)


def test_queued_writers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "two.db")
    SQLiteStorage(path).close()
    _two_writers(path, 200)
    store = SQLiteStorage(path)
    assert all(store.get_meta(f"{name}{n}") == str(n) for name in "ab" for n in range(200))
    store.close()


def test_two_writers_taking_turns_keep_the_log_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint made while the other writer appends never lets the log start again from the top.

    It grew to gigabytes in a million-doctor simulation; made within the turn, the log restarts.
    """
    monkeypatch.setattr(backend, "CHECKPOINT_PAGES", 20)
    path = str(tmp_path / "two.db")
    SQLiteStorage(path).close()
    _two_writers(path, 1000, tmp_path)
    # 2,000 commits of a page or two each never copied back: 8 MB and more of log.  On a loaded
    # machine a checkpoint now and then finds the other writer's frames still needed (1.05 MB seen
    # while the rest of the suite ran beside it); restarting at all keeps it far below 8 MB.
    assert max(int((tmp_path / name).read_text()) for name in "ab") < 2_000_000


def test_a_current_database_opens_without_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """So a read-only copy (a backup handed to an auditor) can be verified and counted: even a
    write that changes nothing needs write access (BEGIN IMMEDIATE) and failed on one."""
    turns: list[str] = []
    write = SQLiteStorage.write

    def counted(self: SQLiteStorage) -> Any:
        turns.append(self.url)
        return write(self)

    monkeypatch.setattr(SQLiteStorage, "write", counted)
    path = str(tmp_path / "current.db")
    SQLiteStorage(path).close()
    assert turns == [path]  # a new file is given its schema
    store = SQLiteStorage(path)
    assert turns == [path] and store.get_meta("schema_version") is not None
    store.close()
    # A file from a newer renew_fsm is refused as such, before any write (not "read-only").
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(backend.StorageError, match="schema version 999"):
        SQLiteStorage(path)
    assert turns == [path]


def test_a_write_to_a_database_this_account_may_only_read_is_a_storage_error(tmp_path: Path) -> None:
    store = SQLiteStorage(str(tmp_path / "read-only.db"))
    store.conn.execute("PRAGMA query_only = ON")  # SQLite's read-only refusal, as for a write-protected file
    with pytest.raises(backend.StorageError, match="can only be read here"):
        store.set_meta("k", "v")
    store.conn.execute("PRAGMA query_only = OFF")
    assert store.get_meta("k") is None
    store.close()


def test_a_writer_kept_waiting_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``replay`` started beside a running ``simulate`` sat silent for up to 30 s."""
    monkeypatch.setattr(sqlite_lock, "NOTICE_AFTER", 0.05)
    path = str(tmp_path / "wait.db")
    SQLiteStorage(path).close()
    fd = os.open(f"{path}-writer", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's turn, as far as the store can tell
    threading.Timer(0.4, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
    store = SQLiteStorage(path)  # opening a current file writes nothing: no turn taken
    with caplog.at_level(logging.INFO, logger="renew_fsm.storage"):
        store.set_meta("after", "the wait")
    os.close(fd)
    said = [r.getMessage() for r in caplog.records if r.name == "renew_fsm.storage"]
    assert said == [f"waiting for another writer of {path} to finish (up to 30 s)…"]
    assert store.get_meta("after") == "the wait"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="renew_fsm.storage"):
        store.set_meta("quick", "no wait")
    assert caplog.records == []  # a turn that is free says nothing
    store.close()


def test_the_cli_shows_the_wait_on_stderr(tmp_path: Path) -> None:
    from clirun import cli, jsonl
    from conftest import WORLD

    db = tmp_path / "cycle.db"
    SQLiteStorage(str(db)).close()
    fd = os.open(f"{db}-writer", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(2.5, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
    try:
        done = cli("replay", str(jsonl(tmp_path / "province.jsonl", *WORLD)), "--db", str(db))
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    assert f"waiting for another writer of {db} to finish" in done.stderr
