"""CSV import of the registration system's exports: good rows in, bad rows reported, reruns harmless.

The library (``renew_fsm.importer``) runs on every backend; the command line
(``renew-fsm import``) on SQLite and PostgreSQL, where a second process can
open the store.
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
from conftest import WORLD

import renew_fsm
from renew_fsm.idcard import make
from renew_fsm.importer import REJECT_COLUMNS, CsvFileError, import_doctors, import_institutions, write_rejects

REGIONS = [cmd for cmd in WORLD if cmd["op"] == "region"]
POLICY = {"op": "policy", "name": "guangxi-2019-2020"}

INSTITUTIONS = """id,region,name,kind
H1,NN-QX,青秀区人民医院,institution
H2,NN-XN,兴宁区人民医院,
ORG,GX,广西医师协会,industry_org
H4,NOWHERE,不存在区医院,institution
H5,NN-QX,,institution
H6,NN-QX,某医院,hospital
"""


def card(born: str, serial: int) -> str:
    return make("450103", dt.date.fromisoformat(born), serial)


def doctors_csv() -> str:
    good_1 = f"D1,H1,李明,{card('1966-05-02', 1)},physician,1966-05-02,1990-09-01,good"
    good_2 = f"D2,H1,王芳,{card('1975-08-20', 2)},执业助理医师,1975/8/20,2001/7/1,无"
    good_3 = f"D3,H2,张伟,{card('1980-01-15', 3)},physician,19800115,20050901,none"
    return "\n".join(
        [
            "id,institution,name,id_card,license,birth_date,practice_since,record,phone",
            good_1,
            good_2,
            f"D4,H1,赵强,{card('1970-03-01', 4)[:-1]}0,physician,1970-03-01,1995-09-01,good",  # check digit
            f"D5,H9,钱军,{card('1971-03-01', 5)},physician,1971-03-01,1995-09-01,good",  # no such institution
            f"D6,H1,孙丽,{card('1972-03-01', 6)},surgeon,1972-03-01,1995-09-01,good",  # licence
            f"D7,H1,周杰,{card('1973-03-01', 7)},physician,1973-02-30,1995-09-01,good",  # no such date
            good_3,
            f"D8,H1,吴敏,{card('1974-03-01', 8)},physician,1974-03-01,1970-09-01,good",  # practice before birth
            f"D9,H1,郑浩,{card('1966-05-02', 1)},physician,1966-05-02,1990-09-01,good",  # D1's id card
            good_1,  # D1 again, the same: harmless
            f"D1,H2,李明,{card('1966-05-02', 1)},physician,1966-05-02,1990-09-01,good",  # D1 again, another hospital
            "",
        ]
    )


def setup(url: str) -> renew_fsm.Engine:
    engine = renew_fsm.open(url)
    for cmd in [*REGIONS, POLICY]:
        engine.apply(cmd)
    return engine


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_institutions_import_the_good_rows_and_report_each_bad_one(url: str, tmp_path: Path) -> None:
    engine = setup(url)
    report = import_institutions(engine, write(tmp_path, "inst.csv", INSTITUTIONS))
    assert sorted(report.imported) == ["H1", "H2", "ORG"]
    assert [(p.line, p.id, p.field) for p in report.rejected] == [
        (5, "H4", "region"),
        (6, "H5", "name"),
        (7, "H6", "kind"),
    ]
    world = engine.world()
    assert world.institutions["H2"].kind == "institution" and world.institutions["ORG"].kind == "industry_org"
    assert "H4" not in world.institutions
    again = import_institutions(engine, write(tmp_path, "inst.csv", INSTITUTIONS))
    assert again.imported == [] and sorted(again.skipped) == ["H1", "H2", "ORG"]
    changed = import_institutions(engine, write(tmp_path, "moved.csv", "id,region,name\nH1,NN-XN,青秀区人民医院\n"))
    assert [(p.line, p.id, p.field) for p in changed.conflicts] == [(2, "H1", "region")]
    assert engine.world().institutions["H1"].region == "NN-QX"  # a conflict never overwrites
    engine.close()


def test_doctors_import_the_good_rows_report_each_bad_one_and_a_rerun_imports_nothing_twice(
    url: str, tmp_path: Path
) -> None:
    engine = setup(url)
    import_institutions(engine, write(tmp_path, "inst.csv", INSTITUTIONS))
    path = write(tmp_path, "doctors.csv", doctors_csv())
    report = import_doctors(engine, path)
    assert sorted(report.imported) == ["D1", "D2", "D3"]
    assert report.skipped == ["D1"]  # line 11 repeats line 2
    assert [(p.line, p.id, p.field) for p in report.rejected] == [
        (4, "D4", "id_card"),
        (5, "D5", "institution"),
        (6, "D6", "license"),
        (7, "D7", "birth_date"),
        (9, "D8", "practice_since"),
        (10, "D9", "id_card"),
        (12, "D1", "id"),
    ]
    assert all(p.why for p in report.rejected)
    assert report.ignored_columns == ["phone"]
    assert sorted(engine.instances()) == ["D1", "D2", "D3"]
    d2 = engine.storage.get_doctor("D2")
    assert (d2.license, d2.record, d2.birth_date) == ("assistant", "none", dt.date(1975, 8, 20))
    assert engine.state("D1").state == "not_enrolled"  # each doctor has an instance of the cycle
    history_before = engine.storage.count_history(engine.cycle)

    rerun = import_doctors(engine, path)
    assert rerun.imported == []
    assert sorted(rerun.skipped) == ["D1", "D1", "D2", "D3"]
    assert [(p.line, p.field) for p in rerun.rejected] == [(p.line, p.field) for p in report.rejected]
    assert sorted(engine.instances()) == ["D1", "D2", "D3"]
    assert engine.storage.count_history(engine.cycle) == history_before

    lines = doctors_csv().splitlines()
    moved = write(tmp_path, "moved.csv", "\n".join([lines[0], lines[11]]))
    conflict = import_doctors(engine, moved)
    assert [(p.line, p.id, p.field) for p in conflict.conflicts] == [(2, "D1", "institution")]
    assert engine.storage.get_doctor("D1").institution == "H1"
    engine.close()


def test_a_gb18030_export_from_a_chinese_excel_and_a_utf8_bom_both_read(tmp_path: Path) -> None:
    engine = setup("memory:")
    report = import_institutions(engine, write(tmp_path, "gbk.csv", INSTITUTIONS, "gb18030"))
    assert report.encoding == "gb18030" and engine.world().institutions["H1"].name == "青秀区人民医院"
    bom = import_institutions(engine, write(tmp_path, "bom.csv", INSTITUTIONS, "utf-8-sig"))
    assert bom.encoding == "utf-8" and sorted(bom.skipped) == ["H1", "H2", "ORG"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"id,name\nH1,x\n", "missing column(s) region"),
        ("代码,地方,医院\nH1,NN-QX,医院\n".encode(), "missing column(s) id (编号), region (行政区划), name (名称)"),
        (b"PK\x03\x04\x00\x00binary", "not a readable Excel workbook (.xlsx)"),
        (b"\x00\x01binary", "NUL"),
        (b"id,region,name\n\xff\xfe\xfa\xfb\x81\x30,NN,x\n", "neither UTF-8 nor GB18030"),
        (b"id,region,name,region\nH1,NN-QX,x,NN-QX\n", "appear twice"),
    ],
)
def test_a_hostile_file_is_refused_whole(tmp_path: Path, content: bytes, says: str) -> None:
    engine = setup("memory:")
    with pytest.raises(CsvFileError) as refused:
        import_institutions(engine, write_bytes(tmp_path, content))
    assert says in str(refused.value)
    assert engine.world().institutions == {}


def write_bytes(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    return path


def test_nothing_is_half_imported_when_the_batch_fails(tmp_path: Path) -> None:
    """A store that refuses the batch (here: a doctor added meanwhile with other details) keeps none of it."""
    engine = setup(str(tmp_path / "race.db"))
    import_institutions(engine, write(tmp_path, "inst.csv", INSTITUTIONS))
    path = write(tmp_path, "doctors.csv", doctors_csv())
    original = engine.add_doctors

    def racing(ops: list) -> list[str]:  # type: ignore[type-arg]
        other = renew_fsm.open(str(tmp_path / "race.db"))
        other.apply(
            {
                "op": "doctor",
                "id": "D3",
                "institution": "H2",
                "name": "另一个张伟",
                "id_card": card("1980-01-15", 3),
                "license": "physician",
                "birth_date": "1980-01-15",
                "practice_since": "2005-09-01",
                "record": "none",
            }
        )
        other.close()
        return original(ops)

    engine.add_doctors = racing  # type: ignore[method-assign]
    with pytest.raises(renew_fsm.Refused) as refused:
        import_doctors(engine, path)
    assert refused.value.code == "conflict"
    assert engine.instances() == ["D3"]  # only the other writer's doctor: D1 and D2 did not go in
    engine.close()


# -- the command line ---------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_command_imports_reports_and_exits_by_outcome(sql_url: str, tmp_path: Path) -> None:
    setup(sql_url).close()
    inst = write(tmp_path, "inst.csv", INSTITUTIONS, "gb18030")
    first = cli("import", "institutions", str(inst), "--db", sql_url)
    assert first.returncode == 1, first.stderr  # three rows were rejected
    assert "3 institutions imported" in first.stdout and "(gb18030)" in first.stdout
    assert "NOWHERE" in first.stdout and "Traceback" not in first.stdout + first.stderr
    good = write(tmp_path, "good.csv", "id,region,name,kind\nH1,NN-QX,青秀区人民医院,institution\n")
    assert cli("import", "institutions", str(good), "--db", sql_url).returncode == 0  # already there: skipped

    docs = write(tmp_path, "doctors.csv", doctors_csv(), "utf-8-sig")
    result = cli("import", "doctors", str(docs), "--db", sql_url, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["imported"] == 3 and report["skipped"] == 1
    assert [(r["line"], r["field"]) for r in report["rejected"]][:2] == [(4, "id_card"), (5, "institution")]
    rerun = json.loads(cli("import", "doctors", str(docs), "--db", sql_url, "--json").stdout)
    assert rerun["imported"] == 0 and rerun["skipped"] == 4


def test_the_command_refuses_a_hostile_file_without_a_traceback(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    setup(db).close()
    for content in (b"id,name\nH1,x\n", b"\x00\x01\x02", b"id,region,name\n\xff\xfe\xfa\xfb,NN,x\n"):
        path = write_bytes(tmp_path, content)
        result = cli("import", "institutions", str(path), "--db", db)
        assert result.returncode == 2, result.stderr
        assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr + result.stdout
    missing = cli("import", "doctors", str(tmp_path / "nope.csv"), "--db", db)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


# -- workbooks, Chinese headers, the rows to correct --------------------------------------------------

ZH_DOCTORS_HEADER = (
    "编号,机构,姓名,身份证号,医师类别,出生日期,执业日期,行为记录,性别,资格证书编号,执业证书编号,执业类别,电话"
)


def zh_doctors_csv() -> str:
    """The registration system's export as a Chinese Excel saves it: Chinese headers and values."""
    return "\n".join(
        [
            ZH_DOCTORS_HEADER,
            f"D1,H1,李明,{card('1966-05-02', 1)},执业医师,1966-05-02,1990-09-01,良好,男,"
            "199045110450103,110450100001001,临床,1",
            f"D2,H1,王芳,{card('1975-08-20', 2)},执业助理医师,1975/8/20,2001/7/1,无,女,,210450100002002,中医,2",
            f"D3,H9,张伟,{card('1980-01-15', 3)},执业医师,1980-01-15,2005-09-01,良好,男,,,,3",  # no such institution
            f"D4,H1,赵强,{card('1970-03-01', 4)},执业医师,1970-03-01,1995-09-01,良好,未知,,,临床,4",  # sex
            "",
        ]
    )


