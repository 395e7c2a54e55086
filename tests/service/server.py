"""``renew-fsm serve``, started for real on a free localhost port, and a client that signs in.

One server per backend for a test module (starting one costs about a second);
tests keep out of each other's way by using their own doctors.  Accounts are
made on first use, the way an office would make them (created and activated by
the superior, the one-time secret replaced), and signed in over HTTP.
"""

from __future__ import annotations

import os
import shutil
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

import renew_fsm
from renew_fsm import Actor
from renew_fsm.workflows import ARGON2_ENV

# Cheap hashing for the tests' many accounts; the parameters do not change what is tested.
os.environ[ARGON2_ENV] = "time_cost=1,memory_cost=1024,parallelism=1"

ROOT = Path(__file__).resolve().parents[2]
#: Doctors D001 … D060 across H1, H2 (agency A1, city NN) and H3 (agency A2, city GL).
DOCTORS = 60
BACKENDS = ("sqlite", "postgres")
#: A second province, so that a testing app's province can be told apart from another's.
OTHER_PROVINCE = [
    {"op": "region", "id": "YN", "level": "province", "name": "云南"},
    {"op": "region", "id": "KM", "level": "city", "parent": "YN", "name": "昆明"},
    {"op": "region", "id": "KM-WH", "level": "county", "parent": "KM", "name": "五华区"},
    {"op": "institution", "id": "Y1", "region": "KM-WH", "name": "五华区医院"},
]


def institution_of(n: int) -> str:
    return ("H1", "H2", "H3")[n % 3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli() -> list[str]:
    exe = shutil.which("renew-fsm")
    return [exe] if exe else [sys.executable, "-c", "from renew_fsm.cli import main; main()"]


def password(account: str) -> str:
    return f"{account} chosen password"


def make_account(db: str, role: str, ident: str) -> str:
    """An active account for ``role:ident`` (made by the system operator); its id."""
    account = f"{role}-{ident}"
    engine = renew_fsm.open(db)
    try:
        if engine.storage.load_case("account", account) is None:
            engine.case_fire("account", account, "create_account", Actor("system"), subject=f"{role}:{ident}")
            secret = engine.case_fire("account", account, "activate_account", Actor("system")).secret
            engine.change_password(account, secret or "", password(account))
    finally:
        engine.close()
    return account


class Service:
    """A running service and an HTTP client for it, signed in as whoever a call names."""

    def __init__(self, base: str, db: str, process: subprocess.Popen[str]) -> None:
        self.base, self.db, self.process = base, db, process
        self.http = httpx.Client(base_url=base, timeout=30)
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, role: str, ident: str) -> str:
        if (role, ident) not in self.tokens:
            account = make_account(self.db, role, ident)
            response = self.http.post("/session", json={"account": account, "secret": password(account)})
            assert response.status_code == 200, response.text
            self.tokens[(role, ident)] = response.json()["token"]
        return self.tokens[(role, ident)]

    def headers(self, role: str | None, ident: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if role is not None:
            out["Authorization"] = f"Bearer {self.token(role, ident or '')}"
        return out

    def fire(
        self,
        doctor: str,
        event: str,
        role: str | None,
        ident: str | None = None,
        data: dict[str, Any] | None = None,
        **headers: str,
    ) -> httpx.Response:
        return self.http.post(
            f"/doctors/{doctor}/events/{event}", json={"data": data or {}}, headers=self.headers(role, ident, **headers)
        )

    def get(self, path: str, role: str | None, ident: str | None = None, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers(role, ident))


def start(db: str, *options: str) -> Service:
    port = free_port()
    process = subprocess.Popen(
        [*cli(), "serve", "--db", db, "--port", str(port), "--rehearsal", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited: {process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return Service(base, db, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not answer /health within 30 s")


def stop(service: Service) -> tuple[str, str]:
    """Stop the service; what it printed (stdout, stderr)."""
    service.http.close()
    service.process.terminate()
    try:
        out, err = service.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()
        out, err = service.process.communicate()
    return out, err


def seed(db: str) -> None:
    """The small province of tests/conftest.py with 60 doctors, a second province, the clock on a registration day."""
    doctors = [doctor_cmd(f"D{n:03d}", institution_of(n), serial=n) for n in range(1, DOCTORS + 1)]
    engine = make_engine(db, doctors)
    for cmd in OTHER_PROVINCE:
        engine.apply(cmd)
    engine.apply(doctor_cmd("Y001", "Y1", serial=99))
    engine.close()


def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A seeded store's URL on the fixture's backend; a PostgreSQL schema is dropped afterwards."""
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
    yield db
    if schema is not None:
        import psycopg

        with psycopg.connect(request.getfixturevalue("pg_database"), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def running_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service over a seeded database, on SQLite and on PostgreSQL.

    A test module makes it a fixture: ``service = pytest.fixture(scope="module", params=BACKENDS)(running_service)``.
    """
    stores = store(request, tmp_path_factory)
    db = next(stores)
    running = start(db)
    yield running
    stop(running)
    next(stores, None)
