"""What every actor does in each phase of a simulated cycle, as per-doctor plans.

A plan is a generator over one doctor: it yields the next command (with its
actor and time) and is sent the engine's answer, so it follows the state the
engine decides, like an office worker reading the screen.  Draws come from
``Dice`` keyed by (seed, doctor, phase), so a phase run twice, or resumed,
makes the same choices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator
from typing import Any

import attrs

from ..engine import Fire
from ..errors import Refused
from ..model import Actor, Doctor, Instance, View
from ..rules.guards import suspension_end, years_at_period_end
from ..rules.policy import Policy, Window
from ..rules.results import DUE, REEXAM_ITEMS
from ..rules.verdict import anniversary
from ..world import World
from .dice import Dice, salt
from .profile import Profile

Plan = Generator[Fire, "View | Refused", None]
EXAM = Actor("exam_system")
TESTING = ("simple.testing", "general.testing")
AWAITING = ("simple.awaiting_grade", "general.awaiting_grade")


@attrs.define
class Context:
    """What plans share: the run's settings, the world, and a tally of surprises."""

    seed: int
    policy: Policy
    profile: Profile
    world: World
    agency_of: dict[str, str]
    province: Actor
    refusals: int = 0
    samples: list[str] = attrs.Factory(list)
    #: Actors by (role, id): the same few thousand offices act on every doctor, so each is built once.
    _actors: dict[tuple[str, str], Actor] = attrs.field(factory=dict, init=False)

    def _actor(self, role: str, ident: str) -> Actor:
        actor = self._actors.get((role, ident))
        if actor is None:
            actor = self._actors[(role, ident)] = Actor(role, ident)
        return actor

    def dice(self, doctor: Doctor, phase: str) -> Dice:
        number = int(doctor.id[1:]) if doctor.id[1:].isdigit() else salt(doctor.id)
        return Dice(self.seed, number, phase)

    def institution(self, doctor: Doctor) -> Actor:
        return self._actor("institution", doctor.institution)

    def agency(self, doctor: Doctor) -> Actor:
        return self._actor("agency", self.agency_of[doctor.institution])

    def county(self, doctor: Doctor) -> Actor:
        return self._actor("admin", self.world.institutions[doctor.institution].region)

    def at(self, day: dt.date, hour: float = 9.0) -> dt.datetime:
        """``hour`` hours into ``day`` in the policy's time zone, to the second like an office system stamps it."""
        return dt.datetime.combine(day, MIDNIGHT, self.policy.tz) + delta_seconds(int(hour * 3600))

    def surprise(self, doctor: Doctor, cmd: Fire, refused: Refused) -> None:
        """A refusal the profile did not intend: counted and sampled, never silently dropped."""
        self.refusals += 1
        if len(self.samples) < 20:
            self.samples.append(f"{doctor.id} {cmd.event}: {refused.code} {refused.rule or ''} {refused.message}")


#: Office hours: every step but the phone tests (the testing app is open at any hour) happens between these.
OPENS, CLOSES = 8, 18
MIDNIGHT = dt.time()
#: Times are whole seconds from midnight on (``timedelta(hours=2.7)`` would carry microseconds, and
#: cutting them off cost more than the step).  A plan's clock moves once per event.
_delta = dt.timedelta
#: Every whole hour up to two days and every second of an hour: a step's delay is one of each, added.
_HOURS = tuple(_delta(0, 3600 * h) for h in range(48))
_SECONDS = tuple(_delta(0, s) for s in range(3600))
_TABLED = 3600 * len(_HOURS)
#: And every whole number of days a phase's window spans (a plan picks its day in its window).
_DAYS = tuple(_delta(d) for d in range(400))


