"""What a store URL names, read in one place: the library, the command line and the simulator agree.

- ``memory:`` / ``memory://`` — the in-process store (``kind="memory"``)
- a path, ``sqlite:///path``, ``file:path?mode=ro`` — a SQLite file (``kind="sqlite"``)
- ``:memory:``, ``sqlite:///:memory:``, ``file::memory:…`` — SQLite in memory (``kind="sqlite"``, ``path`` None)
- ``postgresql://…`` / ``postgres://…`` — PostgreSQL (``kind="postgres"``)

Anything else that looks like a URL (``mysql://…``, ``sqlite://x.db``) is refused rather than
taken for a file name in a folder called ``mysql:``.
"""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import parse_qsl, unquote
from urllib.request import pathname2url

import attrs

from .base import StorageError

Kind = Literal["memory", "sqlite", "postgres"]

_MEMORY = ("memory:", "memory://")
_POSTGRES = ("postgresql://", "postgres://")
#: ``file:`` URI parameters understood (SQLite's own names); any other is refused, not ignored.
_READ_ONLY = {("mode", "ro"), ("immutable", "1")}
_WRITABLE = {("mode", "rw"), ("mode", "rwc")}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@attrs.frozen
class StoreURL:
    """A parsed store URL.  ``text``: as given (what a worker process reopens);
    ``path``: the SQLite file (None in memory or elsewhere); ``read_only``: a ``file:`` URI
    with ``mode=ro`` or ``immutable=1`` — opened without the schema, the write-ahead log or the
    writers' queue."""

    text: str
    kind: Kind
    path: str | None = None
    read_only: bool = False

    @classmethod
    def parse(cls, url: object) -> StoreURL:
        """The store ``url`` names, or ``StorageError`` saying what is wrong with it."""
        if not isinstance(url, str):  # None: a setting read from the environment that was never set
            raise StorageError(f"a database URL must be a string, not {type(url).__name__} ({url!r})")
        if "\0" in url:  # libpq would cut the URL there and open another database; SQLite would raise ValueError
            raise StorageError(f"a database URL cannot hold a NUL character: {url!r}")
        if url in _MEMORY:
            return cls(url, "memory")
        if url.startswith(_POSTGRES):
            return cls(url, "postgres")
        if url.startswith("sqlite:"):
            if not url.startswith("sqlite:///"):
                # SQLite would take "sqlite://cycle.db" as a file of that name, in a folder "sqlite:".
                raise StorageError(f"a SQLite URL is sqlite:///path (three slashes) or just the path, not {url!r}")
            return cls._sqlite(url, url[len("sqlite:///") :])
        if url.startswith("file:"):
            return cls._file_uri(url)
        if _SCHEME.match(url):
            raise StorageError(
                f"{url!r} is not a database URL renew_fsm knows: give a SQLite file path, "
                "':memory:', 'memory:' or a postgresql:// URL"
            )
        return cls._sqlite(url, url)

    @classmethod
    def _sqlite(cls, text: str, path: str) -> StoreURL:
        if not path.strip():
            # SQLite reads "" as a temporary database, gone at close: a service whose setting is set
            # but empty would run on it, writing a stray "-writer" file, and lose every write.
            raise StorageError(
                f"an empty database path ({text!r}; a setting that is set but empty?): give a file such as "
                "cycle.db, ':memory:' or a postgresql:// URL"
            )
        return cls(text, "sqlite", None if path == ":memory:" else path)

    @classmethod
    def _file_uri(cls, text: str) -> StoreURL:
        """SQLite's ``file:`` URI: ``file::memory:`` (any parameters) is in memory; ``file:x.db?mode=ro``
        the file read-only; the path part is percent-decoded, as SQLite does."""
        rest = text[len("file:") :]
        rest, _, query = rest.partition("?")
        rest = rest.partition("#")[0]
        if rest == ":memory:":
            return cls(text, "sqlite", None)
        if rest.startswith("//"):  # file://host/path: only an empty host or localhost is the local file
            host, _, tail = rest[2:].partition("/")
            if host not in ("", "localhost"):
                raise StorageError(f"a file: URI names a file on this machine, not on {host!r}: {text!r}")
            rest = "/" + tail
        params = set(parse_qsl(query, keep_blank_values=True))
        unknown = params - _READ_ONLY - _WRITABLE
        if unknown:
            names = ", ".join(sorted(f"{k}={v}" for k, v in unknown))
            raise StorageError(
                f"{text!r}: renew_fsm opens a file: URI with mode=ro, mode=rw or immutable=1, not {names}"
            )
        path = unquote(rest)
        if not path.strip():
            raise StorageError(f"an empty database path ({text!r}): give a file such as file:cycle.db?mode=ro")
        return cls(text, "sqlite", path, read_only=bool(params & _READ_ONLY))

    @property
    def in_memory(self) -> bool:
        """Nothing another process can open: the in-process store or SQLite in memory."""
        return self.kind == "memory" or (self.kind == "sqlite" and self.path is None)

    @property
    def shareable(self) -> bool:
        """Whether other processes can open the same store (worker processes, a second client)."""
        return not self.in_memory

    def sqlite_target(self) -> tuple[str, bool]:
        """What ``sqlite3.connect`` is given, and whether as a URI (a read-only file)."""
        if self.path is None:
            return ":memory:", False
        if self.read_only:
            return f"file:{pathname2url(os.path.abspath(self.path))}?mode=ro", True
        return self.path, False


__all__ = ["Kind", "StoreURL"]
