"""The example service, started for real: ``python examples/service/app.py`` on a free localhost port.

One server per backend for the whole module (starting uvicorn costs about a
second); tests keep out of each other's way by using their own doctors.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import doctor_cmd, make_engine

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "service" / "app.py"
#: Doctors D001 … D060 across H1, H2 (agency A1, city NN) and H3 (agency A2, city GL).
DOCTORS = 60
BACKENDS = ("sqlite", "postgres")


def institution_of(n: int) -> str:
    return ("H1", "H2", "H3")[n % 3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A running service and an HTTP client for it, acting as whoever the headers say."""

    def __init__(self, base: str, db: str, process: subprocess.Popen[bytes]) -> None:
        self.base, self.db, self.process = base, db, process
        self.http = httpx.Client(base_url=base, timeout=30)

    def headers(self, role: str | None, ident: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if role is not None:
            out["X-Actor-Role"] = role
        if ident is not None:
            out["X-Actor-Id"] = ident
        return out

    def fire(
        self,
        doctor: str,
        event: str,
        role: str,
        ident: str | None = None,
        data: dict[str, Any] | None = None,
        **headers: str,
    ) -> httpx.Response:
        return self.http.post(
            f"/doctors/{doctor}/events/{event}", json={"data": data or {}}, headers=self.headers(role, ident, **headers)
        )

    def get(self, path: str, role: str | None, ident: str | None = None, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers(role, ident))


def start(db: str) -> Service:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(APP), "--db", db, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/health", headers={"X-Actor-Role": "system"}, timeout=1).status_code == 200:
                return Service(base, db, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not answer /health within 30 s")


def stop(service: Service) -> None:
    service.http.close()
    service.process.terminate()
    try:
        service.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()


def seed(db: str) -> None:
    """The small province of tests/conftest.py with 60 doctors, the clock on a registration day."""
    doctors = [doctor_cmd(f"D{n:03d}", institution_of(n), serial=n) for n in range(1, DOCTORS + 1)]
    make_engine(db, doctors).close()


def running_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service over a seeded database, on SQLite and on PostgreSQL.

    A test module makes it a fixture: ``service = pytest.fixture(scope="module", params=BACKENDS)(running_service)``.
    """
    schema = None
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("service") / "cycle.db")
    else:
        import psycopg

        server = request.getfixturevalue("pg_database")
        schema = f"svc_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        db = f"{server}?options=-csearch_path%3D{schema}"
    seed(db)
    running = start(db)
    yield running
    stop(running)
    if schema is not None:
        import psycopg

        with psycopg.connect(request.getfixturevalue("pg_database"), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
