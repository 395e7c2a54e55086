"""``renew-fsm report``: the cycle report, one HTML file that opens offline."""

from __future__ import annotations

from typing import Annotated

import typer

from ..report import write_report
from .common import DB_HELP, app, choose_db, out_path, write
from .store import open_existing


@app.command()
def report(
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    out: Annotated[
        str, typer.Option(help="输出的 HTML 文件 / The HTML file to write (a folder: cycle-report.html in it)")
    ] = "cycle-report.html",
) -> None:
    """The cycle report (周期报告): both statistics screens, the stages day by day across the windows, refusals."""
    # Where it goes is settled before the store is read: a bad --out fails at once.
    target = out_path(out, "cycle-report.html")
    engine = open_existing(choose_db(db))
    try:
        write(target, lambda p: write_report(engine, p))
    finally:
        engine.close()
