"""The manual's statistics screens (考核进度统计, 考核结果统计) on a province small enough to count by hand.

Seven doctors in known places, counted on every backend and at every level of
the world's tree: if a roll-up double-counts, drops a doctor or files one
under the wrong region, agency or program, a number here is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import A1, A2, EXAM, H1, at, doctor, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor
from renew_fsm.replay import replay
from renew_fsm.stats import LEVELS, OUTCOMES, STAGES, Stats, compute, outcome, to_csv, to_xlsx
from renew_fsm.timeline import day_end

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "scenarios"

H2, H3 = Actor("institution", "H2"), Actor("institution", "H3")


def grade_after(e: renew_fsm.Engine, did: str, agency: Actor, business: float | None, humanities: float) -> None:
    """Sit the tests in the first round and get graded in the grading window."""
    if business is not None:
        e.fire(did, "record_score", EXAM, {"test": "business", "score": business}, at=at("2021-06-02"))
    e.fire(did, "record_score", EXAM, {"test": "humanities", "score": humanities}, at=at("2021-06-02"))
    e.fire(did, "grade", agency, at=at("2021-07-01"))


@pytest.fixture
def counted(url: str) -> renew_fsm.Engine:
    """D1…D7 where the comments say; H4 is an institution no agency was assigned."""
    doctors = [
        {**doctor_cmd("D1", "H1", serial=1), "practice_category": "clinical"},
        {**doctor_cmd("D2", "H1", serial=2), "practice_category": "clinical"},
        {**doctor_cmd("D3", "H2", serial=3), "practice_category": "tcm"},
        doctor_cmd("D4", "H3", serial=4),
        {**doctor_cmd("D5", "H3", serial=5), "practice_category": "dental"},
        doctor_cmd("D6", "H2", serial=6),
    ]
    e = make_engine(url, doctors)
    e.apply({"op": "institution", "id": "H4", "region": "NN-QX", "name": "青秀区第二诊所"})
    e.apply(doctor_cmd("D7", "H4", serial=7))
    to_testing(e, "D1", "simple")
    grade_after(e, "D1", A1, None, 80)  # qualified, simple program
    to_testing(e, "D2", "general")
    grade_after(e, "D2", A1, 40, 80)  # unqualified: business level
    register(e, "D3", H2, A1)  # registered: in progress, no program yet
    # D4 never enrolled
    to_testing(e, "D5", "general", H3, A2)
    grade_after(e, "D5", A2, 70, 70)  # qualified, general program
    register(e, "D6", H2, A1)
    e.fire("D6", "choose_general", doctor("D6"), {"self_evaluation": "完成本职工作"})
    e.fire("D6", "approve_program", H2, {"work_performance": "fail", "ethics": "pass"})
    e.fire("D6", "confirm_program", A1)  # unqualified: work performance
    # D7 never enrolled, at an institution without an agency
    return e


def rows(stats: Stats, sheet: str = "progress") -> dict[str, list[Any]]:
    return {row[0]: row for row in getattr(stats, sheet).rows}


def column(stats: Stats, header: str) -> int:
    return stats.progress.headers.index(header)


def test_the_whole_cycle_figures(counted: renew_fsm.Engine) -> None:
    stats = compute(counted)
    assert stats.doctors == 7 and stats.cycle == "guangxi-2019-2020"
    assert stats.by_state == {"not_enrolled": 2, "qualified": 2, "registered": 1, "unqualified": 2}
    assert stats.by_outcome == {
        "qualified": 2,
        "unqualified": 2,
        "reexam_pending": 0,
        "reexam_passed": 0,
        "registration_cancelled": 0,
        "in_progress": 1,
        "not_enrolled": 2,
    }
    assert stats.by_reason == {"business_level": 1, "work_performance": 1}
    assert stats.by_program == {
        "一般程序": {"qualified": 1, "unqualified:business_level": 1, "unqualified:work_performance": 1},
        "简易程序": {"qualified": 1},
        "未选择程序": {"in_progress": 1, "not_enrolled": 2},
    }


EXPECTED_TOTALS = {
    "province": {"GX": 7},
    "city": {"NN": 5, "GL": 2},
    "county": {"NN-QX": 3, "NN-XN": 2, "GL-XF": 2},
    "institution": {"H1": 2, "H2": 2, "H3": 2, "H4": 1},
    "agency": {"A1": 4, "A2": 2, "-": 1},
    "practice_category": {"clinical": 2, "tcm": 1, "dental": 1, "-": 3},
}


@pytest.mark.parametrize("by", LEVELS)
def test_progress_rolls_up_to_every_level(counted: renew_fsm.Engine, by: str) -> None:
    stats = compute(counted, by=by)
    progress = rows(stats)
    assert {gid: row[-1] for gid, row in progress.items()} == EXPECTED_TOTALS[by]
    assert all(sum(row[2:-1]) == row[-1] for row in progress.values())
    assert sum(row[-1] for row in progress.values()) == 7
    assert [row[0] for row in stats.progress.rows] == sorted(EXPECTED_TOTALS[by])
    label = {
        "province": "省",
        "city": "市",
        "county": "区县",
        "institution": "卫生机构",
        "agency": "考核机构",
        "practice_category": "执业类别",
    }[by]
    assert stats.progress.headers[:2] == [f"{label}编号", f"{label}名称"]
    assert stats.results.headers[:4] == [f"{label}编号", f"{label}名称", "考核程序", "人数"]


def test_the_progress_columns_count_each_state_where_it_is(counted: renew_fsm.Engine) -> None:
    stats = compute(counted, by="county")
    progress = rows(stats)
    qualified = column(stats, "合格（qualified）")
    unqualified = column(stats, "不合格（unqualified）")
    registered = next(i for i, h in enumerate(stats.progress.headers) if h.endswith("（registered）"))
    not_enrolled = next(i for i, h in enumerate(stats.progress.headers) if h.endswith("（not_enrolled）"))
    assert [progress["NN-QX"][i] for i in (qualified, unqualified, registered, not_enrolled)] == [1, 1, 0, 1]
    assert [progress["NN-XN"][i] for i in (qualified, unqualified, registered, not_enrolled)] == [0, 1, 1, 0]
    assert [progress["GL-XF"][i] for i in (qualified, unqualified, registered, not_enrolled)] == [1, 0, 0, 1]
    assert progress["NN-QX"][1] == "青秀区" and progress["GL-XF"][1] == "秀峰区"


def test_the_results_sheet_splits_each_group_by_program_and_reason(counted: renew_fsm.Engine) -> None:
    stats = compute(counted, by="agency")
    headers = stats.results.headers
    table = {
        (row[0], row[2]): dict(zip(headers[4:], row[4:], strict=True)) | {"人数": row[3]} for row in stats.results.rows
    }
    assert set(table) == {
        ("A1", "一般程序"),
        ("A1", "简易程序"),
        ("A1", "未选择程序"),
        ("A2", "一般程序"),
        ("A2", "未选择程序"),
        ("-", "未选择程序"),
    }
    a1_general = table[("A1", "一般程序")]
    assert a1_general["人数"] == 2
    assert a1_general["不合格（业务水平）"] == 1 and a1_general["不合格（工作成绩）"] == 1 and a1_general["合格"] == 0
    assert table[("A1", "简易程序")]["合格"] == 1
    assert table[("A1", "未选择程序")]["考核中"] == 1
    assert table[("A2", "一般程序")]["合格"] == 1
    assert table[("-", "未选择程序")]["未纳入"] == 1
    assert rows(stats)["-"][1] == "未指定考核机构"
    assert headers[4:] == [zh for _, zh in OUTCOMES]


def test_an_institution_shared_by_two_agencies_counts_on_both_screens(counted: renew_fsm.Engine) -> None:
    """Each agency's screen shows every doctor it assesses; only then can the agency totals exceed the doctors."""
    counted.apply({"op": "agency", "id": "A2", "region": "GL", "name": "桂林考核机构", "assigned": ["H3", "H1"]})
    totals = {row[0]: row[-1] for row in compute(counted, by="agency").progress.rows}
    assert totals == {"A1": 4, "A2": 4, "-": 1}
    assert sum(row[-1] for row in compute(counted, by="city").progress.rows) == 7


