"""One simulation run: its sizes checked, the store claimed, the province built, the passes played, the figures counted.

Phases act on state, and every draw is keyed by (seed, doctor, phase), so an
interrupted run resumes where it stopped (``simulation.next`` in the store's
meta) and ends with the same figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import attrs

from ..engine import Engine
from ..ops import parse as parse_op
from ..rules.policy import Policy
from ..rules.policy import load as load_policy
from ..stats import Stats, compute
from ..tuning import streaming_gc
from . import phases, runlock
from .errors import SimulationError
from .pool import Job, Pool, Progress
from .profile import Profile
from .profile import load as load_profile
from .province import world_commands
from .store import holds_a_cycle, shareable

#: Below this many doctors one process is faster than two.
PARALLEL_FROM = 20_000
#: From this many doctors, one worker more than the cores: at the nation's size the workers wait on
#: each other's write lock and on the disk, and two left the cores partly idle; a third fills them.
#: Below it, a third worker made no difference.
OVERLAP_FROM = 1_000_000
#: Twice the nation's 4.8 million doctors: beyond it a run is a typo, and the setup would fill the
#: memory (a billion doctors grew it fast with nothing on the screen) before failing.
MAX_DOCTORS = 10_000_000
#: A page is loaded, decided and committed whole: past this it costs memory and speeds nothing up,
#: and a number beyond SQLite's 64-bit integers failed only after the run had been started.
MAX_BATCH = 100_000
#: Each worker is a process with its own connection: more than this only crowds the database.
MAX_WORKERS = 64
#: How a seed becomes a province, stored with a run: raised whenever the same arguments draw
#: another one, so that a run stored by an earlier release is not resumed with other doctors.
#: 2: the doctors numbered institution by institution (``province.doctor_commands``), the draws
#: taken from BLAKE2b blocks instead of splitmix64 (``dice.Dice``).
DRAWS = 2


def check_size(doctors: int, batch: int, workers: int | None = None) -> None:
    """Refuse sizes no province has, before anything is written (``SimulationError``)."""
    if doctors < 1:
        raise SimulationError("--doctors must be at least 1")
    if doctors > MAX_DOCTORS:
        raise SimulationError(
            f"--doctors {doctors:,} is more than {MAX_DOCTORS:,} (twice the nation's 4.8 million doctors)"
        )
    if batch < 1:
        raise SimulationError("--batch must be at least 1")
    if batch > MAX_BATCH:
        raise SimulationError(
            f"--batch {batch:,} is more than {MAX_BATCH:,} doctors per transaction (the default 2000 is as fast)"
        )
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise SimulationError(f"--workers is between 1 and {MAX_WORKERS} (one per core is the fastest)")


def default_workers(doctors: int, cpus: int) -> int:
    """One per core up to 2 (SQLite writes one transaction at a time), one more from ``OVERLAP_FROM``
    doctors; one below ``PARALLEL_FROM``, where starting processes costs more than it saves."""
    if doctors < PARALLEL_FROM:
        return 1
    return min(2, cpus) + (1 if doctors >= OVERLAP_FROM else 0)


@attrs.frozen
class Result:
    doctors: int
    #: Accepted events (history records) of the cycle in the store.
    transitions: int
    seconds: float
    stats: Stats
    #: Refusals the profile did not intend (0 in a healthy run) and a sample of them.
    refusals: int
    samples: list[str]
    resumed_from: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "doctors": self.doctors,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "transitions_per_second": round(self.transitions / self.seconds) if self.seconds else None,
            **{k: v for k, v in self.stats.summary().items() if k != "doctors"},
            "refusals": self.refusals,
            "resumed_from": self.resumed_from,
        }


def simulate(
    engine: Engine,
    doctors: int = 2000,
    seed: int = 7,
    policy: str | Path = "guangxi-2019-2020",
    profile: str | Path | None = None,
    *,
    resume: bool = False,
    batch: int = 2000,
    workers: int | None = None,
    progress: Progress | None = None,
    stop_after: str | None = None,
) -> Result:
    """Play a whole cycle for ``doctors`` synthetic doctors; the figures at the end.

    ``workers`` processes (default: one per core, up to 2, from 20,000 doctors, and one more from
    1,000,000; always 1 in memory)
    each drive a slice of the doctors through every phase, against the same
    database.  ``resume`` continues a run the store already holds (same
    arguments); ``stop_after`` ends after the named phase.
    """
    check_size(doctors, batch, workers)
    try:
        with runlock.hold(engine.storage.url), streaming_gc():
            return _simulate(engine, doctors, seed, policy, profile, resume, batch, workers, progress, stop_after)
    except runlock.Busy as exc:
        raise SimulationError(str(exc)) from None


def _config(doctors: int, seed: int, policy: Policy, profile: Profile) -> dict[str, Any]:
    return {
        "draws": DRAWS,
        "doctors": doctors,
        "seed": seed,
        "policy": f"{policy.id}@{policy.version}",
        "profile": hashlib.sha256(profile.text.encode()).hexdigest()[:16],
    }


def _simulate(
    engine: Engine,
    doctors: int,
    seed: int,
    policy: str | Path,
    profile: str | Path | None,
    resume: bool,
    batch: int,
    workers: int | None,
    progress: Progress | None,
    stop_after: str | None,
) -> Result:
    started = time.perf_counter()
    pol = load_policy(policy)
    prof = load_profile(profile)
    _check_months(pol, prof)
    config = _config(doctors, seed, pol, prof)
    stored = engine.storage.get_meta("simulation")
    resumed_from = None
    if stored is not None:
        if not resume:
            raise SimulationError(
                "this database already holds a simulation: use --resume to continue it, or another --db"
            )
        stored_config = json.loads(stored)
        if stored_config.get("draws", 1) != DRAWS:
            raise SimulationError(
                "this database holds a simulation made by an earlier release, which drew its cycle "
                "differently: it cannot be resumed; start it again (--replace) or use another --db"
            )
        if stored_config != config:
            raise SimulationError(f"--resume with other arguments than the stored run: {stored}")
        resumed_from = engine.storage.get_meta("simulation.next") or "setup"
    elif holds_a_cycle(engine):
        raise SimulationError("this database already holds a cycle that is not a simulation; choose another --db")
    else:
        engine.storage.set_meta("simulation", json.dumps(config))
    report = progress or (lambda *_: None)
    shared = shareable(engine.storage.url)
    if workers is None:
        workers = default_workers(doctors, os.cpu_count() or 1)
    count = 1 if not shared else max(1, workers)
    count = min(count, doctors)
    job = Job(engine.storage.url, doctors, seed, pol.text, prof.text, batch)

    if engine.world().policy is None:
        _build_world(engine, world_commands(doctors, seed, pol, prof))
        engine.load_policy(pol)
    # Every record of the cycle is one a pass accepted: counted as the workers commit them, not
    # afterwards from the store (a scan of the history index, long at the nation's size).
    accepted = engine.storage.count_history(engine.cycle) if resumed_from is not None else 0
    todo = list(phases.STEPS)
    start = todo.index(resumed_from) if resumed_from in todo else len(todo) if resumed_from == "done" else 0
    refusals, samples = 0, []
    # ``phases.passes`` and ``phases.run_pages`` looked up now, not bound at import: a test may
    # play the phases one pass each, or stand in for a worker's share of a pass.
    with Pool(job, count, report, engine, prof, phases.run_pages) as pool:
        for names in phases.passes(todo[start:], stop_after):
            # An interrupted pass is played again from its first phase: it leaves the doctors it
            # finished as they are (they stand past its phases, or where the same draws do
            # nothing again) and takes the others from where they stand.
            engine.storage.set_meta("simulation.next", names[0])
            for outcome in pool.run(names):
                accepted += outcome.accepted
                refusals += outcome.refusals
                samples += outcome.samples
            following = todo.index(names[-1]) + 1
            engine.storage.set_meta("simulation.next", todo[following] if following < len(todo) else "done")
    stats = compute(engine, by="city")
    return Result(
        doctors,
        accepted,
        time.perf_counter() - started,
        stats,
        refusals,
        samples[:20],
        resumed_from,
    )


def _check_months(policy: Policy, profile: Profile) -> None:
    """Suspension lengths the profile draws must be ones the policy allows, or every one is refused."""
    s = policy.suspension
    outside = sorted(int(m) for m in profile.reexam.months if not s.min_months <= int(m) <= s.max_months)
    if outside:
        raise SimulationError(
            f"the profile's reexam.months {outside} fall outside the policy's suspension range"
            f" {s.min_months}–{s.max_months} months"
        )


def _build_world(engine: Engine, commands: list[dict[str, Any]]) -> None:
    """Apply the province's commands in order, each run of institutions as one batch (a nation has 80,000)."""
    run: list[Any] = []
    for cmd in [*commands, None]:
        if cmd is not None and cmd["op"] == "institution":
            run.append(parse_op(cmd))
            continue
        if run:
            engine.add_institutions(run)
            run = []
        if cmd is not None:
            engine.apply(cmd)