def with_institutions(url: str, tmp_path: Path) -> renew_fsm.Engine:
    engine = setup(url)
    import_institutions(engine, write(tmp_path, "inst.csv", INSTITUTIONS))
    return engine


def assert_the_chinese_export_read(engine: renew_fsm.Engine, report: Any) -> None:
    assert sorted(report.imported) == ["D1", "D2"]
    assert [(p.line, p.id, p.field) for p in report.rejected] == [(4, "D3", "institution"), (5, "D4", "sex")]
    assert report.ignored_columns == ["电话"]
    d1, d2 = engine.storage.get_doctor("D1"), engine.storage.get_doctor("D2")
    assert (d1.sex, d1.practice_category, d1.qualification_no, d1.license_no) == (
        "male",
        "clinical",
        "199045110450103",
        "110450100001001",
    )
    assert (d2.license, d2.record, d2.birth_date, d2.sex, d2.practice_category, d2.qualification_no) == (
        "assistant",
        "none",
        dt.date(1975, 8, 20),
        "female",
        "tcm",
        None,
    )


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig", "utf-8"])
def test_a_chinese_headed_export_reads_in_gb18030_and_in_utf8_with_or_without_bom(
    tmp_path: Path, encoding: str
) -> None:
    engine = with_institutions("memory:", tmp_path)
    report = import_doctors(engine, write(tmp_path, "医师.csv", zh_doctors_csv(), encoding))
    assert report.encoding == ("gb18030" if encoding == "gb18030" else "utf-8")
    assert_the_chinese_export_read(engine, report)
    engine.close()


