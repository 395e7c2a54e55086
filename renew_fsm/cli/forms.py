"""``form``: the manual's forms filled from the store (附件1 延期考核申请表), as HTML or PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..forms import deferral_form, to_html, to_pdf
from ..paper import PDF_MISSING
from .common import DB_HELP, app, choose_db, fail, out_path, write
from .store import open_existing

form_app = typer.Typer(
    help="The manual's forms filled from the registry and the history (附件1 延期考核申请表).",
    no_args_is_help=True,
)
app.add_typer(form_app, name="form")


@form_app.command("deferral")
def deferral(
    doctor: Annotated[str, typer.Argument(help="医师编号 / Doctor id")],
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    out: Annotated[
        str | None,
        typer.Option(
            help="输出文件（.pdf 或 HTML） / "
            "Write here; .pdf for a PDF, else HTML (a folder: deferral-<doctor>.html in it)"
        ),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            help="本省的模板（Jinja2），替代随附模板 / "
            "The province's own template (Jinja2) in place of the packaged one"
        ),
    ] = None,
) -> None:
    """附件1 医师定期考核延期考核申请表, filled from the doctor's registry data and deferral request."""
    target = out_path(out, f"deferral-{doctor.replace('/', '_')}.html") if out is not None else None
    engine = open_existing(choose_db(db))
    try:
        content = deferral_form(engine, doctor)
    finally:
        engine.close()
    if target is not None and target.suffix.lower() == ".pdf":
        try:
            pdf = to_pdf(content, template)
        except ImportError:
            fail(PDF_MISSING)
        write(target, lambda p: p.write_bytes(pdf))
        return
    page = to_html(content, template)
    if target is None:
        print(page, end="")
    else:
        write(target, lambda p: p.write_text(page, encoding="utf-8"))
