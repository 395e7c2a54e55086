"""The work queue: for one actor, the doctors on whom it has something to do now.

A front end's first screen for a hospital, an agency or a health authority is
a to-do list (the manual's 上报考核名单, 复核报名, 评定…): doctors whose details
wait for the institution, registrations waiting for the agency, grades,
deferrals, suspensions, the province's re-exam list.  Nothing here is a hand
list of states: which states are a to-do for which role is read from the
compiled machine, so a province that adds a state or an event gets it in its
queues for free.

How a to-do is recognised in the machine (``todo_steps``):

- a step that **moves** the doctor on and is declared on that one state — the
  decision the state is waiting for (``approve_info`` in ``info_submitted``,
  ``grade`` in ``*.awaiting_grade``, ``suspend`` in ``unqualified``).  Steps
  declared on many states at once are options or corrections available almost
  anywhere (``request_deferral``, ``admin_exit``, ``discipline``,
  ``mark_suspected``), not something anybody is waiting for;
- a step that **answers a doctor's request** held as a flag: it needs a flag
  (``flag_set:F``) that only the doctor sets — ``approve_assistance`` once
  ``assistance_requested`` is set (and, by its own guard, not yet ``assisted``);
- never a sweep (the scheduler runs those, SPEC §2).

"Now" is judged before any row is read: each to-do step's guards that need no
command data are tried on a probe instance in that state (with no flag, then
with each flag), which drops steps whose window is closed (``grade`` outside
the grading window) and turns flag guards into SQL conditions.  Storage then
reads one page of matching instances inside the actor's jurisdiction along
its indexes (``Storage.work_queue``), and every row of the page is confirmed
with the same guard check ``Engine.allowed`` makes, so an item always lists
events the actor may really fire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs

from .errors import NOT_FOUND, Refused, bad_input
from .eventdata import check_actor
from .gate import local_time, no_policy
from .machines.compile import Compiled, Step
from .machines.vocabulary import PROVINCE
from .model import FLAGS, Act, Actor, Doctor, Instance
from .rules import reads_data, split
from .rules.policy import Policy
from .runtime import role_may
from .world import World

if TYPE_CHECKING:
    from .storage import Storage

#: One SQL condition: instances in ``state`` carrying every flag of ``require`` and none of ``forbid``.
Clause = tuple[str, frozenset[str], frozenset[str]]
#: Rows read per storage call are ``page_size`` long; a page whose rows fail confirmation reads on,
#: at most this many times, then returns what it has with a ``next`` cursor.
MAX_READS = 4
T = TypeVar("T")


@attrs.frozen
class Item:
    """One doctor on the actor's queue, with the to-do events it may fire on them now."""

    doctor: str
    name: str
    institution: str
    state: str
    reason: str | None
    flags: tuple[str, ...]
    version: int
    events: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "doctor": self.doctor,
            "name": self.name,
            "institution": self.institution,
            "state": self.state,
            "reason": self.reason,
            "flags": list(self.flags),
            "version": self.version,
            "events": list(self.events),
        }


@attrs.frozen
class Page:
    """One page of a queue.  ``next`` is the ``after`` of the following page; ``None`` at the end."""

    items: list[Item]
    next: str | None

    def as_dict(self) -> dict[str, object]:
        return {"items": [i.as_dict() for i in self.items], "next": self.next}


# -- reading the machine ---------------------------------------------------------------------------


def _role_fits(role: str, province: bool, roles: frozenset[str]) -> bool:
    return role in roles or (role == "admin" and province and PROVINCE in roles)


#: Derived tables per compiled machine (``Compiled`` holds dicts, so it cannot key ``functools.cache``).
_DERIVED: dict[tuple[int, str, bool], tuple[Compiled, object]] = {}


def _memo(machine: Compiled, what: str, province: bool, make: Callable[[], T]) -> T:
    key = (id(machine), what, province)
    found = _DERIVED.get(key)
    if found is None or found[0] is not machine:
        if len(_DERIVED) > 4096:  # a long-running service sees a new day's clauses every day
            _DERIVED.clear()
        found = _DERIVED[key] = (machine, make())
    return found[1]  # type: ignore[return-value]


def _declared_sources(machine: Compiled) -> dict[int, int]:
    return _memo(machine, ":sources", False, lambda: _count_sources(machine))


