"""Several processes, one store: conflicting commands on the same doctors at the same moment.

Four worker processes (spawned, each with its own engine and connection) get
the same twelve doctors round after round and start each round together.  In
a *decision* round half of them send one event and half a rival event that
leaves from the same state (approve or reject the details, confirm or return
the evaluation …): for every doctor exactly one command wins and every other
is refused ``conflict`` (it read the instance before the winner wrote) or
``invalid_transition`` (it read it after).  In a *counter* round every worker
records two test scores for every doctor, half of them through ``fire_many``:
no score may be lost — the attempts counter, the best score and the history
must all agree with the commands that were accepted, and every loser is told
``conflict``.  Last, an idempotency key used by one process is retried by
three others at once after the state moved on: nobody fires again, and each
gets the current view.  The store verifies after every round.

tests/engine/test_engine_race.py already races two processes on one event;
this file races many processes on rival events, counters and batches.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter, defaultdict
from typing import Any

from conftest import A1, H1, PROVINCE, doctor, doctor_cmd, make_engine

import renew_fsm
from renew_fsm.verify import verify

WORKERS = 4
DOCTORS = [f"C{i:02d}" for i in range(12)]
TIMEOUT = 120
REASON = {"reason": "材料不全"}
PASS = {"work_performance": "pass", "ethics": "pass"}

#: The happy step out of each state: how the test puts every doctor where the next round starts.
ON = {
    "enrolled": ("submit_info", "doctor", {}),
    "info_submitted": ("approve_info", "institution", {}),
    "info_approved": ("confirm_registration", "agency", {}),
    "registered": ("choose_general", "doctor", {"self_evaluation": "完成本职工作"}),
    "simple.submitted": ("approve_program", "institution", PASS),
    "general.submitted": ("approve_program", "institution", PASS),
    "simple.institution_approved": ("confirm_program", "agency", {}),
    "general.institution_approved": ("confirm_program", "agency", {}),
}
ACTORS = {"doctor": None, "institution": H1, "agency": A1}

#: Decision rounds: the state every doctor is put in, and two rival events leaving it.
ROUNDS: list[tuple[tuple[str, ...], tuple[str, str, dict[str, Any]], tuple[str, str, dict[str, Any]]]] = [
    (("info_submitted",), ("approve_info", "institution", {}), ("reject_info", "institution", REASON)),
    (("info_approved",), ("confirm_registration", "agency", {}), ("reject_registration", "agency", REASON)),
    (
        ("registered",),
        ("choose_simple", "doctor", {"condition": "good_record_5y", "self_evaluation": "执业行为良好"}),
        ("choose_general", "doctor", {"self_evaluation": "完成本职工作"}),
    ),
    (
        ("simple.submitted", "general.submitted"),
        ("approve_program", "institution", PASS),
        ("reject_program", "institution", REASON),
    ),
    (
        ("simple.institution_approved", "general.institution_approved"),
        ("confirm_program", "agency", {}),
        ("return_program", "agency", REASON),
    ),
]


def _actor(role: str, did: str) -> tuple[str, str | None]:
    actor = ACTORS[role] or doctor(did)
    return actor.role, actor.id


def _bring(engine: renew_fsm.Engine, did: str, states: tuple[str, ...]) -> None:
    """Take ``did`` along the happy path until it stands in one of ``states``."""
    for _ in range(12):
        state = engine.state(did).state
        if state in states:
            return
        event, role, data = ON[state]
        engine.fire(did, event, ACTORS[role] or doctor(did), data)
    raise AssertionError(f"{did} did not reach {states}")


class Pool:
    """Long-lived worker processes fed round by round (starting processes costs ~1 s each)."""

    def __init__(self, url: str):
        ctx = multiprocessing.get_context("spawn")
        from relworker import work

        self.barrier = ctx.Barrier(WORKERS, timeout=TIMEOUT)
        self.out = ctx.Queue()
        self.queues = [ctx.Queue() for _ in range(WORKERS)]
        self.procs = [ctx.Process(target=work, args=(url, q, self.barrier, self.out)) for q in self.queues]
        for p in self.procs:
            p.start()
        self.rounds = 0

    def round(self, per_worker: list[list[tuple[Any, ...]]], batched: list[bool]) -> list[tuple[Any, ...]]:
        self.rounds += 1
        for q, commands, b in zip(self.queues, per_worker, batched, strict=True):
            q.put((commands, b, self.rounds))
        results = [self.out.get(timeout=TIMEOUT) for _ in self.queues]
        for r in results:
            assert not (r and r[0][0] == "!"), r[0][2]
        return [o for r in results for o in r]

    def close(self) -> None:
        for q in self.queues:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.exitcode is None:  # stuck: do not leave it behind
                p.kill()
            assert p.exitcode == 0


def _verified(engine: renew_fsm.Engine) -> None:
    report = verify(engine)
    assert report.ok, report.findings
    history = [engine.history(d) for d in DOCTORS]
    assert all([r.seq for r in h] == list(range(1, len(h) + 1)) for h in history), "a record lost or doubled"
    assert sum(map(len, history)) == engine.storage.count_history(engine.cycle)


def test_processes_racing_rival_events_counters_and_retries(sql_url: str) -> None:
    engine = make_engine(
        sql_url, [doctor_cmd(d, "H1", born="1958-03-15", since="1985-09-01", serial=i) for i, d in enumerate(DOCTORS)]
    )
    if sql_url.endswith(".db"):
        conn = engine.storage.conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    for d in DOCTORS:
        engine.fire(d, "enroll", H1)
    started = time.perf_counter()
    pool = Pool(sql_url)
    tally: Counter[str] = Counter()
    try:
        # -- decision rounds: one winner per doctor, every loser conflict or invalid_transition --------
        for states, first, second in ROUNDS:
            for d in DOCTORS:
                _bring(engine, d, states)
            versions = {d: engine.state(d).version for d in DOCTORS}
            per_worker = []
            for w in range(WORKERS):
                event, role, data = first if w % 2 == 0 else second
                per_worker.append([(d, event, *_actor(role, d), data, None) for d in DOCTORS])
            outcomes = pool.round(per_worker, [False] * WORKERS)
            by_doctor: dict[str, list[str]] = defaultdict(list)
            for d, _event, code, _, view, _ in outcomes:
                by_doctor[d].append(code)
                if code == "ok":
                    assert view["version"] == versions[d] + 1
            for d, codes in by_doctor.items():
                assert codes.count("ok") == 1, (d, states, codes)
                assert set(codes) - {"ok"} <= {"conflict", "invalid_transition"}, (d, codes)
                assert len(engine.history(d)) == versions[d] + 1, f"{d}: not exactly one record for one winner"
                tally.update(codes)
            _verified(engine)

        # -- a counter round: no lost update, through fire and fire_many alike -------------------------
        for d in DOCTORS:
            _bring(engine, d, ("simple.testing", "general.testing"))
        engine.apply({"op": "clock", "at": "2021-06-02T10:00:00+08:00"})  # the first round: workers read it
        before = {d: engine.state(d).instance for d in DOCTORS}
        per_worker = [
            [
                (d, "record_score", "exam_system", None, {"test": "humanities", "score": 10 + 10 * w + k}, None)
                for d in DOCTORS
                for k in range(2)
            ]
            for w in range(WORKERS)
        ]
        outcomes = pool.round(per_worker, [w % 2 == 0 for w in range(WORKERS)])
        accepted: dict[str, list[float]] = defaultdict(list)
        for d, _, code, _, _, data in outcomes:
            tally[code] += 1
            assert code in ("ok", "conflict"), (d, code)
            if code == "ok":
                accepted[d].append(data["score"])
        for d in DOCTORS:
            inst = engine.state(d).instance
            scores = engine.history(d)[before[d].version :]
            assert inst.humanities_attempts == len(accepted[d]) == len(scores), f"{d}: an attempt was lost"
            assert inst.humanities_best == max(accepted[d]), d
            assert sorted(float(json.loads(r.data)["score"]) for r in scores) == sorted(accepted[d])
            assert inst.version == before[d].version + len(accepted[d])
        _verified(engine)

        # -- an idempotency key retried from other processes after the state moved on -------------------
        first = pool.round(
            [[(d, "mark_suspected", "agency", "A1", {"reason": "照片异常"}, f"mark-{d}") for d in DOCTORS]]
            + [[] for _ in range(WORKERS - 1)],
            [False] * WORKERS,
        )
        assert [o[2] for o in first] == ["ok"] * len(DOCTORS)
        lifted = DOCTORS[::2]
        for d in lifted:
            engine.fire(d, "unmark_suspected", PROVINCE, {"reason": "复核无异常"})
        now = {d: engine.state(d).as_dict() for d in DOCTORS}
        records = engine.storage.count_history(engine.cycle)
        retries = pool.round(
            [[]]
            + [
                [(d, "mark_suspected", "agency", "A1", {"reason": "照片异常"}, f"mark-{d}") for d in DOCTORS]
                for _ in range(WORKERS - 1)
            ],
            [False] + [w % 2 == 0 for w in range(1, WORKERS)],
        )
        for d, _, code, _, view, _ in retries:
            assert code == "ok" and view == now[d], (d, code, view, now[d])
        assert engine.storage.count_history(engine.cycle) == records, "a retried key fired again"
        assert all("suspected" not in engine.state(d).flags for d in lifted), "a retry marked a lifted doctor again"
        _verified(engine)
    finally:
        pool.close()
        engine.close()
    print(
        f"\n{sql_url.split('?')[0]}: {WORKERS} processes × {len(DOCTORS)} doctors, {sum(tally.values())} racing "
        f"commands {dict(tally)} in {time.perf_counter() - started:.1f} s"
    )
    assert tally["conflict"] + tally["invalid_transition"] > 0, "nobody lost a race: the rounds did not overlap"
