"""What the reliability tests share: the province, its actors, and the witnesses of each event.

A *witness* answers "how would a real office make this step happen?": for an
event about to be fired on an instance it gives the actors entitled to fire it
(right role, right jurisdiction), data that passes the boundary (and, where a
branch condition chooses the target, data steering each branch — a score above
and below the line, an evaluation passed and failed), and a time that every
window guard of the step accepts.  The path test searches with these; the
stateful test draws from them when it wants a valid command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from conftest import doctor_cmd

from renew_fsm import Actor
from renew_fsm.machines.compile import Step
from renew_fsm.model import Doctor, Instance
from renew_fsm.rules import guards
from renew_fsm.rules.policy import Policy
from renew_fsm.world import World

#: A doctor who can take every branch: turns 60 in the period (humanities exemption),
#: over 50 (assisted testing), 35 years of practice with a good record (simple program).
SENIOR = {"born": "1958-03-15", "since": "1985-09-01", "record": "good", "license": "physician"}

#: The stateful test's doctors: different institutions, ages, records and licences.
CAST: list[dict[str, Any]] = [
    doctor_cmd("D1", "H1", born="1958-03-15", since="1985-09-01", record="good", serial=11),
    doctor_cmd("D2", "H1", born="1975-06-01", since="2008-07-01", record="none", license="assistant", serial=12),
    doctor_cmd("D3", "H2", born="1982-11-30", since="2016-09-01", record="bad", serial=13),
    doctor_cmd("D4", "H3", born="1960-12-31", since="1990-01-01", record="good", serial=14),
    doctor_cmd("D5", "H3", born="1990-02-28", since="2015-08-01", record="none", license="assistant", serial=15),
]
CAST_IDS = [c["id"] for c in CAST]

#: Everybody who might try to act, in and out of jurisdiction, plus roles that do not exist.
EVERYONE: list[Actor] = [
    *(Actor("doctor", d) for d in CAST_IDS),
    Actor("doctor", "D404"),
    Actor("institution", "H1"),
    Actor("institution", "H2"),
    Actor("institution", "H3"),
    Actor("institution", "H404"),
    Actor("agency", "A1"),
    Actor("agency", "A2"),
    Actor("admin", "GX"),
    Actor("admin", "NN"),
    Actor("admin", "GL"),
    Actor("admin", "NN-QX"),
    Actor("admin", "NN-XN"),
    Actor("admin", "GL-XF"),
    Actor("admin"),
    Actor("exam_system"),
    Actor("system"),
    Actor("root", "GX"),
    Actor("", None),
]

TEXT = "理由：材料不全 (reason)"


def at_day(policy: Policy, day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), policy.tz)


# -- actors -------------------------------------------------------------------------------------


def actors_for(role: str, doctor: Doctor, world: World) -> list[Actor]:
    """Every actor of ``role`` whose jurisdiction covers ``doctor`` (admins at each level)."""
    if role == "doctor":
        return [Actor("doctor", doctor.id)]
    if role == "institution":
        return [Actor("institution", doctor.institution)]
    if role == "agency":
        return [
            Actor("agency", a.id)
            for a in sorted(world.agencies.values(), key=lambda a: a.id)
            if doctor.institution in a.institutions
        ]
    region = world.region_of(doctor)
    chain = list(world.chains.get(region or "", ()))
    if role == "admin":
        return [Actor("admin", r) for r in chain]
    if role == "admin:province":
        return [Actor("admin", r) for r in chain if world.regions[r].level == "province"]
    if role in ("exam_system", "system"):
        return [Actor(role)]
    raise AssertionError(f"a machine names a role the witness does not know: {role}")


def right_actors(doctor: Doctor, world: World) -> list[Actor]:
    """Everyone entitled to act on ``doctor`` in some role."""
    out: list[Actor] = []
    for role in ("doctor", "institution", "agency", "admin", "exam_system", "system"):
        out += actors_for(role, doctor, world)
    return out


# -- data ---------------------------------------------------------------------------------------


def data_options(
    event: str, inst: Instance, doctor: Doctor, policy: Policy, *, scores: Iterable[float] = (0, 100)
) -> list[dict[str, Any]]:
    """Valid data for ``event``; where data chooses the branch, one option per branch."""
    reason = {"reason": TEXT}
    opinion = [{}, {"opinion": "同意"}]
    if event in ("enroll", "resume", "confirm_reexam", "close_first_round", "close_makeup", "close_reexam"):
        return [{}]
    if event == "submit_info":
        return [{}, {"phone": "13800000000", "name": doctor.name, "id_card": doctor.id_card}]
    if event in (
        "approve_info",
        "confirm_registration",
        "confirm_program",
        "approve_exemption",
        "grade",
        "approve_deferral",
        "approve_assistance",
    ):
        return opinion
    if event in (
        "reject_info",
        "reject_registration",
        "reject_program",
        "return_program",
        "refuse_simple",
        "request_deferral",
        "reject_deferral",
        "admin_exit",
        "admin_rechoose",
    ):
        return [reason]
    if event in ("cancel_enrollment", "mark_suspected", "unmark_suspected", "request_assistance"):
        return [{}, reason]
    if event == "choose_simple":
        return [{"condition": c, "self_evaluation": "认真履职"} for c in sorted(policy.simple_conditions)]
    if event == "choose_general":
        return [{"self_evaluation": "完成岗位工作任务"}]
    if event == "approve_program":
        return [
            {"work_performance": w, "ethics": e, "opinion": "评定"} for w in ("pass", "fail") for e in ("pass", "fail")
        ]
    if event == "apply_exemption":
        ids = policy.humanities_exemptions if inst.program == "simple" else policy.business_exemptions.reasons
        return [{"reason_id": r, "proof": "证明材料"} for r in sorted(ids)]
    if event == "reject_exemption":
        return [{"mode": m, **reason} for m in ("supplement", "forbid")]
    if event == "record_score":
        return [{"test": t, "score": s} for t in ("humanities", "business") for s in scores]
    if event == "discipline":
        return [{"finding": f, **reason} for f in ("communicating", "camera_blocked", "cheating")]
    if event == "suspend":
        return [{"months": policy.suspension.min_months}, {"months": policy.suspension.max_months}]
    # issue 9: violations (art. 27), the appeal (art. 24), the institution change (SPEC §1)
    if event == "record_violation":
        return [{"finding": "kickbacks", **reason}]
    if event == "request_appeal":
        return [reason]
    if event in ("uphold_appeal", "dismiss_appeal"):
        return opinion
    # issue 30: an upheld appeal against a score records the corrected score
    if event == "correct_score":
        return [{"test": t, "score": s, **reason} for t in ("business", "humanities") for s in (50, 100)]
    if event == "change_institution":
        # Which admin may move the doctor there is judged outside the decision (see valid_fires).
        return [{"institution": i} for i in ("H2", "H3") if i != doctor.institution]
    raise AssertionError(f"no witness for event {event!r}: add one to relkit.data_options")


# -- time ---------------------------------------------------------------------------------------


def _window(policy: Policy, inst: Instance, name: str) -> Any:
    resolved = {"exam": guards.exam_window, "grading": guards.grading_window}.get(name, lambda _: name)(inst)
    return getattr(policy.windows, resolved)


def time_for(step: Step, inst: Instance, policy: Policy, now: dt.datetime) -> dt.datetime:
    """A time every time guard of ``step`` accepts: ``now`` if it does, else the earliest such day.

    Prefers not to go back in time; goes back only when no later day would do
    (a deferral asked for after the deadline cannot be witnessed forwards).
    """
    low: dt.date | None = None
    high: dt.date | None = None
    for ref, _ in step.guards:
        name, _, arg = ref.partition(":")
        if name == "window_open":
            w = _window(policy, inst, arg)
            low, high = max(low or w.start, w.start), min(high or w.end, w.end)
        elif name == "window_over":
            end = getattr(policy.windows, arg).end + dt.timedelta(days=1)
            low = max(low or end, end)
        elif name == "before_deferral_deadline":
            deadline = policy.windows.deferral_deadline
            high = min(high or deadline, deadline)
        elif name == "suspension_over":
            end = guards.suspension_end(inst)
            if end is not None:
                low = max(low or end, end)
        elif name in ("appeal_in_time", "appeal_answerable"):
            # The policy's days from the result, and the agency's days from the request (the authority's
            # later answer is the same branch, so the agency's window is the one witnessed).
            if name == "appeal_in_time":
                since, days = inst.result_on, policy.appeal.request_days
            else:
                since, days = inst.appeal_on, policy.appeal.answer_days
            if since is not None:
                last = dt.date.fromisoformat(since) + dt.timedelta(days=days)
                high = min(high or last, last)
    today = policy.day(now)
    if (low is None or today >= low) and (high is None or today <= high):
        return now
    if low is not None and today < low:
        return at_day(policy, low)
    if high is not None and low is None:
        return at_day(policy, high)
    return at_day(policy, low)  # type: ignore[arg-type]


def start_time(policy: Policy) -> dt.datetime:
    """The first morning of registration."""
    return at_day(policy, policy.windows.registration.start, 9)


def clock_anchors(policy: Policy) -> list[dt.datetime]:
    """Every window's first day, last day and the day after it, in order: where the rules change."""
    w = policy.windows
    days: set[dt.date] = {w.deferral_deadline, w.deferral_deadline + dt.timedelta(days=1)}
    for name in ("registration", "first_round", "grading", "makeup", "makeup_grading", "reexam", "reexam_grading"):
        span = getattr(w, name)
        days |= {span.start, span.end, span.end + dt.timedelta(days=1)}
    days.add(dt.date(2022, 3, 1))  # long after the cycle
    return [at_day(policy, d) for d in sorted(days)]