def _count_sources(machine: Compiled) -> dict[int, int]:
    """How many source states each transition of the machine file declares (by its position)."""
    counts: dict[int, int] = {}
    for edge in machine.graph.edges:
        counts[edge.order] = counts.get(edge.order, 0) + 1
    return counts


def _request_flags(machine: Compiled) -> frozenset[str]:
    return _memo(machine, ":requests", False, lambda: _find_request_flags(machine))


def _find_request_flags(machine: Compiled) -> frozenset[str]:
    """Flags only a doctor sets: requests somebody else has to answer."""
    setters: dict[str, set[str]] = {}
    for edge in machine.graph.edges:
        for ref in edge.then:
            name, arg = split(ref)
            if name == "set_flag" and arg:
                setters.setdefault(arg, set()).update(edge.roles)
    return frozenset(flag for flag, roles in setters.items() if roles == {"doctor"})


def _is_todo(machine: Compiled, state: str, step: Step) -> bool:
    if machine.machine.events[step.event].sweep:
        return False
    if step.target is not None:
        return step.source == state and _declared_sources(machine)[step.edge.order] == 1
    requests = _request_flags(machine)
    return any(split(ref)[0] == "flag_set" and split(ref)[1] in requests for ref, _ in step.guards)


def todo_steps(machine: Compiled, role: str, province: bool = False) -> dict[str, tuple[Step, ...]]:
    """``state → the steps that are a to-do for role`` (see the module's docstring for the rule)."""
    return _memo(machine, role, province, lambda: _find_todo_steps(machine, role, province))


def _find_todo_steps(machine: Compiled, role: str, province: bool) -> dict[str, tuple[Step, ...]]:
    out: dict[str, tuple[Step, ...]] = {}
    for state, events in machine.steps.items():
        found = tuple(
            step
            for steps in events.values()
            for step in steps
            if _role_fits(role, province, step.roles) and _is_todo(machine, state, step)
        )
        if found:
            out[state] = found
    return out


# -- judging "now" before reading --------------------------------------------------------------


def _probe_passes(step: Step, policy: Policy, inst: Instance, at: dt.datetime) -> bool:
    """Whether every guard that needs no command data lets ``inst`` through at ``at``.

    A guard that needs the doctor's registry facts cannot be judged on a probe;
    it counts as passing here and is judged on each row of the page.
    """
    for ref, guard in step.guards:
        if reads_data(ref):
            continue
        try:
            if not guard(inst, policy, None, at).ok:
                return False
        except (AttributeError, TypeError, KeyError):
            continue
    return True


def _step_clauses(step: Step, state: str, policy: Policy, at: dt.datetime) -> list[Clause]:
    """The flag conditions under which ``step`` is open in ``state`` at ``at`` (none: closed now)."""

    def probe(flags: frozenset[str]) -> bool:
        return _probe_passes(step, policy, Instance("", policy.id, state, flags=flags), at)

    starts = [frozenset()] if probe(frozenset()) else [frozenset({f}) for f in FLAGS if probe(frozenset({f}))]
    return [(state, need, frozenset(g for g in FLAGS if g not in need and not probe(need | {g}))) for need in starts]


def clauses(
    machine: Compiled, actor: Actor, world: World, policy: Policy, at: dt.datetime, states: Sequence[str] | None = None
) -> list[Clause]:
    """What storage is asked for: per to-do state, the flag conditions that make it a to-do now.

    Windows are whole days, so the answer is kept per (role, policy, day, states).
    """
    province = world.is_province(actor)
    key = (actor.role, province, policy.id, policy.version, policy.day(at), tuple(states) if states else None)
    make = lambda: _clauses(machine, actor.role, province, policy, at, states)  # noqa: E731
    return _memo(machine, f":clauses:{key}", province, make)


def _clauses(
    machine: Compiled, role: str, province: bool, policy: Policy, at: dt.datetime, states: Sequence[str] | None
) -> list[Clause]:
    todo = todo_steps(machine, role, province)
    wanted = list(todo) if states is None else [s for s in dict.fromkeys(states) if s in todo]
    out: list[Clause] = []
    for state in wanted:
        found: list[Clause] = []
        for step in todo[state]:
            found += _step_clauses(step, state, policy, at)
        if any(not need and not forbid for _, need, forbid in found):
            found = [(state, frozenset(), frozenset())]
        out += list(dict.fromkeys(found))
    return out


