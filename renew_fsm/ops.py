"""The replay commands of SPEC §5 as typed values, structured (and refused) at the boundary.

``parse(op_dict)`` returns one of the classes below or raises
``Refused("bad_input")`` naming the field; an unknown ``op`` raises
``UnknownOp`` (the replay stops on it, exit status 2).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs

from .errors import BAD_INPUT, Refused, bad_input
from .eventdata import MAX_TEXT, text_problem
from .model import PRACTICE_CATEGORIES, SEXES, Actor, is_id
from .rules.policy import LICENSES
from .structure import INVALID, describe
from .structure import converter as make_converter

ID = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


class UnknownOp(Refused):
    """An ``op`` nobody knows: ``bad_input`` to an embedding service, and the end of a replay
    (which cannot tell what the rest of the file meant)."""

    def __init__(self, message: str):
        super().__init__(BAD_INPUT, message, message_zh=f"未知命令：{message}")


@attrs.frozen
class RegionOp:
    id: str
    level: str
    name: str = ""
    parent: str | None = None


@attrs.frozen
class InstitutionOp:
    id: str
    region: str
    name: str = ""
    kind: str = "institution"


@attrs.frozen
class AgencyOp:
    id: str
    region: str
    name: str = ""
    assigned: list[str] = attrs.Factory(list)


@attrs.frozen
class PolicyOp:
    name: str | None = None
    file: str | None = None


@attrs.frozen
class DoctorOp:
    id: str
    institution: str
    name: str
    id_card: str
    license: str
    birth_date: dt.date
    practice_since: dt.date
    record: str
    profile: dict[str, Any] = attrs.Factory(dict)
    sex: str | None = None
    qualification_no: str | None = None
    license_no: str | None = None
    practice_category: str | None = None


#: The earliest birth date a registry holds: anyone born before it is a typing mistake.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
#: The latest birth date whose ages (60, for the humanities exemption) the calendar can count, for an
#: engine whose clock was set near its end: a later one made the age rules raise.
LATEST_BIRTH = dt.date(dt.MAXYEAR - 100, 12, 31)
#: The youngest a doctor can be on the first day of practice (医师法: full civil capacity).
ADULT = 18
#: Certificate numbers (资格证书编号, 执业证书编号) are ids: 1–64 printable characters.
CERTIFICATE_LONGEST = 64


def years_after(day: dt.date, years: int) -> dt.date:
    """The day ``years`` after ``day``; a 29 February becomes 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def doctor_problem(op: DoctorOp, today: dt.date) -> str | None:
    """Why ``op`` describes a doctor who cannot exist, or whose registry fields are not ours; else ``None``.

    Checked once at the boundary, before anything reads the dates: a birth date in year 9990
    made every later age computation (``allowed()``, the simple-program conditions) raise.
    ``today`` is the engine clock's day in the policy's time zone.
    """
    if op.birth_date < EARLIEST_BIRTH:
        return f"birth_date {op.birth_date} is before {EARLIEST_BIRTH}"
    if op.birth_date > today:
        return f"birth_date {op.birth_date} is in the future (today is {today})"
    if op.birth_date > LATEST_BIRTH:
        return f"birth_date {op.birth_date} is after {LATEST_BIRTH}, beyond the ages the calendar can count"
    if op.practice_since > today:
        return f"practice_since {op.practice_since} is in the future (today is {today})"
    if op.practice_since < years_after(op.birth_date, ADULT):
        return f"practice_since {op.practice_since} is before the doctor turned {ADULT}"
    if op.sex is not None and op.sex not in SEXES:
        return f"sex must be one of {', '.join(SEXES)}"
    if op.practice_category is not None and op.practice_category not in PRACTICE_CATEGORIES:
        return f"practice_category must be one of {', '.join(PRACTICE_CATEGORIES)}"
    for name in ("qualification_no", "license_no"):
        value = getattr(op, name)
        if value is not None and not is_id(value, CERTIFICATE_LONGEST):
            return f"{name} must be 1–{CERTIFICATE_LONGEST} printable characters"
    return None


def correction_problem(changes: dict[str, Any]) -> str | None:
    """Why the registry fields among an information change's ``changes`` cannot be stored; else ``None``."""
    if "license" in changes and changes["license"] not in LICENSES:
        return f"license must be one of {', '.join(LICENSES)}"
    if "sex" in changes and changes["sex"] not in SEXES:
        return f"sex must be one of {', '.join(SEXES)}"
    if "practice_category" in changes and changes["practice_category"] not in PRACTICE_CATEGORIES:
        return f"practice_category must be one of {', '.join(PRACTICE_CATEGORIES)}"
    for name in ("qualification_no", "license_no"):
        if name in changes and not is_id(changes[name], CERTIFICATE_LONGEST):
            return f"{name} must be 1–{CERTIFICATE_LONGEST} printable characters"
    return None


