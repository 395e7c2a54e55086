"""The behaviour profile file and the small pieces the plans are made of.

The profile is what an office edits: every field must be in the shipped file
with a comment saying what it does, and every mistake must name the field.
The plans' clock must keep office steps in office hours and inside the phase.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import attrs
import pytest

from renew_fsm.simulate import behaviour as b
from renew_fsm.simulate import profile as profile_module
from renew_fsm.simulate.dice import Dice
from renew_fsm.simulate.profile import Profile, ProfileError, default_text, parse

SHANGHAI = ZoneInfo("Asia/Shanghai")


def profile_fields() -> list[tuple[str, str]]:
    """(table, field) for every number an office can set."""
    return [
        (table.name, field.name)
        for table in attrs.fields(attrs.resolve_types(Profile))
        if table.name != "text"
        for field in attrs.fields(table.type)
    ]


def test_the_shipped_profile_parses_and_keeps_its_text() -> None:
    profile = parse(default_text())
    assert profile.text == default_text()
    assert profile.registration.enrolled == 0.985
    assert profile.reexam.months == {"3": 0.80, "4": 0.12, "5": 0.05, "6": 0.03}


@pytest.mark.parametrize(("table", "field"), profile_fields())
def test_every_field_is_in_its_table_of_the_shipped_file(table: str, field: str) -> None:
    """A field the file leaves out fails to load; one the office cannot see, it cannot edit."""
    section = re.search(rf"(?ms)^\[{table}\]\n(.*?)(?=^\[|\Z)", default_text())
    assert section, table
    assert re.search(rf"(?m)^{field} = ", section.group(1)), f"{table}.{field} missing from profile.toml"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("enrolled = 0.985", "enrolled = -0.1"), "registration: enrolled is a probability (0–1), got -0.1"),
        (("retry = 0.97", "retry = true"), "tests.retry: expected a number, got true"),
        (
            ("doctors_per_institution = 60", "doctors_per_institution = 60.5"),
            "province.doctors_per_institution: expected a whole number, got 60.5",
        ),
        (("age_60 = 0.85", 'age_60 = "0.85"'), "exemptions.age_60: expected a number, got '0.85'"),
        (("[proctoring]", "[proctoring]\nwatchful = 1"), "proctoring.watchful: is not a known field"),
        (("age_mode = 42", "age_mode = 80"), "age_min ≤ age_mode ≤ age_max"),
        (("bad_record_share = 0.02", "bad_record_share = 0.40"), "good_record_share + bad_record_share"),
        (("business_sd = 9", "business_sd = -9"), "tests.business_sd cannot be negative"),
        (("3 = 0.80, 4 = 0.12", "0 = 0.80, 4 = 0.12"), "reexam.months"),
        (("3 = 0.80, 4 = 0.12", "three = 0.80, 4 = 0.12"), "reexam.months"),
        (("max_cities = 14", "max_cities = 0"), "province.max_cities must be at least 1"),
    ],
)
def test_a_mistake_in_the_profile_names_the_field(change: tuple[str, str], says: str) -> None:
    old, new = change
    assert old in default_text()
    with pytest.raises(ProfileError) as error:
        parse(default_text().replace(old, new, 1), "mine.toml")
    assert str(error.value).startswith("mine.toml: ")
    assert says in str(error.value)


def test_several_mistakes_are_reported_together() -> None:
    text = default_text().replace("age_mode = 42", "age_mode = 80").replace("max_cities = 14", "max_cities = 0")
    with pytest.raises(ProfileError) as error:
        parse(text)
    assert "age_mode" in str(error.value) and "max_cities" in str(error.value)


# -- the plans' clock --------------------------------------------------------------------------------------


def when(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("at", "becomes"),
    [
        (when("2021-05-10", 3, 17), when("2021-05-10", 8, 17)),
        (when("2021-05-10", 7, 59), when("2021-05-10", 8, 59)),
        (when("2021-05-10", 8, 0), when("2021-05-10", 8, 0)),
        (when("2021-05-10", 17, 59), when("2021-05-10", 17, 59)),
        (when("2021-05-10", 18, 5), when("2021-05-11", 8, 5)),
        (when("2021-05-31", 23, 40), when("2021-06-01", 8, 40)),
    ],
)
def test_office_steps_happen_in_office_hours(at: dt.datetime, becomes: dt.datetime) -> None:
    assert b.office_hours(at) == becomes


@pytest.mark.parametrize(
    "n", [0, 1, 59, 399, 400, 3599, 3600, 3601, 86_399, 86_400, 129_600, 172_799, 172_800, 10**7, -1, -3601]
)
def test_a_delay_from_the_tables_is_the_delay_built(n: int) -> None:
    """The plans' delays come from tables of hours, seconds and days; beyond them (or below zero), built."""
    assert b.delta_seconds(n) == dt.timedelta(seconds=n)
    assert b.delta_days(n) == dt.timedelta(days=n)