def jurisdiction(actor: Actor, world: World) -> tuple[list[str] | None, str | None]:
    """(institutions, doctor) the queue is limited to; ``None`` means no limit of that kind."""
    role, ident = actor.role, actor.id or ""
    if role == "doctor":
        return None, ident
    if role == "institution":
        if ident not in world.institutions:
            raise Refused(NOT_FOUND, f"no institution {ident!r}", message_zh=f"无此卫生机构 {ident}")
        return [ident], None
    if role == "agency":
        agency = world.agencies.get(ident)
        if agency is None:
            raise Refused(NOT_FOUND, f"no agency {ident!r}", message_zh=f"无此考核机构 {ident}")
        return sorted(agency.institutions), None
    if role == "admin":
        if ident not in world.regions:
            raise Refused(NOT_FOUND, f"no region {ident!r}", message_zh=f"无此行政区划 {ident}")
        governed = sorted(i.id for i in world.institutions.values() if world.governs(ident, i.region))
        return (None if len(governed) == len(world.institutions) else governed), None
    return None, None


# -- the queue -------------------------------------------------------------------------------------


def _confirm(
    steps: dict[str, tuple[Step, ...]],
    world: World,
    policy: Policy,
    actor: Actor,
    inst: Instance,
    doc: Doctor,
    at: dt.datetime,
) -> tuple[str, ...]:
    """The to-do events ``actor`` may fire on this row now — ``Engine.allowed``'s check, on the row read."""
    if not world.may_act(actor, doc):
        return ()
    act = Act("", actor, {}, doc, at)
    events: list[str] = []
    for step in steps.get(inst.state, ()):
        if step.event in events or not role_may(actor, step.roles, world):
            continue
        if all(reads_data(ref) or guard(inst, policy, act, at).ok for ref, guard in step.guards):
            events.append(step.event)
    return tuple(events)


def work_queue(
    storage: Storage,
    machine: Compiled,
    world: World,
    now: Callable[[], dt.datetime],
    actor: Actor,
    *,
    states: Sequence[str] | None = None,
    page_size: int = 50,
    after: str | None = None,
    at: dt.datetime | None = None,
) -> Page:
    """One page of the doctors on whom ``actor`` has something to do at ``at`` (default: the engine's clock).

    Pages are keyed by doctor id: pass the page's ``next`` as ``after`` for the
    following one.  ``states`` narrows the queue to some of its states (a state
    that is never a to-do for this role is simply empty); an unknown state id is
    refused ``bad_input``.  What it reads is given: the store, the doctor's machine, the world (with
    its policy) and the clock a missing ``at`` is read from (``Engine.work_queue`` passes its own).
    """
    check_actor(actor)
    if not 1 <= page_size <= 1000:
        raise bad_input("page_size must be between 1 and 1000")
    if states is not None:
        unknown = [s for s in states if s not in machine.steps]
        if unknown:
            raise bad_input(f"unknown state {unknown[0]!r}", f"未知状态 {unknown[0]}")
    policy = world.policy
    if policy is None:
        raise no_policy()
    moment = local_time(at, policy.tz, now)
    wanted = clauses(machine, actor, world, policy, moment, states)
    institutions, doctor = jurisdiction(actor, world)
    if not wanted or institutions == []:
        return Page([], None)
    steps = todo_steps(machine, actor.role, world.is_province(actor))
    items: list[Item] = []
    cursor = after
    for _ in range(MAX_READS):
        rows = storage.work_queue(policy.id, wanted, institutions, doctor, cursor, page_size)
        for inst, doc in rows:
            cursor = inst.doctor
            events = _confirm(steps, world, policy, actor, inst, doc, moment)
            if events:
                items.append(
                    Item(
                        inst.doctor,
                        doc.name,
                        doc.institution,
                        inst.state,
                        inst.reason,
                        tuple(sorted(inst.flags)),
                        inst.version,
                        events,
                    )
                )
                if len(items) == page_size:
                    return Page(items, cursor)
        if len(rows) < page_size:
            return Page(items, None)
    return Page(items, cursor)


__all__ = ["Clause", "Item", "Page", "clauses", "jurisdiction", "todo_steps", "work_queue"]
