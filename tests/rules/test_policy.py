"""Loading a cycle policy: the shipped files by name, and every broken file refused with its field and line.

An assessment office writes these files without touching Python, so a
mistake must come back as a sentence naming the field and the line to fix —
from the library (``PolicyError``) and from ``renew-fsm policy lint`` (exit 1,
no traceback).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import pytest

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.rules.policy import PolicyError, Window, load, parse, shipped

from .policy_text import GUANGXI, PHYSICIAN_LAW, line_of, text_of, variant, write
from .run_cli import renew_fsm as cli

D = dt.date.fromisoformat


# -- the shipped policies -------------------------------------------------------------------------


def test_both_policies_ship_and_load_by_name() -> None:
    assert {GUANGXI, PHYSICIAN_LAW} <= set(shipped())
    for name in (GUANGXI, PHYSICIAN_LAW):
        assert load(name).id == name


def test_guangxi_policy_holds_the_schedule_of_the_manual() -> None:
    """附件2 广西2019-2020周期定期考核工作进度表, field by field (SPEC §3)."""
    p = load(GUANGXI)
    assert (p.id, p.version, p.policy.province, p.policy.timezone) == (GUANGXI, "2021.1", "GX", "Asia/Shanghai")
    assert p.period == Window(D("2019-01-01"), D("2020-12-31"))
    w = p.windows
    assert w.registration == Window(D("2021-04-19"), D("2021-05-28"))
    assert w.deferral_deadline == D("2021-05-30")
    assert w.first_round == Window(D("2021-06-01"), D("2021-06-27"))
    assert w.grading == Window(D("2021-06-30"), D("2021-07-09"))
    assert w.makeup == Window(D("2021-11-01"), D("2021-11-05"))
    assert w.reexam == Window(D("2021-11-06"), D("2021-11-28"))
    humanities, business = p.tests["humanities"], p.tests["business"]
    assert (humanities.minutes, humanities.questions, humanities.attempts, humanities.counts) == (60, 50, 10, "best")
    assert humanities.pass_line == {"physician": 60, "assistant": 60}
    assert (business.minutes, business.questions, business.attempts) == (60, 100, 1)
    assert business.pass_line == {"physician": 60, "assistant": 55}
    assert p.reexam.attempts == 1
    assert (p.appeal.request_days, p.appeal.answer_days) == (30, 30)
    assert {cid: (c.min_years, c.records) for cid, c in p.simple_conditions.items()} == {
        "good_record_5y": (5, ("good",)),
        "clean_record_12y": (12, ("good", "none")),
    }
    assert {rid: r.min_age for rid, r in p.humanities_exemptions.items()} == {"age_60": 60, "tcm_1998": None}
    assert p.business_exemptions.open
    assert set(p.business_exemptions.reasons) == {"residency_training", "promotion_exam"}
    assert (p.suspension.min_months, p.suspension.max_months) == (3, 6)
    assert p.assistance.min_age == 50


def test_physician_law_policy_is_a_three_year_cycle_with_a_mandatory_suspension() -> None:
    p = load(PHYSICIAN_LAW)
    assert p.policy.province == "GX"
    assert p.period == Window(D("2021-01-01"), D("2023-12-31"))
    assert (p.suspension.min_months, p.suspension.max_months) == (3, 6)
    # Its own windows, after the period: the whole schedule opens in 2024.
    assert p.windows.registration.start.year == 2024
    assert p.windows.registration.start > p.period.end
    assert p.version != load(GUANGXI).version


def test_loading_by_path_gives_the_same_policy_as_by_name(tmp_path: Path) -> None:
    copy = write(tmp_path, text_of(GUANGXI))
    assert load(copy) == load(GUANGXI)
    assert load(str(copy)).text == text_of(GUANGXI)


def test_an_unknown_name_lists_the_shipped_policies() -> None:
    with pytest.raises(PolicyError) as caught:
        load("guangxi-2099-2100")
    assert GUANGXI in str(caught.value) and PHYSICIAN_LAW in str(caught.value)


def test_the_version_is_what_a_corrected_file_changes(tmp_path: Path) -> None:
    corrected = parse(variant('version = "2021.1"', 'version = "2021.2"'))
    assert (corrected.id, corrected.version) == (GUANGXI, "2021.2")
    assert corrected != load(GUANGXI)


def test_each_history_record_names_the_policy_version_it_was_judged_under(tmp_path: Path) -> None:
    """A province re-issues its file mid-cycle: earlier records keep the old version, later ones the new."""
    from conftest import WORLD, doctor_cmd

    engine = renew_fsm.open(":memory:")
    try:
        for cmd in [*WORLD, doctor_cmd("D1"), {"op": "clock", "at": "2021-04-20T09:00:00+08:00"}]:
            engine.apply(cmd)
        engine.fire("D1", "enroll", Actor("institution", "H1"))
        reissued = write(tmp_path, variant('version = "2021.1"', 'version = "2021.2"'))
        engine.apply({"op": "policy", "file": str(reissued)})
        engine.fire("D1", "submit_info", Actor("doctor", "D1"))
        assert [(r.event, r.policy_version) for r in engine.history("D1")] == [
            ("enroll", "2021.1"),
            ("submit_info", "2021.2"),
        ]
    finally:
        engine.close()


def test_other_rules_under_a_loaded_id_and_version_are_refused() -> None:
    """History cites a policy by id and version, and verify judges it by the text stored under them."""
    from conftest import WORLD

    engine = renew_fsm.open(":memory:")
    try:
        for cmd in WORLD:
            engine.apply(cmd)
        shipped = engine.storage.policy_text(GUANGXI, "2021.1")
        with pytest.raises(Refused) as refused:
            engine.load_policy(parse(variant("max_months = 6", "max_months = 9")))
        assert refused.value.code == "conflict" and "new policy.version" in refused.value.message
        assert engine.storage.policy_text(GUANGXI, "2021.1") == shipped
        assert engine.policy.suspension.max_months == 6
        # The same rules laid out otherwise (a comment added) are the same policy, accepted; the first
        # text stays, since the records already judged under it name its SHA-256.
        commented = parse("# 复核后重新下发\n" + shipped)  # type: ignore[operator]
        engine.load_policy(commented)
        assert engine.storage.policy_text(GUANGXI, "2021.1") == shipped
    finally:
        engine.close()


# -- broken files ---------------------------------------------------------------------------------


@attrs.frozen
class Broken:
    """One change to the shipped file, the field the error must name, and text marking its line."""

    old: str
    new: str
    field: str
    marker: str


HUMANITIES_MINUTES = "minutes = 60\nquestions = 50"
BUSINESS_LINE = "pass_line = { physician = 60, assistant = 55 }"
FIRST_ROUND = "first_round = { start = 2021-06-01, end = 2021-06-27 }"

BROKEN: dict[str, Broken] = {
    "wrong type": Broken(
        HUMANITIES_MINUTES, 'minutes = "sixty"\nquestions = 50', "tests.humanities.minutes", 'minutes = "sixty"'
    ),
    "date given as text": Broken(
        "deferral_deadline = 2021-05-30",
        'deferral_deadline = "2021-05-30"',
        "windows.deferral_deadline",
        'deferral_deadline = "',
    ),
    "true given as text": Broken(
        "[business_exemptions]\nopen = true",
        '[business_exemptions]\nopen = "yes"',
        "business_exemptions.open",
        'open = "yes"',
    ),
    "unknown key": Broken("min_age = 50", "min_age = 50\nmax_age = 70", "assistance.max_age", "max_age"),
    "unknown table": Broken(
        "[suspension]", "[suspensions]\nmin_months = 3\n\n[suspension]", "suspensions", "[suspensions]"
    ),
    "missing key": Broken("max_months = 6\n", "", "suspension.max_months", "[suspension]"),
    "pass line 155": Broken(
        BUSINESS_LINE,
        "pass_line = { physician = 155, assistant = 55 }",
        "tests.business.pass_line.physician",
        "pass_line = { physician = 155",
    ),
    "pass line missing a licence": Broken(
        BUSINESS_LINE,
        "pass_line = { physician = 60 }",
        "tests.business.pass_line.assistant",
        "pass_line = { physician = 60 }",
    ),
    "attempts 0": Broken("attempts = 10", "attempts = 0", "tests.humanities.attempts", "attempts = 0"),
    "re-exam attempts 0": Broken("[reexam]\nattempts = 1", "[reexam]\nattempts = 0", "reexam.attempts", "attempts = 0"),
    "appeal days 0": Broken("answer_days = 30", "answer_days = 0", "appeal.answer_days", "answer_days = 0"),
    "bad timezone": Broken('timezone = "Asia/Shanghai"', 'timezone = "Asia/Beijing"', "policy.timezone", "timezone"),
    "windows reversed": Broken(
        FIRST_ROUND,
        "first_round = { start = 2021-06-27, end = 2021-06-01 }",
        "windows.first_round",
        "first_round =",
    ),
    "suspension range reversed": Broken("min_months = 3", "min_months = 7", "suspension.min_months", "min_months = 7"),
    "unknown conduct record": Broken(
        'records = ["good"]', 'records = ["excellent"]', "simple_conditions.good_record_5y.records", '"excellent"'
    ),
    "empty policy id": Broken('id = "guangxi-2019-2020"', 'id = ""', "policy.id", 'id = ""'),
    # PostgreSQL cannot store a NUL; the other backends could, so they must refuse it too.
    "NUL in the version": Broken('version = "2021.1"', 'version = "2021\\u0000"', "policy.version", "version ="),
    "a reason id no command can name": Broken(
        "[business_exemptions.reasons.residency_training]",
        f"[business_exemptions.reasons.{'r' * 65}]",
        f"business_exemptions.reasons.{'r' * 65}",
        "r" * 65,
    ),
    "assistance from age -1": Broken("min_age = 50", "min_age = -1", "assistance.min_age", "min_age = -1"),
    "only best attempt counts": Broken(
        'counts = "best"\n' + BUSINESS_LINE, 'counts = "last"\n' + BUSINESS_LINE, "tests.business.counts", '"last"'
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_refused_naming_the_field_and_line(case: str) -> None:
    broken = BROKEN[case]
    text = variant(broken.old, broken.new)
    with pytest.raises(PolicyError) as caught:
        parse(text, "broken.toml")
    problems = caught.value.problems
    line = line_of(text, broken.marker)
    assert any(p.startswith(f"{broken.field}:") and p.endswith(f"(line {line})") for p in problems), (
        f"expected {broken.field} at line {line}, got {problems}"
    )
    assert caught.value.source == "broken.toml"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (BUSINESS_LINE, "pass_line = 60", "tests.business.pass_line: expected a table, got 60"),
        (FIRST_ROUND, "first_round = 2021-06-01", "windows.first_round: expected a table, got 2021-06-01"),
    ],
)
def test_a_value_where_a_table_goes_is_named_as_such(old: str, new: str, said: str) -> None:
    """Not cattrs' "'int' object has no attribute 'items'"."""
    with pytest.raises(PolicyError) as caught:
        parse(variant(old, new))
    assert any(p.startswith(said) for p in caught.value.problems), caught.value.problems
    assert "attribute" not in str(caught.value)