@attrs.frozen
class ExemptionReasonOp:
    id: str
    text: str
    open: bool = True


@attrs.frozen
class ClockOp:
    at: dt.datetime


@attrs.frozen
class ActorOp:
    role: str
    id: str | None = None


@attrs.frozen
class FireOp:
    doctor: str
    event: str
    actor: ActorOp
    data: dict[str, Any] = attrs.Factory(dict)
    at: dt.datetime | None = None
    idempotency_key: str | None = None

    @property
    def who(self) -> Actor:
        return Actor(self.actor.role, self.actor.id)


@attrs.frozen
class SweepOp:
    event: str
    at: dt.datetime | None = None


@attrs.frozen
class CaseOp:
    """An event fired at a workflow case (``docs/workflows.md``): one ``id``, or a batch of ``ids``."""

    machine: str
    event: str
    actor: ActorOp
    id: str | None = None
    ids: list[str] | None = None
    subject: str | None = None
    data: dict[str, Any] = attrs.Factory(dict)
    at: dt.datetime | None = None

    @property
    def who(self) -> Actor:
        return Actor(self.actor.role, self.actor.id)


@attrs.frozen
class BatchOp:
    """One event on a selection of doctors from a list (批量参加考核, 取消): ``renew_fsm.lists.batch``.

    Each doctor is decided on their own; a refused one is reported naming the doctor."""

    event: str
    actor: ActorOp
    doctors: list[str]
    at: dt.datetime | None = None

    @property
    def who(self) -> Actor:
        return Actor(self.actor.role, self.actor.id)


@attrs.frozen
class ChangePasswordOp:
    """Replace an account's secret.  Without ``secret`` the replay uses the one-time secret it was
    handed for the account, so a scenario never holds an initial secret in clear."""

    account: str
    new_secret: str
    secret: str | None = None
    at: dt.datetime | None = None


@attrs.frozen
class LoginOp:
    """Sign an account in (``Engine.authenticate``); ``secret`` as for ``change_password``."""

    account: str
    secret: str | None = None
    role: str | None = None


OPS: dict[str, type] = {
    "region": RegionOp,
    "institution": InstitutionOp,
    "agency": AgencyOp,
    "policy": PolicyOp,
    "doctor": DoctorOp,
    "exemption_reason": ExemptionReasonOp,
    "clock": ClockOp,
    "fire": FireOp,
    "sweep": SweepOp,
    "case": CaseOp,
    "batch": BatchOp,
    "change_password": ChangePasswordOp,
    "login": LoginOp,
}


converter = make_converter("json")


def parse(raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise bad_input("a command must be a JSON object")
    op = raw.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise UnknownOp(f"unknown op {op!r} (known: {', '.join(OPS)})")
    body = {k: v for k, v in raw.items() if k != "op"}
    try:
        value = converter.structure(body, OPS[op])
    except INVALID as exc:
        raise bad_input(f"{op}: {'; '.join(describe(exc))}") from None
    for name in ("id", "doctor", "institution", "region", "event", "machine", "account", "subject"):
        v = getattr(value, name, None)
        if isinstance(v, str) and not ID.match(v):
            raise bad_input(f"{op}: {name} must be 1–64 printable characters")
    _check_text(op, value)
    return value


def _check_text(op: str, value: Any) -> None:
    """Text every backend can store and show back exactly, of a sane length.

    Names and texts are stored as they are, so a NUL (which PostgreSQL text cannot hold) is
    refused there; event data and a profile are stored as JSON, where it is escaped.  A lone
    surrogate cannot be stored anywhere.  Event data is checked again, field by field, when
    the event is fired (``commands.check_data``).
    """
    # Field by field, not ``attrs.asdict`` of the whole: that recurses into a profile nested
    # 10,000 deep.  A field that is itself a small attrs value (an actor) is walked as a dict.
    for name in attrs.fields_dict(type(value)):
        v = getattr(value, name)
        if attrs.has(type(v)):
            v = attrs.asdict(v)
        nested = name in ("data", "profile")
        problem = text_problem(v, nul=not nested)
        if problem:
            raise bad_input(f"{op}: {name} {problem}")
        if isinstance(v, str) and len(v) > MAX_TEXT:
            raise bad_input(f"{op}: {name} is longer than {MAX_TEXT} characters")
