"""A picture of everything a store holds, to prove a refused command wrote nothing.

SQLite: the bytes of the database file and its WAL, after a checkpoint that
empties the WAL (so any write at all would show).  PostgreSQL: every row of
every table in the test's schema, ordered.  Memory: a deep copy of its dicts.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import renew_fsm
from renew_fsm.storage.memory import MemoryStorage
from renew_fsm.storage.postgres import PostgresStorage
from renew_fsm.storage.sqlite import SQLiteStorage


def image(engine: renew_fsm.Engine) -> Any:
    storage = engine.storage
    if isinstance(storage, SQLiteStorage):
        return sqlite_image(storage)
    if isinstance(storage, PostgresStorage):
        return postgres_image(storage.url)
    assert isinstance(storage, MemoryStorage)
    # The case tables (``_case_rows`` …) are made empty on their first read: an empty one is no write.
    kept = {k: v for k, v in vars(storage).items() if k != "_lock" and not (k.endswith("_rows") and not v)}
    return copy.deepcopy(kept)


def checkpoint(storage: SQLiteStorage) -> None:
    busy, _, _ = storage.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the checkpoint could not complete"


def sqlite_image(storage: SQLiteStorage) -> tuple[bytes, bytes]:
    path = Path(storage.url)
    wal = Path(f"{storage.url}-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


def postgres_image(url: str) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        ]
        assert {"instances", "history", "doctors", "meta"} <= set(tables)
        for table in tables:
            ncols = len(conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description or ())
            order = ", ".join(str(i) for i in range(1, ncols + 1))
            out[table] = conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
    return out


def settle(engine: renew_fsm.Engine) -> Any:
    """Checkpoint a SQLite store, then take its picture (the 'before' of a refusal)."""
    if isinstance(engine.storage, SQLiteStorage):
        checkpoint(engine.storage)
    return image(engine)