def test_the_results_break_down_by_category_of_practice(counted: renew_fsm.Engine) -> None:
    """执业类别 (art. 5): a doctor whose registry record names none is counted apart, not dropped."""
    stats = compute(counted, by="practice_category")
    results = {(row[0], row[2]): row for row in stats.results.rows}
    headers = stats.results.headers
    qualified, business = headers.index("合格"), headers.index("不合格（业务水平）")
    assert results[("clinical", "简易程序")][qualified] == 1
    assert results[("clinical", "一般程序")][business] == 1
    assert results[("dental", "一般程序")][qualified] == 1
    assert results[("tcm", "未选择程序")][1] == "中医"
    assert results[("-", "一般程序")][headers.index("不合格（工作成绩）")] == 1  # D6
    assert {row[1] for row in stats.progress.rows} == {"临床", "中医", "口腔", "未登记执业类别"}
    assert stats.by_state == compute(counted).by_state


def test_the_statistics_at_the_end_of_a_day_are_rebuilt_from_the_history(counted: renew_fsm.Engine) -> None:
    """Registered on 04-20, tested on 06-02, graded on 07-01 (the fixture's times)."""
    policy = counted.policy
    before = compute(counted, at=day_end(policy, dt.date(2021, 4, 19)))
    assert before.by_state == {"not_enrolled": 7}
    first_round = compute(counted, by="practice_category", at=day_end(policy, dt.date(2021, 6, 1)))
    assert first_round.by_state == {
        "general.testing": 2,
        "not_enrolled": 2,
        "registered": 1,
        "simple.testing": 1,
        "unqualified": 1,
    }
    assert first_round.by_reason == {"work_performance": 1}
    assert first_round.taken_at == day_end(policy, dt.date(2021, 6, 1))
    graded = compute(counted, at=day_end(policy, dt.date(2021, 6, 30)))
    assert graded.by_state["general.awaiting_grade"] == 2 and graded.by_state["simple.awaiting_grade"] == 1
    now, later = compute(counted, by="county"), compute(counted, by="county", at=day_end(policy, dt.date(2030, 1, 1)))
    assert (later.progress, later.results, later.by_program) == (now.progress, now.results, now.by_program)


