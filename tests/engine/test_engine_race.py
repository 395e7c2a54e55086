"""Two engines in two processes fire the same event at the same instance at the same moment.

Exactly one wins; the other is told ``conflict`` (it read the instance before
the winner wrote) or ``invalid_transition`` (it read it after).  Never both,
never a lost or doubled history record, and ``verify`` passes afterwards.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from conftest import H1, doctor_cmd, make_engine
from racer import race

from renew_fsm.verify import verify

N = 20
ROUNDS_TIMEOUT = 120


def run_race(url: str, event: str, role: str, *, forced: bool, keyed: bool = False) -> Counter[str]:
    ids = [f"R{i:02d}" for i in range(N)]
    engine = make_engine(url, [doctor_cmd(d, serial=i) for i, d in enumerate(ids)])
    if event == "submit_info":
        for d in ids:
            engine.fire(d, "enroll", H1)
    before = {d: engine.history(d) for d in ids}

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=60)
    at_commit = ctx.Barrier(2, timeout=60) if forced else None
    out = ctx.Queue()
    procs = [ctx.Process(target=race, args=(url, ids, event, role, barrier, at_commit, out, keyed)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=ROUNDS_TIMEOUT) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert all(len(r) == N and r[0][0] != "!" for r in results), results

    outcomes: Counter[str] = Counter()
    for d, (mine, theirs) in zip(ids, zip(results[0], results[1], strict=True), strict=True):
        assert mine[0] == theirs[0] == d
        pair = sorted([mine[1], theirs[1]])
        if keyed:  # the loser finds its key already used: the command is done, once
            assert pair == ["ok", "ok"], (d, pair)
        else:
            assert pair in (["conflict", "ok"], ["invalid_transition", "ok"]), (d, pair)
        outcomes[pair[0]] += 1
        history = engine.history(d)
        assert history[: len(before[d])] == before[d]
        assert [r.event for r in history[len(before[d]) :]] == [event], d
    report = verify(engine)
    assert report.ok, report.findings
    assert (report.checked, report.records) == (N, sum(len(engine.history(d)) for d in ids))
    engine.close()
    return outcomes


@pytest.mark.parametrize("event", ["enroll", "submit_info"])
def test_two_processes_racing_one_wins(sql_url: str, event: str) -> None:
    """Free race: whatever the interleaving, one success per instance."""
    role = "institution" if event == "enroll" else "doctor"
    outcomes = run_race(sql_url, event, role, forced=False)
    assert sum(outcomes.values()) == N
    print(f"{event}: {dict(outcomes)}")  # pytest -s shows how the interleavings fell


def test_two_processes_that_both_read_first_one_is_told_conflict(sql_url: str) -> None:
    """Both read the instance before either writes: the database's version check refuses the second."""
    outcomes = run_race(sql_url, "enroll", "institution", forced=True)
    assert outcomes == Counter({"conflict": N})


def test_two_processes_sending_one_idempotency_key_both_see_it_done_once(sql_url: str) -> None:
    """A client's retry racing its own first attempt: one record, and neither side is told conflict."""
    outcomes = run_race(sql_url, "enroll", "institution", forced=True, keyed=True)
    assert outcomes == Counter({"ok": N})
