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
