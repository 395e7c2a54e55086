"""A store that cannot be opened says so with ``StorageError`` and what to fix, whatever went wrong,
and leaves nothing behind: a service fails its start-up on it instead of running on the wrong store."""

from __future__ import annotations

import os
from pathlib import Path

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
