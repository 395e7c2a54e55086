"""The one decision path: given an instance and a command, the next instance or a refusal.

Pure: no storage, no clock.  ``fire``, the batch path, sweeps, the simulator,
the replay and history rebuilding all go through these functions, so there is
no second copy of the rules anywhere.

Order of checks (each refusal is final and writes nothing):
role may fire the event at all → the actor's jurisdiction covers the doctor →
the event is possible in the current state → the branch (chosen by its
condition, judged after its effects) is open to this role → its guards pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from .errors import FORBIDDEN, GUARD_FAILED, INVALID_TRANSITION, Refused, outside
from .keys import HistoryKey
from .labels import event_zh, role_zh, state_zh
from .machines.compile import Compiled, Fn, Step
from .machines.vocabulary import PROVINCE
from .model import Act, Actor, Doctor, Instance, Record, canonical, new_tuple, replace
from .rules import reads_data
from .rules.policy import Policy
from .world import World

SEPARATOR = "\x1f"


#: The canonical JSON of a record's data: what the hash covers.
dumps = canonical


_SEP = SEPARATOR
_sha256 = hashlib.sha256


def chain_hash(
    prev: str,
    cycle: str,
    doctor: str,
    seq: int,
    event: str,
    from_state: str,
    to_state: str,
    role: str,
    actor: str | None,
    at: str,
    data: str,
    policy_version: str,
) -> str:
    """The old, unkeyed rule: a SHA-256 over the record and the previous hash (anyone can recompute it)."""
    text = SEPARATOR.join(
        (prev, cycle, doctor, str(seq), event, from_state, to_state, role, actor or "", at, data, policy_version)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def chain_mac(
    key: HistoryKey,
    prev: str,
    cycle: str,
    doctor: str,
    seq: int,
    event: str,
    from_state: str,
    to_state: str,
    role: str,
    actor: str | None,
    at: str,
    data: str,
    policy_version: str,
    policy_sha256: str,
) -> str:
    """The keyed rule: an HMAC-SHA256 with the history key over the same fields, and the SHA-256 of
    the policy text the record was judged under (so the stored text cannot change under it)."""
    text = SEPARATOR.join(
        (
            prev,
            cycle,
            doctor,
            str(seq),
            event,
            from_state,
            to_state,
            role,
            actor or "",
            at,
            data,
            policy_version,
            policy_sha256,
        )
    )
    return key.mac(text.encode())


def effect_changes(inst: Instance, then: Sequence[Fn], policy: Policy, act: Act, at: dt.datetime) -> dict[str, Any]:
    """What the effects write, in order, each seeing what the previous ones wrote."""
    if not then:
        return {}
    if len(then) == 1:
        return then[0](inst, policy, act, at)
    changes: dict[str, Any] = {}
    for effect in then:
        changes.update(effect(replace(inst, changes), policy, act, at))
    return changes


def apply_effects(inst: Instance, then: Sequence[Fn], policy: Policy, act: Act, at: dt.datetime) -> Instance:
    return replace(inst, effect_changes(inst, then, policy, act, at))


def role_may(actor: Actor, roles: frozenset[str], world: World) -> bool:
    if actor.role in roles:
        return True
    return actor.role == "admin" and PROVINCE in roles and world.is_province(actor)


def _forbidden(en: str, zh: str) -> Refused:
    return Refused(FORBIDDEN, en, message_zh=zh)


def decide(
    m: Compiled,
    world: World,
    policy: Policy,
    inst: Instance,
    doctor: Doctor,
    event: str,
    actor: Actor,
    data: dict[str, Any],
    at: dt.datetime,
    may_act: Callable[[World, Actor, Any], bool] = World.may_act,
) -> tuple[dict[str, Any], Step]:
    """What ``event`` changes in the instance (its state aside) and the step that fires, or ``Refused``.

    A workflow case comes through here too: ``inst`` is its ``Case``, ``doctor`` its subject, and
    ``may_act`` its machine's jurisdiction (``world.may_act_case``); the default is a doctor's.
    """
    role = actor.role
    # ``role in roles or role_may(…)``: the plain case answered without a call (this runs per event).
    if role not in m.event_roles[event] and not role_may(actor, m.event_roles[event], world):
        if role == "admin" and PROVINCE in m.event_roles[event]:
            raise _forbidden(
                f"only the province admin may {event}", f"仅省级卫生行政部门可执行{event_zh(event, m.machine.id)}"
            )
        raise _forbidden(f"a {role} may not {event}", f"{role_zh(role)}无权执行{event_zh(event, m.machine.id)}")
    if not may_act(world, actor, doctor):
        raise outside(actor, doctor.id)
    steps = m.steps[inst.state].get(event)
    if not steps:
        raise Refused(
            INVALID_TRANSITION,
            f"{event} is not possible in state {inst.state}",
            message_zh=f"当前{state_zh(inst.state, m.machine.id)}不能执行{event_zh(event, m.machine.id)}",
        )
    act = new_tuple(Act, (event, actor, data, doctor, at))
    for step in steps:
        # Most steps have no effects: their empty changes without a call (this runs per event).
        changes = effect_changes(inst, step.then, policy, act, at) if step.then else {}
        if step.when is None or step.when[1](replace(inst, changes), policy, act, at):
            break
    else:
        # No branch's condition holds: the branches are exhaustive only for the commands their guards
        # accept (an appeal is answered only for a result a person judged), so the guards say why.
        last = steps[-1]
        if role_may(actor, last.roles, world):
            for _, guard in last.guards:
                verdict = guard(inst, policy, act, at)
                if not verdict.ok:
                    raise Refused(GUARD_FAILED, verdict.en, rule=verdict.rule, message_zh=verdict.zh)
        raise Refused(
            INVALID_TRANSITION,
            f"no branch of {event} applies in {inst.state}",
            message_zh=f"当前{state_zh(inst.state, m.machine.id)}不能执行{event_zh(event, m.machine.id)}",
        )
    if role not in step.roles and not role_may(actor, step.roles, world):
        raise _forbidden(
            f"a {actor.role} may not {event} in state {inst.state}",
            f"{role_zh(actor.role)}不能在{state_zh(inst.state, m.machine.id)}执行{event_zh(event, m.machine.id)}",
        )
    for _, guard in step.guards:
        verdict = guard(inst, policy, act, at)
        if not verdict.ok:
            raise Refused(GUARD_FAILED, verdict.en, rule=verdict.rule, message_zh=verdict.zh)
    return changes, step


def allowed_events(
    m: Compiled,
    world: World,
    policy: Policy | None,
    inst: Any,
    subject: Any,
    actor: Actor,
    at: dt.datetime,
    may_act: Callable[[World, Actor, Any], bool] = World.may_act,
) -> list[str]:
    """The events ``actor`` may fire on ``inst`` now — what a screen shows as its buttons.

    Role, jurisdiction and every guard that does not read the command's data (a
    score, a reason id) are judged as ``decide`` judges them; a guard that reads
    the data is left to the command.  A workflow case comes through here too,
    like ``decide``.
    """
    if not may_act(world, actor, subject):
        return []
    out = []
    for event, steps in m.steps[inst.state].items():
        act = Act(event, actor, {}, subject, at)
        for step in steps:
            if role_may(actor, step.roles, world) and all(
                reads_data(ref) or guard(inst, policy, act, at).ok for ref, guard in step.guards
            ):
                out.append(event)
                break
    return out


def advance(
    before: Instance,
    changes: dict[str, Any],
    step: Step,
    actor: Actor,
    data_json: str,
    at_iso: str,
    policy_version: str,
    idempotency_key: str | None = None,
    key: HistoryKey | None = None,
    policy_sha256: str = "",
) -> tuple[Instance, Record]:
    """The new instance and its history record, chained to the previous record.

    With ``key`` the record's hash is ``chain_mac`` (covering ``policy_sha256``, the SHA-256 of
    the policy text it was judged under); without, the old ``chain_hash``.
    """
    to_state = step.target or before.state
    seq = before.version + 1
    # chain_mac / chain_hash, inlined: this runs once per accepted event.
    text = _SEP.join(
        (
            before.head,
            before.cycle,
            before.doctor,
            str(seq),
            step.event,
            before.state,
            to_state,
            actor.role,
            actor.id or "",
            at_iso,
            data_json,
            policy_version,
        )
    )
    if key is None:
        digest = _sha256(text.encode()).hexdigest()
    else:
        inner = key.inner.copy()
        inner.update(f"{text}{_SEP}{policy_sha256}".encode())
        outer = key.outer.copy()
        outer.update(inner.digest())
        digest = outer.hexdigest()
    record = new_tuple(
        Record,
        (
            before.cycle,
            before.doctor,
            seq,
            step.event,
            before.state,
            to_state,
            actor.role,
            actor.id,
            at_iso,
            data_json,
            policy_version,
            digest,
            idempotency_key,
        ),
    )
    return before.evolve({**changes, "state": to_state, "version": seq, "head": digest}), record
