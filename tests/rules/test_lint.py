"""``renew-fsm policy lint``: what an assessment office learns about its policy before the cycle opens.

A file can load and still be unworkable (windows in an impossible order:
errors, exit 1) or have consequences worth a decision (suspended doctors who
cannot be re-examined within the cycle: warnings, exit 0).  Each finding
names the field it is about.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from renew_fsm.rules.lint import Finding, lint
from renew_fsm.rules.policy import load, parse

from .policy_text import GUANGXI, PHYSICIAN_LAW, edited, write
from .run_cli import renew_fsm

REGISTRATION = "registration = { start = 2021-04-19, end = 2021-05-28 }"
DEADLINE = "deferral_deadline = 2021-05-30"
GRADING = "grading = { start = 2021-06-30, end = 2021-07-09 }"
MAKEUP = "makeup = { start = 2021-11-01, end = 2021-11-05 }"
REEXAM = "reexam = { start = 2021-11-06, end = 2021-11-28 }"


def findings(changes: dict[str, str], name: str = GUANGXI) -> list[Finding]:
    return lint(parse(edited(changes, name)))


def at(level: str, found: list[Finding]) -> dict[str, str]:
    """field → message of the findings of ``level``."""
    return {f.field: f.message for f in found if f.level == level}


# -- the shipped policies ---------------------------------------------------------------------------


def test_guangxi_lints_without_errors_but_warns_about_the_suspension() -> None:
    found = lint(load(GUANGXI))
    assert at("error", found) == {}
    warnings = at("warning", found)
    assert set(warnings) == {"suspension.max_months", "windows.makeup_grading"}
    # A 6-month suspension from the last grading day (2021-07-09) ends after the re-exam closes.
    assert "2022-01-09" in warnings["suspension.max_months"] and "2021-11-28" in warnings["suspension.max_months"]
    # … by 42 days, and those doctors wait listed for a later window (art. 26), not cancelled.
    assert "42 days after" in warnings["suspension.max_months"]
    assert "reexam_pending" in warnings["suspension.max_months"]
    # A doctor failing the make-up cannot be re-examined at all in the cycle, even after 3 months (65 days short).
    assert "2022-02-01" in warnings["windows.makeup_grading"] and "65 days after" in warnings["windows.makeup_grading"]


def test_lint_command_on_guangxi_exits_0_and_prints_the_suspension_warning() -> None:
    result = renew_fsm("policy", "lint", GUANGXI)
    assert result.returncode == 0, result.stderr
    assert "WARNING suspension.max_months: a 6-month suspension started when grading closes (2021-07-09)" in (
        result.stdout
    )
    assert "cannot be re-examined in this cycle" in result.stdout
    assert "guangxi-2019-2020 2021.1: 0 error(s), 2 warning(s)" in result.stdout


def test_physician_law_policy_lints_clean() -> None:
    """Its re-exam window was chosen to span every suspension the law allows: nothing to warn about."""
    assert lint(load(PHYSICIAN_LAW)) == []


def test_lint_command_on_the_physician_law_policy_reports_nothing() -> None:
    result = renew_fsm("policy", "lint", PHYSICIAN_LAW)
    assert result.returncode == 0, result.stderr
    assert "physician-law-2021-2023 2024.1: 0 error(s), 0 warning(s)" in result.stdout
    assert "suspension" not in result.stdout + result.stderr


def test_a_late_enough_reexam_silences_the_suspension_warnings() -> None:
    found = findings({REEXAM: "reexam = { start = 2021-11-06, end = 2022-02-28 }"})
    assert not [f for f in found if f.field.startswith("suspension") or f.field == "windows.makeup_grading"], found


def test_a_reexam_closing_a_day_early_brings_the_warning_back() -> None:
    """2021-07-09 + 6 months = 2022-01-09: a doctor may sit on that day, so a window closing then suffices."""
    on_the_day = findings({REEXAM: "reexam = { start = 2021-11-06, end = 2022-01-09 }"})
    assert "suspension.max_months" not in at("warning", on_the_day)
    late = findings({REEXAM: "reexam = { start = 2021-11-06, end = 2022-01-08 }"})
    assert "suspension.max_months" in at("warning", late)


def test_a_minimum_suspension_past_the_reexam_says_no_one_can_be_reexamined() -> None:
    found = findings({"min_months = 3": "min_months = 5"})
    warnings = at("warning", found)
    assert "no doctor can be re-examined" in warnings["suspension.min_months"]
    assert "suspension.max_months" not in warnings  # the stronger warning replaces the weaker


# -- errors: windows in an impossible order -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({REGISTRATION: "registration = { start = 2021-04-19, end = 2021-06-01 }"}, "windows.first_round"),
        ({MAKEUP: "makeup = { start = 2021-06-20, end = 2021-06-30 }"}, "windows.makeup"),
        ({REEXAM: "reexam = { start = 2021-07-05, end = 2021-11-28 }"}, "windows.reexam"),
        ({DEADLINE: "deferral_deadline = 2021-06-01"}, "windows.deferral_deadline"),
        ({DEADLINE: "deferral_deadline = 2021-04-18"}, "windows.deferral_deadline"),
        ({GRADING: "grading = { start = 2021-05-01, end = 2021-05-10 }"}, "windows.grading"),
    ],
    ids=[
        "registration runs into the first round",
        "make-up during the first round",
        "re-exam before grading closes",
        "deferral deadline in the first round",
        "deferral deadline before registration",
        "grading over before the first round",
    ],
)
def test_windows_out_of_order_are_errors(changes: dict[str, str], field: str) -> None:
    assert field in at("error", findings(changes))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"[business_exemptions.reasons.promotion_exam]": "[business_exemptions.reasons.Promotion-Exam]"},
            "business_exemptions.reasons.Promotion-Exam",
        ),
        (
            {'text = "考核周期内通过晋升上一级专业技术职务考试"': 'text = "  "'},
            "business_exemptions.reasons.promotion_exam.text",
        ),
        ({"[simple_conditions.good_record_5y]": "[simple_conditions.GoodRecord]"}, "simple_conditions.GoodRecord"),
    ],
    ids=["reason id", "empty reason text", "condition id"],
)
def test_malformed_ids_and_texts_are_errors(changes: dict[str, str], field: str) -> None:
    assert field in at("error", findings(changes))


def test_lint_command_exits_1_on_a_file_with_errors(tmp_path: Path) -> None:
    path = write(tmp_path, edited({MAKEUP: "makeup = { start = 2021-06-20, end = 2021-06-30 }"}))
    result = renew_fsm("policy", "lint", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ERROR   windows.makeup: starts 2021-06-20, before first_round ends 2021-06-27" in result.stderr
    assert "1 error(s)" in result.stderr
    assert "Traceback" not in result.stderr


# -- warnings: consequences worth a decision ---------------------------------------------------------


def test_an_unknown_humanities_exemption_reason_is_a_warning() -> None:
    found = findings(
        {
            "[humanities_exemptions.tcm_1998]": '[humanities_exemptions.disabled]\nzh = "残疾"\nen = "disability"\n\n'
            "[humanities_exemptions.tcm_1998]"
        }
    )
    warnings = at("warning", found)
    assert "no automatic check" in warnings["humanities_exemptions.disabled"]
    assert at("error", found) == {}


def test_an_open_but_empty_business_exemption_list_is_a_warning() -> None:
    text = edited({})
    start = text.index("[business_exemptions.reasons.residency_training]")
    end = text.index("[suspension]")
    found = lint(parse(text[:start] + text[end:]))
    assert "business_exemptions" in at("warning", found)


def test_registration_before_the_period_ends_is_a_warning() -> None:
    """Ages and years of practice are judged at the period end: registering before it is odd, not impossible."""
    found = findings({REGISTRATION: "registration = { start = 2020-12-01, end = 2021-05-28 }"})
    assert "windows.registration" in at("warning", found)


def test_grading_while_the_first_round_runs_is_a_warning() -> None:
    found = findings({GRADING: "grading = { start = 2021-06-20, end = 2021-07-09 }"})
    assert "windows.grading" in at("warning", found)
    assert "windows.grading" not in at("error", found)


def test_lint_command_exits_0_on_warnings_only(tmp_path: Path) -> None:
    path = write(tmp_path, edited({"min_months = 3": "min_months = 5"}))
    result = renew_fsm("policy", "lint", str(path))
    assert result.returncode == 0, result.stderr
    assert "WARNING suspension.min_months" in result.stdout


def test_more_than_one_reexam_attempt_is_a_warning_that_it_is_not_applied() -> None:
    policy = load(GUANGXI)
    assert "reexam.attempts" not in at("warning", lint(policy))
    two = attrs.evolve(policy, reexam=attrs.evolve(policy.reexam, attempts=2))
    assert "only 1 is applied" in at("warning", lint(two))["reexam.attempts"]


# -- Chinese first ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {MAKEUP: "makeup = { start = 2021-06-20, end = 2021-06-30 }"},
        {GRADING: "grading = { start = 2021-06-20, end = 2021-07-09 }"},
        {GRADING: "grading = { start = 2021-06-01, end = 2021-06-10 }"},
        {DEADLINE: "deferral_deadline = 2021-07-30"},
        {REGISTRATION: "registration = { start = 2020-12-01, end = 2021-05-28 }"},
        {"min_months = 3": "min_months = 5"},
        {"[simple_conditions.good_record_5y]": "[simple_conditions.GoodRecord]"},
        {'text = "考核周期内通过晋升上一级专业技术职务考试"': 'text = "  "'},
    ],
    ids=[
        "overlap",
        "grading early",
        "grading before the tests",
        "deadline",
        "registration",
        "suspension",
        "condition id",
        "empty text",
    ],
)
def test_every_finding_is_said_in_chinese_without_window_ids(changes: dict[str, str]) -> None:
    found = findings(changes)
    assert found
    for finding in found:
        assert any("\u4e00" <= c <= "\u9fff" for c in finding.message_zh), finding
        for window in ("first_round", "makeup", "registration", "grading"):
            assert window not in finding.message_zh, finding
        assert str(finding).startswith(("错误", "提醒")) and finding.message in str(finding)


def test_lint_command_prints_the_chinese_line_first(tmp_path: Path) -> None:
    path = write(tmp_path, edited({MAKEUP: "makeup = { start = 2021-06-20, end = 2021-06-30 }"}))
    result = renew_fsm("policy", "lint", str(path))
    assert "错误    windows.makeup：补考开始于 2021-06-20，早于首轮考核结束日 2021-06-27" in result.stderr
    assert result.stderr.index("错误") < result.stderr.index("ERROR   windows.makeup")
    assert "错误 1 项" in result.stderr
