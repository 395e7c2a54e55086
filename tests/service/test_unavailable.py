"""The database unavailable: a SQLite lock another program holds, a PostgreSQL backend terminated —
503 with ``Retry-After`` and whether the write may have happened, then recovery; over real HTTP."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest
from server import Service, start, stop, store


def problem(response: httpx.Response, status: int, code: str, rule: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "rule", "message", "message_zh"}, body
    assert body["code"] == code and body["rule"] == rule, body


def _serve(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    stores = store(request, tmp_path_factory)
    running = start(next(stores))
    yield running
    stop(running)
    next(stores, None)


sqlite_service = pytest.fixture(scope="module", params=["sqlite"])(_serve)
pg_service = pytest.fixture(scope="module", params=["postgres"])(_serve)


# -- the database unavailable --------------------------------------------------------------------------------


def test_a_held_sqlite_lock_is_503_within_3_s_and_reads_go_on(sqlite_service: Service) -> None:
    service = sqlite_service
    headers = service.headers("institution", "H1")
    holder = sqlite3.connect(service.db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        response = service.http.post("/doctors/D027/events/enroll", json={"data": {}}, headers=headers)
        waited = time.monotonic() - started
        problem(response, 503, "unavailable", "nothing_written")
        assert response.headers["Retry-After"].isdigit()
        assert waited < 3
        assert service.http.get("/health").status_code == 200
        assert service.get("/doctors/D027", "institution", "H1").json()["version"] == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert service.http.post("/doctors/D027/events/enroll", json={"data": {}}, headers=headers).status_code == 200


def test_a_terminated_postgres_backend_is_503_then_recovers(pg_service: Service) -> None:
    service = pg_service
    import psycopg

    headers = service.headers("institution", "H1")
    assert service.get("/doctors/D030", "institution", "H1").status_code == 200
    server_url = service.db.split("?")[0]

    def terminate() -> int:
        with psycopg.connect(server_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchall()
        return len(rows)

    assert terminate() >= 1
    response = service.http.post("/doctors/D030/events/enroll", json={"data": {}}, headers=headers)
    problem(response, 503, "unavailable", "nothing_written")
    assert "Retry-After" in response.headers
    assert service.http.post("/doctors/D030/events/enroll", json={"data": {}}, headers=headers).status_code == 200
    assert terminate() >= 1
    # A read is tried once more on a fresh connection: the client never sees the loss.
    assert service.get("/doctors/D030", "institution", "H1").json()["version"] == 1


def test_workers_times_the_pool_bounds_the_connections(pg_service: Service) -> None:
    """Two worker processes with pools of two: however many requests at once, at most four connections."""
    import threading

    import psycopg

    name = "renew-fsm-bound-test"
    db = f"{pg_service.db}&application_name={name}"
    running = start(db, "--workers", "2", "--pool-size", "2")
    peak, done = [0], threading.Event()

    def watch() -> None:
        with psycopg.connect(pg_service.db.split("?")[0], autocommit=True) as conn:
            while not done.is_set():
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,))
                peak[0] = max(peak[0], row.fetchone()[0])  # type: ignore[index]
                time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    statuses: list[int] = []
    try:
        headers = running.headers("institution", "H1")

        def reads() -> None:
            with httpx.Client(base_url=running.base, timeout=60) as http:
                for n in range(6):
                    statuses.append(http.get(f"/doctors/D{3 * (n + 1):03d}/history", headers=headers).status_code)

        clients = [threading.Thread(target=reads) for _ in range(12)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
    finally:
        done.set()
        watcher.join()
        out, _ = stop(running)
    assert statuses == [200] * 72
    assert 1 <= peak[0] <= 4, peak
    assert "2 worker(s) × pool 2 = at most 4 database connections" in out