def workbook(tmp_path: Path, rows: list[list[Any]], name: str = "doctors.xlsx") -> Path:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def test_an_xlsx_export_reads_its_first_sheet_with_dates_and_numbers_as_excel_keeps_them(
    url: str, tmp_path: Path
) -> None:
    engine = with_institutions(url, tmp_path)
    csv_rows = [line.split(",") for line in zh_doctors_csv().splitlines() if line]
    rows: list[list[Any]] = [csv_rows[0]]
    for values in csv_rows[1:]:
        typed: list[Any] = list(values)
        # Excel keeps a typed date as a date and a number as a number; the id-card number is text.
        typed[5] = dt.datetime.fromisoformat(values[5].replace("/", "-")) if "-" in values[5] else values[5]
        typed[6] = dt.date.fromisoformat(values[6]) if "-" in values[6] else values[6]
        typed[9] = int(values[9]) if values[9] else None
        typed[12] = int(values[12])
        rows.append(typed)
    rows.insert(3, [None] * len(rows[0]))  # an empty row in the middle is skipped, the lines still Excel's
    report = import_doctors(engine, workbook(tmp_path, rows))
    assert report.encoding == "xlsx"
    assert sorted(report.imported) == ["D1", "D2"]
    assert [(p.line, p.id, p.field) for p in report.rejected] == [(5, "D3", "institution"), (6, "D4", "sex")]
    d1 = engine.storage.get_doctor("D1")
    assert (d1.birth_date, d1.practice_since, d1.qualification_no) == (
        dt.date(1966, 5, 2),
        dt.date(1990, 9, 1),
        "199045110450103",
    )
    institutions = workbook(
        tmp_path, [["编号", "行政区划", "名称", "类型"], ["H7", "NN-QX", "七号医院", "卫生机构"]], "i.xlsx"
    )
    assert import_institutions(engine, institutions).imported == ["H7"]
    engine.close()


