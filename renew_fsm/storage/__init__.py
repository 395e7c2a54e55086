"""Pluggable storage: ``open_storage(url)`` picks the backend from the URL.

- ``memory:`` — in-process (tests, throwaway runs)
- a file path, ``sqlite:///path`` or ``:memory:`` — SQLite (the default)
- ``postgresql://…`` — PostgreSQL through psycopg 3 (``pip install 'renew_fsm[postgres]'``)
"""

from __future__ import annotations

from .base import ConflictError, Storage, StorageError


def open_storage(url: str, *, create: bool = True) -> Storage:
    """The store at ``url``; ``create=False``: only an existing store (reading tools), anything else
    — a file or database without renew_fsm's tables — refused with ``StorageError``, untouched."""
    if not isinstance(url, str):  # None: a setting read from the environment that was never set
        raise StorageError(f"a database URL must be a string, not {type(url).__name__} ({url!r})")
    if "\0" in url:  # libpq would cut the URL there and open another database; SQLite would raise ValueError
        raise StorageError(f"a database URL cannot hold a NUL character: {url!r}")
    if url in ("memory:", "memory://"):
        from .memory import MemoryStorage

        return MemoryStorage()
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStorage
        except ImportError as exc:  # psycopg is an optional extra
            raise StorageError(f"PostgreSQL needs psycopg 3: pip install 'renew_fsm[postgres]' ({exc})") from None
        return PostgresStorage(url, create=create)
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        # SQLite would take "sqlite://cycle.db" as a file of that name, in a folder "sqlite:".
        raise StorageError(f"a SQLite URL is sqlite:///path (three slashes) or just the path, not {url!r}")
    from .sqlite import SQLiteStorage

    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    return SQLiteStorage(path, create=create)


__all__ = ["ConflictError", "Storage", "StorageError", "open_storage"]
