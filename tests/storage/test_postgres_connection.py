"""PostgreSQL drops a connection (a restart, a failover, an idle timeout): the call that finds it gone
raises ``StorageError`` saying whether a write may have been saved, and the next call connects again.

``pg_terminate_backend`` from another connection is the server going away under the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from conftest import H1, doctor, make_engine

import renew_fsm
from renew_fsm.storage import StorageError

LOST_READ = r"^lost the connection to PostgreSQL during a read \(.*\); nothing was written — try again$"
LOST_WRITE = r"^lost the connection to PostgreSQL during a write \(.*\); it may or may not have been saved"


@pytest.fixture
def engine(pg_url: str) -> Iterator[renew_fsm.Engine]:
    e = make_engine(pg_url)
    yield e
    e.close()


@pytest.fixture
def drop(pg_url: str) -> Iterator[Callable[[renew_fsm.Engine], None]]:
    """Ends an engine's connection from the server's side, as a restart would."""
    with psycopg.connect(pg_url, autocommit=True) as admin:

        def drop(engine: renew_fsm.Engine) -> None:
            pid = engine.storage.conn.info.backend_pid  # type: ignore[attr-defined]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        yield drop


def before_calling(engine: renew_fsm.Engine, method: str, act: Callable[[], None]) -> None:
    """Run ``act`` just before the engine's storage runs ``method``, once."""
    real = getattr(engine.storage, method)

    def then_real(*args: Any, **kwargs: Any) -> Any:
        delattr(engine.storage, method)
        act()
        return real(*args, **kwargs)

    setattr(engine.storage, method, then_real)


def test_a_read_on_a_lost_connection_is_a_storage_error_and_the_next_call_reconnects(
    engine: renew_fsm.Engine, drop: Callable[[renew_fsm.Engine], None]
) -> None:
    drop(engine)
    with pytest.raises(StorageError, match=LOST_READ):
        engine.state("D1")
    assert engine.state("D1").state == "not_enrolled"
    assert engine.fire("D1", "enroll", H1).version == 1
    # Again: not only the first loss (before, every later call said "the connection is closed").
    drop(engine)
    with pytest.raises(StorageError, match=LOST_READ):
        engine.history("D1")
    assert [r.event for r in engine.history("D1")] == ["enroll"]


def test_a_fire_that_loses_its_connection_at_the_commit_is_not_said_to_be_saved_nor_retried(
    engine: renew_fsm.Engine, drop: Callable[[renew_fsm.Engine], None]
) -> None:
    """The engine read the doctor, then the server went away before the one-statement commit."""
    before_calling(engine, "commit", lambda: drop(engine))
    with pytest.raises(StorageError, match=LOST_WRITE):
        engine.fire("D1", "enroll", H1, idempotency_key="k")
    assert engine.history("D1") == []  # not saved here (the server never had it), and not retried
    assert engine.fire("D1", "enroll", H1, idempotency_key="k").version == 1
    assert engine.fire("D1", "enroll", H1, idempotency_key="k").version == 1  # the client's retry: done once
    assert [r.event for r in engine.history("D1")] == ["enroll"]


def test_a_transaction_that_loses_its_connection_is_a_storage_error_and_the_store_goes_on(
    engine: renew_fsm.Engine, drop: Callable[[renew_fsm.Engine], None]
) -> None:
    """Writes of several statements in one transaction: a world change, a batch."""
    region = {"op": "region", "id": "BH", "level": "city", "parent": "GX", "name": "北海"}
    before_calling(engine, "put_region", lambda: drop(engine))
    with pytest.raises(StorageError, match=LOST_WRITE):
        engine.apply(region)
    engine.apply(region)
    assert "BH" in engine.world().regions
    batch = [renew_fsm.Fire("D1", "enroll", H1), renew_fsm.Fire("D1", "submit_info", doctor())]
    before_calling(engine, "commit", lambda: drop(engine))
    with pytest.raises(StorageError, match=LOST_WRITE):
        engine.fire_many(batch)
    assert engine.history("D1") == []
    assert [v.state for v in engine.fire_many(batch)] == ["enrolled", "info_submitted"]  # type: ignore[union-attr]


def test_an_operational_error_on_a_working_connection_is_not_called_a_lost_one(
    engine: renew_fsm.Engine, pg_url: str
) -> None:
    """A lock timeout is an ``OperationalError`` too, but the connection works: no reconnecting, and
    no claim that the server went away."""
    conn = engine.storage.conn  # type: ignore[attr-defined]
    pid = conn.info.backend_pid
    conn.execute("SET lock_timeout = '50ms'")
    with psycopg.connect(pg_url) as holder:
        holder.execute("SELECT 1 FROM instances WHERE doctor = 'D1' FOR UPDATE")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            engine.fire("D1", "enroll", H1)
    assert engine.storage.conn.info.backend_pid == pid  # type: ignore[attr-defined]
    assert engine.fire("D1", "enroll", H1).version == 1