def test_the_draws_are_a_pure_function_of_seed_doctor_and_purpose() -> None:
    """What resuming a run and visiting doctors in another order rely on; the blocks of eight join seamlessly."""

    def draws(seed: int, doctor: int, phase: str, n: int = 40) -> list[float]:
        dice = Dice(seed, doctor, phase)
        return [dice.random() for _ in range(n)]

    first = draws(7, 123, "registration")
    assert draws(7, 123, "registration") == first
    assert len(set(first)) == len(first), "no block repeats another"
    others = [draws(8, 123, "registration"), draws(7, 124, "registration"), draws(7, 123, "first_round")]
    assert all(not set(other) & set(first) for other in others)
    # Seeds and doctor numbers outside 64 bits are taken modulo 2**64, as before, not refused.
    assert draws(-1, 123, "registration") == draws(2**64 - 1, 123, "registration")


def test_the_draws_are_uniform_on_the_unit_interval() -> None:
    values = [Dice(7, doctor, "uniformity").random() for doctor in range(20_000)]
    dice = Dice(7, 0, "uniformity")
    values += [dice.random() for _ in range(20_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    # Ten equal bins: chi-square with 9 degrees of freedom stays under 27.9 (p = 0.001) for a fair source.
    counts = [0] * 10
    for v in values:
        counts[int(v * 10)] += 1
    expected = len(values) / 10
    assert sum((c - expected) ** 2 / expected for c in counts) < 27.9, counts


class _Ctx:
    """The two things a Timeline asks of the plans' context."""

    class policy:
        tz = SHANGHAI

    at = b.Context.at


@pytest.mark.parametrize("seed", range(20))
def test_a_timeline_moves_forward_in_office_hours_and_stops_at_the_phase_end(seed: int) -> None:
    dice = Dice(seed, 1, "timeline")
    ctx = _Ctx()
    first, last = dt.date(2021, 5, 20), dt.date(2021, 5, 31)
    time = b.Timeline(ctx, dice, first, last)  # type: ignore[arg-type]
    seen = [time.now]
    for step in range(40):
        seen.append(time.next(office=step % 3 != 0))
    assert seen == sorted(seen), "never goes back"
    assert all(t.microsecond == 0 for t in seen), "stamped to the second"
    assert max(seen) <= when("2021-05-31", 17)
    assert seen[-1] == when("2021-05-31", 17), "forty steps of up to 1.5 days reach the end and stay there"
    office = [t for i, t in enumerate(seen[1:]) if i % 3 != 0]
    assert all(b.OPENS <= t.hour < b.CLOSES or t == when("2021-05-31", 17) for t in office)


def test_an_installation_without_the_shipped_profile_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise FileNotFoundError("profile.toml")

    monkeypatch.setattr(profile_module, "default_text", missing)
    with pytest.raises(ProfileError, match="missing from this installation"):
        profile_module.load()


def test_the_shipped_profile_is_in_the_package_data() -> None:
    """An editable install reads the file from the source tree; a wheel has only what package-data lists."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    package_data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]
    shipped = {
        path.resolve()
        for package, patterns in package_data.items()
        for pattern in patterns
        for path in (root / package.replace(".", "/")).glob(pattern)
    }
    assert (root / "renew_fsm" / "simulate" / "profile.toml").resolve() in shipped
