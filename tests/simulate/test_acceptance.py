"""Issue 5's acceptance, on the literal command: ``renew-fsm simulate --doctors 20000 --seed 7 --json``.

One run (the session fixture ``acceptance``) and everything the issue asks of
it: it finishes, every doctor stands where the policy allows at the end of the
cycle, the outcomes add up, nothing the profile did not plan was refused,
``renew-fsm stats`` and its CSV and Excel exports say the same as the run's own
summary at every level, and every path the behaviour profile asks for happened
at least once — read back from the history in the database, not from the
simulator's own counters.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import renew_fsm
from renew_fsm.simulate import END_STATES
from renew_fsm.stats import LEVELS, STAGES

from .conftest import ACCEPTANCE_DOCTORS, Run, cli

N = ACCEPTANCE_DOCTORS


def test_the_acceptance_command_finishes_with_the_promised_keys(acceptance: Run) -> None:
    s = acceptance.summary
    print(f"\nacceptance run: {acceptance.wall_seconds:.1f} s wall, {s['seconds']} s inside, {s['transitions']} events")
    assert {"doctors", "transitions", "seconds", "by_state", "by_outcome"} <= s.keys()
    assert s["doctors"] == N
    # Every doctor sees at least the registration steps; a cycle is far more than one event per doctor.
    assert s["transitions"] > 5 * N
    assert s["resumed_from"] is None


def test_every_doctor_ends_where_the_policy_allows_at_the_end_of_the_cycle(
    acceptance: Run, acceptance_engine: renew_fsm.Engine
) -> None:
    assert set(acceptance.summary["by_state"]) <= END_STATES
    assert sum(acceptance.summary["by_state"].values()) == N
    stored = Counter(inst.state for inst, _ in acceptance_engine.scan())
    assert sum(stored.values()) == N
    assert set(stored) <= END_STATES, set(stored) - END_STATES
    assert dict(stored) == acceptance.summary["by_state"]


def test_the_outcomes_add_up_to_the_number_of_doctors(acceptance: Run) -> None:
    by_outcome = acceptance.summary["by_outcome"]
    assert sum(by_outcome.values()) == N
    # The cycle is over: nobody is still in progress, and most doctors passed.
    assert by_outcome["in_progress"] == 0
    assert by_outcome["qualified"] > 0.9 * N
    per_program = acceptance.summary["by_program"]
    assert sum(sum(counts.values()) for counts in per_program.values()) == N


def test_nothing_the_profile_did_not_plan_was_refused(acceptance: Run) -> None:
    assert acceptance.summary["refusals"] == 0


def test_the_history_holds_every_transition_the_summary_counts(
    acceptance: Run, acceptance_engine: renew_fsm.Engine
) -> None:
    assert acceptance_engine.storage.count_history(acceptance_engine.cycle) == acceptance.summary["transitions"]


# -- stats on that database ---------------------------------------------------------------------------


def stats_json(db: Path, by: str = "city") -> dict[str, Any]:
    result = cli("stats", "--db", str(db), "--by", by, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_stats_on_that_database_matches_the_simulations_own_summary(acceptance: Run) -> None:
    stats = stats_json(acceptance.db)
    for key in ("cycle", "doctors", "by_state", "by_outcome", "by_reason", "by_program"):
        assert stats[key] == acceptance.summary[key], key


@pytest.fixture(scope="module")
def workbook(acceptance: Run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    """The xlsx export (by city) opened with openpyxl, next to the JSON figures of the same call."""
    from openpyxl import load_workbook

    out = tmp_path_factory.mktemp("xlsx") / "统计.xlsx"
    result = cli("stats", "--db", str(acceptance.db), "--format", "xlsx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return load_workbook(out), stats_json(acceptance.db)


def test_the_workbook_has_one_sheet_per_screen_with_chinese_headers(workbook: tuple[Any, dict[str, Any]]) -> None:
    book, stats = workbook
    assert book.sheetnames == ["考核进度统计", "考核结果统计"]
    progress, results = book["考核进度统计"], book["考核结果统计"]
    # Row 1 the title; row 2 the headers: the screen's stages first, then every state by its Chinese name.
    assert [c.value for c in progress[2]][:14] == ["市编号", "市名称", *STAGES, "合计"]
    assert len([c.value for c in progress[2]]) == len(stats["progress"]["headers"]) + len(STAGES)
    assert [c.value for c in results[2]] == stats["results"]["headers"]
    assert [c.value for c in results[2]][:4] == ["市编号", "市名称", "考核程序", "人数"]
    for ws in (progress, results):
        assert ws.freeze_panes == "C3"
        for column in range(1, ws.max_column + 1):
            letter = ws.cell(2, column).column_letter
            assert ws.column_dimensions[letter].width and ws.column_dimensions[letter].width >= 8, letter
        assert ws.cell(2, 1).font.bold


def test_the_workbook_holds_the_same_numbers(workbook: tuple[Any, dict[str, Any]], acceptance: Run) -> None:
    book, stats = workbook
    # Rows 3… are the JSON's rows (the progress sheet's states after its stages), then the 合计 row.
    results = [[c.value for c in row] for row in book["考核结果统计"].iter_rows(min_row=3)]
    assert results[:-1] == stats["results"]["rows"] and results[-1][0] == "合计"
    progress = [[c.value for c in row] for row in book["考核进度统计"].iter_rows(min_row=3)]
    assert [[*row[:2], *row[14:], row[13]] for row in progress[:-1]] == stats["progress"]["rows"]
    progress = progress[:-1]
    assert sum(row[13] for row in progress) == N
    # A state's column in the workbook adds up to the run's own count of that state.
    headers = stats["progress"]["headers"]
    for state, count in acceptance.summary["by_state"].items():
        column = next(i for i, h in enumerate(headers) if h.endswith(f"（{state}）"))
        assert sum(row[column + len(STAGES) + 1] for row in progress) == count, state
    results = results[:-1]
    assert sum(row[3] for row in results) == N
    qualified = stats["results"]["headers"].index("合格")
    assert sum(row[qualified] for row in results) == acceptance.summary["by_outcome"]["qualified"]


def test_the_csv_export_writes_both_screens_with_the_same_numbers(acceptance: Run, tmp_path: Path) -> None:
    result = cli("stats", "--db", str(acceptance.db), "--format", "csv", "--out", str(tmp_path / "gx.csv"))
    assert result.returncode == 0, result.stderr
    stats = stats_json(acceptance.db)
    for tag, key in (("progress", "progress"), ("results", "results")):
        path = tmp_path / f"gx.{tag}.csv"
        # utf-8-sig: Excel opens Chinese CSV correctly only with the byte-order mark.
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
        assert rows[0] == stats[key]["headers"]
        assert rows[1:] == [[str(v) for v in row] for row in stats[key]["rows"]]
    printed = cli("stats", "--db", str(acceptance.db), "--format", "csv")
    assert printed.returncode == 0
    assert "# 考核进度统计" in printed.stdout and "# 考核结果统计" in printed.stdout


@pytest.mark.parametrize("by", LEVELS)
def test_stats_by_every_level_add_up_to_the_number_of_doctors(
    acceptance: Run, acceptance_engine: renew_fsm.Engine, by: str
) -> None:
    stats = stats_json(acceptance.db, by)
    progress, results = stats["progress"]["rows"], stats["results"]["rows"]
    assert sum(row[-1] for row in progress) == N
    assert sum(row[3] for row in results) == N
    # Each row's own state counts add up to its total.
    assert all(sum(row[2:-1]) == row[-1] for row in progress)
    assert stats["by_state"] == acceptance.summary["by_state"]
    # The rows are exactly the groups the doctors belong to at that level, one row each.
    world = acceptance_engine.world()
    institutions = {doc.institution for _, doc in acceptance_engine.scan()}
    if by == "institution":
        expected = institutions
    elif by == "agency":
        expected = {a.id for a in world.agencies.values() if institutions & set(a.institutions)}
    elif by == "practice_category":  # the simulated registry names none: one group of doctors without
        expected = {doc.practice_category or "-" for _, doc in acceptance_engine.scan()}
    else:
        chains = [world.chains[world.institutions[i].region] for i in institutions]
        expected = {r for chain in chains for r in chain if world.regions[r].level == by}
    assert [row[0] for row in progress] == sorted(expected)
    if by == "province":
        assert expected == {"P"}


def test_each_institution_is_assigned_to_exactly_one_agency(acceptance_engine: renew_fsm.Engine) -> None:
    world = acceptance_engine.world()
    assigned = Counter(i for agency in world.agencies.values() for i in agency.institutions)
    assert set(assigned) == set(world.institutions)
    assert set(assigned.values()) == {1}
    # Both kinds of agency SPEC §1 names: a city's agency and an industry organisation.
    assert any(a.region == "P" for a in world.agencies.values())
    assert sum(1 for a in world.agencies.values() if a.region != "P") >= 2


def test_doctors_are_numbered_institution_by_institution_and_the_sizes_are_skewed(
    acceptance_engine: renew_fsm.Engine,
) -> None:
    """As a registry exports them: an institution's doctors consecutive, every institution staffed."""
    by_number = [doc.institution for _, doc in sorted(acceptance_engine.scan(), key=lambda pair: pair[1].id)]
    runs = [institution for k, institution in enumerate(by_number) if k == 0 or by_number[k - 1] != institution]
    assert runs == sorted(set(runs)), "an institution's doctors are not consecutive"
    assert set(runs) == set(acceptance_engine.world().institutions)
    sizes = sorted(Counter(by_number).values())
    assert sizes[-1] >= 5 * sizes[len(sizes) // 2], f"a few large hospitals, many small clinics: {sizes}"


# -- every path the profile asks for ------------------------------------------------------------------


@attrs.frozen
class Trail:
    """One doctor's cycle, compact: (event, from, to, role, key data) per record, and where they ended."""

    steps: tuple[tuple[str, str, str, str, str | None], ...]
    state: str
    reason: str | None
    flags: frozenset[str]

    def did(self, event: str, key: str | None = None, *, to: str | None = None) -> bool:
        return any(e == event and (key is None or k == key) and (to is None or t == to) for e, _, t, _, k in self.steps)

    def after(self, first: str, then: str) -> bool:
        events = [e for e, *_ in self.steps]
        return first in events and then in events[events.index(first) + 1 :]


def _key(data: str) -> str | None:
    d = json.loads(data)
    return d.get("reason_id") or d.get("finding") or d.get("mode") or d.get("test")


@pytest.fixture(scope="module")
def trails(acceptance_engine: renew_fsm.Engine) -> dict[str, Trail]:
    steps: dict[str, list[tuple[str, str, str, str, str | None]]] = {}
    for r in acceptance_engine.storage.all_history(acceptance_engine.cycle):
        key = _key(r.data) if r.data != "{}" else None
        steps.setdefault(r.doctor, []).append((r.event, r.from_state, r.to_state, r.role, key))
    return {
        inst.doctor: Trail(tuple(steps.get(inst.doctor, ())), inst.state, inst.reason, inst.flags)
        for inst, _ in acceptance_engine.scan()
    }


#: (profile field, what it makes happen, how the database shows it happened).
PATHS: list[tuple[str, str, Callable[[Trail], bool]]] = [
    ("registration.enrolled", "a doctor the institution never enrols", lambda t: t.state == "not_enrolled"),
    ("registration.info_rejected", "details sent back, approved", lambda t: t.after("reject_info", "approve_info")),
    (
        "registration.registration_rejected",
        "registration sent back, then confirmed",
        lambda t: t.after("reject_registration", "confirm_registration"),
    ),
    ("registration.choose_simple", "the simple program", lambda t: t.did("choose_simple") and t.state == "qualified"),
    (
        "registration.simple_refused",
        "simple refused, the general program instead",
        lambda t: "simple_refused" in t.flags and t.after("refuse_simple", "choose_general"),
    ),
    ("registration.program_returned", "evaluation returned", lambda t: t.after("return_program", "approve_program")),
    ("registration.work_fail", "work performance failed", lambda t: t.reason == "work_performance"),
    ("registration.ethics_fail", "ethics failed", lambda t: t.reason == "ethics"),
    ("registration.assistance", "assisted testing (50+)", lambda t: "assisted" in t.flags),
    (
        "exemptions.age_60",
        "humanities exemption age_60, qualified without a humanities test",
        lambda t: (
            t.did("apply_exemption", "age_60")
            and "humanities_exempt" in t.flags
            and not t.did("record_score", "humanities")
            and t.state == "qualified"
        ),
    ),
    (
        "exemptions.business",
        "business-level exemption, qualified on humanities alone",
        lambda t: (
            "business_exempt" in t.flags
            and not t.did("record_score", "business")
            and t.did("record_score", "humanities")
            and t.state == "qualified"
        ),
    ),
    (
        "exemptions.business_rejected",
        "business exemption rejected for good (forbid)",
        lambda t: t.did("reject_exemption", "forbid") and "exemption_forbidden" in t.flags,
    ),
    (
        "exemptions.business_rejected",
        "business exemption rejected for more proof (supplement)",
        lambda t: t.did("reject_exemption", "supplement"),
    ),
    (
        "deferral.requested + resumes",
        "deferred by the authority, back at the make-up, graded",
        lambda t: (
            t.did("approve_deferral", to="deferred")
            and t.after("resume", "grade")
            and "resumed" in t.flags
            and t.state == "qualified"
        ),
    ),
    ("deferral.rejected", "deferral refused", lambda t: t.did("reject_deferral")),
    (
        "deferral.resumes",
        "deferred and never came: absent at the make-up's close",
        lambda t: t.did("close_makeup", to="unqualified") and t.reason == "absent" and not t.did("resume"),
    ),
    (
        "tests.absent",
        "absent from the first round",
        lambda t: t.did("close_first_round", to="unqualified") and t.reason == "absent",
    ),
    ("tests.humanities_mean", "failed humanities", lambda t: t.reason == "humanities"),
    ("tests.business_mean", "failed the business level", lambda t: t.reason == "business_level"),
    (
        "tests.retry",
        "passed humanities on a later attempt",
        lambda t: (
            sum(1 for s in t.steps if s[0] == "record_score" and s[4] == "humanities") > 1 and t.state == "qualified"
        ),
    ),
    ("proctoring.cleared", "suspected, mark lifted", lambda t: t.after("mark_suspected", "unmark_suspected")),
    (
        "proctoring.finding_cheating",
        "discipline for cheating, published",
        lambda t: t.did("discipline", "cheating") and "published" in t.flags and t.reason == "discipline",
    ),
    (
        "proctoring.finding_cheating",
        "discipline for communicating or a blocked camera, not published",
        lambda t: (
            (t.did("discipline", "communicating") or t.did("discipline", "camera_blocked"))
            and "published" not in t.flags
        ),
    ),
    ("reexam.months", "suspended then listed", lambda t: t.after("suspend", "confirm_reexam")),
    (
        "reexam.business_mean",
        "re-exam passed: no promotion this cycle",
        lambda t: t.state == "reexam_passed" and "no_promotion" in t.flags and t.did("record_score", "business"),
    ),
    (
        "reexam.humanities_mean",
        "re-exam (simple program) passed",
        lambda t: t.state == "reexam_passed" and t.did("record_score", "humanities", to="reexam.awaiting_grade"),
    ),
    (
        "reexam.business_mean",
        "re-exam failed: registration cancelled by the grade",
        lambda t: t.state == "registration_cancelled" and t.did("grade", to="registration_cancelled"),
    ),
    (
        "reexam.absent",
        "absent from the re-exam: registration cancelled at its close",
        lambda t: t.did("close_reexam", to="registration_cancelled"),
    ),
]


@pytest.mark.parametrize(("field", "path", "happened"), PATHS, ids=[f"{f}: {p}" for f, p, _ in PATHS])
def test_every_path_the_profile_asks_for_happens(
    trails: dict[str, Trail], field: str, path: str, happened: Callable[[Trail], bool]
) -> None:
    matching = [doctor for doctor, trail in trails.items() if happened(trail)]
    assert matching, f"nobody among {len(trails):,} doctors took the path {path!r} ({field})"


def test_every_trail_runs_forward_in_time_and_offices_act_in_office_hours(
    acceptance_engine: renew_fsm.Engine,
) -> None:
    """An audit trail read by an office: no step dated before the one it follows, no hospital at 3 a.m."""
    backwards, after_hours = [], []
    last: dict[str, dt.datetime] = {}
    for r in acceptance_engine.storage.all_history(acceptance_engine.cycle):
        at = dt.datetime.fromisoformat(r.at)
        if r.doctor in last and at < last[r.doctor]:
            backwards.append(f"{r.doctor} #{r.seq} {r.event} {r.at}")
        last[r.doctor] = at
        if r.role not in ("system", "exam_system") and not dt.time(8) <= at.time() < dt.time(18):
            after_hours.append(f"{r.doctor} #{r.seq} {r.event} by {r.role} at {r.at}")
    assert backwards == []
    assert after_hours == []


def test_the_database_verifies(acceptance: Run) -> None:
    result = cli("verify", "--db", str(acceptance.db))
    assert result.returncode == 0, result.stderr
    assert f"{N} instance(s)" in result.stdout
