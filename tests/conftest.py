"""Shared fixtures: a store on every backend, and a small world to act in.

PostgreSQL runs at 127.0.0.1:5432 on our machines.  Each test run creates its
own database and each test its own schema inside it, and drops them after.
When ``CI`` or ``RENEW_FSM_REQUIRE_PG`` is set, an unreachable server fails the
run instead of skipping the PostgreSQL tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import renew_fsm
from renew_fsm import Actor
from renew_fsm.idcard import make

#: The installed ``renew-fsm`` (an editable install of one checkout) would import that checkout's
#: package; first on the path of every process the tests start, this tree is the one they test.
_TREE = str(Path(renew_fsm.__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join([_TREE, *filter(None, [os.environ.get("PYTHONPATH")])])

PG_SERVER = os.environ.get("RENEW_FSM_PG", "postgresql://postgres@127.0.0.1:5432")
PG_REQUIRED = bool(os.environ.get("CI") or os.environ.get("RENEW_FSM_REQUIRE_PG"))
BACKENDS = ("memory", "sqlite", "postgres")
_schemas = itertools.count()


def _pg_admin(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(f"{PG_SERVER}/{dbname}", autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of our own for the whole run; its URL without a schema."""
    try:
        admin = _pg_admin()
    except Exception as exc:
        if PG_REQUIRED:
            pytest.fail(f"PostgreSQL is required (CI) but unreachable at {PG_SERVER}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_SERVER}: {exc}")
    name = f"renew_fsm_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def fresh_schema(database: str, prefix: str = "t") -> Iterator[str]:
    """A new schema in ``database`` as a connection URL, dropped afterwards (a fixture's body)."""
    import psycopg

    schema = f"{prefix}{next(_schemas)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh schema in the run's database, as a connection URL."""
    yield from fresh_schema(pg_database)


def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "memory":
        return "memory:"
    if backend == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store's URL on each backend in turn."""
    return store_url(request.param, tmp_path, request)


@pytest.fixture(params=("sqlite", "postgres"))
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store's URL on each persistent backend (what a second process can open too)."""
    return store_url(request.param, tmp_path, request)


# -- a small province -------------------------------------------------------------------------

REGISTRATION_DAY = "2021-04-20T09:00:00+08:00"

WORLD: list[dict[str, Any]] = [
    {"op": "region", "id": "GX", "level": "province", "name": "广西"},
    {"op": "region", "id": "NN", "level": "city", "parent": "GX", "name": "南宁"},
    {"op": "region", "id": "NN-QX", "level": "county", "parent": "NN", "name": "青秀区"},
    {"op": "region", "id": "NN-XN", "level": "county", "parent": "NN", "name": "兴宁区"},
    {"op": "region", "id": "GL", "level": "city", "parent": "GX", "name": "桂林"},
    {"op": "region", "id": "GL-XF", "level": "county", "parent": "GL", "name": "秀峰区"},
    {"op": "institution", "id": "H1", "region": "NN-QX", "name": "青秀区人民医院"},
    {"op": "institution", "id": "H2", "region": "NN-XN", "name": "兴宁区人民医院"},
    {"op": "institution", "id": "H3", "region": "GL-XF", "name": "秀峰区人民医院"},
    {"op": "agency", "id": "A1", "region": "NN", "name": "南宁考核机构", "assigned": ["H1", "H2"]},
    {"op": "agency", "id": "A2", "region": "GL", "name": "桂林考核机构", "assigned": ["H3"]},
    {"op": "policy", "name": "guangxi-2019-2020"},
]


def doctor_cmd(
    did: str,
    institution: str = "H1",
    *,
    born: str = "1970-03-15",
    since: str = "2000-09-01",
    license: str = "physician",
    record: str = "good",
    name: str | None = None,
    serial: int = 1,
) -> dict[str, Any]:
    """A ``doctor`` command with a valid id-card number for the birth date."""
    birth = dt.date.fromisoformat(born)
    return {
        "op": "doctor",
        "id": did,
        "institution": institution,
        "name": name or f"医师{did}",
        "id_card": make("450103", birth, serial),
        "license": license,
        "birth_date": born,
        "practice_since": since,
        "record": record,
    }


def make_engine(url: str, doctors: list[dict[str, Any]] | None = None) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    for cmd in [*WORLD, *(doctors or [doctor_cmd("D1")]), {"op": "clock", "at": REGISTRATION_DAY}]:
        engine.apply(cmd)
    return engine


@pytest.fixture
def engine(url: str) -> Iterator[renew_fsm.Engine]:
    """An engine on each backend with the small province and doctor D1 (H1, born 1970, good record)."""
    e = make_engine(url)
    yield e
    e.close()


H1 = Actor("institution", "H1")
H2 = Actor("institution", "H2")
A1 = Actor("agency", "A1")
A2 = Actor("agency", "A2")
EXAM = Actor("exam_system")
SYSTEM = Actor("system")
PROVINCE = Actor("admin", "GX")
CITY = Actor("admin", "NN")
COUNTY = Actor("admin", "NN-QX")


def doctor(did: str = "D1") -> Actor:
    return Actor("doctor", did)


def at(day: str, hour: int = 10) -> dt.datetime:
    """A time on ``day`` in Beijing time."""
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00")


def register(e: renew_fsm.Engine, did: str = "D1", institution: Actor = H1, agency: Actor = A1) -> None:
    """Enrol ``did`` and take them to ``registered`` (报名成功)."""
    e.fire(did, "enroll", institution)
    e.fire(did, "submit_info", doctor(did))
    e.fire(did, "approve_info", institution)
    e.fire(did, "confirm_registration", agency)


def to_testing(
    e: renew_fsm.Engine, did: str = "D1", program: str = "general", institution: Actor = H1, agency: Actor = A1
) -> None:
    """Register ``did`` and take them through the program's evaluation to ``<program>.testing``."""
    register(e, did, institution, agency)
    if program == "simple":
        e.fire(did, "choose_simple", doctor(did), {"condition": "good_record_5y", "self_evaluation": "执业行为良好"})
    else:
        e.fire(did, "choose_general", doctor(did), {"self_evaluation": "完成本职工作"})
    e.fire(did, "approve_program", institution, {"work_performance": "pass", "ethics": "pass"})
    e.fire(did, "confirm_program", agency)
