"""The value types the engine passes around: small, frozen, cheap to copy.

An ``Instance`` is what storage keeps per (cycle, doctor): the state plus every
flag and counter the rules need, so that no rule ever scans history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

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


@attrs.frozen(slots=True)
class Instance:
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


#: Instance fields that a history replay rebuilds (everything but the identity and the chain head).
STATE_FIELDS = tuple(f.name for f in attrs.fields(Instance) if f.name not in ("doctor", "cycle", "head"))


@attrs.frozen(slots=True)
class Command:
    """One event fired at one doctor, after the boundary has checked its data."""

    event: str
    actor: Actor
    data: dict[str, Any]
    doctor: Doctor
    at: dt.datetime


@attrs.frozen(slots=True)
class Record:
    """One append-only history record; ``hash`` covers it and the previous record's hash."""

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


@attrs.frozen
class View:
    """What callers see of an instance (SPEC §6)."""

    doctor: str
    state: str
    reason: str | None
    flags: tuple[str, ...]
    version: int
    cycle: str
    instance: Instance = attrs.field(repr=False, eq=False)

    @classmethod
    def of(cls, inst: Instance) -> View:
        return cls(inst.doctor, inst.state, inst.reason, tuple(sorted(inst.flags)), inst.version, inst.cycle, inst)

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "flags": list(self.flags), "version": self.version}
