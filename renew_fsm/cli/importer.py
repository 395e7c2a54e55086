"""``renew-fsm import institutions|doctors FILE``: load the registration system's CSV exports.

Exit status: 0 every row is in the store (imported now or already there);
1 the good rows were imported and some rows were not (the report lists each
with its line, field and reason); 2 nothing was imported: the file could not
be read at all (encoding, header, not a CSV), or the store is not ready for
it (no database there; no regions for institutions, no institutions for doctors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..importer import IMPORTERS, CsvFileError, Report
from .common import DB_HELP, app, choose_db, console, err, fail, missing, open_db
from .store import no_database

import_app = typer.Typer(
    name="import",
    help="Import institutions or doctors from a CSV export (UTF-8, or GB18030 from a Chinese Excel).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

FileArg = Annotated[Path, typer.Argument(help="The CSV file", exists=True, dir_okay=False, readable=True)]
DbOpt = Annotated[str | None, typer.Option(help=DB_HELP)]
#: What each import needs in the store already, and the step of the guide that puts it there.
PROVINCE = "renew-fsm replay province.jsonl"
NEEDS = {
    "institutions": ("regions", f"load the province's regions and policy first: {PROVINCE}"),
    "doctors": ("institutions", "import the institutions first: renew-fsm import institutions institutions.csv"),
}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as one JSON object")]


def _run(kind: str, file: Path, db: str | None, as_json: bool) -> None:
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
        report = IMPORTERS[kind](engine, file)
    except CsvFileError as exc:
        err.print(f"{file}: {exc}; nothing was imported", markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.close()
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: Report) -> None:
    console.print(
        f"{report.file} ({report.encoding}): {len(report.imported)} {report.kind} imported, "
        f"{len(report.skipped)} already present, {len(report.conflicts)} conflict(s), "
        f"{len(report.rejected)} rejected",
        markup=False,
        highlight=False,
    )
    if report.ignored_columns:
        console.print(f"ignored column(s): {', '.join(report.ignored_columns)}", markup=False, highlight=False)
    for title, problems in (("rejected rows", report.rejected), ("conflicts with the store", report.conflicts)):
        if not problems:
            continue
        table = Table(title=f"{len(problems)} {title}")
        for column in ("line", "id", "field", "why"):
            table.add_column(column)
        for p in problems:
            table.add_row(str(p.line), p.id, p.field, p.why)
        console.print(table)


@import_app.command("institutions")
def institutions(file: FileArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Institutions: columns id, region, name, kind (regions must exist already)."""
    _run("institutions", file, db, as_json)


@import_app.command("doctors")
def doctors(file: FileArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Doctors: columns id, institution, name, id_card, license, birth_date, practice_since, record; and
    optionally sex, qualification_no, license_no, practice_category."""
    _run("doctors", file, db, as_json)
