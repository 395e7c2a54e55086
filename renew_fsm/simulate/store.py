"""Which store a simulation may use: what a file holds, and whether a run may delete, replace or resume it.

Read with ``sqlite3`` and without the library: opening a file the usual way gives
it the schema (or upgrades an older one), which would change someone's notes,
another program's database or an office's cycle before we could say no.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.request import pathname2url

from ..storage.url import StoreURL
from .errors import SimulationError

if TYPE_CHECKING:
    from ..engine import Engine


def sqlite_path(url: str) -> str | None:
    """The file behind a SQLite URL; None for PostgreSQL and in-memory stores (``StoreURL.parse``:
    a URL it refuses raises ``StorageError``, as opening it would)."""
    return StoreURL.parse(url).path


def shareable(url: str) -> bool:
    """Whether other processes can open the same store (not an in-memory one)."""
    return StoreURL.parse(url).shareable


def store_kind(path: str) -> str:
    """What the file at ``path`` is: ``missing``; ``simulation``; ``empty`` (a renew-fsm store with nothing
    in it yet); ``cycle`` (a renew-fsm store with a province's own regions or policy); ``foreign`` (not a
    renew-fsm database).

    Read-only and without the library (see the module's docstring).
    """
    if not os.path.lexists(path):
        return "missing"
    if os.path.isdir(path):
        return "foreign"
    # With no write-ahead log beside it the file holds everything: read it as an unchanging file,
    # which leaves no -shm and -wal behind.  With one, read through it (a run's first rows may be there).
    mode = "mode=ro" if os.path.exists(f"{path}-wal") else "immutable=1"
    try:
        conn = sqlite3.connect(f"file:{pathname2url(os.path.abspath(path))}?{mode}", uri=True, timeout=5)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'simulation')"))
            if "simulation" in meta:
                return "simulation"
            if "schema_version" not in meta:
                return "foreign"
            # What ``holds_a_cycle`` asks of an open engine, asked of the tables every schema version has.
            tables = ("regions", "institutions", "agencies", "policies")
            held = any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in tables)
        finally:
            conn.close()
    except sqlite3.Error:
        return "foreign"  # not SQLite, or SQLite without our tables
    return "cycle" if held else "empty"


def holds_a_cycle(engine: Engine) -> bool:
    """Whether the store holds anything of a province's own: regions being set up count, not just a policy."""
    world = engine.world()
    return world.policy is not None or bool(world.regions) or bool(world.institutions) or bool(world.agencies)


def remove_store(path: str) -> None:
    """The SQLite file at ``path`` and what SQLite and the writers' queue keep beside it."""
    for suffix in ("", "-wal", "-shm", "-writer"):
        Path(path + suffix).unlink(missing_ok=True)


def discard(url: str) -> None:
    """Delete the SQLite store at ``url`` if it holds a simulation, so a run can start again there.

    Only a simulation is deleted: a store holding a real cycle, or a file that is
    not a renew-fsm database at all, is refused (``SimulationError``) and left as
    it is.  A file that does not exist, or a renew-fsm store with nothing in
    it yet, is nothing to delete.  A PostgreSQL store is refused too: the storage protocol
    has no way to empty one, and dropping tables on a shared server is not
    something an option of a rehearsal should do.
    """
    if StoreURL.parse(url).kind == "postgres":
        raise SimulationError(
            "--replace deletes a SQLite file and never empties a PostgreSQL database: "
            "give another database or schema (or drop this one's tables yourself)"
        )
    path = sqlite_path(url)
    if path is None:
        return  # in memory: every run starts empty
    kind = store_kind(path)
    if kind == "simulation":
        remove_store(path)
        return
    if kind == "cycle":
        raise SimulationError(f"{path} holds a cycle that is not a simulation; --replace only replaces a simulation")
    if kind == "foreign":
        raise SimulationError(f"{path} is not a renew-fsm database; --replace only replaces a simulation")


def prepare(url: str, *, replace: bool = False, resume: bool = False, scratch: bool = False) -> str | None:
    """Make the store at ``url`` ready for a run before it is opened; the SQLite file behind it (None: none).

    ``replace`` deletes a simulation there (``discard``).  ``scratch`` says ``url`` is the
    simulation's own default file, which each run starts again whatever an earlier one left
    there — but never a real cycle someone stored under its name, and not when resuming.
    A file that is not a renew-fsm database, or holds a cycle that is not a simulation, is
    refused (``SimulationError``) before it is opened: opening gives a file our tables, or
    upgrades an older store.
    """
    path = sqlite_path(url)
    if replace:
        discard(url)
    elif not resume and scratch and path is not None and store_kind(path) != "cycle" and not Path(path).is_dir():
        remove_store(path)
    kind = store_kind(path) if path is not None else "missing"
    if kind == "foreign":
        raise SimulationError(f"{path} is not a renew-fsm database; choose another --db")
    if kind == "cycle":
        raise SimulationError(f"{path} holds a cycle that is not a simulation; choose another --db")
    return path
