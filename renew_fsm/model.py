"""The value types the engine passes around: small, frozen, cheap to copy.

An ``Instance`` is what storage keeps per (cycle, doctor): the state plus every
flag and counter the rules need, so that no rule ever scans history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import attrs

FLAGS = (
    "suspected",
    "published",
    "simple_refused",
    "exemption_forbidden",
    "humanities_exempt",
    "business_exempt",
    "no_promotion",
    "assistance_requested",
    "assisted",
    #: Added by us: the doctor came back from a deferral for the make-up exam.
    "resumed",
)


@attrs.frozen
class Actor:
    """Who fires an event.  For an admin ``id`` is the region id; for
    ``system`` and ``exam_system`` it may be omitted."""

    role: str
    id: str | None = None


@attrs.frozen(slots=True)
class Doctor:
    """The registry facts the rules read (age, licence, years of practice, conduct)."""

    id: str
    institution: str
    name: str
    id_card: str
    license: str
    birth_date: dt.date
    practice_since: dt.date
    record: str
    profile: dict[str, Any] = attrs.field(factory=dict, eq=False)


class Instance(NamedTuple):
    """One doctor's record in one cycle: the state and every flag and counter the rules read.

    A named tuple rather than an attrs class: a batch builds one per accepted
    event and one per row read, and a tuple is built five times faster than a
    frozen attrs instance while being just as immutable.
    """

    doctor: str
    cycle: str
    state: str = "not_enrolled"
    version: int = 0
    flags: frozenset[str] = frozenset()
    reason: str | None = None
    program: str | None = None
    condition: str | None = None
    work_performance: str | None = None
    ethics: str | None = None
    exemption_reason: str | None = None
    humanities_attempts: int = 0
    humanities_best: float | None = None
    business_attempts: int = 0
    business_best: float | None = None
    reexam_attempts: int = 0
    reexam_best: float | None = None
    deferred_from: str | None = None
    suspended_on: dt.date | None = None
    suspension_months: int | None = None
    finding: str | None = None
    #: Hash of the newest history record: the head of this instance's chain.
    head: str = ""


INSTANCE_FIELDS: tuple[str, ...] = Instance._fields
_INDEX = {name: i for i, name in enumerate(INSTANCE_FIELDS)}
_make = Instance._make


def instance_values(inst: Instance) -> tuple[Any, ...]:
    return inst


def replace(inst: Instance, changes: dict[str, Any]) -> Instance:
    """``_replace`` for the hot path: an instance changes a few fields per event."""
    if not changes:
        return inst
    values = list(inst)
    for name, value in changes.items():
        values[_INDEX[name]] = value
    return _make(values)


#: Instance fields that a history replay rebuilds (everything but the identity and the chain head).
STATE_FIELDS = tuple(name for name in INSTANCE_FIELDS if name not in ("doctor", "cycle", "head"))


class Command(NamedTuple):
    """One event fired at one doctor, after the boundary has checked its data.

    A named tuple, like ``Record``: one is made per event, and tuples are the
    cheapest frozen values Python builds.
    """

    event: str
    actor: Actor
    data: dict[str, Any]
    doctor: Doctor
    at: dt.datetime


class Record(NamedTuple):
    """One append-only history record; ``hash`` covers it and the previous record's hash.

    A named tuple: it is also the row storage writes, without conversion.
    """

    cycle: str
    doctor: str
    seq: int
    event: str
    from_state: str
    to_state: str
    role: str
    actor: str | None
    at: str
    data: str
    policy_version: str
    hash: str
    idempotency_key: str | None = None


class View:
    """What callers see of an instance (SPEC §6): state, reason, flags, version.

    A thin window on the instance, made for every accepted event, so it
    computes its fields only when read.
    """

    __slots__ = ("instance",)

    def __init__(self, instance: Instance):
        self.instance = instance

    of = classmethod(lambda cls, inst: cls(inst))

    @property
    def doctor(self) -> str:
        return self.instance.doctor

    @property
    def cycle(self) -> str:
        return self.instance.cycle

    @property
    def state(self) -> str:
        return self.instance.state

    @property
    def reason(self) -> str | None:
        return self.instance.reason

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(sorted(self.instance.flags))

    @property
    def version(self) -> int:
        return self.instance.version

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "flags": list(self.flags), "version": self.version}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, View) and self.instance == other.instance

    def __hash__(self) -> int:
        return hash(self.instance)

    def __repr__(self) -> str:
        return (
            f"View(doctor={self.doctor!r}, state={self.state!r}, reason={self.reason!r}, "
            f"flags={self.flags!r}, version={self.version!r})"
        )
