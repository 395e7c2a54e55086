"""SQLite's schema and its upgrades: created and migrated by sqlite-utils, applied in order on open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils

from .base import (
    APPEND_ONLY,
    SCHEMA_VERSION,
    V1_DOCTOR_COLUMNS,
    V1_HISTORY_COLUMNS,
    V1_INSTANCE_COLUMNS,
    V5_DOCTOR_COLUMNS,
    policy_text_sha256,
)
from .sql import SQLITE, registry_baseline

_INSTANCE_TYPES: dict[str, Any] = {
    "version": int,
    "humanities_attempts": int,
    "business_attempts": int,
    "reexam_attempts": int,
    "suspension_months": int,
    "humanities_best": float,
    "business_best": float,
    "reexam_best": float,
}

#: What the database refuses on the append-only tables, whoever asks: the triggers' names and bodies.
GUARDS = {
    f"{table}_{verb.lower()}_refused": (
        f"CREATE TRIGGER IF NOT EXISTS {table}_{verb.lower()}_refused BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: its rows are never updated or deleted'); END"
    )
    for table in APPEND_ONLY
    for verb in ("UPDATE", "DELETE")
}


def _migrate_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["regions"].create({"id": str, "level": str, "name": str, "parent": str}, pk="id", if_not_exists=True)
    db["institutions"].create({"id": str, "region": str, "name": str, "kind": str}, pk="id", if_not_exists=True)
    db["agencies"].create({"id": str, "region": str, "name": str}, pk="id", if_not_exists=True)
    db["assignments"].create({"agency": str, "institution": str}, pk=("agency", "institution"), if_not_exists=True)
    db["policies"].create(
        {"id": str, "version": str, "text": str, "loaded_at": str}, pk=("id", "version"), if_not_exists=True
    )
    db["exemption_reasons"].create(
        {"cycle": str, "id": str, "text": str, "open": int}, pk=("cycle", "id"), if_not_exists=True
    )
    db["doctors"].create({c: str for c in V1_DOCTOR_COLUMNS}, pk="id", if_not_exists=True)
    db["doctors"].create_index(["institution"], if_not_exists=True)
    db["instances"].create(
        {c: _INSTANCE_TYPES.get(c, str) for c in V1_INSTANCE_COLUMNS},
        pk=("cycle", "doctor"),
        not_null=["cycle", "doctor", "state", "version"],
        if_not_exists=True,
    )
    db["instances"].create_index(["cycle", "state", "doctor"], if_not_exists=True)
    db["history"].create(
        {c: (int if c == "seq" else str) for c in V1_HISTORY_COLUMNS},
        not_null=["cycle", "doctor", "seq", "event", "hash"],
        if_not_exists=True,
    )
    db["history"].create_index(["cycle", "doctor", "seq"], unique=True, if_not_exists=True)
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_idempotency ON history (cycle, doctor, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )


def migrate_2(db: sqlite_utils.Database) -> None:
    """The appeal's days on ``instances``; the workflow tables.

    Migration 1 is frozen at the schema-1 columns; a store made by the short-lived code that
    built them from the running fields may already have these, so they are added where missing.
    """
    have = db["instances"].columns_dict
    for column in ("result_on", "appeal_on"):
        if column not in have:
            db.execute(f"ALTER TABLE instances ADD COLUMN {column} TEXT")
    db["cases"].create(
        {
            "machine": str,
            "id": str,
            "subject": str,
            "state": str,
            "version": int,
            "flags": str,
            "data": str,
            "head": str,
        },
        pk=("machine", "id"),
        not_null=["machine", "id", "subject", "state", "version"],
        if_not_exists=True,
    )
    db["cases"].create_index(["machine", "subject"], if_not_exists=True)
    db["credentials"].create({"account": str, "hash": str}, pk="account", not_null=["hash"], if_not_exists=True)
    db["case_files"].create(
        {"machine": str, "id": str, "name": str, "content": str}, pk=("machine", "id"), if_not_exists=True
    )


def _migrate_3(db: sqlite_utils.Database) -> None:
    """Each instance carries its doctor's institution, so the statistics need no join.

    No index on it: every event would pay to move an entry, and the statistics
    read the whole cycle anyway (see ``tally``).
    """
    if "institution" not in db["instances"].columns_dict:
        db.execute("ALTER TABLE instances ADD COLUMN institution TEXT")
    db.execute("UPDATE instances SET institution = (SELECT d.institution FROM doctors d WHERE d.id = instances.doctor)")


def _migrate_4(db: sqlite_utils.Database) -> None:
    """Nothing: schema 4 makes PostgreSQL compare ids by code point, as SQLite's BINARY collation
    always has.  The step is here because the version number is shared: a file says 4 like a
    PostgreSQL store of the same release."""


def _migrate_5(db: sqlite_utils.Database) -> None:
    """The doctors' optional registry fields (empty for the doctors already stored), and an index on
    the id-card number: one person is one registry entry, checked on every doctor added."""
    have = db["doctors"].columns_dict
    for column in V5_DOCTOR_COLUMNS:
        if column not in have:
            db.execute(f"ALTER TABLE doctors ADD COLUMN {column} TEXT")
    db["doctors"].create_index(["id_card"], if_not_exists=True)


def migrate_6(db: sqlite_utils.Database) -> None:
    """The registry log (with a first entry per table holding the rows already there, by the
    unkeyed rule: the store had no log before), each policy's SHA-256, and the guard triggers."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS registry_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, tbl TEXT NOT NULL,"
        " rows TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    if "sha256" not in db["policies"].columns_dict:
        db.execute("ALTER TABLE policies ADD COLUMN sha256 TEXT")
    for pid, version, text in db.execute("SELECT id, version, text FROM policies").fetchall():
        db.execute(
            "UPDATE policies SET sha256 = ? WHERE id = ? AND version = ?", (policy_text_sha256(text), pid, version)
        )
    registry_baseline(db.conn, SQLITE)
    for sql in GUARDS.values():
        db.execute(sql)


#: The schema version since which a SQLite file has not changed (6 added the registry log and the
#: guard triggers, which a read-only copy from before cannot be given).
SAME_FILE_SINCE = 6
#: Schema upgrades, applied in order on open; the position is the version it brings the file to.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_1,
    migrate_2,
    _migrate_3,
    _migrate_4,
    _migrate_5,
    migrate_6,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


__all__ = ["GUARDS", "MIGRATIONS", "SAME_FILE_SINCE", "SCHEMA_VERSION"]