def test_invalid_toml_is_refused_with_its_line() -> None:
    text = variant("min_months = 3", "min_months = = 3")
    with pytest.raises(PolicyError) as caught:
        parse(text)
    (problem,) = caught.value.problems
    assert problem.startswith("not valid TOML") and f"line {line_of(text, 'min_months = =')}" in problem


def test_type_errors_come_first_then_the_value_checks() -> None:
    """A value cannot be range-checked before it has the right type: two runs, each naming its field."""
    text = variant("attempts = 10", "attempts = 0").replace("min_age = 50", 'min_age = "fifty"')
    with pytest.raises(PolicyError) as caught:
        parse(text)
    assert [p.split(":")[0] for p in caught.value.problems] == ["assistance.min_age"]
    # Type errors stop the load before the value checks: the second run reports the attempts.
    fixed = text.replace('min_age = "fifty"', "min_age = 50")
    with pytest.raises(PolicyError) as caught:
        parse(fixed)
    assert [p.split(":")[0] for p in caught.value.problems] == ["tests.humanities.attempts"]


def test_several_value_errors_are_listed_together() -> None:
    text = variant("attempts = 10", "attempts = 0").replace("min_months = 3", "min_months = 0")
    with pytest.raises(PolicyError) as caught:
        parse(text)
    fields = [p.split(":")[0] for p in caught.value.problems]
    assert fields == ["tests.humanities.attempts", "suspension.min_months"]


