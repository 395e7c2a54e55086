"""``renew-fsm import institutions|doctors FILE``: load the registration system's exports (CSV or .xlsx).

Exit status: 0 every row is in the store (imported now or already there);
1 the good rows were imported and some rows were not (each with its line,
field and reason in the rejects file, an Excel workbook beside FILE unless
``--rejects`` says otherwise); 2 nothing was imported: the file could not be
read at all (encoding, header, not a CSV or workbook), or the store is not
ready for it (no database there; no regions for institutions, no institutions
for doctors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..importer import IMPORTERS, REJECT_FORMATS, CsvFileError, Report, rejects_path, write_rejects
from .common import DB_HELP, app, choose_db, console, err, fail, missing, open_db
from .store import _counting_bar, no_database

import_app = typer.Typer(
    name="import",
    help="导入卫生机构或医师 / import institutions or doctors from an export: "
    ".xlsx, or CSV (UTF-8, or GB18030 from a Chinese Excel); "
    "English or Chinese headers.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

FileArg = Annotated[
    Path, typer.Argument(help="CSV 或 .xlsx 文件 / The CSV or .xlsx file", exists=True, dir_okay=False, readable=True)
]
DbOpt = Annotated[str | None, typer.Option(help=DB_HELP)]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="未导入的行及原因写入该文件 / "
        "write the rows not imported, with their reasons, here (.xlsx or .csv; default: FILE's name "
        "with .rejects.xlsx, beside it)",
        dir_okay=False,
    ),
]
#: What each import needs in the store already, and the step of the guide that puts it there.
PROVINCE = "renew-fsm replay province.jsonl"
NEEDS = {
    "institutions": ("regions", f"load the province's regions and policy first: {PROVINCE}"),
    "doctors": ("institutions", "import the institutions first: renew-fsm import institutions institutions.csv"),
}
JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出报告 / Print the report as one JSON object")]
#: Problems shown on the screen; the rejects file holds them all.
SHOWN = 5
#: Rows from which the import shows a bar while it checks them.
PROGRESS_FROM = 5000


def _run(kind: str, file: Path, db: str | None, as_json: bool, rejects: Path | None) -> None:
    target = rejects if rejects is not None else rejects_path(file)
    # Settled before anything is read or written: the rows to correct must have somewhere to go.
    if target.suffix.lower() not in REJECT_FORMATS:
        fail(f"--rejects {target}: the rejects file is .xlsx (Excel) or .csv (CSV with a byte-order mark)", 2)
    if not target.parent.is_dir():
        fail(f"--rejects {target}: there is no folder {target.parent}; create it first", 2)
    url = choose_db(db)
    # Into a store that does not exist, or has none of what the rows point to, every row would
    # be rejected one by one ("no institution 'H1'") after an empty database had been made.
    needed, step = NEEDS[kind]
    if missing(url) is not None:
        fail(no_database(url, f" (a new store starts with the regions and policy: {PROVINCE} --db {url})"), 2)
    engine = open_db(url, create=False)
    try:
        world = engine.world()
        if not getattr(world, needed):
            fail(f"{url} holds no {needed} yet, so every row would be rejected; {step} --db {url}", 2)
        with _counting_bar(f"checking {kind}") as bar:
            task = bar.add_task("rows", total=None, visible=False)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, visible=total >= PROGRESS_FROM)

            report = IMPORTERS[kind](engine, file, progress=progress)
    except CsvFileError as exc:
        err.print(f"{file}: {exc}; nothing was imported", markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.close()
    written = write_rejects(report, target) if not report.ok else None
    if as_json:
        payload = report.as_dict() | {"rejects_file": str(written) if written else None}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print(report, written)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: Report, rejects: Path | None) -> None:
    """One line for the whole file, where the rows to correct went, and the first few of them."""
    line = (
        f"{report.file} ({report.encoding}): {len(report.imported)} {report.kind} imported, "
        f"{len(report.skipped)} already present, {len(report.conflicts)} conflict(s), "
        f"{len(report.rejected)} rejected"
    )
    console.print(line + (f"; rows to correct in {rejects}" if rejects else ""), markup=False, highlight=False)
    if report.ignored_columns:
        console.print(f"ignored column(s): {', '.join(report.ignored_columns)}", markup=False, highlight=False)
    problems = sorted([*report.rejected, *report.conflicts], key=lambda p: p.line)
    for p in problems[:SHOWN]:
        console.print(f"  line {p.line} {p.id} {p.field}: {p.why}", markup=False, highlight=False)
    if len(problems) > SHOWN:
        console.print(f"  … and {len(problems) - SHOWN} more in {rejects}", markup=False, highlight=False)


@import_app.command("institutions")
def institutions(file: FileArg, db: DbOpt = None, as_json: JsonOpt = False, rejects: RejectsOpt = None) -> None:
    """Institutions: columns id, region, name, kind (编号, 行政区划, 名称, 类型); regions must exist already."""
    _run("institutions", file, db, as_json, rejects)


@import_app.command("doctors")
def doctors(file: FileArg, db: DbOpt = None, as_json: JsonOpt = False, rejects: RejectsOpt = None) -> None:
    """Doctors: columns id, institution, name, id_card, license, birth_date, practice_since, record (编号, 机构,
    姓名, 身份证号, 医师类别, 出生日期, 执业日期, 行为记录); and optionally sex, qualification_no, license_no,
    practice_category (性别, 资格证书编号, 执业证书编号, 执业类别)."""
    _run("doctors", file, db, as_json, rejects)
