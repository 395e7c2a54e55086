"""The one gate every write passes: a doctor's event (alone, in a batch, with an expected version),
a workflow case's step and an institution change.

Before the pure decision (``runtime.decide``/``advance``) the gate checks what the caller sent —
the actor, the time, the idempotency key, the expected version — and after it maps a lost race in
storage to ``Refused(conflict)``.  Each check lives here once, so the write paths cannot drift
apart: the same hostile input gets the same refusal whichever path it comes by.

``Gate.decide`` is the batch path's per-event work (a simulation runs it for every event), so its
checks are inlined there rather than spread over helper calls; everything else calls the plain
functions above it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import CONFLICT, NOT_FOUND, Refused, bad_input
from .eventdata import (
    IDEMPOTENCY_KEY,
    check_data,
    check_id,
    check_identity,
    check_same_request,
)
from .eventdata import check_actor as _check_role
from .model import Actor, Doctor, Instance, Record, View, iso_time
from .ops import ActorOp
from .runtime import advance, decide, dumps
from .storage.base import ConflictError, policy_text_sha256

if TYPE_CHECKING:
    from .machines.compile import Compiled
    from .rules.policy import Policy
    from .storage import Storage
    from .world import World

#: How many checked actors a gate remembers before it starts again: a province's offices and
#: counties are a few thousand; a service making a new ``Actor`` per request only refills it.
ACTORS_REMEMBERED = 4096

__all__ = [
    "ACTORS_REMEMBERED",
    "Fire",
    "Gate",
    "check_actor",
    "check_expected_version",
    "check_key",
    "local_time",
    "no_policy",
    "op_actor",
    "refusing_conflicts",
    "same_request",
    "stale",
]


class Fire(NamedTuple):
    """One command for the batch path (``Engine.fire_many``); ``data`` ``None`` means no data."""

    doctor: str
    event: str
    actor: Actor
    data: dict[str, Any] | None = None
    at: dt.datetime | None = None
    idempotency_key: str | None = None


# -- the checks before the decision --------------------------------------------------------------
def check_actor(actor: Any) -> Actor:
    """An ``Actor`` of a known role whose id (if it has one) is an id, or ``bad_input``: a NUL or an
    unprintable id is refused as input on every path, never judged (or echoed) as someone else."""
    _check_role(actor)
    if actor.id is not None:
        check_id(actor.id, "actor id")
    return actor  # type: ignore[no-any-return]


def op_actor(op: Any) -> Any:
    """A replay op's actor as an ``Actor``; anything else (an op built in code with a dict or a bare id
    as its actor) is passed on as it is, for ``check_actor`` to refuse."""
    actor = op.actor
    return Actor(actor.role, actor.id) if isinstance(actor, ActorOp) else actor


def local_time(at: Any, tz: Any, now: Callable[[], dt.datetime]) -> dt.datetime:
    """``at`` as local time in ``tz`` (what history records); a naive ``at`` is local already, ``None`` is ``now()``.

    Anything but a date and time, or a time near the ends of the calendar (year 9999 in UTC is
    year 10000 in Beijing), is refused as input, not an ``AttributeError`` or ``OverflowError``
    deep in a rule.
    """
    if at is None:
        at = now()
    if not isinstance(at, dt.datetime):
        raise bad_input(f"at must be a date and time, not {type(at).__name__}")
    if at.tzinfo is None:
        return at.replace(tzinfo=tz)
    if at.tzinfo is tz:
        return at
    try:
        return at.astimezone(tz)
    except OverflowError:
        raise bad_input(f"at {at.isoformat()} is out of the calendar's range in {tz.key}") from None


def check_key(key: Any) -> str | None:
    """An idempotency key (``None``: none given), or ``bad_input``."""
    return None if key is None else check_id(key, "idempotency_key", IDEMPOTENCY_KEY)


def check_expected_version(expected: Any) -> int | None:
    """The version a caller decided on (``None``: any), or ``bad_input``."""
    if expected is not None and (type(expected) is not int or expected < 0):
        raise bad_input(f"expected_version must be a whole number ≥ 0, not {expected!r}")
    return expected  # type: ignore[no-any-return]


def stale(doctor: str, expected: int) -> Refused:
    """The refusal of a write expecting a version the doctor has left."""
    return Refused(
        CONFLICT,
        f"{doctor} changed since version {expected}; read it again and decide again",
        message_zh=f"医师 {doctor} 的考核状态已被他人修改，请刷新后重试",
    )


def same_request(prior: Record, event: str, actor: Actor, data: dict[str, Any], added: str = "") -> None:
    """A key already used is a retry only of the same request (``commands.check_same_request``)."""
    check_same_request(prior, event, actor, data, added)


def no_policy() -> Refused:
    return Refused(NOT_FOUND, "no policy is loaded: apply a policy command first", message_zh="尚未加载考核政策")


# -- after the decision ------------------------------------------------------------------------------
def changed(doctor: str) -> Refused:
    """A doctor's write that lost the race to another writer."""
    return Refused(
        CONFLICT,
        f"{doctor} changed since it was read; read it again and retry",
        message_zh=f"医师 {doctor} 的考核状态已被他人修改，请刷新后重试",
    )


