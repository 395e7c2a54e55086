"""Papers a person is handed (result notices, application forms): one Jinja2 template, two outputs.

The same template gives the HTML page and, through WeasyPrint, the PDF: a
province that edits the template (``--template FILE``) changes both at once,
and the two can never drift apart.

The PDF embeds its Chinese font: Noto Serif SC from the ``pylopdf-fonts-zh-cn``
package (SIL OFL).  A reader that lacks the font — a county office's old
Windows, a phone — shows the notice as printed; an unembedded CID font is
replaced by whatever the reader has, or by blanks.  The font is cut down to the
characters the pages use before WeasyPrint reads it: the whole font is 11 MB
of outlines, and parsing it for every page is what would make a PDF slow.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from .errors import BAD_INPUT, Refused

#: The family the shipped templates name first; the PDF maps it to the embedded font.
FONT_FAMILY = "Noto Serif SC"
#: Characters every page may need whatever its content (digits, Latin letters for ids, punctuation).
_ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F)) + "　，。：；、（）〔〕《》「」“”—…·年月日号"

PDF_MISSING = "PDF output needs WeasyPrint and the packaged font: pip install 'renew_fsm[pdf]' (or write .html)"


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    # StrictUndefined: a province's template that names a field we do not have (a typo) is
    # refused with the name, rather than printing a blank where the doctor's data should be.
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _packaged() -> jinja2.Environment:
    return _environment(jinja2.PackageLoader("renew_fsm", "templates"))


def template(name: str, override: str | Path | None = None) -> jinja2.Template:
    """The packaged template ``name``, or the province's own file ``override`` in its place."""
    if override is None:
        return _packaged().get_template(name)
    path = Path(override)
    if not path.exists():
        raise Refused(BAD_INPUT, f"no template file {path}", message_zh=f"模板文件 {path} 不存在")
    if path.is_dir():
        raise Refused(BAD_INPUT, f"template {path} is a folder, not a file", message_zh=f"{path} 是文件夹")
    # Loaded by its own folder's loader, so that errors name the file (and an {% include %} of a
    # file beside it works).
    env = _environment(jinja2.FileSystemLoader(str(path.resolve().parent)))
    try:
        return env.get_template(path.name)
    except UnicodeDecodeError:
        raise Refused(BAD_INPUT, f"template {path} is not UTF-8 text", message_zh=f"模板 {path} 不是 UTF-8") from None
    except jinja2.TemplateSyntaxError as exc:
        raise Refused(
            BAD_INPUT,
            f"template {path}, line {exc.lineno}: {exc.message}",
            message_zh=f"模板 {path} 第 {exc.lineno} 行有误：{exc.message}",
        ) from None


def render(tpl: jinja2.Template, **context: Any) -> str:
    """The page as HTML; a template naming something the page does not have is refused by name."""
    try:
        return tpl.render(**context)
    except jinja2.UndefinedError as exc:
        where = f"template {tpl.filename}" if tpl.filename else "the template"
        raise Refused(
            BAD_INPUT,
            f"{where} names what the page does not have: {exc.message}",
            message_zh=f"模板引用了不存在的字段：{exc.message}",
        ) from None
    except jinja2.TemplateError as exc:
        raise Refused(BAD_INPUT, f"template: {exc}", message_zh=f"模板有误：{exc}") from None


def font_path() -> Path:
    """The embedded font's file (raises ``ImportError`` when the ``pdf`` extra is not installed)."""
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.serif_path())


def to_pdfs(pages: Sequence[str], base_url: str | None = None) -> list[bytes]:
    """Each HTML page as a PDF, every one embedding the font (cut once to the characters of all of them).

    A batch (an institution's notices) pays for cutting the font once; each page
    then costs WeasyPrint's layout alone.  ``base_url`` is where relative links of the
    template resolve (a province's emblem beside its template file).
    """
    if not pages:
        return []
    import weasyprint
    from fontTools import subset
    from weasyprint.text.fonts import FontConfiguration

    source = font_path()
    with tempfile.TemporaryDirectory(prefix="renew-fsm-font-") as scratch:
        cut = Path(scratch) / "notice-serif.otf"
        options = subset.Options()
        options.notdef_outline = True
        options.name_IDs = ["*"]  # keep the family name a PDF reader shows in its font list
        cutter = subset.Subsetter(options)
        cutter.populate(text="".join(sorted(set(_ALWAYS).union(*pages))))
        font = subset.load_font(str(source), options)
        try:
            cutter.subset(font)
            subset.save_font(font, str(cut), options)
        finally:
            font.close()
        fonts = FontConfiguration()
        face = weasyprint.CSS(
            string=f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{cut.as_uri()}"); }}', font_config=fonts
        )
        return [
            weasyprint.HTML(string=page, base_url=base_url).write_pdf(stylesheets=[face], font_config=fonts)
            for page in pages
        ]


def to_pdf(page: str, base_url: str | None = None) -> bytes:
    return to_pdfs([page], base_url)[0]
