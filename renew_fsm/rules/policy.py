"""The cycle policy: every number and date a province sets, as frozen values.

Loaded from TOML with cattrs at the boundary; a malformed file is refused with
a ``PolicyError`` naming the field and, where the key appears in the file, its
line.  Inside the engine nothing re-checks what this module checked.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from ..model import is_id
from ..structure import INVALID, converter
from ..structure import problems as structure_problems

LICENSES = ("physician", "assistant")
RECORDS = ("good", "none", "bad")
TESTS = ("humanities", "business")


class PolicyError(ValueError):
    """A policy file that cannot be used; ``problems`` are human-readable lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _nonneg(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class Window:
    """Whole days, both ends included, in the policy's time zone."""

    start: dt.date
    end: dt.date

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@attrs.frozen
class Windows:
    registration: Window
    deferral_deadline: dt.date
    first_round: Window
    grading: Window
    makeup: Window
    makeup_grading: Window
    reexam: Window
    reexam_grading: Window


@attrs.frozen
class TestSpec:
    zh: str
    en: str
    minutes: int = attrs.field(validator=_nonneg)
    questions: int = attrs.field(validator=_nonneg)
    attempts: int
    pass_line: dict[str, float]
    counts: str = "best"


@attrs.frozen
class SimpleCondition:
    zh: str
    en: str
    min_years: int = attrs.field(validator=_nonneg)
    records: tuple[str, ...]


@attrs.frozen
class HumanitiesExemption:
    zh: str
    en: str
    #: ``None``: no automatic check, the reviewers judge the proof.
    min_age: int | None = None


@attrs.frozen
class ExemptionReason:
    text: str
    open: bool = True


@attrs.frozen
class BusinessExemptions:
    open: bool = True
    reasons: dict[str, ExemptionReason] = attrs.Factory(dict)


@attrs.frozen
class Suspension:
    min_months: int
    max_months: int


@attrs.frozen
class Assistance:
    min_age: int = 50


@attrs.frozen
class Reexam:
    attempts: int = 1


@attrs.frozen
class Appeal:
    """Art. 24 of the 2007 measures gives 30 days for each; a province's own rules may give others."""

    #: Days after the day of the result in which the doctor may ask for a review.
    request_days: int = 30
    #: Days after the day of the request in which the agency answers (then the authority may).
    answer_days: int = 30


@attrs.frozen
class Registration:
    """``[registration]``: what enrolment asks of the institution.

    ``require_cycle_confirmation``: an institution enrols doctors only once it has confirmed taking
    part in the cycle (卫生机构 本机构信息 → 确认考核周期).  Off by default: a province that does not
    use the confirmation (and every cycle run before it existed) enrols as it always did.
    """

    require_cycle_confirmation: bool = False


@attrs.frozen
class Meta:
    id: str
    version: str
    province: str
    zh: str
    en: str
    timezone: str = "Asia/Shanghai"


@attrs.frozen
class Policy:
    policy: Meta
    period: Window
    windows: Windows
    tests: dict[str, TestSpec]
    simple_conditions: dict[str, SimpleCondition]
    humanities_exemptions: dict[str, HumanitiesExemption]
    business_exemptions: BusinessExemptions
    suspension: Suspension
    assistance: Assistance = Assistance()
    reexam: Reexam = Reexam()
    appeal: Appeal = Appeal()
    registration: Registration = Registration()
    #: The TOML it came from, kept so storage can save exactly what was loaded.
    text: str = attrs.field(default="", repr=False, eq=False)
    tz: ZoneInfo = attrs.field(init=False, repr=False, eq=False)
    #: ``policy.id`` and ``policy.version``, kept as attributes rather than properties: the batch
    #: path reads the version for every record, and a property is a Python call each time.
    id: str = attrs.field(init=False, repr=False, eq=False)
    version: str = attrs.field(init=False, repr=False, eq=False)
    #: The institutions that confirmed taking part in this cycle (确认考核周期): a fact of the
    #: ``organisation`` cases, not of the file — the world puts it here when it loads, as it does the
    #: province admin's exemption list, so the enrol guard reads it without a query per doctor.
    confirmed: frozenset[str] = attrs.field(init=False, default=frozenset(), repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "tz", ZoneInfo(self.policy.timezone))
        object.__setattr__(self, "id", self.policy.id)
        object.__setattr__(self, "version", self.policy.version)

    def day(self, at: dt.datetime) -> dt.date:
        """The calendar day ``at`` falls on in the province: what windows are judged by."""
        return at.astimezone(self.tz).date()

    def pass_line(self, test: str, license: str) -> float:
        return self.tests[test].pass_line[license]

    def with_business_reasons(self, reasons: Mapping[str, ExemptionReason]) -> Policy:
        """The policy as the province admin's current exemption list makes it."""
        merged = BusinessExemptions(self.business_exemptions.open, dict(reasons))
        return attrs.evolve(self, business_exemptions=merged).with_confirmed(self.confirmed)

    def with_confirmed(self, institutions: frozenset[str]) -> Policy:
        """The policy with the institutions that confirmed the cycle (not a field of the file)."""
        out = attrs.evolve(self)
        object.__setattr__(out, "confirmed", frozenset(institutions))
        return out


_converter = converter("toml")


def _line_of(text: str, dotted: str) -> int | None:
    """The line that sets ``dotted`` (best effort: the last key, under its table)."""
    parts = [p for p in dotted.split(".") if p]
    if not parts:
        return None
    lines = text.splitlines()
    # The path may name a whole table (an unknown ``[suspensions]``, a reason's own table): its header.
    whole = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(map(re.escape, parts)) + r"\s*\]+")
    found = next((number for number, line in enumerate(lines, 1) if whole.match(line)), None)
    if found is not None:
        return found
    for depth in range(len(parts) - 1, -1, -1):
        table, keys = parts[:depth], parts[depth:]
        header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]+") if table else None
        inside = header is None
        for number, line in enumerate(lines, 1):
            if header is not None and header.match(line):
                inside = True
                continue
            if inside and re.match(r"^\s*\[", line) and header is not None:
                break
            if inside and re.match(r"^\s*" + re.escape(keys[0]) + r"\s*=", line):
                return number
        if table and header is not None:
            for number, line in enumerate(lines, 1):
                if header.match(line):
                    return number
    return None


