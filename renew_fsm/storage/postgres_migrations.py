"""PostgreSQL's schema and its upgrades: lists of statements (and a step SQL alone cannot take),
applied in order under an advisory lock on open; the columns of each version are ``base``'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from . import base
from .base import APPEND_ONLY, SCHEMA_VERSION
from .sql import POSTGRES, registry_baseline

#: Migration 1 is frozen at the schema-1 columns; ``IF NOT EXISTS`` keeps this safe on a store made
#: by the short-lived code that built them from the running fields.
MIGRATION_2: list[str] = [
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS result_on text",
    "ALTER TABLE instances ADD COLUMN IF NOT EXISTS appeal_on text",
    "CREATE TABLE IF NOT EXISTS cases (machine text NOT NULL, id text NOT NULL, subject text NOT NULL,"
    " state text NOT NULL, version integer NOT NULL, flags text, data text, head text, PRIMARY KEY (machine, id))",
    "CREATE INDEX IF NOT EXISTS idx_cases_machine_subject ON cases (machine, subject)",
    "CREATE TABLE IF NOT EXISTS credentials (account text PRIMARY KEY, hash text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS case_files (machine text, id text, name text, content text, PRIMARY KEY (machine, id))",
]

#: The role the service connects as (the guide's "database role"): it may read and append to the
#: append-only tables, never update, delete or truncate them; the rest of the store it may change.
APP_ROLE = "renew_fsm_app"


def _baseline(cur: psycopg.Cursor[Any]) -> None:
    registry_baseline(cur, POSTGRES)


#: The guard triggers by name: each append-only table refuses rewrites row by row and truncation.
GUARDS = [f"{table}_{what}_refused" for table in APPEND_ONLY for what in ("rewrite", "truncate")]

#: 6: the registry log, each policy's SHA-256, triggers refusing to rewrite the append-only tables
#: (whoever asks, the owner too), and the application role with INSERT and SELECT only on them.
MIGRATION_6: list[str | Callable[[psycopg.Cursor[Any]], None]] = [
    "CREATE TABLE IF NOT EXISTS registry_log (seq bigint PRIMARY KEY, at text NOT NULL, tbl text NOT NULL,"
    " rows text NOT NULL, hash text NOT NULL)",
    "ALTER TABLE policies ADD COLUMN IF NOT EXISTS sha256 text",
    "UPDATE policies SET sha256 = encode(sha256(convert_to(text, 'UTF8')), 'hex')",
    _baseline,
    "CREATE OR REPLACE FUNCTION renew_fsm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION '% is append-only: its rows are never updated or deleted', TG_TABLE_NAME; END $$",
    *(  # (the names of GUARDS)
        f"CREATE OR REPLACE TRIGGER {table}_{what}_refused BEFORE {verb} ON {table} FOR EACH {each} "
        "EXECUTE FUNCTION renew_fsm_append_only()"
        for table in APPEND_ONLY
        for what, verb, each in (("rewrite", "UPDATE OR DELETE", "ROW"), ("truncate", "TRUNCATE", "STATEMENT"))
    ),
    f"""DO $$
