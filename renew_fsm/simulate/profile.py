"""The behaviour profile (profile.toml): probabilities and score distributions, checked at load."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..structure import INVALID, converter, describe


def _probability(_: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} is a probability (0–1), got {value}")


def p() -> Any:
    """A probability field."""
    return attrs.field(validator=_probability)


@attrs.frozen
class Province:
    doctors_per_institution: int
    institutions_per_county: int
    max_cities: int
    industry_agency_share: float = p()


@attrs.frozen
class Doctors:
    assistant_share: float = p()
    age_min: int
    age_max: int
    age_mode: int
    good_record_share: float = p()
    bad_record_share: float = p()


@attrs.frozen
class Registration:
    enrolled: float = p()
    info_rejected: float = p()
    registration_rejected: float = p()
    choose_simple: float = p()
    simple_refused: float = p()
    program_returned: float = p()
    work_fail: float = p()
    ethics_fail: float = p()
    assistance: float = p()


@attrs.frozen
class Exemptions:
    age_60: float = p()
    business: float = p()
    business_rejected: float = p()


@attrs.frozen
class Deferral:
    requested: float = p()
    rejected: float = p()
    resumes: float = p()


@attrs.frozen
class Tests:
    absent: float = p()
    humanities_mean: float
    humanities_sd: float
    business_mean: float
    business_sd: float
    retry: float = p()


@attrs.frozen
class Proctoring:
    suspected: float = p()
    cleared: float = p()
    finding_cheating: float = p()


@attrs.frozen
class Reexam:
    months: dict[str, float]
    absent: float = p()
    #: A doctor re-evaluated for failed work or ethics (or a violation) fails the fresh evaluation.
    evaluation_fail: float = p()
    business_mean: float
    business_sd: float
    humanities_mean: float
    humanities_sd: float


@attrs.frozen
class Profile:
    province: Province
    doctors: Doctors
    registration: Registration
    exemptions: Exemptions
    deferral: Deferral
    tests: Tests
    proctoring: Proctoring
    reexam: Reexam
    text: str = attrs.field(default="", repr=False, eq=False)


class ProfileError(ValueError):
    """A profile file that cannot drive a simulation; the message names the file and the field."""


_converter = converter("toml")


def parse(text: str, source: str = "<profile>") -> Profile:
    try:
        raw = tomllib.loads(text)
        profile = _converter.structure(raw, Profile)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    except INVALID as exc:
        raise ProfileError(f"{source}: " + "; ".join(describe(exc))) from None
    problems = _inconsistencies(profile)
    if problems:
        raise ProfileError(f"{source}: " + "; ".join(problems))
    return attrs.evolve(profile, text=text)


def _inconsistencies(profile: Profile) -> list[str]:
    """What types alone cannot say: sizes, age ranges, score distributions, suspension shares.

    Each of these, left unchecked, gives a simulation that runs and means
    nothing (a triangular age draw with its mode outside its range, a record
    share above 1) instead of an error naming the field.
    """
    problems: list[str] = []
    pr, d = profile.province, profile.doctors
    for name in ("doctors_per_institution", "institutions_per_county", "max_cities"):
        if getattr(pr, name) < 1:
            problems.append(f"province.{name} must be at least 1, got {getattr(pr, name)}")
    if not d.age_min <= d.age_mode <= d.age_max:
        problems.append(f"doctors: age_min ≤ age_mode ≤ age_max, got {d.age_min}, {d.age_mode}, {d.age_max}")
    if d.good_record_share + d.bad_record_share > 1:
        problems.append("doctors: good_record_share + bad_record_share is at most 1")
    for table, prefixes in ((profile.tests, ("humanities", "business")), (profile.reexam, ("business", "humanities"))):
        section = "tests" if table is profile.tests else "reexam"
        for prefix in prefixes:
            mean, sd = getattr(table, f"{prefix}_mean"), getattr(table, f"{prefix}_sd")
            if not 0 <= mean <= 100:
                problems.append(f"{section}.{prefix}_mean is a score (0–100), got {mean}")
            if sd < 0:
                problems.append(f"{section}.{prefix}_sd cannot be negative, got {sd}")
    months = profile.reexam.months
    if (
        not months
        or any(not k.isdigit() or int(k) < 1 for k in months)
        or any(v < 0 for v in months.values())
        or abs(sum(months.values()) - 1) > 1e-6
    ):
        problems.append("reexam.months maps whole months to shares that add up to 1")
    return problems


def default_text() -> str:
    return (resources.files("renew_fsm.simulate") / "profile.toml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> Profile:
    """The profile at ``path``, or the shipped one; every failure is a ``ProfileError`` naming the file."""
    if path is None:
        try:
            text = default_text()
        except OSError as exc:  # an installation without its data files
            raise ProfileError(
                f"the shipped profile.toml is missing from this installation ({exc}); pass --profile"
            ) from None
        return parse(text, "profile.toml (default)")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    return parse(text, str(path))