def test_the_progress_is_told_as_the_rows_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import renew_fsm.importer as importer

    monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
    engine = with_institutions("memory:", tmp_path)
    told: list[tuple[int, int]] = []
    import_doctors(engine, write(tmp_path, "d.csv", zh_doctors_csv()), progress=lambda *a: told.append(a))
    assert told == [(2, 4), (4, 4)]
    engine.close()


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_rows_not_imported_go_to_a_file_to_correct_and_import_again(tmp_path: Path, suffix: str) -> None:
    engine = with_institutions("memory:", tmp_path)
    report = import_doctors(engine, write(tmp_path, "医师.csv", zh_doctors_csv(), "gb18030"))
    rejects = write_rejects(report, tmp_path / f"医师.rejects{suffix}")
    if suffix == ".csv":
        raw = rejects.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens a CSV as UTF-8 only with its byte-order mark
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(rejects).active
        table = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert all(c.data_type == "s" for c in sheet["D"][1:])  # an id-card number stays text
    header, rows = table[0], table[1:]
    assert header == [*ZH_DOCTORS_HEADER.split(","), *REJECT_COLUMNS]
    width = len(ZH_DOCTORS_HEADER.split(","))
    file_rows = [line.split(",") for line in zh_doctors_csv().splitlines()]
    # Each row as the file had it, then where it was and why it did not go in.
    assert [row[:width] for row in rows] == [file_rows[3], file_rows[4]]
    assert [row[width : width + 3] for row in rows] == [
        ["4", "拒绝 rejected", "institution（机构）"],
        ["5", "拒绝 rejected", "sex（性别）"],
    ]
    assert "H9" in rows[0][-1] and "未知" in rows[1][-1]
    # Corrected where they stand, the same file imports: its extra columns are only listed as ignored.
    rows[0][1], rows[1][8] = "H2", "男"
    if suffix == ".csv":
        text = io.StringIO()
        csv.writer(text).writerows([header, *rows])
        corrected = write(tmp_path, "corrected.csv", text.getvalue(), "utf-8-sig")
    else:
        corrected = workbook(tmp_path, [header, *rows], "corrected.xlsx")
    again = import_doctors(engine, corrected)
    assert sorted(again.imported) == ["D3", "D4"] and again.ok
    assert again.ignored_columns == ["电话", *REJECT_COLUMNS]
    engine.close()