def test_a_day_rebuilt_from_the_history_is_the_cycle_replayed_up_to_that_day(tmp_path: Path) -> None:
    """The scenario replayed whole and counted at the end of a day, against the scenario replayed up to
    that day and counted then: the same figures, on each day a clock line names."""
    path = EXAMPLES / "deferred_doctor_sits_the_makeup_as_first_exam.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    whole = renew_fsm.open(str(tmp_path / "whole.db"))
    replay(whole, lines)
    days = sorted({json.loads(line)["at"][:10] for line in lines if '"op": "clock"' in line})
    try:
        for n, day in enumerate(days):
            cut = next(
                (i for i, line in enumerate(lines) if '"op": "clock"' in line and json.loads(line)["at"][:10] > day),
                len(lines),
            )
            part = renew_fsm.open(str(tmp_path / f"part{n}.db"))
            replay(part, lines[:cut])
            try:
                then = compute(whole, by="institution", at=day_end(whole.policy, dt.date.fromisoformat(day)))
                assert (then.by_state, then.by_program, then.progress.rows) == (
                    compute(part).by_state,
                    compute(part).by_program,
                    compute(part, by="institution").progress.rows,
                ), day
            finally:
                part.close()
    finally:
        whole.close()


def test_an_unknown_level_is_refused(counted: renew_fsm.Engine) -> None:
    with pytest.raises(ValueError, match="--by is one of"):
        compute(counted, by="hospital")


@pytest.mark.parametrize(
    ("state", "reason", "where"),
    [
        ("qualified", None, "qualified"),
        ("unqualified", "absent", "unqualified:absent"),
        ("reexam.suspended", "humanities", "reexam_pending"),
        ("reexam.listed", "business_level", "reexam_pending"),
        ("reexam.awaiting_grade", "business_level", "reexam_pending"),
        ("reexam_passed", "business_level", "reexam_passed"),
        ("registration_cancelled", "absent", "registration_cancelled"),
        ("deferred", None, "in_progress"),
        ("general.exemption.applied", None, "in_progress"),
        ("not_enrolled", None, "not_enrolled"),
    ],
)
def test_where_a_state_counts_on_the_result_screen(state: str, reason: str | None, where: str) -> None:
    assert outcome(state, reason) == where