def parse(text: str, source: str = "<policy>") -> Policy:
    """Read a policy from TOML text, or raise ``PolicyError`` saying what is wrong and where."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [f"not valid TOML: {exc}"]) from None
    try:
        policy = _converter.structure(raw, Policy)
    except INVALID as exc:
        problems = []
        for path, problem in structure_problems(exc):
            line = _line_of(text, path)
            problems.append(f"{path or '(top level)'}: {problem}" + (f" (line {line})" if line else ""))
        raise PolicyError(source, problems) from None
    except ZoneInfoNotFoundError:
        tz = raw.get("policy", {}).get("timezone")
        line = _line_of(text, "policy.timezone")
        raise PolicyError(
            source, [f"policy.timezone: unknown time zone {tz!r}" + (f" (line {line})" if line else "")]
        ) from None
    policy = attrs.evolve(policy, text=text)
    problems = check(policy)
    if problems:
        raise PolicyError(
            source, [p + (f" (line {n})" if (n := _line_of(text, p.split(":")[0])) else "") for p in problems]
        )
    return policy


def check(policy: Policy) -> list[str]:
    """What makes a policy unusable (errors, not warnings; the linter adds those)."""
    problems: list[str] = []
    for name in TESTS:
        if name not in policy.tests:
            problems.append(f"tests.{name}: is missing")
    for name, spec in policy.tests.items():
        if name not in TESTS:
            problems.append(f"tests.{name}: unknown test (known: {', '.join(TESTS)})")
        if spec.attempts < 1:
            problems.append(f"tests.{name}.attempts: must be at least 1, got {spec.attempts}")
        if spec.counts != "best":
            problems.append(f'tests.{name}.counts: only "best" is supported, got {spec.counts!r}')
        for license in LICENSES:
            if license not in spec.pass_line:
                problems.append(f"tests.{name}.pass_line.{license}: is missing")
        for license, line in spec.pass_line.items():
            if license not in LICENSES:
                problems.append(f"tests.{name}.pass_line.{license}: unknown licence type")
            elif not 0 <= line <= 100:
                problems.append(f"tests.{name}.pass_line.{license}: must be within 0–100, got {line:g}")
    # What commands and history name a policy and its choices by: ids as every other id is (an
    # empty one, a NUL PostgreSQL cannot store, a reason id longer than a command may name).
    named = [("policy.id", policy.id), ("policy.version", policy.version)]
    named += [(f"simple_conditions.{cid}", cid) for cid in policy.simple_conditions]
    named += [(f"humanities_exemptions.{rid}", rid) for rid in policy.humanities_exemptions]
    named += [(f"business_exemptions.reasons.{rid}", rid) for rid in policy.business_exemptions.reasons]
    for where, ident in named:
        if not is_id(ident) or not ident.strip():
            problems.append(f"{where}: must be an id of 1–64 printable characters, got {ident!r:.80}")
    ages = [("assistance.min_age", policy.assistance.min_age)]
    ages += [(f"humanities_exemptions.{rid}.min_age", e.min_age) for rid, e in policy.humanities_exemptions.items()]
    for where, age in ages:
        if age is not None and not 0 <= age <= 120:
            problems.append(f"{where}: must be an age within 0–120, got {age}")
    if policy.reexam.attempts < 1:
        problems.append(f"reexam.attempts: must be at least 1, got {policy.reexam.attempts}")
    for field in ("request_days", "answer_days"):
        days = getattr(policy.appeal, field)
        if days < 1:
            problems.append(f"appeal.{field}: must be at least 1 day, got {days}")
    for cid, cond in policy.simple_conditions.items():
        for record in cond.records:
            if record not in RECORDS:
                problems.append(f"simple_conditions.{cid}.records: unknown record {record!r} (known: good, none, bad)")
    s = policy.suspension
    if not 1 <= s.min_months <= s.max_months:
        problems.append(f"suspension.min_months: need 1 ≤ min_months ≤ max_months, got {s.min_months}–{s.max_months}")
    if policy.period.start > policy.period.end:
        problems.append("period.start: the period starts after it ends")
    for name in attrs.fields_dict(Windows):
        window = getattr(policy.windows, name)
        if isinstance(window, Window) and window.start > window.end:
            problems.append(f"windows.{name}: starts {window.start} after it ends {window.end}")
    return problems


def shipped() -> dict[str, Path]:
    """The policies that ship with the library, by name."""
    folder = resources.files("renew_fsm.rules") / "policies"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load(name_or_path: str | Path) -> Policy:
    """A shipped policy by name (``guangxi-2019-2020``) or a TOML file by path."""
    available = shipped()
    try:
        path = available.get(str(name_or_path)) or Path(name_or_path)
        found = path.is_file()
    except (TypeError, ValueError, OSError) as exc:  # a NUL in the name, a name too long for the system
        raise PolicyError(str(name_or_path)[:200], [f"not a usable file name ({exc})"]) from None
    if not found:
        raise PolicyError(str(name_or_path), [f"no such policy file; shipped policies: {', '.join(sorted(available))}"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), [f"cannot read: {exc}"]) from None
    return parse(text, str(path))
