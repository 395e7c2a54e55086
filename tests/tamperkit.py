"""What an insider with the database (not the key) does: take the append-only guards off, edit,
and put the guards back (``verify`` names a store whose guards are gone).

The triggers stop an application bug or a careless UPDATE; the database's owner can drop or
disable them, so every tamper test goes through here, as an attacker would.
"""

from __future__ import annotations

from typing import Any

from renew_fsm.storage.base import APPEND_ONLY
from renew_fsm.storage.sqlite_migrations import GUARDS

#: SQLite: drop the guard triggers (a script to run before the edit), and make them again after.
UNGUARD_SQLITE = "".join(f"DROP TRIGGER IF EXISTS {name};\n" for name in GUARDS)
REGUARD_SQLITE = "".join(f"{sql};\n" for sql in GUARDS.values())
#: PostgreSQL: disable the user triggers on the append-only tables (the owner may), enable them after.
UNGUARD_PG = "".join(f"ALTER TABLE {table} DISABLE TRIGGER USER;\n" for table in APPEND_ONLY)
REGUARD_PG = UNGUARD_PG.replace("DISABLE", "ENABLE")


def tamper(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run ``sql`` on the store at ``url`` with its guards off; the rows it changed."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(UNGUARD_PG)  # type: ignore[arg-type]
            changed = conn.execute(sql.replace("?", "%s"), params).rowcount  # type: ignore[arg-type]
            conn.execute(REGUARD_PG)  # type: ignore[arg-type]
            return changed
    import sqlite3

    conn = sqlite3.connect(url)
    try:
        conn.executescript(UNGUARD_SQLITE)
        changed = conn.execute(sql, params).rowcount
        conn.commit()
        conn.executescript(REGUARD_SQLITE)
        return changed
    finally:
        conn.close()
