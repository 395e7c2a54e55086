"""What an insider with the database (not the key) does first: take the append-only guards off.

The triggers stop an application bug or a careless UPDATE; the database's owner can drop or
disable them, so every tamper test starts from here, as an attacker would.
"""

from __future__ import annotations

from typing import Any

from renew_fsm.storage.base import APPEND_ONLY
from renew_fsm.storage.sqlite_cases import GUARDS

#: SQLite: drop the guard triggers (a script to run before the edit).
UNGUARD_SQLITE = "".join(f"DROP TRIGGER IF EXISTS {name};\n" for name in GUARDS)
#: PostgreSQL: disable the user triggers on the append-only tables (the owner may).
UNGUARD_PG = "".join(f"ALTER TABLE {table} DISABLE TRIGGER USER;\n" for table in APPEND_ONLY)


def tamper(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run ``sql`` on the store at ``url`` with its guards off; the rows it changed."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(UNGUARD_PG)  # type: ignore[arg-type]
            return conn.execute(sql.replace("?", "%s"), params).rowcount  # type: ignore[arg-type]
    import sqlite3

    conn = sqlite3.connect(url)
    try:
        conn.executescript(UNGUARD_SQLITE)
        changed = conn.execute(sql, params).rowcount
        conn.commit()
        return changed
    finally:
        conn.close()
