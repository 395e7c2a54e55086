"""The behaviour profile (profile.toml): probabilities and score distributions, checked at load."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError


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
    pass


_converter = cattrs.Converter(forbid_extra_keys=True)


def parse(text: str, source: str = "<profile>") -> Profile:
    try:
        raw = tomllib.loads(text)
        profile = _converter.structure(raw, Profile)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    except (ClassValidationError, ForbiddenExtraKeysError, ValueError) as exc:
        messages = cattrs.transform_error(exc) if isinstance(exc, ClassValidationError) else [str(exc)]
        raise ProfileError(f"{source}: " + "; ".join(messages)) from None
    months = profile.reexam.months
    if not months or any(not k.isdigit() for k in months) or abs(sum(months.values()) - 1) > 1e-6:
        raise ProfileError(f"{source}: reexam.months maps whole months to shares that add up to 1")
    return attrs.evolve(profile, text=text)


def default_text() -> str:
    return (resources.files("renew_fsm.simulate") / "profile.toml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> Profile:
    if path is None:
        return parse(default_text(), "profile.toml (default)")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    return parse(text, str(path))