def delta_seconds(n: int) -> dt.timedelta:
    """``timedelta(0, n)`` for ``n`` ≥ 0 whole seconds, the same value.

    Made from the tables: adding two stored values is cheaper than building one
    (``timedelta()`` parses its seven keyword arguments on every call), and a
    simulated event takes about two.
    """
    if 0 <= n < _TABLED:
        return _HOURS[n // 3600] + _SECONDS[n % 3600]
    return _delta(0, n)


def delta_days(n: int) -> dt.timedelta:
    """``timedelta(n)`` for ``n`` ≥ 0 whole days, the same value, from the table while it reaches."""
    return _DAYS[n] if 0 <= n < len(_DAYS) else _delta(n)


def office_hours(t: dt.datetime) -> dt.datetime:
    """``t``, or the next opening time plus ``t``'s minutes when ``t`` falls outside office hours.

    Without it the audit trail shows a hospital approving details at 3 a.m.,
    which no office reading a rehearsal would believe.
    """
    hour = t.hour
    if hour < OPENS:
        return t + _HOURS[OPENS - hour]
    if hour >= CLOSES:
        return t + _HOURS[24 + OPENS - hour]
    return t


class Timeline:
    """A doctor's clock within a phase: moves forward a little with every step, never past ``last``."""

    __slots__ = ("ctx", "dice", "end", "last", "now")

    def __init__(self, ctx: Context, dice: Dice, first: dt.date, last: dt.date):
        self.ctx, self.dice, self.last = ctx, dice, last
        self.now = ctx.at(min(first, last), dice.uniform(OPENS, 12))
        self.end = ctx.at(last, 17)

    def next(self, max_days: float = 1.5, *, office: bool = True) -> dt.datetime:
        """The time of the next step: a little later, in office hours unless it is the doctor on the phone app."""
        later = self.now + delta_seconds(int(self.dice.uniform(0.2, max_days * 24) * 3600))
        if office:
            later = office_hours(later)
        if later > self.end:
            later = self.end
        # Never back in time, even when an earlier step already stands at the phase's end.
        if later > self.now:
            self.now = later
        return self.now


def _step(ctx: Context, doctor: Doctor, cmd: Fire) -> Generator[Fire, Any, View | None]:
    """Yield one command; the view it produced, or None (and a counted surprise) if refused."""
    result = yield cmd
    if isinstance(result, Refused):
        ctx.surprise(doctor, cmd, result)
        return None
    return result


def _age(doctor: Doctor, policy: Policy, years: int) -> bool:
    return anniversary(doctor.birth_date, years) <= policy.period.end


def simple_condition(doctor: Doctor, policy: Policy) -> str | None:
    """The first simple-program condition the doctor meets, if any (the doctor knows their own record)."""
    years = years_at_period_end(doctor.practice_since, policy)
    for cid, cond in policy.simple_conditions.items():
        if years >= cond.min_years and doctor.record in cond.records:
            return cid
    return None


def advance(
    ctx: Context, doctor: Doctor, inst: Instance, dice: Dice, time: Timeline, *, may_defer: bool
) -> Generator[Fire, Any, View | None]:
    """From wherever the doctor stands, on to the tests: details, program, evaluation, exemptions.

    Returns the last view (``None`` after a surprise); stops at the tests, at a
    deferral, or at an unqualified evaluation.
    """
    r, ex = ctx.profile.registration, ctx.profile.exemptions
    me, hospital, agency = Actor("doctor", doctor.id), ctx.institution(doctor), ctx.agency(doctor)
    state, flags = inst.state, inst.flags
    done: set[str] = set()
    view: View | None = View.of(inst)
    deadline = ctx.at(ctx.policy.windows.deferral_deadline, 17)

    def once(name: str, p: float) -> bool:
        if name in done:
            return False
        done.add(name)
        return dice.chance(p)

    while view is not None:
        state, flags = view.instance.state, view.instance.flags
        if state == "enrolled":
            cmd = Fire(doctor.id, "submit_info", me, {"phone": f"1{int(doctor.id[1:]) % 10**10:010d}"}, time.next())
        elif state == "info_submitted":
            if once("reject_info", r.info_rejected):
                cmd = Fire(doctor.id, "reject_info", hospital, {"reason": "执业信息有误，请更正"}, time.next())
            else:
                cmd = Fire(doctor.id, "approve_info", hospital, {}, time.next())
        elif state == "info_approved":
            if once("reject_registration", r.registration_rejected):
                cmd = Fire(doctor.id, "reject_registration", agency, {"reason": "报名信息需复核"}, time.next())
            else:
                cmd = Fire(doctor.id, "confirm_registration", agency, {}, time.next())
        elif state == "registered":
            # Past the deadline a doctor can no longer ask (the request would be dated before the last step).
            if may_defer and time.now < deadline and once("defer", ctx.profile.deferral.requested):
                view = yield from deferral(ctx, doctor, dice, time, deadline)
                if view is None or view.state != "registered":
                    return view
                continue
            if _age(doctor, ctx.policy, ctx.policy.assistance.min_age) and once("assist", r.assistance):
                view = yield from _step(ctx, doctor, Fire(doctor.id, "request_assistance", me, {}, time.next()))
                if view is not None:
                    view = yield from _step(
                        ctx, doctor, Fire(doctor.id, "approve_assistance", hospital, {}, time.next())
                    )
                continue
            condition = simple_condition(doctor, ctx.policy)
            if condition and "simple_refused" not in flags and once("simple", r.choose_simple):
                data = {"condition": condition, "self_evaluation": "本周期内认真履职，无违规行为。"}
                cmd = Fire(doctor.id, "choose_simple", me, data, time.next())
            else:
                cmd = Fire(doctor.id, "choose_general", me, {"self_evaluation": "完成岗位工作任务。"}, time.next())
        elif state.endswith(".submitted"):
            data = {
                "work_performance": "fail" if once("work", r.work_fail) else "pass",
                "ethics": "fail" if once("ethics", r.ethics_fail) else "pass",
                "opinion": "同意",
            }
            cmd = Fire(doctor.id, "approve_program", hospital, data, time.next())
        elif state.endswith(".institution_approved") and not state.endswith("exemption.institution_approved"):
            if state.startswith("simple") and once("refuse_simple", r.simple_refused):
                cmd = Fire(doctor.id, "refuse_simple", agency, {"reason": "不符合简易程序条件"}, time.next())
            elif once("return", r.program_returned):
                cmd = Fire(doctor.id, "return_program", agency, {"reason": "请补充评定意见"}, time.next())
            else:
                cmd = Fire(doctor.id, "confirm_program", agency, {}, time.next())
        elif state == "simple.testing" and _age(doctor, ctx.policy, 60) and once("age_60", ex.age_60):
            view = yield from exemption(ctx, doctor, dice, time, {"reason_id": "age_60", "proof": "身份证"}, False)
            continue
        elif state == "general.testing" and "business_exempt" not in flags and once("business_ex", ex.business):
            reasons = sorted(ctx.policy.business_exemptions.reasons)
            if not reasons or "exemption_forbidden" in flags:
                return view
            data = {"reason_id": reasons[dice.integer(0, len(reasons) - 1)], "proof": "结业证书"}
            view = yield from exemption(ctx, doctor, dice, time, data, dice.chance(ex.business_rejected))
            continue
        else:
            return view
        # _step, inlined: most of a cycle's commands come from this line.
        result = yield cmd
        if isinstance(result, Refused):
            ctx.surprise(doctor, cmd, result)
            return None
        view = result
    return view


def exemption(
    ctx: Context, doctor: Doctor, dice: Dice, time: Timeline, data: dict[str, str], rejected: bool
) -> Generator[Fire, Any, View | None]:
    hospital, agency = ctx.institution(doctor), ctx.agency(doctor)
    view = yield from _step(
        ctx, doctor, Fire(doctor.id, "apply_exemption", Actor("doctor", doctor.id), data, time.next())
    )
    if view is None:
        return None
    if rejected:
        mode = "forbid" if dice.chance(0.5) else "supplement"
        return (
            yield from _step(
                ctx,
                doctor,
                Fire(doctor.id, "reject_exemption", hospital, {"mode": mode, "reason": "证明材料不足"}, time.next()),
            )
        )
    view = yield from _step(ctx, doctor, Fire(doctor.id, "approve_exemption", hospital, {}, time.next()))
    if view is None:
        return None
    return (yield from _step(ctx, doctor, Fire(doctor.id, "approve_exemption", agency, {}, time.next())))


def deferral(
    ctx: Context, doctor: Doctor, dice: Dice, time: Timeline, deadline: dt.datetime
) -> Generator[Fire, Any, View | None]:
    """Ask to defer before the deadline; the institution then the county authority decide."""
    when = min(time.next(), deadline)
    request = Fire(
        doctor.id, "request_deferral", Actor("doctor", doctor.id), {"reason": "外出进修，无法参加首轮考核"}, when
    )
    view = yield from _step(ctx, doctor, request)
    if view is None:
        return None
    rejected = dice.chance(ctx.profile.deferral.rejected)
    by_institution = dice.chance(0.5)
    if rejected and by_institution:
        return (
            yield from _step(
                ctx,
                doctor,
                Fire(doctor.id, "reject_deferral", ctx.institution(doctor), {"reason": "理由不充分"}, time.next()),
            )
        )
    view = yield from _step(ctx, doctor, Fire(doctor.id, "approve_deferral", ctx.institution(doctor), {}, time.next()))
    if view is None:
        return None
    event = "reject_deferral" if rejected else "approve_deferral"
    data = {"reason": "理由不充分"} if rejected else {}
    return (yield from _step(ctx, doctor, Fire(doctor.id, event, ctx.county(doctor), data, time.next())))


# -- the phases -----------------------------------------------------------------------------------


def registration(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    """报名: the institution enrols, the doctor confirms, the program is chosen and evaluated."""
    dice = ctx.dice(doctor, "registration")
    if not dice.chance(ctx.profile.registration.enrolled):
        return
    w = ctx.policy.windows
    first = w.registration.start + delta_days(dice.integer(0, (w.registration.end - w.registration.start).days))
    time = Timeline(ctx, dice, first, w.first_round.start - delta_days(1))
    view = yield from _step(ctx, doctor, Fire(doctor.id, "enroll", ctx.institution(doctor), {}, time.now))
    if view is not None:
        yield from advance(ctx, doctor, view.instance, dice, time, may_defer=True)


def sit_tests(
    ctx: Context, inst: Instance, doctor: Doctor, dice: Dice, window: Window, not_before: dt.datetime | None = None
) -> Plan:
    """The phone tests in ``window``, not before ``not_before``; then the agency reviews the proctoring photos."""
    t = ctx.profile.tests
    if dice.chance(t.absent):
        return
    time = Timeline(ctx, dice, window.start + delta_days(dice.integer(0, (window.end - window.start).days)), window.end)
    if not_before is not None:
        time.now = max(time.now, not_before)
    view: View | None = View.of(inst)
    if inst.program == "general" and "business_exempt" not in inst.flags:
        score = dice.score(t.business_mean, t.business_sd)
        view = yield from _step(
            ctx,
            doctor,
            Fire(doctor.id, "record_score", EXAM, {"test": "business", "score": score}, time.next(0.2, office=False)),
        )
    attempts = ctx.policy.tests["humanities"].attempts
    line = ctx.policy.pass_line("humanities", doctor.license)
    for _ in range(attempts):
        if view is None or view.instance.state not in TESTING or "humanities_exempt" in view.instance.flags:
            break
        score = dice.score(t.humanities_mean, t.humanities_sd)
        data = {"test": "humanities", "score": score}
        view = yield from _step(ctx, doctor, Fire(doctor.id, "record_score", EXAM, data, time.next(0.5, office=False)))
        if score >= line or not dice.chance(t.retry):
            break
    if view is None or view.state not in AWAITING:
        return
    yield from proctoring(ctx, doctor, dice, time)


def proctoring(ctx: Context, doctor: Doctor, dice: Dice, time: Timeline) -> Plan:
    pr = ctx.profile.proctoring
    if not dice.chance(pr.suspected):
        return
    view = yield from _step(
        ctx, doctor, Fire(doctor.id, "mark_suspected", ctx.agency(doctor), {"reason": "抓拍照片异常"}, time.next(0.5))
    )
    if view is None:
        return
    if dice.chance(pr.cleared):
        yield from _step(
            ctx,
            doctor,
            Fire(doctor.id, "unmark_suspected", ctx.county(doctor), {"reason": "复核无异常"}, time.next(0.5)),
        )
        return
    roll = dice.uniform(0, 1)
    finding = (
        "cheating"
        if roll < pr.finding_cheating
        else "communicating"
        if roll < (1 + pr.finding_cheating) / 2
        else "camera_blocked"
    )
    yield from _step(
        ctx,
        doctor,
        Fire(
            doctor.id, "discipline", ctx.county(doctor), {"finding": finding, "reason": "监考照片认定"}, time.next(0.5)
        ),
    )


def first_round(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    """首轮考核 for the doctors still in a testing state.

    A doctor who already has a score sat the round: their plan ran (a plan
    commits whole) and left them in testing — a failed humanities attempt not
    retried.  Running it again, as a resumed run does, would record the same
    scores a second time.
    """
    if "resumed" in inst.flags or inst.humanities_attempts or inst.business_attempts:
        return
    yield from sit_tests(ctx, inst, doctor, ctx.dice(doctor, "first_round"), ctx.policy.windows.first_round)


#: The tests each grading window grades.
GRADES = {"grading": "first_round", "makeup_grading": "makeup"}


def grading(window: str, resumed: bool) -> Callable[[Context, Instance, Doctor], Plan]:
    """The agency grades on a day of ``window`` after the tests it grades have closed.

    The Guangxi make-up grading window opens with the make-up itself
    (11-01); grading on 11-02 a doctor who sat the make-up on 11-04 would put
    the grade before the scores in the history.
    """

    def plan(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
        if ("resumed" in inst.flags) != resumed:
            return
        dice = ctx.dice(doctor, window)
        w: Window = getattr(ctx.policy.windows, window)
        tests: Window = getattr(ctx.policy.windows, GRADES[window])
        first = min(max(w.start, tests.end + delta_days(1)), w.end)
        day = first + delta_days(dice.integer(0, (w.end - first).days))
        yield from _step(
            ctx, doctor, Fire(doctor.id, "grade", ctx.agency(doctor), {}, ctx.at(day, dice.uniform(9, 17)))
        )

    return plan


def suspension(after: str) -> Callable[[Context, Instance, Doctor], Plan]:
    """The registering authority suspends an unqualified doctor soon after ``after`` closes."""

    def plan(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
        dice = ctx.dice(doctor, f"suspension:{after}")
        months = int(dice.pick(ctx.profile.reexam.months))
        w: Window = getattr(ctx.policy.windows, after)
        day = w.end + delta_days(dice.integer(1, 7))
        yield from _step(
            ctx, doctor, Fire(doctor.id, "suspend", ctx.county(doctor), {"months": months}, ctx.at(day, 10))
        )

    return plan


def listing(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    """The province lists those whose suspension ends in time to sit the re-exam."""
    w = ctx.policy.windows
    end = suspension_end(inst)
    if end is None or end > w.reexam.end:
        return
    day = w.reexam.start - delta_days(5)
    yield from _step(ctx, doctor, Fire(doctor.id, "confirm_reexam", ctx.province, {}, ctx.at(day, 10)))


def makeup(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    """补考: a deferred doctor comes back where they left off and sits the tests as a first exam."""
    dice = ctx.dice(doctor, "makeup")
    if not dice.chance(ctx.profile.deferral.resumes):
        return
    w = ctx.policy.windows.makeup
    time = Timeline(ctx, dice, w.start, w.end)
    view = yield from _step(ctx, doctor, Fire(doctor.id, "resume", Actor("doctor", doctor.id), {}, time.now))
    if view is None:
        return
    view = yield from advance(ctx, doctor, view.instance, dice, time, may_defer=False)
    if view is not None and view.state in TESTING:
        yield from sit_tests(ctx, view.instance, doctor, dice, attrs.evolve(w, start=time.now.date()), time.now)


def reexam(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    """再次考核: the doctor sits each test the re-exam covers once; for a failed evaluation the institution
    evaluates afresh and the agency confirms — whatever the province listed (the ``reexam_<item>`` flags)."""
    dice = ctx.dice(doctor, "reexam")
    r = ctx.profile.reexam
    if dice.chance(r.absent):
        return
    w = ctx.policy.windows.reexam
    end = suspension_end(inst)
    first = max(w.start, end) if end else w.start
    if first > w.end:
        return
    day = first + delta_days(dice.integer(0, max(0, (w.end - first).days)))
    time = Timeline(ctx, dice, day, w.end)
    time.end = ctx.at(w.end, 15)  # done before the authority grades on the window's last afternoon
    view: View | None = View.of(inst)
    for item in REEXAM_ITEMS:
        if view is None or DUE[item] not in view.instance.flags:
            continue
        if item == "evaluation":
            data = {
                "work_performance": "fail" if dice.chance(r.evaluation_fail) else "pass",
                "ethics": "pass",
                "opinion": "整改后重新评定",
            }
            view = yield from _step(
                ctx, doctor, Fire(doctor.id, "approve_program", ctx.institution(doctor), data, time.next())
            )
            if view is not None:
                view = yield from _step(
                    ctx, doctor, Fire(doctor.id, "confirm_program", ctx.agency(doctor), {}, time.next())
                )
            continue
        mean, sd = (r.business_mean, r.business_sd) if item == "business" else (r.humanities_mean, r.humanities_sd)
        data = {"test": item, "score": dice.score(mean, sd)}
        view = yield from _step(ctx, doctor, Fire(doctor.id, "record_score", EXAM, data, time.next(0.2, office=False)))


def reexam_grading(ctx: Context, inst: Instance, doctor: Doctor) -> Plan:
    w = ctx.policy.windows.reexam_grading
    yield from _step(ctx, doctor, Fire(doctor.id, "grade", ctx.county(doctor), {}, ctx.at(w.end, 16)))
