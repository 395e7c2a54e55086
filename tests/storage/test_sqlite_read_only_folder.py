"""A SQLite copy in a folder this account may not write to (a backup handed to an auditor, a
read-only share) opens, reads and verifies, and refuses writes plainly.

In WAL mode SQLite needs a ``-shm`` file beside the database even to read it,
and cannot make one there.  The checks run in a child process that obeys the
folder's permissions: as root, one started without the capabilities that let
root write anywhere (util-linux's ``setpriv``, on every Debian); a missing
``setpriv`` fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import H1, make_engine

import renew_fsm
from renew_fsm.storage.base import SCHEMA_VERSION
from renew_fsm.verify import verify

CHILD = r"""
import json, sys
import renew_fsm
from renew_fsm.storage import StorageError
from renew_fsm.verify import verify

out = {}
try:
    engine = renew_fsm.open(sys.argv[1])
except StorageError as exc:
    print(json.dumps({"open_error": str(exc)}))
    raise SystemExit(0)
out["state"] = engine.state("D1").state
out["history"] = [r.event for r in engine.history("D1")]
out["verified"] = verify(engine).ok
try:
    engine.fire("D1", "submit_info", renew_fsm.Actor("doctor", "D1"))
except StorageError as exc:
    out["write_error"] = str(exc)
out["after"] = engine.state("D1").state
engine.close()
print(json.dumps(out))
"""


def _as_someone_bound_by_permissions(args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("running as root: this test needs setpriv (util-linux) to drop root's write override")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "handed over"
    where.mkdir()
    yield where
    where.chmod(stat.S_IRWXU)  # so pytest can clean up


def _store(folder: Path) -> str:
    path = str(folder / "backup.db")
    engine = make_engine(path)
    engine.fire("D1", "enroll", H1)
    engine.close()  # the last connection copies the log back and removes it
    return path


def _read_only(folder: Path) -> None:
    for name in os.listdir(folder):
        (folder / name).chmod(0o444)
    folder.chmod(0o555)


def _child(path: str) -> dict[str, object]:
    done = _as_someone_bound_by_permissions(["-c", CHILD, path])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_copy_in_a_read_only_folder_is_read_verified_and_refuses_writes(folder: Path) -> None:
    path = _store(folder)
    assert not os.path.exists(f"{path}-wal") and not os.path.exists(f"{path}-shm")
    _read_only(folder)
    before = sorted(os.listdir(folder))
    seen = _child(path)
    assert seen["state"] == "enrolled" and seen["history"] == ["enroll"] and seen["verified"] is True
    assert "can only be read here" in str(seen["write_error"]) and seen["after"] == "enrolled"
    assert sorted(os.listdir(folder)) == before  # nothing made beside it


def test_a_copy_whose_log_holds_changes_is_refused_saying_what_to_do(folder: Path, tmp_path: Path) -> None:
    """Read without its log the file would show an older store: refused, not silently stale."""
    path = _store(folder)
    holder = sqlite3.connect(path)
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("INSERT INTO meta (key, value) VALUES ('note', 'only in the log')")
    holder.commit()
    assert os.path.getsize(f"{path}-wal") > 0
    copy = tmp_path / "copied"
    copy.mkdir()
    for name in ("backup.db", "backup.db-wal"):  # copied as a file manager would, without -shm
        shutil.copy(folder / name, copy / name)
    holder.close()
    _read_only(copy)
    try:
        seen = _child(str(copy / "backup.db"))
    finally:
        copy.chmod(stat.S_IRWXU)
    assert "backup.db-wal" in str(seen["open_error"]) and "folder you can write to" in str(seen["open_error"])


def test_the_cli_verifies_a_read_only_copy(folder: Path) -> None:
    path = _store(folder)
    _read_only(folder)
    done = _as_someone_bound_by_permissions(["-c", "from renew_fsm.cli import main; main()", "verify", "--db", path])
    assert done.returncode == 0, done.stderr
    assert "every chain holds" in done.stdout


def test_a_copy_from_the_release_before_is_upgraded_where_it_can_be_written(folder: Path) -> None:
    """Schema 6 changed the file (the registry log, the guard triggers): a copy from before cannot be
    read as it is.  A read-only one is refused saying so, nothing changed; a writable one is brought
    up to date and verifies."""
    path = _store(folder)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    _read_only(folder)
    seen = _child(path)
    assert "can only be read here" in str(seen["open_error"])
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)
    conn.close()
    folder.chmod(stat.S_IRWXU)
    (folder / "backup.db").chmod(0o644)
    engine = renew_fsm.open(path)
    assert engine.storage.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert verify(engine).ok
    engine.close()


def test_a_schema_4_copy_without_the_registry_columns_is_refused_read_only_and_upgraded_when_writable(
    folder: Path,
) -> None:
    """Schema 5 added the doctors' optional registry columns and 6 the registry log: a read-only copy
    made before both is refused saying so, untouched; a writable one gains the columns."""
    path = _store(folder)
    with sqlite3.connect(path) as conn:
        for column in ("sex", "qualification_no", "license_no", "practice_category"):
            conn.execute(f"ALTER TABLE doctors DROP COLUMN {column}")
        conn.execute("DROP INDEX idx_doctors_id_card")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    _read_only(folder)
    seen = _child(path)
    assert "can only be read here" in str(seen["open_error"])
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(doctors)")]
    conn.close()
    assert "practice_category" not in columns
    folder.chmod(stat.S_IRWXU)
    (folder / "backup.db").chmod(0o644)
    engine = renew_fsm.open(path)
    try:
        assert engine.storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert engine.storage.get_doctor("D1").practice_category is None  # type: ignore[union-attr]
        assert verify(engine).ok
    finally:
        engine.close()
