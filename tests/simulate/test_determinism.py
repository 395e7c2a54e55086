"""The same seed gives the same cycle — across runs, worker counts and an interrupted run resumed.

An office compares next year's rehearsal with this year's only if a run can be
repeated exactly; a resumed run that drifted from an uninterrupted one would
make ``--resume`` a way to get different numbers.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import itertools
import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import renew_fsm
import renew_fsm.simulate as sim
from renew_fsm.simulate import Result, phases, pool, simulate
from renew_fsm.simulate import behaviour as b
from renew_fsm.simulate.profile import load as load_profile
from renew_fsm.storage import StorageError
from renew_fsm.storage.sqlite import SQLiteStorage

from .conftest import figures, simulate_json

DOCTORS = "3000"


def history_digest(db: Path | str) -> str:
    """Every record of the cycle (event, actor, time, data, chain hash) and every instance, hashed in order."""
    engine = renew_fsm.open(str(db))
    try:
        return digest_of(engine)
    finally:
        engine.close()


def digest_of(engine: renew_fsm.Engine) -> str:
    """Every record, then every instance with all its fields (the flags sorted: a set's order is not the data)."""
    digest = hashlib.sha256()
    for r in engine.storage.all_history(engine.cycle):
        digest.update(f"{r.doctor}|{r.seq}|{r.event}|{r.role}|{r.actor}|{r.at}|{r.data}|{r.hash}\n".encode())
    for inst, _ in engine.scan():
        digest.update(f"{inst._replace(flags=sorted(inst.flags))!r}\n".encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("w1") / "w1.db"
    return db, simulate_json(db, "--doctors", DOCTORS, "--seed", "7", "--workers", "1")


def test_the_same_seed_gives_the_same_figures_and_the_same_history(
    one_worker: tuple[Path, dict], tmp_path: Path
) -> None:
    db, first = one_worker
    again = simulate_json(tmp_path / "again.db", "--doctors", DOCTORS, "--seed", "7", "--workers", "1")
    assert figures(again) == figures(first)
    assert history_digest(tmp_path / "again.db") == history_digest(db)


def test_two_workers_and_smaller_batches_give_the_same_figures(one_worker: tuple[Path, dict], tmp_path: Path) -> None:
    db, first = one_worker
    two = simulate_json(tmp_path / "two.db", "--doctors", DOCTORS, "--seed", "7", "--workers", "2", "--batch", "300")
    assert figures(two) == figures(first)
    assert history_digest(tmp_path / "two.db") == history_digest(db)


def test_the_parent_copies_the_log_back_while_two_workers_write_and_a_failed_copy_stops_nothing(
    one_worker: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent waits while the workers write, so it copies their log back into the database
    (their commits then find it done); if that fails the workers' commits do it, and the run ends
    as it would have."""
    db, _ = one_worker
    calls: list[int] = []
    real = SQLiteStorage.checkpoint

    def copy_back(store: SQLiteStorage) -> None:
        calls.append(len(calls))
        real(store)
        if len(calls) == 3:
            raise StorageError("disk I/O error")

    monkeypatch.setattr(pool, "COPY_BACK_EVERY", 0.0)
    monkeypatch.setattr(SQLiteStorage, "checkpoint", copy_back)
    engine = renew_fsm.open(str(tmp_path / "copied.db"))
    try:
        simulate(engine, int(DOCTORS), 7, workers=2, batch=300)
    finally:
        engine.close()
    assert calls == [0, 1, 2]  # copied while the workers wrote, and not again once it failed
    assert history_digest(tmp_path / "copied.db") == history_digest(db)


def test_another_seed_gives_other_figures(one_worker: tuple[Path, dict], tmp_path: Path) -> None:
    _, first = one_worker
    other = simulate_json(tmp_path / "seed8.db", "--doctors", DOCTORS, "--seed", "8", "--workers", "1")
    assert other["doctors"] == first["doctors"]
    assert other["by_state"] != first["by_state"]
    assert other["transitions"] != first["transitions"]


def test_resume_after_the_first_round_finishes_with_the_figures_of_an_uninterrupted_run(
    one_worker: tuple[Path, dict], tmp_path: Path
) -> None:
    db, whole = one_worker
    cut = tmp_path / "cut.db"
    partial = simulate_json(cut, "--doctors", DOCTORS, "--seed", "7", "--stop-after", "first_round")
    # Stopped after the first round: nobody graded yet, the run is not over.
    assert partial["by_state"].get("qualified", 0) == 0
    assert partial["transitions"] < whole["transitions"]
    resumed = simulate_json(cut, "--doctors", DOCTORS, "--seed", "7", "--resume")
    assert resumed["resumed_from"] is not None
    assert figures(resumed) == figures(whole)
    assert history_digest(cut) == history_digest(db)


@pytest.fixture(scope="module")
def whole_2000(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """An uninterrupted in-process run of 2,000 doctors (the library call a service would make)."""
    db = tmp_path_factory.mktemp("whole") / "whole.db"
    engine = renew_fsm.open(str(db))
    result = simulate(engine, 2000, 7)
    engine.close()
    return db, result


@pytest.mark.parametrize("phase", ["registration", "close_first_round", "makeup", "reexam", "makeup_suspension"])
def test_resume_after_any_phase_ends_where_an_uninterrupted_run_ends(
    whole_2000: tuple[Path, Result], tmp_path: Path, phase: str
) -> None:
    db, whole = whole_2000
    engine = renew_fsm.open(str(tmp_path / "cut.db"))
    simulate(engine, 2000, 7, stop_after=phase)
    resumed = simulate(engine, 2000, 7, resume=True)
    engine.close()
    assert resumed.refusals == 0 and whole.refusals == 0
    assert figures(resumed.summary()) == figures(whole.summary())
    assert history_digest(tmp_path / "cut.db") == history_digest(db)


@pytest.mark.parametrize("backend", ["memory", "postgres"])
def test_every_backend_plays_the_same_cycle(
    whole_2000: tuple[Path, Result], backend: str, request: pytest.FixtureRequest
) -> None:
    """SQLite (the fixture), in memory and PostgreSQL: the same figures and the same records."""
    db, whole = whole_2000
    url = "memory:" if backend == "memory" else request.getfixturevalue("pg_url")
    engine = renew_fsm.open(url)
    try:
        result = simulate(engine, 2000, 7)
        digest = digest_of(engine)
    finally:
        engine.close()
    assert figures(result.summary()) == figures(whole.summary())
    assert digest == history_digest(db)


STEPS = ["setup", *(p.name for p in sim.PHASES)]


def test_the_cycle_is_one_pass_with_the_setup_cut_where_the_run_stops() -> None:
    assert sim.passes(STEPS) == [tuple(STEPS)]
    assert STEPS[5] == "suspension" and STEPS[-1] == "makeup_suspension"
    assert sim.passes(STEPS, stop_after="first_round") == [("setup", "registration", "first_round")]
    assert sim.passes(STEPS, stop_after="setup") == [("setup",)]
    assert sim.passes(STEPS, stop_after="makeup") == [tuple(STEPS[: STEPS.index("makeup") + 1])]
    # Resumed after the setup (a run stopped after it): the phases without it.
    assert sim.passes(STEPS[1:]) == [tuple(STEPS[1:])]
    # Resumed after a stop inside the pass: the rest of it is one pass.
    assert sim.passes(STEPS[STEPS.index("close_first_round") :]) == [tuple(STEPS[STEPS.index("close_first_round") :])]


def one_phase_a_pass(todo: list[str], stop_after: str | None = None) -> list[tuple[str, ...]]:
    return [(name,) for name in todo[: todo.index(stop_after) + 1 if stop_after else None]]


def test_a_pass_plays_the_cycle_its_phases_play_one_by_one(
    whole_2000: tuple[Path, Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each doctor taken through a pass's phases in one go: the records of a phase-by-phase run."""
    db, whole = whole_2000
    monkeypatch.setattr(phases, "passes", one_phase_a_pass)
    engine = renew_fsm.open(str(tmp_path / "phases.db"))
    result = simulate(engine, 2000, 7)
    engine.close()
    assert result.refusals == 0
    assert figures(result.summary()) == figures(whole.summary())
    assert history_digest(tmp_path / "phases.db") == history_digest(db)


def test_a_pass_sweeps_whom_engine_sweep_sweeps(tmp_path: Path) -> None:
    """The first round's close fired doctor by doctor in its pass, and by ``Engine.sweep`` over the cycle."""
    by_engine = renew_fsm.open(str(tmp_path / "engine.db"))
    simulate(by_engine, 2000, 7, stop_after="first_round")
    day = by_engine.policy.windows.first_round.end + dt.timedelta(days=1)
    moved = by_engine.sweep("close_first_round", dt.datetime.combine(day, dt.time(0, 30), by_engine.policy.tz))
    by_engine.close()
    by_pass = renew_fsm.open(str(tmp_path / "pass.db"))
    simulate(by_pass, 2000, 7, stop_after="close_first_round")
    swept = [r for r in by_pass.storage.all_history(by_pass.cycle) if r.event == "close_first_round"]
    by_pass.close()
    assert moved == len(swept) > 0
    assert history_digest(tmp_path / "pass.db") == history_digest(tmp_path / "engine.db")


class PowerCut(Exception):
    """The machine goes down in the middle of a phase."""


@pytest.mark.parametrize(
    ("phase", "batch", "pass_"),
    [
        ("setup", 250, "setup"),
        ("registration", 250, "setup"),
        ("first_round", 250, "setup"),
        ("grading", 250, "setup"),
        # About 120 of the 2,000 doctors come to the make-up or the re-exam: pages of 10 to die in them.
        ("makeup", 10, "setup"),
        ("reexam", 10, "setup"),
    ],
)
def test_resume_after_a_crash_in_the_middle_of_a_phase(
    whole_2000: tuple[Path, Result], tmp_path: Path, phase: str, batch: int, pass_: str
) -> None:
    """Pages of ``batch`` doctors commit one by one; the run dies after the second page of ``phase``.

    The run resumes with the pass the phase is played in, from its first phase: a doctor the
    pass finished must come out of it again unchanged.
    """
    db, whole = whole_2000
    pages = 0

    def crash(name: str, seen: int, accepted: int) -> None:
        nonlocal pages
        if name == phase and seen:
            pages += 1
            if pages == 2:
                raise PowerCut(name)

    engine = renew_fsm.open(str(tmp_path / "crash.db"))
    with pytest.raises(PowerCut):
        simulate(engine, 2000, 7, batch=batch, workers=1, progress=crash)
    assert 0 < engine.storage.count_history(engine.cycle) < whole.transitions
    resumed = simulate(engine, 2000, 7, batch=batch, workers=1, resume=True)
    # Counted as stored before the resume plus as committed since: the store's own count.
    assert resumed.transitions == engine.storage.count_history(engine.cycle)
    engine.close()
    assert resumed.resumed_from == pass_
    assert resumed.refusals == 0, resumed.samples
    assert figures(resumed.summary()) == figures(whole.summary())
    assert history_digest(tmp_path / "crash.db") == history_digest(db)


def test_a_resumed_first_pass_drives_doctors_an_older_setup_stored_in_other_chunks(
    whole_2000: tuple[Path, Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctors stored by a setup run on its own, in chunks of 300 (a run stopped after ``setup``, cut
    short after 600 doctors): the first pass drives the chunks of 250 that are wholly stored, adds
    the rest of the one that is half stored (500–749) and drives it, and adds the others as it goes."""
    db, whole = whole_2000
    monkeypatch.setattr(phases, "SETUP_CHUNK", 300)
    added = 0

    def cut(name: str, seen: int, accepted: int) -> None:
        nonlocal added
        added += seen
        if added == 600:
            raise PowerCut(name)

    engine = renew_fsm.open(str(tmp_path / "chunks.db"))
    with pytest.raises(PowerCut):
        simulate(engine, 2000, 7, batch=250, workers=1, progress=cut, stop_after="setup")
    assert engine.storage.get_doctor("D0000599") is not None and engine.storage.get_doctor("D0000600") is None
    assert engine.storage.count_history(engine.cycle) == 0
    resumed = simulate(engine, 2000, 7, batch=250, workers=1, resume=True)
    engine.close()
    assert resumed.resumed_from == "setup" and resumed.refusals == 0, resumed.samples
    assert figures(resumed.summary()) == figures(whole.summary())
    assert history_digest(tmp_path / "chunks.db") == history_digest(db)


def test_the_first_round_played_again_changes_nothing(tmp_path: Path) -> None:
    """A phase re-run after a crash must not sit the tests twice (a failed, not retried attempt stays in testing)."""
    engine = renew_fsm.open(str(tmp_path / "fr.db"))
    simulate(engine, 2000, 7, stop_after="first_round")
    still_testing = [inst for inst, _ in engine.scan(list(b.TESTING))]
    tried = [inst for inst in still_testing if inst.humanities_attempts or inst.business_attempts]
    assert tried, "the seed must leave someone in testing with a score for this test to mean anything"
    world = engine.world()
    agency_of = {i: a.id for a in world.agencies.values() for i in a.institutions}
    ctx = b.Context(7, engine.policy, load_profile(), world, agency_of, renew_fsm.Actor("admin", "P"))
    before = engine.storage.count_history(engine.cycle)
    accepted = engine.drive_states(b.TESTING, lambda inst, doc: b.first_round(ctx, inst, doc))
    assert accepted == 0 and ctx.refusals == 0, ctx.samples
    assert engine.storage.count_history(engine.cycle) == before
    engine.close()


def test_two_workers_report_every_doctor_before_a_phase_ends_and_leave_the_collector_as_found(
    tmp_path: Path,
) -> None:
    seen: dict[str, int] = {}
    order: list[str] = []

    def progress(phase: str, doctors: int, accepted: int) -> None:
        if not order or order[-1] != phase:
            order.append(phase)
        seen[phase] = seen.get(phase, 0) + doctors

    before = gc.get_threshold()
    engine = renew_fsm.open(str(tmp_path / "two.db"))
    try:
        simulate(engine, doctors=600, workers=2, batch=100, progress=progress)
    finally:
        engine.close()
    assert seen["setup"] == seen["registration"] == 600
    # Each pass's reports all arrive before the next pass starts: the passes appear once each,
    # in calendar order, and every phase of a pass reports each page (its bar moves with it).
    played = sim.passes(STEPS)
    pass_of = {name: k for k, names in enumerate(played) for name in names}
    assert [pass_of[name] for name in order] == sorted(pass_of[name] for name in order)
    assert order[1:5] == ["registration", "first_round", "close_first_round", "grading"]
    assert set(order) == set(pass_of)
    assert gc.get_threshold() == before


def test_a_worker_that_dies_stops_the_run_instead_of_hanging_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = phases.run_pages

    def dies_in_the_first_round(job, names, claim, report, cache):  # type: ignore[no-untyped-def]
        if "first_round" in names and claim() == 0:
            os._exit(3)
        return real(job, names, claim, report, cache)

    monkeypatch.setattr(phases, "run_pages", dies_in_the_first_round)  # the forked workers inherit it
    engine = renew_fsm.open(str(tmp_path / "dies.db"))
    try:
        with pytest.raises(BrokenProcessPool):
            simulate(engine, doctors=600, workers=2, batch=100)
        assert engine.storage.get_meta("simulation.next") == "setup"  # the first round's pass
    finally:
        engine.close()


def test_workers_taking_pages_from_one_counter_take_every_doctor_once() -> None:
    """Each page goes to whichever worker asks first, so a worker on a slower core takes fewer
    pages instead of keeping the other core idle at the end; no doctor is taken twice or left."""
    counter = multiprocessing.get_context("fork").Value("q", 0)
    first, second = (
        pool.pages(lambda: pool.claim(counter), 100, 1050),
        pool.pages(lambda: pool.claim(counter), 100, 1050),
    )
    taken: dict[str, list[tuple[int, int]]] = {"first": [], "second": []}
    for who, source in itertools.cycle([("first", first), ("first", first), ("second", second)]):
        page = next(source, None)
        if page is None:
            break
        taken[who].append(page)
    pages = sorted(taken["first"] + taken["second"])
    assert pages[0] == (0, 100) and pages[-1] == (1000, 1050)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pages))
    assert len(taken["first"]) > len(taken["second"]) > 0
    assert next(second, None) is None  # the other worker finds nothing left either


def test_the_default_workers_follow_the_size_and_the_cores() -> None:
    """One process for a small province, a core each up to 2 (SQLite writes one transaction at a
    time), and one more from a million doctors, where the workers wait on each other's writes."""
    assert [sim.default_workers(n, 2) for n in (1, 19_999, 20_000, 999_999, 1_000_000, 4_800_000)] == [1, 1, 2, 2, 3, 3]
    assert [sim.default_workers(n, 1) for n in (19_999, 20_000, 1_000_000)] == [1, 1, 2]
    assert sim.default_workers(4_800_000, 64) == 3
