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
from renew_fsm.storage import StaleRead
from renew_fsm.storage import sqlite as sqlite_store

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
    agree(two_urls, seed)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fire_that_looks_inside_its_write_writes_what_the_batch_path_writes(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every decision after the first on what the connection remembers, unlooked, and the look taken
    inside the write (or after a refusal): a stale read is sent back to decide again, not written."""
    monkeypatch.setattr(sqlite_store, "CALM_LOOKS", 0)
    stale = agree((str(tmp_path / "fast.db"), str(tmp_path / "batch.db")), seed)
    assert stale > 0  # the other engine's writes were caught after deciding, not before


def agree(urls: tuple[str, str], seed: int) -> int:
    """Run the stream through ``fire`` and ``fire_many``; how often ``fire`` had to decide again."""
    with ExitStack() as stack:
        fast, batch = opened(urls[0], stack), opened(urls[1], stack)
        stale = count_stale(fast)
        for engine in (fast, batch):
            for cmd in [*WORLD, *(doctor_cmd(d, serial=n) for n, d in enumerate(DOCTORS))]:
                engine.apply(cmd)
        other = opened(urls[0], stack)  # another engine on the fast store: what ``fast`` remembers goes stale
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
    return len(stale)


def count_stale(engine: renew_fsm.Engine) -> list[StaleRead]:
    """The ``StaleRead``s ``engine``'s fires are sent back with (each then decided again)."""
    caught: list[StaleRead] = []
    decide_one = engine._decide_one

    def counted(*args: Any) -> Any:
        try:
            return decide_one(*args)
        except StaleRead as exc:
            caught.append(exc)
            raise

    engine._decide_one = counted  # type: ignore[method-assign]
    return caught


def test_a_fire_decided_on_what_another_engine_has_since_changed_is_decided_again(tmp_path: Path) -> None:
    """Once ``CALM_LOOKS`` looks in a row found nobody else writing, the store looks inside the write
    instead of before deciding.  Another engine's write in between is then found after the decision —
    inside the write when the stale decision was an acceptance, at the end when it was a refusal —
    and the command is decided again on what that engine left: the answers a look first gives."""
    url = str(tmp_path / "shared.db")
    with ExitStack() as stack:
        fast, other = opened(url, stack), opened(url, stack)
        stale = count_stale(fast)
        for cmd in [*WORLD, *(doctor_cmd(d, serial=n) for n, d in enumerate(DOCTORS))]:
            fast.apply(cmd)
        path = happy_path("D1")
        fast.fire(*path[0])

        def quiet() -> None:  # the looks that let the next decision go unlooked
            for _ in range(sqlite_store.CALM_LOOKS):
                fast.state("D2")

        quiet()
        other.fire(*path[1])
        with pytest.raises(Refused) as refused:  # accepted on the remembered state, it would be a conflict
            fast.fire(*path[1])
        assert refused.value.code == "invalid_transition"
        quiet()
        other.fire(*path[2])
        assert fast.fire(*path[3]).version == 4  # refused on the remembered state
        assert [(r.seq, r.event) for r in fast.history("D1")] == [(n + 1, c.event) for n, c in enumerate(path[:4])]
        assert len(stale) == 2  # both found after deciding, neither before
