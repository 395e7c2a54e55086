"""考核结果名单 (art. 25): one row per doctor of a region with the result, its reason, the program and days."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from pathlib import Path

import pytest
from conftest import A1, A2, COUNTY, EXAM, PROVINCE, at, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.results import HEADERS, result_list, split, to_xlsx

H3 = Actor("institution", "H3")


def sit(e: renew_fsm.Engine, did: str, agency: Actor, business: float, humanities: float) -> None:
    e.fire(did, "record_score", EXAM, {"test": "business", "score": business}, at=at("2021-06-02"))
    e.fire(did, "record_score", EXAM, {"test": "humanities", "score": humanities}, at=at("2021-06-03"))
    e.fire(did, "grade", agency, at=at("2021-07-01"))


@pytest.fixture
def graded(url: str) -> renew_fsm.Engine:
    """D1 qualified (南宁), D2 unqualified on business and suspended (南宁), D3 registered (南宁),
    D4 qualified (桂林), D5 never enrolled (桂林)."""
    e = make_engine(
        url,
        [
            {
                **doctor_cmd("D1", "H1", serial=1),
                "sex": "female",
                "practice_category": "clinical",
                "license_no": "110450100000001",
            },
            doctor_cmd("D2", "H1", serial=2, license="assistant"),
            doctor_cmd("D3", "H2", serial=3),
            doctor_cmd("D4", "H3", serial=4),
            doctor_cmd("D5", "H3", serial=5),
        ],
    )
    for did in ("D1", "D2"):
        to_testing(e, did)
    to_testing(e, "D4", institution=H3, agency=A2)
    register(e, "D3", Actor("institution", "H2"), A1)
    sit(e, "D1", A1, 75, 80)
    sit(e, "D2", A1, 50, 80)
    sit(e, "D4", A2, 61, 60)
    e.fire("D2", "suspend", COUNTY, {"months": 3}, at=at("2021-08-02"))
    return e


def by_doctor(rows: list[list[object]]) -> dict[object, dict[str, object]]:
    return {row[0]: dict(zip(HEADERS, row, strict=True)) for row in rows}


def test_one_row_per_doctor_with_result_reason_program_and_days(graded: renew_fsm.Engine) -> None:
    sheet = result_list(graded)
    rows = by_doctor(sheet.rows)
    assert list(rows) == ["D1", "D2", "D3", "D4", "D5"]
    d1, d2 = rows["D1"], rows["D2"]
    assert (d1["考核结果"], d1["不合格原因"], d1["考核程序"], d1["结果日期"]) == ("合格", "", "一般程序", "2021-07-01")
    registry = (d1["性别"], d1["执业类别"], d1["执业证书编号"], d1["执业类型"])
    assert registry == ("女", "临床", "110450100000001", "执业医师")
    assert d1["身份证号"] == doctor_cmd("D1", serial=1)["id_card"]
    # Suspended: still on the unqualified list, the day of the result kept, the suspension's days beside it.
    assert (d2["考核结果"], d2["不合格原因"], d2["结果日期"]) == ("再次考核中", "业务水平", "2021-07-01")
    assert (d2["暂停执业起始日"], d2["暂停执业月数"], d2["执业类型"]) == ("2021-08-02", 3, "执业助理医师")
    assert (rows["D3"]["考核结果"], rows["D3"]["结果日期"]) == ("考核中", "")
    assert (rows["D5"]["考核结果"], rows["D5"]["考核程序"]) == ("未纳入本周期", "未选择程序")
    qualified, unqualified = split(sheet)
    assert [r[0] for r in qualified.rows] == ["D1", "D4"] and [r[0] for r in unqualified.rows] == ["D2"]


def test_a_region_lists_the_doctors_of_its_subtree_only(graded: renew_fsm.Engine) -> None:
    assert [r[0] for r in result_list(graded, "GL").rows] == ["D4", "D5"]
    assert [r[0] for r in result_list(graded, "NN-QX").rows] == ["D1", "D2"]
    assert [r[0] for r in result_list(graded, "GX").rows] == ["D1", "D2", "D3", "D4", "D5"]
    with pytest.raises(Refused) as refused:
        result_list(graded, "XX")
    assert refused.value.code == "not_found"


def test_a_cancelled_registration_is_dated_by_the_record_that_cancelled_it(graded: renew_fsm.Engine) -> None:
    graded.fire("D2", "confirm_reexam", PROVINCE, at=at("2021-08-03"))
    graded.sweep("close_reexam", at=at("2021-11-29"))
    row = by_doctor(result_list(graded).rows)["D2"]
    assert (row["考核结果"], row["结果日期"], row["状态"]) == ("注销注册", "2021-11-29", "registration_cancelled")


def test_the_workbook_holds_the_whole_list_and_the_two_reports(graded: renew_fsm.Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    sheet = result_list(graded, "NN")
    to_xlsx(graded, sheet, tmp_path / "results.xlsx", "NN")
    book = load_workbook(tmp_path / "results.xlsx")
    assert book.sheetnames == ["考核结果名单", "合格名单", "不合格名单"]
    values = [[c.value for c in row] for row in book["不合格名单"].iter_rows(min_row=2)]
    assert values[0] == HEADERS and [row[0] for row in values[1:]] == ["D2"]
    assert [c.value for c in book["合格名单"]["A"]][2:] == ["D1"]
    # Above the header, what the list is and where: the region's name (NN is 南宁).
    assert book["不合格名单"]["A1"].value.startswith("不合格名单　南宁　导出时间 ")


# -- the command ------------------------------------------------------------------------------------------


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def test_the_command_prints_writes_csv_and_refuses_an_unknown_region(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    e = make_engine(str(db), [doctor_cmd("D1", "H1", serial=1), doctor_cmd("D2", "H3", serial=2)])
    to_testing(e)
    sit(e, "D1", A1, 40, 80)
    e.close()
    shown = cli("results", "--db", str(db), "--region", "NN")
    assert shown.returncode == 0, shown.stderr
    assert "D1" in shown.stdout and "不合格" in shown.stdout and "D2" not in shown.stdout
    written = cli("results", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "r.csv"))
    assert written.returncode == 0, written.stderr
    parsed = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8-sig"))))
    assert parsed[0] == HEADERS and [row[0] for row in parsed[1:]] == ["D1", "D2"]
    assert parsed[1][HEADERS.index("不合格原因")] == "业务水平"
    book = cli("results", "--db", str(db), "--format", "xlsx", cwd=tmp_path)
    assert book.returncode == 0 and (tmp_path / "results.xlsx").exists()
    unknown = cli("results", "--db", str(db), "--region", "XX")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr and "Traceback" not in unknown.stderr
    bad = cli("results", "--db", str(db), "--format", "pdf")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