def test_the_command_says_where_the_rows_to_correct_are_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    setup(db).close()
    assert cli("import", "institutions", str(write(tmp_path, "inst.csv", INSTITUTIONS)), "--db", db).returncode == 1
    many = [zh_doctors_csv().splitlines()[0]]
    for n in range(10, 40):  # thirty rows at an institution that does not exist
        many.append(f"D{n},H9,医师{n},{card('1970-03-01', n)},执业医师,1970-03-01,1995-09-01,良好,男,,,临床,")
    docs = write(tmp_path, "doctors.csv", "\n".join([*zh_doctors_csv().splitlines(), *many[1:]]), "gb18030")
    result = cli("import", "doctors", str(docs), "--db", db)
    assert result.returncode == 1, result.stderr
    beside = tmp_path / "doctors.rejects.xlsx"
    lines = result.stdout.splitlines()
    assert lines[0].endswith(
        f"2 doctors imported, 0 already present, 0 conflict(s), 32 rejected; rows to correct in {beside}"
    )
    assert len(lines) <= 8 and lines[-1] == f"  … and 27 more in {beside}"  # not a table of every row
    from openpyxl import load_workbook

    assert load_workbook(beside).active.max_row == 33  # the header and the 32 rows
    chosen = cli("import", "doctors", str(docs), "--db", db, "--rejects", str(tmp_path / "fix.csv"), "--json")
    assert json.loads(chosen.stdout)["rejects_file"] == str(tmp_path / "fix.csv")
    assert (tmp_path / "fix.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    # A rejects file that could not be written is refused before anything is imported.
    late = write(
        tmp_path,
        "late.csv",
        ZH_DOCTORS_HEADER
        + f"\nD99,H1,新医师,{card('1971-03-01', 99)},执业医师,1971-03-01,1995-09-01,良好,男,,,临床,\n",
    )
    for bad in ("late.rejects.txt", "no/such/folder/r.xlsx"):
        refused = cli("import", "doctors", str(late), "--db", db, "--rejects", str(tmp_path / bad))
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    clean = cli("import", "doctors", str(late), "--db", db)
    assert clean.returncode == 0 and "rows to correct" not in clean.stdout
    assert not (tmp_path / "late.rejects.xlsx").exists()  # nothing to correct, no file


def test_a_conflict_with_the_store_goes_to_the_rejects_too(tmp_path: Path) -> None:
    engine = with_institutions("memory:", tmp_path)
    import_doctors(engine, write(tmp_path, "d.csv", zh_doctors_csv()))
    moved = zh_doctors_csv().splitlines()[1].replace(",H1,", ",H2,", 1)
    report = import_doctors(engine, write(tmp_path, "moved.csv", f"{ZH_DOCTORS_HEADER}\n{moved}\n"))
    from openpyxl import load_workbook

    sheet = load_workbook(write_rejects(report, tmp_path / "moved.rejects.xlsx")).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:2] == ("D1", "H2") and rows[1][-4:-1] == (2, "冲突 conflict", "institution（机构）")
    assert engine.storage.get_doctor("D1").institution == "H1"  # reported, never overwritten
    engine.close()
