"""``renew-fsm results``: the result list of a region (合格名单 / 不合格名单, art. 25)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..results import RESULT_COLUMN, result_list, to_xlsx
from ..stats import to_csv
from .common import DB_HELP, app, choose_db, console, out_path, write
from .store import open_existing

#: Columns the terminal shows (the CSV and the workbook keep them all).
SHOWN = ("医师编号", "姓名", "执业类别", "卫生机构", "考核程序", "考核结果", "不合格原因", "结果日期")


@app.command()
def results(
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    region: Annotated[
        str | None,
        typer.Option(help="仅该行政区划（含下级）的医师 / Only the doctors of this region's subtree (a region id)"),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="输出格式 / table, csv or xlsx")] = "table",
    out: Annotated[
        str | None,
        typer.Option(help="输出文件 / Write here (a folder: results.csv or results.xlsx in it); xlsx: results.xlsx"),
    ] = None,
) -> None:
    """The result list (考核结果名单): one row per doctor with result, reason, program and dates."""
    if format not in ("table", "csv", "xlsx"):
        raise typer.BadParameter("--format is table, csv or xlsx")
    target = out_path(out, f"results.{'txt' if format == 'table' else format}") if out is not None else None
    engine = open_existing(choose_db(db))
    try:
        sheet = result_list(engine, region)
        if format == "xlsx":
            path = target or Path("results.xlsx")
            write(path, lambda p: to_xlsx(engine, sheet, p, region), " (sheets: 考核结果名单, 合格名单, 不合格名单)")
            return
    finally:
        engine.close()
    if format == "csv":
        text = to_csv(sheet)
        if target is None:
            print(text, end="")
        else:
            write(target, lambda p: p.write_text(text, encoding="utf-8-sig"))
        return
    table = Table(title=f"考核结果名单{f'（{region}）' if region else ''}：{len(sheet.rows)} 人")
    index = [sheet.headers.index(h) for h in SHOWN]
    for header in SHOWN:
        table.add_column(header)
    for row in sheet.rows:
        table.add_row(*(str(row[i]) for i in index))
    counts: dict[str, int] = {}
    for row in sheet.rows:
        counts[str(row[RESULT_COLUMN])] = counts.get(str(row[RESULT_COLUMN]), 0) + 1
    summary = "；".join(f"{k} {v}" for k, v in counts.items())
    if target is None:
        console.print(table)
        console.print(summary, markup=False, highlight=False)
    else:
        from .simulate import _plain

        text = _plain(table) + summary + "\n"
        write(target, lambda p: p.write_text(text, encoding="utf-8"))
