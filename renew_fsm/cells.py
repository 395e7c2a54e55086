"""Export cells a spreadsheet shows as text and never runs: the one helper every CSV and XLSX writer uses.

A doctor's, an institution's or a region's name is typed by whoever registered
it.  Opened in Excel or LibreOffice, a CSV cell or an XLSX string beginning
with ``=`` (``=HYPERLINK("http://…", "查看")``), ``+``, ``-`` or ``@`` is read as a
formula, and a leading tab or carriage return lets one through some importers
too.  OWASP's rule for CSV injection: prefix such a cell with ``'``, which the
spreadsheet shows and which makes the rest plain text.

XLSX cells get the same ``'`` as the CSV, and are written as strings
(openpyxl's ``data_type`` ``'s'``), never formulas: a workbook saved again as CSV
by an office, or copied cell by cell into another, keeps the text inert, and
the two exports of one list read the same.  Real numbers (``int``, ``float``)
are left as they are: a count stays a number a spreadsheet can add up.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

#: What a spreadsheet may read as the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """``value`` as a cell that is never a formula: a string starting as one gets a leading ``'``.

    Anything else is returned as it is; a string already made inert is left alone
    (it starts with ``'``), so calling this twice is the same as once.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_row(values: Iterable[Any]) -> list[Any]:
    return [inert(v) for v in values]


class InertWriter:
    """``csv.writer`` whose every cell goes through ``inert`` first.

    A row with a line break inside a cell (a name typed with a carriage return) is
    written with every cell quoted: ``csv.writer`` quotes only the characters of its
    own line terminator, so with ``"\n"`` a bare ``"\r"`` went out unquoted and a
    reader split the row in two there.
    """

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)
        self._quoted = csv.writer(out, **{**options, "quoting": csv.QUOTE_ALL})

    def writerow(self, row: Iterable[Any]) -> Any:
        cells = inert_row(row)
        breaks = any(isinstance(c, str) and ("\r" in c or "\n" in c) for c in cells)
        return (self._quoted if breaks else self._writer).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: Any, **options: Any) -> InertWriter:
    """A writer of inert rows to ``out``; ``options`` as for ``csv.writer``."""
    return InertWriter(out, **options)


def write_csv(out: Any, rows: Iterable[Iterable[Any]], **options: Any) -> None:
    """Every row of ``rows`` to ``out`` as inert CSV."""
    csv_writer(out, **options).writerows(rows)


def xlsx_cell(ws: Any, row: int, column: int, value: Any) -> Any:
    """Set one cell of an openpyxl worksheet to ``inert(value)``, a string cell for any text; the cell."""
    cell = ws.cell(row=row, column=column)
    cell.value = inert(value)
    _as_text(cell)
    return cell


def xlsx_row(ws: Any, values: Iterable[Any]) -> None:
    """Append one row of inert cells to an openpyxl worksheet (what ``ws.append`` does, made safe).

    The cells are made and typed before they are appended: finding the appended row again
    (``ws.max_row``) counts every cell of the sheet, which made a long export quadratic.
    """
    from openpyxl.cell import Cell

    cells = []
    for value in inert_row(values):
        cell = Cell(ws, value=value)
        _as_text(cell)
        cells.append(cell)
    ws.append(cells)


def _as_text(cell: Any) -> None:
    # openpyxl types a string by its first character ('=' a formula, '#N/A' an error): text is text.
    if isinstance(cell.value, str):
        cell.data_type = "s"
