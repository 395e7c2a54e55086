"""A store that cannot be opened says so with ``StorageError`` and what to fix, whatever went wrong,
and leaves nothing behind: a service fails its start-up on it instead of running on the wrong store."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from conftest import PG_SERVER

import renew_fsm
from renew_fsm.storage import StorageError


@pytest.mark.parametrize("url", ["", "sqlite:///", "  "])
def test_an_empty_path_is_refused_not_a_throwaway_database(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``os.environ.get("ASSESSMENT_DB", "cycle.db")`` with the variable set but empty: SQLite read ""
    as a temporary database, so every write was lost at close, and ``-writer`` was left in the cwd."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="an empty database path"):
        renew_fsm.open(url)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("url", [None, 42, b"cycle.db", Path("cycle.db")])
def test_a_url_that_is_not_a_string_is_refused(url: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=f"must be a string, not {type(url).__name__}"):
        renew_fsm.open(url)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("url", ["cycle\0.db", "sqlite:///cycle\0.db", f"{PG_SERVER}/te\0st"])
def test_a_nul_character_is_refused(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq would read the URL up to the NUL and open database "te"; sqlite3 raised ValueError."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="NUL"):
        renew_fsm.open(url)
    assert os.listdir(tmp_path) == []


def test_a_schema_that_does_not_exist_is_named(pg_database: str) -> None:
    with pytest.raises(StorageError, match=r"schema no_such_schema does not exist .*: create it, or fix search_path"):
        renew_fsm.open(f"{pg_database}?options=-csearch_path%3Dno_such_schema")
    with pytest.raises(StorageError, match="none of the schemas no_such_schema,nor_this exists"):
        renew_fsm.open(f"{pg_database}?options=-csearch_path%3Dno_such_schema,nor_this")


def test_a_wrong_database_or_port_is_a_storage_error_without_the_password(pg_database: str) -> None:
    with pytest.raises(StorageError, match=r'database "no_such_database" does not exist.*check that the server'):
        renew_fsm.open(f"{PG_SERVER}/no_such_database")
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL") as caught:
        renew_fsm.open("postgresql://renew:s3cret@127.0.0.1:1/test")  # nothing listens on port 1
    assert "s3cret" not in str(caught.value) and "renew:***@127.0.0.1:1" in str(caught.value)


def test_a_role_that_may_not_create_the_tables_is_told_to_open_as_the_owner(pg_url: str) -> None:
    """An empty schema opened first by a role that may only read: no tables to read, none it may make."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    admin_url = pg_url.split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    parts = urlsplit(pg_url)
    try:
        with pytest.raises(StorageError, match=r"may not create or upgrade renew_fsm's tables.*as a role that may"):
            renew_fsm.open(urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}")))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def _files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_a_reading_tool_refuses_a_file_that_is_not_a_store_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    """``renew-fsm verify --db other.db`` gave the file thirteen tables (and WAL mode, and a lock
    file beside it), then reported "0 instances, every chain holds"."""
    import sqlite3

    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    (tmp_path / "empty.db").write_bytes(b"")
    before = _files(tmp_path)
    for name in ("other.db", "empty.db"):
        with pytest.raises(StorageError, match=r"is not a renew_fsm store.*nothing was changed"):
            renew_fsm.open(str(tmp_path / name), create=False)
    assert _files(tmp_path) == before
    renew_fsm.open(str(tmp_path / "cycle.db")).close()  # made by a tool that writes …
    renew_fsm.open(str(tmp_path / "cycle.db"), create=False).close()  # … then read


def test_a_reading_tool_refuses_a_schema_without_a_store(pg_url: str) -> None:
    schema = pg_url.rsplit("%3D", 1)[1]
    with pytest.raises(StorageError, match=f"holds no renew_fsm store.*{schema}.*nothing was changed"):
        renew_fsm.open(pg_url, create=False)
    with psycopg.connect(pg_url.split("?", 1)[0], autocommit=True) as conn:
        made = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)).fetchone()
    assert made == (0,)
    renew_fsm.open(pg_url).close()
    renew_fsm.open(pg_url, create=False).close()


@pytest.mark.parametrize("url", ["sqlite://cycle.db", "sqlite:cycle.db"])
def test_a_sqlite_url_without_its_three_slashes_is_refused(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a file named "sqlite://cycle.db" in a folder named "sqlite:"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="three slashes"):
        renew_fsm.open(url)
    assert os.listdir(tmp_path) == []


def test_a_store_is_made_only_in_a_new_or_empty_file(tmp_path: Path) -> None:
    """Not among another program's tables: ``replay --db its.db`` would have added ours to them."""
    import sqlite3

    with sqlite3.connect(tmp_path / "its.db") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    before = _files(tmp_path)
    with pytest.raises(StorageError, match=r"its\.db is not a renew_fsm store \(it holds another program's tables\)"):
        renew_fsm.open(str(tmp_path / "its.db"))
    assert _files(tmp_path) == before
    (tmp_path / "empty.db").write_bytes(b"")
    renew_fsm.open(str(tmp_path / "empty.db")).close()  # an empty file is a new store's