BEGIN
    BEGIN
        CREATE ROLE {APP_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {APP_ROLE}', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES '
                   'TO {APP_ROLE}', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}',
                   current_schema());
    REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(APPEND_ONLY)} FROM {APP_ROLE};
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'renew_fsm: role {APP_ROLE} not set up (this role may not create roles); see the guide';
END $$""",
]


_NUMERIC = {
    "version": "integer",
    "humanities_attempts": "integer",
    "business_attempts": "integer",
    "reexam_attempts": "integer",
    "suspension_months": "integer",
    "humanities_best": "double precision",
    "business_best": "double precision",
    "reexam_best": "double precision",
}
_INSTANCE_DDL = ", ".join(f"{c} {_NUMERIC.get(c, 'text')}" for c in base.V1_INSTANCE_COLUMNS)
_DOCTOR_DDL = ", ".join(f"{c} text" for c in base.V1_DOCTOR_COLUMNS)
_HISTORY_DDL = ", ".join(f"{c} {'integer' if c == 'seq' else 'text'}" for c in base.V1_HISTORY_COLUMNS)

MIGRATIONS: list[list[str] | list[str | Callable[[psycopg.Cursor[Any]], None]]] = [
    [
        "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text)",
        "CREATE TABLE IF NOT EXISTS regions (id text PRIMARY KEY, level text, name text, parent text)",
        "CREATE TABLE IF NOT EXISTS institutions (id text PRIMARY KEY, region text, name text, kind text)",
        "CREATE TABLE IF NOT EXISTS agencies (id text PRIMARY KEY, region text, name text)",
        "CREATE TABLE IF NOT EXISTS assignments (agency text, institution text, PRIMARY KEY (agency, institution))",
        "CREATE TABLE IF NOT EXISTS policies"
        " (id text, version text, text text, loaded_at text, PRIMARY KEY (id, version))",
        "CREATE TABLE IF NOT EXISTS exemption_reasons"
        " (cycle text, id text, text text, open integer, PRIMARY KEY (cycle, id))",
        f"CREATE TABLE IF NOT EXISTS doctors ({_DOCTOR_DDL}, PRIMARY KEY (id))",
        "CREATE INDEX IF NOT EXISTS idx_doctors_institution ON doctors (institution)",
        f"CREATE TABLE IF NOT EXISTS instances ({_INSTANCE_DDL}, PRIMARY KEY (cycle, doctor))",
        "CREATE INDEX IF NOT EXISTS idx_instances_cycle_state_doctor ON instances (cycle, state, doctor)",
        f"CREATE TABLE IF NOT EXISTS history (id bigserial PRIMARY KEY, {_HISTORY_DDL})",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_cycle_doctor_seq ON history (cycle, doctor, seq)",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_history_idempotency ON history (cycle, doctor, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL",
    ],
    MIGRATION_2,
    # 3: each instance carries its doctor's institution, so the statistics need no join.
    [
        "ALTER TABLE instances ADD COLUMN IF NOT EXISTS institution text",
        "UPDATE instances i SET institution = d.institution FROM doctors d WHERE d.id = i.doctor",
    ],
    # 4: the ids the store sorts and pages by compare by code point ("C"), whatever the database's
    # collation: under ICU's en-US, 'a1' < 'D-3' < 'd2' < 'D9', where SQLite and memory give
    # 'D-3' < 'D9' < 'a1' < 'd2' — pages and queues disagreed between backends.  On the columns,
    # not in each ORDER BY, so keyset comparisons agree and the indexes (rebuilt here) serve them.
    [
        'ALTER TABLE doctors ALTER COLUMN id TYPE text COLLATE "C"',
        'ALTER TABLE instances ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN doctor TYPE text COLLATE "C"',
        'ALTER TABLE history ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN doctor TYPE text COLLATE "C"',
        'ALTER TABLE cases ALTER COLUMN machine TYPE text COLLATE "C", ALTER COLUMN id TYPE text COLLATE "C"',
        'ALTER TABLE exemption_reasons ALTER COLUMN cycle TYPE text COLLATE "C", ALTER COLUMN id TYPE text COLLATE "C"',
    ],
    # 5: the doctors' optional registry fields, and an index on the id-card number (one person is
    # one registry entry, checked on every doctor added).
    [
        f"ALTER TABLE doctors {', '.join(f'ADD COLUMN IF NOT EXISTS {c} text' for c in base.V5_DOCTOR_COLUMNS)}",
        "CREATE INDEX IF NOT EXISTS idx_doctors_id_card ON doctors (id_card)",
    ],
    # 6: the registry log, each policy's SHA-256, the guard triggers and the application role.
    MIGRATION_6,
]
assert len(MIGRATIONS) == SCHEMA_VERSION

__all__ = ["APP_ROLE", "GUARDS", "MIGRATIONS", "SCHEMA_VERSION"]
