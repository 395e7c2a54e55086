"""A PostgreSQL role that may only read (a statistics team's account) opens the store, reads it,
and is told plainly when it tries to write; SQLite's read-only case is in test_sqlite_turns."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from conftest import H1, make_engine

import renew_fsm
from renew_fsm.storage import StorageError
from renew_fsm.verify import verify


@pytest.fixture
def reader_url(pg_url: str) -> Iterator[str]:
    """``pg_url``'s schema, as a role granted nothing but reading it."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    schema = pg_url.rsplit("%3D", 1)[1]
    admin_url = pg_url.split("?", 1)[0]
    writer = make_engine(pg_url)  # the schema and a province with D1, as the service made them
    writer.fire("D1", "enroll", H1)
    writer.close()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    parts = urlsplit(pg_url)
    yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def test_a_role_that_may_only_read_opens_reads_and_is_refused_a_write(reader_url: str) -> None:
    reader = renew_fsm.open(reader_url)
    assert reader.state("D1").state == "enrolled"
    assert [r.event for r in reader.history("D1")] == ["enroll"]
    assert verify(reader).ok
    with pytest.raises(StorageError, match="this role can only read here"):
        reader.fire("D1", "submit_info", renew_fsm.Actor("doctor", "D1"))
    with pytest.raises(StorageError, match="this role can only read here"):
        reader.storage.set_meta("note", "x")
    assert [r.event for r in reader.history("D1")] == ["enroll"]  # nothing was written
    reader.close()