# -- CSV and Excel ----------------------------------------------------------------------------------------


def test_csv_round_trips_the_sheet(counted: renew_fsm.Engine) -> None:
    stats = compute(counted, by="institution")
    for sheet in (stats.progress, stats.results):
        parsed = list(csv.reader(io.StringIO(to_csv(sheet))))
        assert parsed[0] == sheet.headers
        assert parsed[1:] == [[str(v) for v in row] for row in sheet.rows]


def test_the_workbook_is_what_an_office_opens_in_excel(counted: renew_fsm.Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    stats = compute(counted, by="institution")
    path = tmp_path / "考核统计.xlsx"
    to_xlsx(stats, path)
    book = load_workbook(path)
    assert book.sheetnames == ["考核进度统计", "考核结果统计"]
    for title in book.sheetnames:
        ws = book[title]
        # The title row says what, where and when: the statistics are not live (the manual).
        heading = ws["A1"].value
        assert heading.startswith(title) and "　广西　" in heading and "按卫生机构统计" in heading
        assert f"统计时间 {stats.taken_at:%Y-%m-%d %H:%M}" in heading and ws["A1"].font.bold
        # Headings and the columns naming the row stay in view, and are printed on every page.
        assert ws.freeze_panes == "C3"
        assert ws.print_title_rows == "$1:$2" and ws.print_title_cols == "$A:$B"
        assert ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
        assert all(c.font.bold for c in ws[2])
    assert book.properties.title == "guangxi-2019-2020 考核统计"


def test_the_progress_sheet_shows_the_screens_stages_first(counted: renew_fsm.Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    stats = compute(counted, by="institution")
    to_xlsx(stats, tmp_path / "s.xlsx")
    ws = load_workbook(tmp_path / "s.xlsx")["考核进度统计"]
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    headers, body = values[0], values[1:-1]
    assert headers[:14] == ["卫生机构编号", "卫生机构名称", *STAGES, "合计"]
    # Every state follows under a Chinese name no other state shares, and no header is an id.
    details = headers[14:]
    assert len(details) == len(stats.progress.headers) - 3 == len(set(details))
    assert "简易程序·测评中" in details and "一般程序·测评中" in details and "合格" in details
    assert not any("（" in h and h.endswith("）") and h.rsplit("（", 1)[1][:-1].isascii() for h in headers)
    by_id = {row[0]: row for row in body}
    # H1: D1 qualified, D2 unqualified; H2: D3 registered, D6 unqualified; H3: D4 not enrolled, D5 qualified.
    stage = {h: i for i, h in enumerate(headers[:14])}
    assert by_id["H1"][stage["合格"]] == 1 and by_id["H1"][stage["不合格"]] == 1
    assert by_id["H2"][stage["报名"]] == 1 and by_id["H2"][stage["不合格"]] == 1
    assert by_id["H3"][stage["未纳入"]] == 1 and by_id["H3"][stage["合格"]] == 1
    for row in body:  # the stages and the states each add up to the row's 合计
        assert sum(row[2:13]) == row[13] == sum(row[14:])


def test_the_total_row_adds_up_every_column_of_counts(counted: renew_fsm.Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    stats = compute(counted, by="institution")
    to_xlsx(stats, tmp_path / "s.xlsx")
    book = load_workbook(tmp_path / "s.xlsx")
    for title, first_count in (("考核进度统计", 2), ("考核结果统计", 3)):
        values = [[c.value for c in row] for row in book[title].iter_rows(min_row=2)]
        body, total = values[:-1], values[-1]  # body[0]: the header row
        assert total[0] == "合计" and total[1:first_count] == [None] * (first_count - 1)
        assert book[title].cell(book[title].max_row, 1).font.bold
        for index in range(first_count, len(total)):
            assert total[index] == sum(row[index] for row in body[1:]), (title, body[0][index])
    results = [[c.value for c in row] for row in book["考核结果统计"].iter_rows(min_row=3)]
    assert results[-1][3] == 7  # 人数
    progress = [[c.value for c in row] for row in book["考核进度统计"].iter_rows(min_row=3)]
    assert progress[-1][13] == 7  # seven doctors in all
    # A count is a number the office can add up again, never text.
    assert all(isinstance(v, int) for v in progress[-1][2:])


# -- the command ------------------------------------------------------------------------------------------


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    db = tmp_path / "counted.db"
    make_engine(str(db), [doctor_cmd("D1", "H1"), doctor_cmd("D2", "H3", serial=2)]).close()
    engine = renew_fsm.open(str(db))
    engine.fire("D1", "enroll", H1, at=at("2021-04-20"))
    engine.close()
    return db


def test_stats_prints_both_screens(stored: Path) -> None:
    result = cli("stats", "--db", str(stored), "--by", "county")
    assert result.returncode == 0, result.stderr
    assert "考核进度统计（按区县）" in result.stdout and "考核结果统计（按考核程序）" in result.stdout
    assert "青秀区" in result.stdout and "秀峰区" in result.stdout


def test_stats_writes_a_workbook_by_default_named_stats_xlsx(stored: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    result = cli("stats", "--db", str(stored), "--format", "xlsx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    book = load_workbook(tmp_path / "stats.xlsx")
    progress = [[c.value for c in row] for row in book["考核进度统计"].iter_rows(min_row=3)]
    assert {row[0]: row[13] for row in progress} == {"NN": 1, "GL": 1, "合计": 2}


def test_stats_writes_two_csv_files_next_to_out(stored: Path, tmp_path: Path) -> None:
    result = cli("stats", "--db", str(stored), "--format", "csv", "--out", str(tmp_path / "gx.csv"))
    assert result.returncode == 0, result.stderr
    progress = list(csv.reader(io.StringIO((tmp_path / "gx.progress.csv").read_text(encoding="utf-8-sig"))))
    results = list(csv.reader(io.StringIO((tmp_path / "gx.results.csv").read_text(encoding="utf-8-sig"))))
    assert progress[0][:2] == ["市编号", "市名称"] and results[0][:4] == ["市编号", "市名称", "考核程序", "人数"]
    assert sum(int(row[-1]) for row in progress[1:]) == 2
    assert sum(int(row[3]) for row in results[1:]) == 2


@pytest.mark.parametrize(
    ("option", "value", "says"), [("--by", "hospital", "--by is one of"), ("--format", "pdf", "--format is table")]
)
def test_stats_refuses_an_unknown_option_value(stored: Path, option: str, value: str, says: str) -> None:
    result = cli("stats", "--db", str(stored), option, value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert says in result.stderr


def test_stats_at_a_day_counts_the_cycle_as_it_stood_then(stored: Path) -> None:
    """D1 was enrolled on 04-20: at the end of 04-19 nobody is; a bad day is a usage error."""
    before = cli("stats", "--db", str(stored), "--at", "2021-04-19", "--format", "json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["by_state"] == {"not_enrolled": 2}
    assert json.loads(before.stdout)["at_end_of"] == "2021-04-19"
    after = cli("stats", "--db", str(stored), "--at", "2021-04-20", "--format", "json", "--by", "practice_category")
    assert json.loads(after.stdout)["by_state"] == {"enrolled": 1, "not_enrolled": 1}
    bad = cli("stats", "--db", str(stored), "--at", "2021-02-30")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "is not a day" in bad.stderr
    last = cli("stats", "--db", str(stored), "--at", "9999-12-31")
    assert last.returncode == 2 and "Traceback" not in last.stderr and "last day" in last.stderr
    far = cli("stats", "--db", str(stored), "--at", "9999-12-30", "--format", "json")
    assert far.returncode == 0 and json.loads(far.stdout)["by_state"] == {"enrolled": 1, "not_enrolled": 1}


def test_stats_on_a_database_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    result = cli("stats", "--db", str(tmp_path / "missing.db"))
    assert result.returncode == 1
    assert "no database" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
