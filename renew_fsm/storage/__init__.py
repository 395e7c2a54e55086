"""Pluggable storage: ``open_storage(url)`` picks the backend from the URL (``StoreURL.parse``).

- ``memory:`` — in-process (tests, throwaway runs)
- a file path, ``sqlite:///path``, ``file:path?mode=ro`` or ``:memory:`` — SQLite (the default)
- ``postgresql://…`` — PostgreSQL through psycopg 3 (``pip install 'renew_fsm[postgres]'``)
"""

from __future__ import annotations

from .base import ConflictError, Storage, StorageError
from .url import StoreURL


def open_storage(url: str | StoreURL, *, create: bool = True) -> Storage:
    """The store at ``url`` (read by ``StoreURL.parse``); ``create=False``: only an existing store (reading
    tools), anything else — a file or database without renew_fsm's tables — refused with ``StorageError``,
    untouched."""
    where = url if isinstance(url, StoreURL) else StoreURL.parse(url)
    if where.kind == "memory":
        from .memory import MemoryStorage

        return MemoryStorage()
    if where.kind == "postgres":
        try:
            from .postgres import PostgresStorage
        except ImportError as exc:  # psycopg is an optional extra
            raise StorageError(f"PostgreSQL needs psycopg 3: pip install 'renew_fsm[postgres]' ({exc})") from None
        return PostgresStorage(where.text, create=create)
    from .sqlite import SQLiteStorage

    return SQLiteStorage(where, create=create)


__all__ = ["ConflictError", "Storage", "StorageError", "StoreURL", "open_storage"]