@contextmanager
def refusing_conflicts(refusal: Callable[[], Refused]) -> Iterator[None]:
    """Storage's ``ConflictError`` (another writer got in between read and write) as ``refusal()``."""
    try:
        yield
    except ConflictError:
        raise refusal() from None


# -- the batch path's per-event gate -------------------------------------------------------------------
class Gate:
    """The doctor's machine's gate: what ``Engine`` runs for each command of a batch.

    It remembers the actors it has checked (a batch's commands share a few: an office, a county).
    """

    def __init__(
        self,
        storage: Storage,
        machine: Compiled,
        key: bytes | None,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.storage = storage
        self.machine = machine
        self.events = machine.machine.events
        self.key = key
        self.now = now
        #: Actors ``check`` has accepted, by identity (see ``remember``).
        self._actors_checked: dict[int, Actor] = {}
        #: The SHA-256 of each policy text, by text (computed once).
        self._policy_shas: dict[str, str] = {}

    def policy_sha256(self, policy: Policy) -> str:
        """The SHA-256 of ``policy``'s text: what a keyed record names, so the stored text cannot change under it."""
        sha = self._policy_shas.get(policy.text)
        if sha is None:
            sha = self._policy_shas[policy.text] = policy_text_sha256(policy.text)
        return sha

    def decide(
        self,
        cmd: Fire,
        world: World,
        policy: Policy | None,
        loaded: dict[str, tuple[Instance, Doctor]],
        current: dict[str, Instance],
        read_versions: dict[str, int],
        records: list[Record],
    ) -> View | Refused:
        """One command on the batch's in-memory instances: the view after it, or the refusal."""
        # Its fields read once: a named tuple's field is a descriptor call each time (this runs per event).
        doctor_id, name, actor, raw, when, key = cmd
        try:
            if policy is None:
                raise no_policy()
            # The batch loaded only ids checked when their doctors were added: one of them needs no
            # second check (this runs per event); anything else is checked before it is looked up.
            pair = loaded.get(doctor_id) if type(doctor_id) is str else None
            if pair is None:
                pair = loaded.get(check_id(doctor_id, "doctor"))
            if key is not None:
                check_id(key, "idempotency_key", IDEMPOTENCY_KEY)
            if pair is None:
                raise Refused(
                    NOT_FOUND, f"no doctor {doctor_id!r} in cycle {policy.id}", message_zh=f"本周期无医师 {doctor_id}"
                )
            before = current.get(doctor_id, pair[0])
            data = self.check(name, actor, raw, pair[1])
            if key is not None:
                prior = self.prior(policy.id, cmd, records)
                if prior is not None:
                    check_same_request(prior, name, actor, data)
                    if prior.seq > before.version:
                        # Another writer used the key after this batch read the doctor (the same request
                        # sent twice at once): answer with the doctor as that write left them.
                        return View.of(self._reload(policy.id, doctor_id))
                    return View.of(before)
            # Already the policy's local time (a plan's clock, a batch's parsed times): nothing to convert.
            at = (
                when
                if type(when) is dt.datetime and when.tzinfo is policy.tz
                else local_time(when, policy.tz, self.now)
            )
            changes, step = decide(self.machine, world, policy, before, pair[1], name, actor, data, at)
        except Refused as refused:
            return refused
        new, record = advance(
            before,
            changes,
            step,
            actor,
            dumps(data),
            iso_time(at),
            policy.version,
            key,
            self.key,
            self._policy_shas.get(policy.text) or self.policy_sha256(policy),
        )
        read_versions.setdefault(doctor_id, before.version)
        current[doctor_id] = new
        records.append(record)
        return View(new)

    def check(self, name: str, actor: Actor, raw: Any, doctor: Doctor) -> dict[str, Any]:
        """The command's event, actor and data as the boundary accepts them: its data, checked."""
        event = self.events.get(name) if type(name) is str else None
        if event is None:
            raise bad_input(f"unknown event {name!r}", f"未知事件 {name}")
        if self._actors_checked.get(id(actor)) is not actor:
            self.remember(actor)
        data = check_data(name, event, raw)
        if event.open:
            check_identity(name, data, doctor)
        elif event.via is not None:
            raise bad_input(
                f"{name} writes outside the doctor's instance: fire it alone (Engine.{event.via}), not in a batch",
                f"操作「{event.zh}」须单独执行",
            )
        return data

    def remember(self, actor: Actor) -> None:
        """``actor`` refused as input, or remembered as checked.  Only a plain ``Actor`` is
        remembered — it is frozen; a subclass might not be."""
        check_actor(actor)
        if type(actor) is Actor:
            if len(self._actors_checked) >= ACTORS_REMEMBERED:
                self._actors_checked.clear()
            # Keyed by identity (hashing an attrs instance is a Python call), holding the actor so
            # its id cannot be reused by another object while the entry lives.
            self._actors_checked[id(actor)] = actor

    def prior(self, cycle: str, cmd: Fire, pending: list[Record]) -> Record | None:
        """The record ``cmd``'s idempotency key already names: in this batch, or stored."""
        key = cmd.idempotency_key
        for r in pending:
            if r.doctor == cmd.doctor and r.idempotency_key == key:
                return r
        return self.storage.find_idempotent(cycle, cmd.doctor, key)  # type: ignore[arg-type]

    def lost(self, cycle: str, cmd: Fire, reread: Callable[[str], View]) -> View | Refused:
        """What a command that lost a storage race answers: its own earlier write's view when the
        key shows it was a retry, else ``conflict``."""
        key = cmd.idempotency_key
        prior = None if key is None else self.storage.find_idempotent(cycle, cmd.doctor, key)
        if prior is not None:
            # Another writer got in with this key: the same request sent twice at once, or a
            # different one reusing the key.  The command passed its checks in the lost attempt.
            data = check_data(cmd.event, self.events[cmd.event], cmd.data)
            try:
                check_same_request(prior, cmd.event, cmd.actor, data)
            except Refused as refused:
                return refused
            return reread(cmd.doctor)
        return changed(cmd.doctor)

    def _reload(self, cycle: str, doctor: str) -> Instance:
        pair = self.storage.load(cycle, [doctor]).get(doctor)
        if pair is None:
            raise Refused(NOT_FOUND, f"no doctor {doctor!r} in cycle {cycle}", message_zh=f"本周期无医师 {doctor}")
        return pair[0]
