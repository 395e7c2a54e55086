"""The registry log: every change to a row a result depends on, as a record of its own chain.

A doctor's result depends on more than its history: the doctor's registry row
(institution, licence, name), the institution's region, the agency's
assignments, the province's exemption list; an account's power on its
credential; an export on its stored file.  Each write to one of these tables
appends one entry to ``registry_log`` in the same transaction: the table, and
for each row it wrote the SHA-256 of the row as stored (``None``: the row is
gone).  Entries are chained like history records (an HMAC with the history key
when there is one), so ``verify`` can replay the log, rebuild what every row
should be, and name each row that differs, is missing, or was never logged.

A row's digest covers its columns by name and leaves out empty ones (NULL,
``""``), so a later migration that adds a column does not change the digest
of a row that has no value in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..keys import HistoryKey

#: Each logged table and the columns that name one of its rows.
REGISTRY_KEYS: dict[str, tuple[str, ...]] = {
    "regions": ("id",),
    "institutions": ("id",),
    "agencies": ("id",),
    "assignments": ("agency", "institution"),
    "doctors": ("id",),
    "exemption_reasons": ("cycle", "id"),
    "credentials": ("account",),
    "case_files": ("machine", "id"),
}
LOG_COLUMNS = ("seq", "at", "tbl", "rows", "hash")
#: How a row is named in the log and in verify's findings: its key columns joined.
NAME_JOIN = " / "
_SEP = "\x1f"


def row_name(table: str, row: Mapping[str, Any]) -> str:
    return NAME_JOIN.join(str(row[k]) for k in REGISTRY_KEYS[table])


def key_name(key: Iterable[Any]) -> str:
    return NAME_JOIN.join(str(k) for k in key)


def row_digest(row: Mapping[str, Any]) -> str:
    """The SHA-256 (128 bits of it: a row's fingerprint, authenticated by the entry's chain) of a row."""
    parts = sorted(f"{k}={v}" for k, v in row.items() if v is not None and v != "")
    return hashlib.sha256(_SEP.join(parts).encode()).hexdigest()[:32]


def entry_text(prev: str, seq: int, at: str, table: str, rows: str) -> bytes:
    return _SEP.join((prev, str(seq), at, table, rows)).encode()


def entry_hash(key: HistoryKey | None, prev: str, seq: int, at: str, table: str, rows: str) -> str:
    text = entry_text(prev, seq, at, table, rows)
    return key.mac(text) if key is not None else hashlib.sha256(text).hexdigest()


def new_entry(
    key: HistoryKey | None, tail: Any, table: str, changes: Mapping[str, str | None]
) -> tuple[int, str, str, str, str]:
    """The log row that follows ``tail`` ((seq, hash) of the last entry, or ``None``)."""
    seq, prev = (int(tail[0]) + 1, tail[1]) if tail else (1, "")
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows = json.dumps(changes, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (seq, at, table, rows, entry_hash(key, prev, seq, at, table, rows))


def dict_rows(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterable[dict[str, Any]]:
    names = tuple(columns)
    return (dict(zip(names, row, strict=True)) for row in rows)


__all__ = [
    "LOG_COLUMNS",
    "REGISTRY_KEYS",
    "entry_hash",
    "key_name",
    "new_entry",
    "row_digest",
    "row_name",
]
