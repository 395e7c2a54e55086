"""The phases of the cycle, in calendar order, and how a pass takes a page of doctors through them.

A phase is either a plan (``behaviour``'s, drawn per doctor) for the doctors in the
states it concerns, or a sweep: the system event fired the day after its window
closes.  What a phase does to a doctor depends on that doctor alone, so the cycle
is one pass (``passes``): each page of doctors added and taken from enrolment to
the end of the cycle as it is added (``Engine.drive_new``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs

from ..engine import Engine, Fire
from ..errors import Refused
from ..model import Actor, Doctor, Instance, View
from ..rules.policy import parse as parse_policy
from . import behaviour as b
from .pool import Job, Outcome, Progress, pages
from .profile import Profile
from .profile import parse as parse_profile
from .province import doctor_commands, doctor_id

#: Doctors added per transaction by a setup run on its own (``--stop-after setup``).
SETUP_CHUNK = 20_000


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

#: The steps of a run in order: the province's doctors added, then the phases.
STEPS: tuple[str, ...] = ("setup", *(p.name for p in PHASES))


def passes(todo: list[str], stop_after: str | None = None) -> list[tuple[str, ...]]:
    """The steps of ``todo`` up to ``stop_after``, in the passes that play them: one, each doctor
    taken through every phase while their page is in memory (none when nothing is left).

    Played phase by phase, a doctor was read and written again for each, and the phases after
    grading read their few doctors back from all over the file: at the nation's size most of
    such a run was spent waiting on the disk.
    """
    names = todo[: todo.index(stop_after) + 1] if stop_after in todo else todo
    return [tuple(names)] if names else []


_PHASE = {p.name: p for p in PHASES}


def run_pages(
    job: Job, names: tuple[str, ...], claim: Callable[[], int], report: Progress, cache: dict[str, Any]
) -> Outcome:
    """One worker's share of one pass (``names``, its phases): the pages ``claim`` hands it, until none is left."""
    import renew_fsm

    if cache.get("url") != job.url:
        cache.clear()
        cache.update(url=job.url, engine=renew_fsm.open(job.url), profile=parse_profile(job.profile_text))
    engine: Engine = cache["engine"]
    profile: Profile = cache["profile"]
    policy = parse_policy(job.policy_text)

    def stored(n: int) -> bool:
        """Whether doctor ``n`` is in the store already: an interrupted run stored their page."""
        return engine.storage.get_doctor(doctor_id(n)) is not None

    setup = names[0] == "setup"
    if setup:
        names = names[1:]
    if not names:
        for first, last in pages(claim, SETUP_CHUNK, job.doctors):
            if not stored(last - 1):
                engine.add_doctors(list(doctor_commands(job.doctors, job.seed, policy, profile, first, last)))
            report("setup", last - first, 0)
        return Outcome(0, 0, [])
    world = engine.world()
    agency_of = {i: a.id for a in sorted(world.agencies.values(), key=lambda a: a.id) for i in a.institutions}
    ctx = b.Context(job.seed, engine.policy, profile, world, agency_of, Actor("admin", "P"))
    stages = [_stage(engine, _PHASE[name]) for name in names]
    states = list(dict.fromkeys(s for _, phase_states, _ in stages for s in phase_states))
    # Doctors and accepted events of each phase since the last page was reported: every phase of
    # the pass reports each page, so each one's progress bar moves as the doctors go through it.
    tally = {name: [0, 0] for name in names}

    def page_done(_doctors: int, _accepted: int) -> None:
        for name, counts in tally.items():
            report(name, counts[0], counts[1])
            counts[:] = [0, 0]

    def plan(inst: Instance, doc: Doctor) -> b.Plan:
        return _through(ctx, stages, tally, inst, doc)

    def drive(first: int, last: int) -> int:
        """The pass over doctors ``first`` … ``last - 1`` as they stand in the store; events accepted."""
        return engine.drive_states(
            states,
            plan,
            batch=job.batch,
            progress=page_done,
            after=doctor_id(first - 1) if first > 0 else None,
            until=doctor_id(last - 1) if last < job.doctors else None,
        )

    # The doctors are driven as they are added (``Engine.drive_new``), a page at a time; a page an
    # interrupted run stored is driven from where its doctors stand, like any pass played again.
    accepted = 0
    for first, last in pages(claim, job.batch, job.doctors):
        if not setup:
            accepted += drive(first, last)
            continue
        commands = doctor_commands(job.doctors, job.seed, policy, profile, first, last)
        first_stored, last_stored = stored(first), stored(last - 1)
        if not first_stored and not last_stored:
            accepted += engine.drive_new(list(commands), plan)
            report("setup", last - first, 0)
            page_done(last - first, 0)
            continue
        if not last_stored:
            engine.add_doctors(list(commands))
        report("setup", last - first, 0)
        accepted += drive(first, last)
    return Outcome(accepted, ctx.refusals, ctx.samples)


#: A phase in a pass: its name, the states it takes a doctor in, and what it does with one there.
_Stage = tuple[str, frozenset[str], Callable[[b.Context, Instance, Doctor], b.Plan]]
_SYSTEM = Actor("system")


def _stage(engine: Engine, phase: Phase) -> _Stage:
    if phase.plan is not None:
        return phase.name, frozenset(phase.states), phase.plan
    assert phase.sweep is not None and phase.window is not None
    event, policy = phase.sweep, engine.policy
    day = getattr(policy.windows, phase.window).end + dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(0, 30), policy.tz)

    def sweep(ctx: b.Context, inst: Instance, doctor: Doctor) -> b.Plan:
        """The system's event, as ``Engine.sweep`` fires it: a guard turning a doctor away leaves them be."""
        cmd = Fire(doctor.id, event, _SYSTEM, {}, at)
        result = yield cmd
        if isinstance(result, Refused) and result.rule == "window_still_open":
            ctx.surprise(doctor, cmd, result)

    return phase.name, frozenset(engine.sweep_states(event)), sweep


def _through(
    ctx: b.Context, stages: list[_Stage], tally: dict[str, list[int]], inst: Instance, doctor: Doctor
) -> b.Plan:
    """One doctor through a pass's phases in calendar order, each from where the one before left them."""
    for name, states, make_plan in stages:
        if inst.state not in states:
            continue
        counts = tally[name]
        counts[0] += 1
        plan = make_plan(ctx, inst, doctor)
        result: View | Refused | None = None
        while True:
            try:
                cmd = plan.send(result)  # type: ignore[arg-type]
            except StopIteration:
                break
            result = yield cmd
            if isinstance(result, View):
                inst = result.instance
                counts[1] += 1