def valid_fires(
    step_map: dict[str, tuple[Step, ...]],
    inst: Instance,
    doctor: Doctor,
    world: World,
    policy: Policy,
    now: dt.datetime,
    scores: Iterable[float] = (0, 100),
    every_actor: bool = False,
) -> Iterable[tuple[str, Step, Actor, dict[str, Any], dt.datetime]]:
    """Every witnessed command for ``inst``'s state: (event, the branch aimed at, actor, data, time).

    One entitled actor per role unless ``every_actor`` (admins at every level, say).
    """
    scores = tuple(scores)
    for event, steps in step_map.items():
        options = data_options(event, inst, doctor, policy, scores=scores)
        for step in steps:
            when = time_for(step, inst, policy, now)
            for role in sorted(step.roles):
                actors = actors_for(role, doctor, world)
                if event == "change_institution":
                    # 变更卫生机构 also needs the admin to govern the new institution, which
                    # Engine.change_institution checks after the decision (that sees the doctor only).
                    take = None if every_actor else 1
                    pairs = [
                        (actor, data)
                        for data in options
                        for actor in [a for a in actors if _governs_target(world, a, data)][:take]
                    ]
                else:
                    pairs = [(actor, data) for actor in actors[: None if every_actor else 1] for data in options]
                for actor, data in pairs:
                    yield event, step, actor, data, when


def _governs_target(world: World, actor: Actor, data: dict[str, Any]) -> bool:
    target = world.institutions.get(data["institution"])
    return target is not None and world.governs(actor.id, target.region)
