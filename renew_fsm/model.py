"""The value types the engine passes around: small, frozen, cheap to copy.

An ``Instance`` is what storage keeps per (cycle, doctor): the state plus every
flag and counter the rules need, so that no rule ever scans history.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
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
    #: Added by us: the doctor has asked for a review of this result (one appeal per result).
    "appealed",
    #: Art. 26: listed for a re-exam the suspension keeps the doctor from sitting in this window.
    "reexam_pending",
    #: Added by us: what the re-exam still has to re-assess (one flag per item), an item failed,
    #: and a fresh evaluation awaiting the agency.
    "reexam_business",
    "reexam_humanities",
    "reexam_evaluation",
    "reexam_failed",
    "reexam_evaluated",
)


@attrs.frozen
class Actor:
    """Who fires an event.  For an admin ``id`` is the region id; for
    ``system`` and ``exam_system`` it may be omitted."""

    role: str
    id: str | None = None


#: 性别 as the registry gives it.
SEXES = {"male": "男", "female": "女"}
#: 执业类别 (《医师法》/ the 2007 Measures art. 5): the four kinds of practice a licence is issued for.
PRACTICE_CATEGORIES = {"clinical": "临床", "tcm": "中医", "dental": "口腔", "public_health": "公共卫生"}


@attrs.frozen(slots=True)
class Doctor:
    """The registry facts the rules read (age, licence, years of practice, conduct), and the ones the
    forms and statistics show (sex, certificate numbers, category of practice).

    The last four are optional: a registry export may lack them, and stores made before they
    existed hold none.
    """

    id: str
    institution: str
    name: str
    id_card: str
    license: str
    birth_date: dt.date
    practice_since: dt.date
    record: str
    profile: dict[str, Any] = attrs.field(factory=dict, eq=False)
    #: ``male`` / ``female`` (``SEXES``).
    sex: str | None = None
    #: 医师资格证书编号.
    qualification_no: str | None = None
    #: 医师执业证书编号 (执业/助理证书编号).
    license_no: str | None = None
    #: 执业类别: a key of ``PRACTICE_CATEGORIES``.
    practice_category: str | None = None


#: The registry fields an information change (信息修改) may correct: practice details, never the
#: identity (姓名, 身份证号) nor the facts that come from elsewhere (birth date, years, conduct).
CORRECTABLE = ("license", "sex", "qualification_no", "license_no", "practice_category")


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
    # Added after the first schema (migration 2), so last: the row codecs follow this order.
    #: The day (ISO, policy time zone) the unqualified result was given: the appeal runs 30 days from it.
    #: Text, not a date, so the row codecs pass it through untouched on the hot path.
    result_on: str | None = None
    #: The day (ISO) the doctor appealed: the agency answers within 30 days of it.
    appeal_on: str | None = None

    def evolve(self, changes: dict[str, Any]) -> Instance:
        """This instance with ``changes``: built from the tuple, the fastest way Python has."""
        values = list(self)
        for name, value in changes.items():
            values[_INDEX[name]] = value
        return new_tuple(Instance, values)


INSTANCE_FIELDS: tuple[str, ...] = Instance._fields
_INDEX = {name: i for i, name in enumerate(INSTANCE_FIELDS)}
#: ``new_tuple(Record, values)`` is ``Record(*values)`` without the named tuple's ``__new__``, a
#: Python function — for the values of every field, on paths that build one per event.
new_tuple = tuple.__new__


def instance_values(inst: Instance) -> tuple[Any, ...]:
    return inst


def replace(inst: Instance, changes: dict[str, Any]) -> Instance:
    """The record (a doctor's ``Instance`` or a workflow ``Case``) with ``changes``; itself if none.

    Both kinds go through the same decision path; each knows how to copy itself.
    """
    return inst.evolve(changes) if changes else inst


#: Instance fields that a history replay rebuilds (everything but the identity and the chain head).
STATE_FIELDS = tuple(name for name in INSTANCE_FIELDS if name not in ("doctor", "cycle", "head"))


class Act(NamedTuple):
    """What a rule judges: one event by one actor at one time, its data checked at the boundary.

    Not a request — a request is a ``Fire`` (a doctor's event), a ``CaseFire`` (a workflow case's)
    or, in a replay file, a ``FireOp``; each becomes an ``Act`` once the gate has checked it.
    A named tuple, like ``Record``: one is made per event, and tuples are the cheapest frozen
    values Python builds.
    """

    event: str
    actor: Actor
    data: dict[str, Any]
    #: The doctor; for a workflow case, its subject (``renew_fsm.world.Subject``).
    doctor: Doctor
    at: dt.datetime

    @property
    def subject(self) -> Any:
        """What a workflow case's rules read: the subject stands where a doctor's act has the doctor."""
        return self.doctor


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


#: The history ``cycle`` of a workflow case's records is ``case:<machine id>`` (its ``doctor`` the case id):
#: cases share the doctors' append-only, hash-chained history without ever meeting a cycle's rows.
CASE_PREFIX = "case:"


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_encoder(*, allow_nan: bool = True) -> Callable[[Any], str]:
    """Canonical JSON (sorted keys, no spaces, text as it is) from one C encoder built here, once.

    ``json.dumps`` and ``JSONEncoder.encode`` build a new encoder on every
    call, which was most of the cost of encoding an event's data.  The text is the same (tested).
    """
    if json.encoder.c_make_encoder is None:  # a Python built without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=allow_nan).encode
    markers: dict[int, Any] = {}
    encode = json.encoder.c_make_encoder(
        markers, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, allow_nan
    )

    def text(value: Any) -> str:
        try:
            return "".join(encode(value, 0))
        except BaseException:
            markers.clear()  # a failed encoding leaves its containers' ids marked "in progress"
            raise

    return text


_canonical = json_encoder()


def canonical(data: dict[str, Any]) -> str:
    """Data as a record's hash covers it and a case stores and compares it: canonical JSON."""
    return _canonical(data) if data else "{}"


_TWO = tuple(f"{n:02d}" for n in range(100))
#: The date part of a time's text by its day number, and its offset's text by the offset: a few
#: hundred days and one or two offsets in a cycle.  Bounded, against an unusual caller's calendar.
_DAY_TEXT: dict[int, str] = {}
_OFFSET_TEXT: dict[dt.timedelta | None, str] = {}
_REMEMBERED = 20_000


def iso_time(at: dt.datetime) -> str:
    """``at.isoformat()``, the same text (tested), as a record stores it and its hash covers it.

    ``isoformat`` formats each field through C's ``printf``, and the offset
    through another, on every event.  With the day's text and the offset's
    remembered from ``isoformat`` itself, only the time of day is put between
    them.  A time
    with microseconds, or a ``datetime`` subclass (which may format itself),
    is formatted by ``isoformat``.
    """
    tail = _OFFSET_TEXT.get(at.utcoffset())
    if tail is None or at.microsecond or type(at) is not dt.datetime:
        return _remember(at)
    day = _DAY_TEXT.get(at.toordinal())
    if day is None:
        return _remember(at)
    return f"{day}T{_TWO[at.hour]}:{_TWO[at.minute]}:{_TWO[at.second]}{tail}"


def _remember(at: dt.datetime) -> str:
    text = at.isoformat()
    if type(at) is dt.datetime and not at.microsecond:
        # "YYYY-MM-DD" "T" "HH:MM:SS" and then the offset, if any: isoformat's fixed layout.
        if len(_DAY_TEXT) < _REMEMBERED:
            _DAY_TEXT[at.toordinal()] = text[:10]
        if len(_OFFSET_TEXT) < _REMEMBERED:
            _OFFSET_TEXT[at.utcoffset()] = text[19:]
    return text


@attrs.frozen
class Case:
    """One workflow with a subject of its own (an agency application, an info-change request, an
    account, an export request): what storage keeps in ``cases``.

    It walks its machine through the same decision path as a doctor's ``Instance``: ``state``,
    ``version``, ``flags`` and ``head`` mean the same, and ``cycle``/``doctor`` name its history
    chain.  ``data`` is canonical JSON, so a case is immutable and compares by value.
    """

    machine: str
    id: str
    #: What the case is about: an institution id, a doctor id, ``<role>:<id>`` of an account holder, a region id.
    subject: str
    state: str
    version: int = 0
    flags: frozenset[str] = frozenset()
    data: str = "{}"
    head: str = ""

    @property
    def cycle(self) -> str:
        return CASE_PREFIX + self.machine

    @property
    def doctor(self) -> str:
        return self.id

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.data)

    def evolve(self, changes: dict[str, Any]) -> Case:
        return attrs.evolve(self, **changes)


@attrs.frozen
class CaseView:
    """What callers see of a case.  ``secret`` is set once, on the view an account's activation or
    password reset returns: the one-time initial secret, which is stored nowhere in clear."""

    machine: str
    id: str
    subject: str
    state: str
    version: int
    flags: tuple[str, ...]
    data: dict[str, Any] = attrs.field(eq=False)
    secret: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def of(cls, case: Case, secret: str | None = None) -> CaseView:
        flags = tuple(sorted(case.flags))
        return cls(case.machine, case.id, case.subject, case.state, case.version, flags, case.values, secret)

    def as_dict(self) -> dict[str, Any]:
        """As the replay prints it: never the secret."""
        return {"state": self.state, "subject": self.subject, "flags": list(self.flags), "data": self.data}


def is_id(value: Any, longest: int = 64) -> bool:
    """An id a store can hold and show back: text of 1–``longest`` characters, no control characters.

    ``isprintable`` is false for NUL, every other control character and a lone
    surrogate, so it alone covers what ``text_problem`` checks (and runs on every event).
    """
    return isinstance(value, str) and 0 < len(value) <= longest and value.isprintable()
