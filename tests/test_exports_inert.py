"""Exports are inert: a name that looks like a formula reaches every CSV and XLSX as plain text.

A doctor or an institution registered as ``=HYPERLINK("http://x","y")`` must not
become a live link (or worse) in the spreadsheet an office opens: each CSV cell
starting as a formula carries OWASP's leading ``'``, and no XLSX cell is a
formula (openpyxl's ``data_type`` ``'f'``) — through the statistics (library and
``renew-fsm stats``) and the exam-progress export (CSV and XLSX downloads).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from clirun import cli
from conftest import CITY, EXAM, at, doctor_cmd, make_engine, to_testing
from openpyxl import load_workbook

import renew_fsm
from renew_fsm import Actor
from renew_fsm.cells import csv_writer, inert, xlsx_cell, xlsx_row
from renew_fsm.stats import compute, to_csv, to_xlsx

#: One of each start OWASP names: a formula, a sign, an at-sign, a tab and a carriage return.
FORMULAS = ('=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1")


def formula_cells(path_or_bytes: Path | bytes) -> list[tuple[str, str, Any]]:
    """Every cell openpyxl reads as a formula: (sheet, coordinate, value)."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    book = load_workbook(source)
    return [
        (ws.title, cell.coordinate, cell.value)
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]


def xlsx_texts(path_or_bytes: Path | bytes) -> set[str]:
    """The workbook's text cells, with a carriage return read back as XML reads one (a line feed)."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    book = load_workbook(source)
    return {c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]


def assert_inert_csv(text: str, names: tuple[str, ...]) -> None:
    cells = csv_cells(text)
    for name in names:
        assert "'" + name in cells, f"{name!r} is not in the CSV as inert text"
    live = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert live == [], f"cells a spreadsheet would run: {live}"


# -- the helper ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_starting_as_a_formula_gets_a_leading_quote(text: str) -> None:
    assert inert(text) == "'" + text
    assert inert(inert(text)) == inert(text), "made inert twice is made inert once"


@pytest.mark.parametrize("value", ["青秀区人民医院", "D0001", "", "'=quoted already", "a=b", 7, -2, 3.5, None])
def test_text_that_is_no_formula_and_real_numbers_are_left_as_they_are(value: Any) -> None:
    assert inert(value) == value and type(inert(value)) is type(value)


def test_the_helper_writes_text_cells_and_keeps_numbers_numbers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    xlsx_row(ws, ["=1+1", "#N/A", -2, 3.5])
    xlsx_cell(ws, 2, 1, "@SUM(A1)")
    xlsx_cell(ws, 2, 2, 42)
    path = tmp_path / "cells.xlsx"
    book.save(path)
    ws = load_workbook(path).active
    assert [(c.value, c.data_type) for c in ws[1]] == [("'=1+1", "s"), ("#N/A", "s"), (-2, "n"), (3.5, "n")]
    assert [(c.value, c.data_type) for c in ws[2][:2]] == [("'@SUM(A1)", "s"), (42, "n")]
    out = io.StringIO()
    csv_writer(out, lineterminator="\n").writerows([["=1+1", -2], ["+1", "x"]])
    assert out.getvalue() == "'=1+1,-2\n'+1,x\n"
    out = io.StringIO()
    csv_writer(out, lineterminator="\n").writerows([["\r=1", 1], ["next", 2]])
    read = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert read == [["'\r=1", "1"], ["next", "2"]], "a carriage return inside a cell does not split its row"


# -- every export -------------------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> renew_fsm.Engine:
    """Doctors named like formulas at H1, at the tests; institutions named like formulas with a doctor each."""
    doctors = [doctor_cmd(f"D{i}", "H1", name=name, serial=i) for i, name in enumerate(FORMULAS, 1)]
    e = make_engine(str(tmp_path / "hostile.db"), doctors)
    for i, name in enumerate(FORMULAS, 1):
        e.apply({"op": "institution", "id": f"HX{i}", "region": "NN-QX", "name": name})
        e.apply(doctor_cmd(f"X{i}", f"HX{i}", serial=20 + i))
    for i in range(1, len(FORMULAS) + 1):
        to_testing(e, f"D{i}")
    e.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 50}, at=at("2021-06-02"))
    yield e
    e.close()


def test_the_statistics_csv_and_workbook_hold_institution_names_as_text(
    hostile: renew_fsm.Engine, tmp_path: Path
) -> None:
    stats = compute(hostile, by="institution")
    assert {row[1] for row in stats.progress.rows} >= set(FORMULAS), "the names are in the figures"
    for sheet in (stats.progress, stats.results):
        assert_inert_csv(to_csv(sheet), FORMULAS)
    path = tmp_path / "stats.xlsx"
    to_xlsx(stats, path)
    assert formula_cells(path) == []
    assert {"'" + name.replace("\r", "\n") for name in FORMULAS} <= xlsx_texts(path)
    counts = [c for c in load_workbook(path).worksheets[0]["C"][2:] if c.value is not None]  # under the title, header
    assert counts and all(c.data_type == "n" for c in counts), "the counts stay numbers"


def test_renew_fsm_stats_writes_inert_csv_and_xlsx(hostile: renew_fsm.Engine, tmp_path: Path) -> None:
    db = hostile.storage.url
    hostile.close()
    result = cli("stats", "--db", db, "--by", "institution", "--format", "xlsx", "--out", "s.xlsx", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert formula_cells(tmp_path / "s.xlsx") == []
    result = cli("stats", "--db", db, "--by", "institution", "--format", "csv", "--out", "s.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for tag in ("progress", "results"):
        assert_inert_csv((tmp_path / f"s.{tag}.csv").read_bytes().decode("utf-8-sig"), FORMULAS)


def test_the_exam_progress_export_holds_doctor_names_as_text(hostile: renew_fsm.Engine) -> None:
    system = Actor("system")
    hostile.case_fire("export_request", "X1", "request_export", CITY, subject="NN", at=at("2021-06-02"))
    hostile.case_fire("export_request", "X1", "produce_export", system, at=at("2021-06-02"))
    text = hostile.download_export("X1", CITY, at=at("2021-06-02")).decode("utf-8-sig")
    assert_inert_csv(text, FORMULAS)
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in rows[1:]] == [f"D{i}" for i in range(1, len(FORMULAS) + 1)]
    workbook = hostile.download_export("X1", CITY, format="xlsx", at=at("2021-06-02"))
    assert formula_cells(workbook) == []
    assert {"'" + name.replace("\r", "\n") for name in FORMULAS} <= xlsx_texts(workbook)
    sheet = load_workbook(io.BytesIO(workbook)).active
    assert sheet["F2"].data_type == "n", "the attempt counts stay numbers"


def test_the_account_export_holds_names_as_text(hostile: renew_fsm.Engine) -> None:
    """所辖机构账户 【导出】: holders (institutions named like formulas) and display names stay text."""
    from renew_fsm.accounts import account_sheet
    from renew_fsm.lists import to_xlsx as list_xlsx

    county = Actor("admin", "NN-QX")
    for i, name in enumerate(FORMULAS, 1):
        hostile.case_fire("account", f"hx{i}", "create_account", county, {"name": name}, subject=f"institution:HX{i}")
    workbook = list_xlsx(account_sheet(hostile, county), "账号列表")
    assert formula_cells(workbook) == []
    assert {"'" + name.replace("\r", "\n") for name in FORMULAS} <= xlsx_texts(workbook)
    header = [c.value for c in load_workbook(io.BytesIO(workbook)).active[1]]
    assert "账号" in header and not any("密" in str(h) or "hash" in str(h).lower() for h in header)