def test_a_missing_table_is_named() -> None:
    text = text_of(GUANGXI)
    start = text.index("[suspension]")
    end = text.index("[assistance]")
    with pytest.raises(PolicyError) as caught:
        parse(text[:start] + text[end:])
    assert "suspension: is missing" in caught.value.problems


# -- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["wrong type", "unknown key", "pass line 155", "attempts 0", "bad timezone"])
def test_policy_lint_on_a_broken_file_exits_1_naming_the_field(case: str, tmp_path: Path) -> None:
    broken = BROKEN[case]
    text = variant(broken.old, broken.new)
    path = write(tmp_path, text)
    result = cli("policy", "lint", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"ERROR   {broken.field}:" in result.stderr
    assert f"(line {line_of(text, broken.marker)})" in result.stderr


def test_policy_lint_on_invalid_toml_exits_1_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, variant("min_months = 3", "min_months = = 3"))
    result = cli("policy", "lint", str(path))
    assert result.returncode == 1
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_policy_lint_on_a_missing_file_exits_1(tmp_path: Path) -> None:
    result = cli("policy", "lint", str(tmp_path / "nowhere.toml"))
    assert result.returncode == 1
    assert "no such policy file" in result.stderr
    assert "Traceback" not in result.stderr


def test_policy_objects_are_frozen() -> None:
    """Shared by every instance of a cycle: nothing may change a loaded policy in place."""
    p = load(GUANGXI)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.suspension.max_months = 12  # type: ignore[misc]
