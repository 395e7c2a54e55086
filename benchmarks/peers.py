"""Peers: renew_fsm's online ``fire`` beside what a user could write by hand, in one run.

The same ten-step path (``online.steps``: enroll … grade) for the same doctors, one commit per
event, SQLite in WAL with ``synchronous = NORMAL`` for all three:

- **renew_fsm**: ``Engine.fire`` with every check on — role and jurisdiction, guards and windows,
  event data, the keyed hash chain and the policy's digest on every record; and again with an
  idempotency key and the expected version on every request, as the service's clients send them;
- **transitions + a hand-written store**: one shared ``Machine(model=None)``, ``add_model`` per
  doctor, and per event one ``UPDATE … WHERE state = ?`` and one history ``INSERT`` in a
  ``BEGIN IMMEDIATE`` transaction;
- **python-statemachine + the same store**: a machine object per doctor.

Two more rows say where the difference lies: each store's **statements alone**, without a machine
or an engine — renew_fsm's ``BEGIN IMMEDIATE``, ``UPDATE``, ``INSERT`` and ``COMMIT`` binding what
one of its runs bound (recorded once, replayed on a fresh store with the same pragmas), and the
hand-written store's.  What each whole row takes beyond its statements is its engine: the checks,
the hash chain and the bookkeeping for renew_fsm, ``trigger`` for ``transitions``.  One more row
splits renew_fsm's part: the same fires on the **in-process memory store**, every check on and no
SQL — the engine and its checks alone; what is left is the SQLite store's own work around its
statements (the writers' queue, the ``data_version`` look, building the rows).  From these the
section prints the **best ratio the statements allow**: the hand-written store's whole fire
against renew_fsm's statements plus its engine alone, as if the SQLite store added nothing.

Each sample opens a fresh database.  The three take turns in both orders (A B C, C B A, …) so
that a machine whose speed drifts during the run weighs on each alike; the figure kept is each
one's median, and renew_fsm's ratio is to the faster peer's median.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import transitions

import renew_fsm
from renew_fsm.storage.base import instance_row
from renew_fsm.storage.sql import INSERT_HISTORY, UPDATE_INSTANCE

from .common import target
from .online import populate, prepare, steps

#: The peers' states: the doctor's path through ``online.steps`` as a plain chain.
PATH = [name for name, *_ in steps("D")]
STATES = ["new", *(f"after_{i}_{name}" for i, name in enumerate(PATH))]
ORDER = ("renew_fsm", "renew_fsm keyed", "transitions", "python-statemachine")
# python-statemachine is a benchmark-only dependency (``pip install -e '.[bench]'``); without it
# its row is left out.  transitions is the package's own engine.
try:
    import statemachine
except ImportError:
    statemachine = None


# -- the hand-written store -----------------------------------------------------------------------
class HandStore:
    """What a user writes in an afternoon: the doctor's state, a history row, one transaction each."""

    def __init__(self, path: Path, doctors: list[str]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE doctors (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
        self.conn.execute(
            "CREATE TABLE history (doctor TEXT, seq INTEGER, event TEXT, source TEXT, dest TEXT, at TEXT,"
            " PRIMARY KEY (doctor, seq))"
        )
        self.conn.executemany("INSERT INTO doctors VALUES (?, 'new')", [(d,) for d in doctors])

    def write(self, doctor: str, seq: int, event: str, source: str, dest: str, at: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            cur = c.execute("UPDATE doctors SET state = ? WHERE id = ? AND state = ?", (dest, doctor, source))
            if cur.rowcount != 1:
                raise RuntimeError(f"{doctor} changed under us")
            c.execute("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)", (doctor, seq, event, source, dest, at))
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# -- the three runners: each fires the whole path for every doctor, timed ---------------------------
def run_renew_fsm(path: Path, doctors: list[str], *, keyed: bool = False) -> float:
    """``keyed``: each request carries an idempotency key and the version it was decided on, as the
    service's clients send them (``Idempotency-Key``, ``X-Expected-Version``)."""
    prepare(str(path), len(doctors))
    return _fire_path(renew_fsm.open(str(path), key=os.urandom(32)), doctors, keyed=keyed)


def run_renew_fsm_keyed(path: Path, doctors: list[str]) -> float:
    return run_renew_fsm(path, doctors, keyed=True)


def run_renew_fsm_memory(_path: Path, doctors: list[str]) -> float:
    """The same fires on the in-process memory store: the engine with every check and the keyed
    hash chain, and no SQL."""
    engine = renew_fsm.open("memory:", key=os.urandom(32))
    populate(engine, len(doctors))
    return _fire_path(engine, doctors, keyed=False)


def _fire_path(engine: renew_fsm.Engine, doctors: list[str], *, keyed: bool) -> float:
    """Seconds to fire the path for every doctor through ``engine``, which it closes."""
    engine.state(doctors[0])  # the world cache warm, as in a running service
    fire = engine.fire
    started = time.perf_counter()
    if keyed:
        for doctor in doctors:
            version = 0
            for n, (event, actor, data, at) in enumerate(steps(doctor)):
                version = fire(doctor, event, actor, data, at, f"{doctor}-{n}", expected_version=version).version
    else:
        for doctor in doctors:
            for event, actor, data, at in steps(doctor):
                fire(doctor, event, actor, data, at)
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


def run_transitions(path: Path, doctors: list[str]) -> float:
    store = HandStore(path, doctors)
    machine = transitions.Machine(
        model=None,
        states=STATES,
        transitions=[[name, STATES[i], STATES[i + 1]] for i, name in enumerate(PATH)],
        initial="new",
        auto_transitions=False,
    )

    class Model:
        def __init__(self, doctor: str) -> None:
            self.id = doctor

    started = time.perf_counter()
    for doctor in doctors:
        model = Model(doctor)
        machine.add_model(model)
        for n, (event, _actor, _data, at) in enumerate(steps(doctor)):
            source = model.state
            model.trigger(event)
            store.write(doctor, n + 1, event, source, model.state, at.isoformat())
        machine.remove_model(model)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def _statemachine_class() -> type:
    states = {
        name: statemachine.State(name, initial=(i == 0), final=(i == len(STATES) - 1)) for i, name in enumerate(STATES)
    }
    # ``record_score`` is two steps of the path: one event with two transitions.
    events: dict[str, Any] = {}
    for i, name in enumerate(PATH):
        step = states[STATES[i]].to(states[STATES[i + 1]])
        events[name] = events[name] | step if name in events else step
    return type("DoctorCycle", (statemachine.StateMachine,), {**states, **events})


def run_statemachine(path: Path, doctors: list[str]) -> float:
    store = HandStore(path, doctors)
    cycle = _statemachine_class()
    started = time.perf_counter()
    for doctor in doctors:
        sm = cycle()
        for n, (event, _actor, _data, at) in enumerate(steps(doctor)):
            source = sm.current_state.id
            sm.send(event)
            store.write(doctor, n + 1, event, source, sm.current_state.id, at.isoformat())
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


# -- where the time goes: each store's statements alone -------------------------------------------
Writes = list[tuple[tuple[Any, ...], tuple[Any, ...]]]


def recorded_writes(path: Path, doctors: list[str]) -> Writes:
    """What renew_fsm's ``fire`` binds to its ``UPDATE`` and ``INSERT`` for the path, from one run."""
    prepare(str(path), len(doctors))
    engine = renew_fsm.open(str(path), key=os.urandom(32))
    writes: Writes = []
    store = engine.storage
    commit = store.commit

    def recording(updates: Any, records: Any) -> None:
        ((expected, inst),), (record,) = updates, records
        writes.append(((*instance_row(inst)[2:], inst.cycle, inst.doctor, expected), tuple(record)))
        commit(updates, records)

    store.commit = recording  # type: ignore[method-assign]
    for doctor in doctors:
        for event, actor, data, at in steps(doctor):
            engine.fire(doctor, event, actor, data, at)
    engine.close()
    return writes


def run_renew_fsm_statements(path: Path, doctors: list[str], writes: Writes) -> float:
    """renew_fsm's four statements per event on a fresh store, sent on the connection the store
    opens — its pragmas, as it sets them — but past the store and its engine."""
    prepare(str(path), len(doctors))
    engine = renew_fsm.open(str(path))
    execute = engine.storage.conn.execute
    started = time.perf_counter()
    for update, record in writes:
        execute("BEGIN IMMEDIATE")
        execute(UPDATE_INSTANCE, update)
        execute(INSERT_HISTORY, record)
        execute("COMMIT")
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


def run_hand_statements(path: Path, doctors: list[str]) -> float:
    store = HandStore(path, doctors)
    rows = [
        (doctor, n + 1, event, STATES[n], STATES[n + 1], at.isoformat())
        for doctor in doctors
        for n, (event, _actor, _data, at) in enumerate(steps(doctor))
    ]
    started = time.perf_counter()
    for row in rows:
        store.write(*row)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


RUNNERS: dict[str, Callable[[Path, list[str]], float]] = {
    "renew_fsm": run_renew_fsm,
    "renew_fsm keyed": run_renew_fsm_keyed,
    "transitions": run_transitions,
    "python-statemachine": run_statemachine,
}


#: The rows that say where the time goes, taken in the same turns as the others: each store's
#: statements alone, and renew_fsm's engine without SQL.
STATEMENTS = ("renew_fsm statements", "hand store statements")
ENGINE_ALONE = "renew_fsm on the memory store"


def measure(folder: Path, doctors: int, rounds: int) -> dict[str, list[float]]:
    """Events per second of each runner and of the statements alone, ``rounds`` samples each, the
    orders alternating."""
    ids = [f"D{n:06d}" for n in range(doctors)]
    events = doctors * len(PATH)
    writes = recorded_writes(folder / "peers-recorded.db", ids)
    _remove(folder / "peers-recorded.db")
    runners = {
        **RUNNERS,
        STATEMENTS[0]: lambda path, ids: run_renew_fsm_statements(path, ids, writes),
        STATEMENTS[1]: run_hand_statements,
        ENGINE_ALONE: run_renew_fsm_memory,
    }
    rates: dict[str, list[float]] = {name: [] for name in runners}
    names = [
        name
        for name in (*ORDER, *STATEMENTS, ENGINE_ALONE)
        if name != "python-statemachine" or statemachine is not None
    ]
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            path = folder / f"peers-{name.replace(' ', '-')}-{r}.db"
            rates[name].append(events / runners[name](path, ids))
            _remove(path)
    return {name: samples for name, samples in rates.items() if samples}


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-writer"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run(folder: Path, doctors: int = 900, rounds: int = 6) -> dict[str, Any]:
    print(f"\n2b. Peers: the same 10-step path for {doctors:,} doctors, one commit per event ({rounds} samples each)")
    if statemachine is None:
        print("   python-statemachine is not installed (pip install -e '.[bench]'): its row is left out")
    every = measure(folder, doctors, rounds)
    alone = {name: every.pop(name) for name in (*STATEMENTS, ENGINE_ALONE)}
    rates = every
    medians = {name: statistics.median(samples) for name, samples in rates.items()}
    for name, samples in rates.items():
        shown = " / ".join(f"{s:,.0f}" for s in samples)
        print(f"   {name:<20} median {medians[name]:>8,.0f} events/s   ({shown})")
    peer = max((n for n in medians if not n.startswith("renew_fsm")), key=medians.__getitem__)
    ratio = medians["renew_fsm"] / medians[peer]
    keyed = medians["renew_fsm keyed"] / medians[peer]
    print(f"   renew_fsm ÷ {peer}: {ratio:.2f}×  (with a key and the expected version: {keyed:.2f}×)")
    # Where the time goes, in µs an event: each store's statements, and what its engine adds.
    us = {name: 1e6 / statistics.median(samples) for name, samples in alone.items()}
    whole, hand_whole = 1e6 / medians["renew_fsm"], 1e6 / medians["transitions"]
    split = {
        "renew_fsm statements": us[STATEMENTS[0]],
        "renew_fsm engine": whole - us[STATEMENTS[0]],
        "renew_fsm engine without SQL": us[ENGINE_ALONE],
        "renew_fsm SQLite store": whole - us[STATEMENTS[0]] - us[ENGINE_ALONE],
        "hand store statements": us[STATEMENTS[1]],
        "transitions engine": hand_whole - us[STATEMENTS[1]],
    }
    # As if the SQLite store added nothing to its statements and the engine: what no work on the
    # Python side can pass while the statements stay as they are.
    ceiling = 1e6 / medians[peer] / (us[STATEMENTS[0]] + us[ENGINE_ALONE])
    print(
        f"   µs an event: statements alone {split['renew_fsm statements']:.1f} (renew_fsm) against"
        f" {split['hand store statements']:.1f} (hand store); the rest {split['renew_fsm engine']:.1f}"
        f" (renew_fsm) against {split['transitions engine']:.1f} (transitions)"
    )
    print(
        f"   renew_fsm's rest: {split['renew_fsm engine without SQL']:.1f} its engine and checks (the same"
        f" fires on the memory store), {split['renew_fsm SQLite store']:.1f} the SQLite store around its statements"
    )
    print(f"   best ratio these statements allow (the SQLite store adding nothing): {ceiling:.2f}×")
    return {
        "doctors": doctors,
        "events_per_sample": doctors * len(PATH),
        "rates": {name: [round(s) for s in samples] for name, samples in rates.items()},
        "medians": {name: round(m) for name, m in medians.items()},
        "statements_alone": {name: [round(s) for s in alone[name]] for name in STATEMENTS},
        "engine_without_sql": [round(s) for s in alone[ENGINE_ALONE]],
        "us_per_event": {name: round(v, 1) for name, v in split.items()},
        "ceiling": round(ceiling, 3),
        "fastest_peer": peer,
        "ratio": round(ratio, 3),
        "ratio_keyed": round(keyed, 3),
        "targets": [
            target(
                "online fire with every check on at least as fast as the faster hand-written peer",
                ratio >= 1.0,
                f"{ratio:.2f}× {peer}",
            )
        ],
    }


__all__ = ["RUNNERS", "measure", "run"]
