"""``fire`` — the online path, which on SQLite answers its reads from what the connection
remembers — writes byte for byte what the batch path (``fire_many``) writes for the same commands.

Two stores with the same history key take the same stream: one through ``fire``, one through
``fire_many`` in batches.  The stream mixes a cycle's happy path with refusals, idempotency keys
(retries of the same request and a key reused for another), expected versions, and — the case the
remembering must get right — commands fired through a second engine on the same store between two
of the first engine's, so that what the first remembers is out of date.  Every answer must match,
and so must every stored row of ``instances`` and ``history``, as the database returns them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from conftest import WORLD, doctor_cmd, fresh_schema
from test_batch_agrees_with_fire import happy_path

import renew_fsm
from renew_fsm import Actor, Fire, Refused
from renew_fsm.machines import compiled

TZ = dt.timezone(dt.timedelta(hours=8))
DAYS = [dt.datetime(2021, m, d, 10, tzinfo=TZ) for m, d in ((4, 20), (6, 2), (7, 1), (11, 2))]
DOCTORS = ("D1", "D2", "D3")
KEY = bytes(range(32))
EVENTS = sorted(compiled("doctor").machine.events)
ACTORS = [
    Actor("institution", "H1"),
    Actor("institution", "H2"),
    Actor("agency", "A1"),
    Actor("exam_system"),
    Actor("admin", "NN-QX"),
]


def cycle(doctor: str) -> list[Fire]:
    """A doctor's whole cycle: the batch test's path on to a failed humanities test and the grade."""
    return [
        *happy_path(doctor)[:-1],
        Fire(doctor, "record_score", Actor("exam_system"), {"test": "business", "score": 75}, DAYS[1]),
        Fire(doctor, "record_score", Actor("exam_system"), {"test": "humanities", "score": 52}, DAYS[1]),
        Fire(doctor, "grade", Actor("agency", "A1"), None, DAYS[2]),
    ]


def stream(seed: int) -> list[tuple[Fire, bool, str | None]]:
    """(command, fired through the second engine, the version it expects: none, the doctor's
    current one, or one the doctor has left) in order."""
    rnd = random.Random(seed)
    cycles = {d: iter(cycle(d)) for d in DOCTORS}
    out: list[tuple[Fire, bool, str | None]] = []
    used: list[Fire] = []
    for n in range(90):
        roll = rnd.random()
        if roll < 0.6:
            doctor = rnd.choice(DOCTORS)
            cmd = next(cycles[doctor], None) or Fire(doctor, "grade", ACTORS[2], None, DAYS[2])
            if rnd.random() < 0.5:
                cmd = cmd._replace(idempotency_key=f"k{n}")
        elif roll < 0.75 and used:
            prior = rnd.choice(used)  # a retry, or the same key sent with another request
            cmd = prior if rnd.random() < 0.6 else prior._replace(event=rnd.choice(EVENTS), data=None)
        else:
            cmd = Fire(rnd.choice(DOCTORS), rnd.choice(EVENTS), rnd.choice(ACTORS), None, rnd.choice(DAYS))
        if cmd.idempotency_key is not None:
            used.append(cmd)
        out.append((cmd, rnd.random() < 0.2, rnd.choice([None, None, "current", "left"])))
    return out


@pytest.fixture(params=("sqlite", "postgres"))
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield str(tmp_path / "fast.db"), str(tmp_path / "batch.db")
        return
    database = request.getfixturevalue("pg_database")
    first, second = fresh_schema(database), fresh_schema(database)
    try:
        yield next(first), next(second)
    finally:
        for schema in (first, second):
            next(schema, None)  # drops it


def opened(url: str, stack: ExitStack) -> renew_fsm.Engine:
    engine = renew_fsm.open(url, key=KEY)
    stack.callback(engine.close)
    return engine


def answer(result: Any) -> Any:
    return (result.code, result.rule) if isinstance(result, Refused) else result.as_dict()


def rows(engine: renew_fsm.Engine) -> tuple[list[Any], list[Any]]:
    conn = engine.storage.conn
    instances = conn.execute("SELECT * FROM instances ORDER BY cycle, doctor").fetchall()
    history = conn.execute("SELECT * FROM history ORDER BY cycle, doctor, seq").fetchall()
    return [tuple(r) for r in instances], [tuple(r) for r in history]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fire_writes_what_the_batch_path_writes(two_urls: tuple[str, str], seed: int) -> None:
    with ExitStack() as stack:
        fast, batch = opened(two_urls[0], stack), opened(two_urls[1], stack)
        for engine in (fast, batch):
            for cmd in [*WORLD, *(doctor_cmd(d, serial=n) for n, d in enumerate(DOCTORS))]:
                engine.apply(cmd)
        other = opened(two_urls[0], stack)  # another engine on the fast store: what ``fast`` remembers goes stale
        fast.state("D1")  # remembered from here on
        for cmd, through_other, expects in stream(seed):
            engine = other if through_other else fast
            current = batch.state(cmd.doctor).version if cmd.doctor in DOCTORS else 0
            version = {None: None, "current": current, "left": current - 1 if current else None}[expects]
            try:
                got = answer(engine.fire(*cmd, expected_version=version))
            except Refused as refused:
                got = answer(refused)
            if version is not None and version < current and got == ("conflict", None):
                continue  # refused before anything was written; the batch path has no expected version
            assert got == answer(batch.fire_many([cmd])[0]), cmd
        assert rows(fast) == rows(batch)
        assert [answer(fast.state(d)) for d in DOCTORS] == [answer(batch.state(d)) for d in DOCTORS]
