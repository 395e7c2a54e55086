"""One reading of a store URL: the library's opening, the simulator's file handling and the command
line's "no database at …" all agree on what each URL names, and refuse the same ones the same way."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm.cli.common import missing
from renew_fsm.simulate import sqlite_path
from renew_fsm.simulate.store import shareable
from renew_fsm.storage import StorageError, StoreURL, open_storage
from renew_fsm.storage.memory import MemoryStorage
from renew_fsm.storage.sqlite import SQLiteStorage

#: (url, kind, SQLite file, read-only)
CASES = [
    ("memory:", "memory", None, False),
    ("memory://", "memory", None, False),
    (":memory:", "sqlite", None, False),
    ("sqlite:///:memory:", "sqlite", None, False),
    ("file::memory:", "sqlite", None, False),
    ("file::memory:?cache=shared", "sqlite", None, False),
    ("cycle.db", "sqlite", "cycle.db", False),
    ("sub/cycle.db", "sqlite", "sub/cycle.db", False),
    ("/abs/cycle.db", "sqlite", "/abs/cycle.db", False),
    ("sqlite:///cycle.db", "sqlite", "cycle.db", False),
    ("sqlite:////abs/cycle.db", "sqlite", "/abs/cycle.db", False),
    ("file:x.db?mode=ro", "sqlite", "x.db", True),
    ("file:x.db?immutable=1", "sqlite", "x.db", True),
    ("file:x.db", "sqlite", "x.db", False),
    ("file:///abs/x%20y.db?mode=ro", "sqlite", "/abs/x y.db", True),
    ("postgresql://postgres@127.0.0.1/db", "postgres", None, False),
    ("postgres://postgres@127.0.0.1/db", "postgres", None, False),
]


@pytest.mark.parametrize(("url", "kind", "path", "read_only"), CASES)
def test_every_reader_agrees_on_what_a_url_names(url: str, kind: str, path: str | None, read_only: bool) -> None:
    where = StoreURL.parse(url)
    assert (where.kind, where.path, where.read_only, where.text) == (kind, path, read_only, url)
    assert sqlite_path(url) == path
    assert shareable(url) == (kind == "postgres" or path is not None)
    assert where.in_memory == (kind != "postgres" and path is None)
    if kind != "postgres":
        assert missing(url) == (None if path is None or Path(path).exists() else path)


#: (url, what the refusal says)
REFUSED = [
    ("", "an empty database path"),
    ("   ", "an empty database path"),
    ("sqlite:///", "an empty database path"),
    ("file:?mode=ro", "an empty database path"),
    ("sqlite://cycle.db", "three slashes"),
    ("mysql://root@localhost/db", "not a database URL renew_fsm knows"),
    ("http://example.org/x.db", "not a database URL renew_fsm knows"),
    ("file:x.db?mode=memory", "mode=ro, mode=rw or immutable=1, not mode=memory"),
    ("file://elsewhere/x.db", "not on 'elsewhere'"),
    ("cycle\0.db", "NUL"),
]


@pytest.mark.parametrize(("url", "says"), REFUSED)
def test_every_reader_refuses_the_same_urls_the_same_way(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    from renew_fsm.service import open_engine

    readers = (StoreURL.parse, sqlite_path, shareable, missing, open_storage, renew_fsm.open, SQLiteStorage)
    for reader in (*readers, lambda u: open_engine(u, 1.0)):
        with pytest.raises(StorageError, match=says):
            reader(url)
    assert os.listdir(tmp_path) == []  # nothing made on the way to the refusal


@pytest.mark.parametrize("url", [None, 42, b"cycle.db"])
def test_a_url_that_is_not_a_string_is_refused(url: object) -> None:
    with pytest.raises(StorageError, match=f"must be a string, not {type(url).__name__}"):
        StoreURL.parse(url)


@pytest.mark.parametrize("url", [":memory:", "file::memory:", "file::memory:?cache=shared", "sqlite:///:memory:"])
def test_sqlite_in_memory_leaves_no_file_and_reads_its_own_history(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_storage(url)
    try:
        assert isinstance(store, SQLiteStorage)
        store.set_meta("probe", "1")
        assert store.get_meta("probe") == "1"
        assert list(store.all_history("2021")) == []  # read on this connection: another would see an empty database
    finally:
        store.close()
    assert os.listdir(tmp_path) == []


def test_memory_is_the_in_process_store() -> None:
    assert isinstance(open_storage("memory:"), MemoryStorage)


def test_a_read_only_uri_reads_the_file_and_refuses_a_write(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    store = open_storage(str(db))
    store.set_meta("probe", "kept")
    store.close()
    (tmp_path / "cycle.db-writer").unlink()
    reader = open_storage(f"file:{db}?mode=ro")
    try:
        assert reader.get_meta("probe") == "kept"
        with pytest.raises(StorageError, match="can only be read here"):
            reader.set_meta("probe", "changed")
    finally:
        reader.close()
    assert not (tmp_path / "cycle.db-writer").exists()  # a reader does not queue with the writers
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone()[0] == "kept"


def test_a_read_only_uri_of_a_missing_file_is_named_missing(tmp_path: Path) -> None:
    url = f"file:{tmp_path / 'none.db'}?mode=ro"
    assert missing(url) == str(tmp_path / "none.db")
    with pytest.raises(StorageError):
        open_storage(url)
    assert os.listdir(tmp_path) == []
