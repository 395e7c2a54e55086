"""Simulate one province's cycle end to end, through the same engine path as every caller.

The cycle runs in calendar order: registration, the first round, its closing
sweep, grading, suspension, the re-exam list, the make-up, the re-exam and
the last sweeps.  Each phase streams over the doctors in the states it
concerns and drives their plans (``behaviour``) in batches, one transaction
each.  Phases act on state, and every draw is keyed by (seed, doctor, phase),
so an interrupted run resumes where it stopped and ends with the same figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .. import ops
from ..engine import Engine
from ..model import Actor
from ..rules.policy import Policy
from ..rules.policy import load as load_policy
from ..stats import Stats, compute
from . import behaviour as b
from .profile import Profile
from .profile import load as load_profile
from .province import doctor_commands, world_commands

#: progress(phase, doctors seen in the last page, events accepted in it)
Progress = Callable[[str, int, int], None]
SETUP_CHUNK = 20_000


class SimulationError(ValueError):
    """The store holds another simulation, or a resume does not match the run it continues."""


@attrs.frozen
class Phase:
    name: str
    zh: str
    states: tuple[str, ...] = ()
    plan: Callable[..., b.Plan] | None = None
    #: A sweep instead of plans: the system event, fired the day after ``window`` closes.
    sweep: str | None = None
    window: str | None = None


PHASES: tuple[Phase, ...] = (
    Phase("registration", "报名与考核程序", ("not_enrolled",), b.registration),
    Phase("first_round", "首轮考核", b.TESTING, b.first_round),
    Phase("close_first_round", "首轮考核结束", sweep="close_first_round", window="first_round"),
    Phase("grading", "评定首轮成绩", b.AWAITING, b.grading("grading", resumed=False)),
    Phase("suspension", "暂停执业", ("unqualified",), b.suspension("grading")),
    Phase("listing", "确认再次考核名单", ("reexam.suspended",), b.listing),
    Phase("makeup", "延期医师补考", ("deferred",), b.makeup),
    Phase("close_makeup", "补考结束", sweep="close_makeup", window="makeup"),
    Phase("makeup_grading", "评定补考成绩", b.AWAITING, b.grading("makeup_grading", resumed=True)),
    Phase("reexam", "再次考核", ("reexam.listed",), b.reexam),
    Phase("reexam_grading", "评定再次考核", ("reexam.awaiting_grade",), b.reexam_grading),
    Phase("close_reexam", "再次考核结束", sweep="close_reexam", window="reexam"),
    Phase("makeup_suspension", "补考不合格暂停执业", ("unqualified",), b.suspension("makeup_grading")),
)

#: Where a doctor may stand once the simulated cycle is over.
END_STATES = frozenset(
    {"not_enrolled", "qualified", "unqualified", "reexam.suspended", "reexam_passed", "registration_cancelled"}
)


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


def _config(doctors: int, seed: int, policy: Policy, profile: Profile) -> dict[str, Any]:
    return {
        "doctors": doctors,
        "seed": seed,
        "policy": f"{policy.id}@{policy.version}",
        "profile": hashlib.sha256(profile.text.encode()).hexdigest()[:16],
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
    progress: Progress | None = None,
    stop_after: str | None = None,
) -> Result:
    """Play a whole cycle for ``doctors`` synthetic doctors; the figures at the end.

    ``resume`` continues a run the store already holds (same arguments);
    ``stop_after`` ends after the named phase (for rehearsing part of a cycle).
    """
    if doctors < 1:
        raise SimulationError("--doctors must be at least 1")
    started = time.perf_counter()
    pol = load_policy(policy)
    prof = load_profile(profile)
    config = _config(doctors, seed, pol, prof)
    stored = engine.storage.get_meta("simulation")
    resumed_from = None
    if stored is not None:
        if not resume:
            raise SimulationError(
                "this database already holds a simulation: use --resume to continue it, or another --db"
            )
        if json.loads(stored) != config:
            raise SimulationError(f"--resume with other arguments than the stored run: {stored}")
        resumed_from = engine.storage.get_meta("simulation.next") or "setup"
    elif engine.world().policy is not None:
        raise SimulationError("this database already holds a cycle that is not a simulation; choose another --db")
    else:
        engine.storage.set_meta("simulation", json.dumps(config))
    report = progress or (lambda *_: None)

    _setup(engine, doctors, seed, pol, prof, report)
    world = engine.world()
    agency_of = {i: a.id for a in sorted(world.agencies.values(), key=lambda a: a.id) for i in a.institutions}
    ctx = b.Context(seed, engine.policy, prof, world, agency_of, Actor("admin", "P"))
    names = [p.name for p in PHASES]
    start = names.index(resumed_from) if resumed_from in names else 0
    for phase in PHASES[start:]:
        engine.storage.set_meta("simulation.next", phase.name)
        if phase.sweep:
            day = getattr(ctx.policy.windows, phase.window).end + dt.timedelta(days=1)  # type: ignore[arg-type]
            moved = engine.sweep(phase.sweep, ctx.at(day, 0.5))
            report(phase.name, 0, moved)
        else:
            engine.drive_states(
                phase.states,
                lambda inst, doc, plan=phase.plan: plan(ctx, inst, doc),  # type: ignore[misc]
                batch=batch,
                progress=lambda seen, done, name=phase.name: report(name, seen, done),
            )
        if stop_after == phase.name:
            break
    else:
        engine.storage.set_meta("simulation.next", "done")
    stats = compute(engine, by="city")
    return Result(
        doctors,
        engine.storage.count_history(engine.cycle),
        time.perf_counter() - started,
        stats,
        ctx.refusals,
        ctx.samples,
        resumed_from,
    )


def _setup(engine: Engine, doctors: int, seed: int, policy: Policy, profile: Profile, report: Progress) -> None:
    """The province, the policy and the doctors; each step skipped when a resumed run already did it."""
    if engine.world().policy is None:
        for cmd in world_commands(doctors, seed, policy, profile):
            engine.apply(cmd)
        engine.load_policy(policy)
    present = len(engine.storage.instance_ids(policy.id)) if engine.world().policy else 0
    chunk: list[ops.DoctorOp] = []
    for cmd in doctor_commands(doctors, seed, policy, profile, start=present):
        chunk.append(ops.parse(cmd))
        if len(chunk) >= SETUP_CHUNK:
            engine.add_doctors(chunk)
            report("setup", len(chunk), 0)
            chunk = []
    if chunk:
        engine.add_doctors(chunk)
        report("setup", len(chunk), 0)


__all__ = ["END_STATES", "PHASES", "Result", "SimulationError", "simulate"]
