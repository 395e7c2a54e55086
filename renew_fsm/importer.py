"""Import of institutions and doctors, as the national registration system exports them.

A province starts a cycle from the registration system's lists (医师电子化注册
系统): its institutions and its doctors.  Those exports are Excel workbooks or
Excel-CSV — UTF-8 with a byte-order mark, or GB18030 when saved by a Chinese
Excel — headed in Chinese or in English, and they always hold a few bad rows.
So an import:

- reads an ``.xlsx`` workbook (its first sheet), or a CSV in UTF-8 (with or
  without BOM), falling back to GB18030 when the bytes are not UTF-8 (the
  report names the encoding used);
- reads each column by its English name or a Chinese one (``HEADER_NAMES``:
  编号, 机构, 姓名, 身份证号, 性别, 执业类别 …);
- checks every row and reports each bad one with its line, the field and why,
  and ``write_rejects`` puts those rows, as the file had them, with their
  reasons into a workbook (or CSV) to correct and import again;
- writes the good rows in **one transaction**: a failure writes nothing;
- can be run again: rows already in the store unchanged are *skipped*, rows
  whose id is there with other details are *conflicts* (never overwritten —
  a changed registry record is a decision for a person, not a re-import).

Columns (header names, any order, English or Chinese; other columns are ignored and listed):

- institutions: ``id, region, name, kind`` — ``region`` an existing region id;
  ``kind`` ``institution`` (卫生机构, the default when empty) or ``industry_org``
  (行业组织).
- doctors: ``id, institution, name, id_card, license, birth_date, practice_since,
  record`` — ``license`` ``physician``/``assistant`` (or 执业医师/执业助理医师),
  ``record`` ``good``/``none``/``bad`` (or 良好/无/不良), dates as 1961-05-02,
  1961/5/2 or 19610502 — and, when the export has them, ``sex`` (``male``/``female``
  or 男/女), ``qualification_no`` (资格证书编号), ``license_no`` (执业证书编号) and
  ``practice_category`` (执业类别: ``clinical``/``tcm``/``dental``/``public_health``
  or 临床/中医/口腔/公共卫生).  An empty cell of these leaves the field unknown.

A doctor who cannot exist is rejected (born before 1900 or in the future, practising
before 18 or from a future day); an id-card number another stored doctor holds is a
conflict, as is one two rows share.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import idcard
from .cells import csv_writer
from .engine import Engine
from .errors import Refused
from .eventdata import MAX_TEXT
from .model import PRACTICE_CATEGORIES, SEXES
from .ops import ID, DoctorOp, doctor_problem
from .rules.policy import LICENSES, RECORDS
from .stats import put_row
from .world import Institution

INSTITUTION_COLUMNS = ("id", "region", "name", "kind")
#: The registry fields a doctors file may carry or leave out (``Doctor``'s optional fields).
REGISTRY_COLUMNS = ("sex", "qualification_no", "license_no", "practice_category")
DOCTOR_COLUMNS = (
    "id",
    "institution",
    "name",
    "id_card",
    "license",
    "birth_date",
    "practice_since",
    "record",
    *REGISTRY_COLUMNS,
)
#: Columns that may be left out of the header (their default is used).
OPTIONAL = {"kind", *REGISTRY_COLUMNS}
KINDS = {"institution": "institution", "卫生机构": "institution", "industry_org": "industry_org"}
KINDS["行业组织"] = "industry_org"
LICENSE_NAMES = {"physician": "physician", "执业医师": "physician", "assistant": "assistant"}
LICENSE_NAMES["执业助理医师"] = "assistant"
RECORD_NAMES = {"good": "good", "良好": "good", "none": "none", "无": "none", "bad": "bad", "不良": "bad"}
SEX_NAMES = {**{k: k for k in SEXES}, **{zh: k for k, zh in SEXES.items()}}
CATEGORY_NAMES = {**{k: k for k in PRACTICE_CATEGORIES}, **{zh: k for k, zh in PRACTICE_CATEGORIES.items()}}
_DATE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})$")
#: The Chinese headers read as each column, by import: the registration system's and the forms'
#: words (附件1: 身份证号, 医师资格证书编号, 执业/助理证书编号) and a province's own usual ones.  The
#: first of each column is the one the guide shows.
_ZH = {
    "institutions": {
        "id": ("编号", "机构编号", "机构代码"),
        "region": ("行政区划", "区划", "行政区域", "所在地区", "地区"),
        "name": ("名称", "机构名称"),
        "kind": ("类型", "机构类型"),
    },
    "doctors": {
        "id": ("编号", "医师编号", "人员编号"),
        "institution": ("机构", "机构编号", "卫生机构", "执业机构", "所在执业卫生机构"),
        "name": ("姓名",),
        "id_card": ("身份证号", "身份证号码", "证件号码"),
        "license": ("医师类别", "执业级别", "级别"),
        "birth_date": ("出生日期",),
        "practice_since": ("执业日期", "开始执业日期", "执业起始日期", "首次注册日期"),
        "record": ("行为记录", "不良行为记录"),
        "sex": ("性别",),
        "qualification_no": ("资格证书编号", "医师资格证书编号"),
        "license_no": ("执业证书编号", "医师执业证书编号", "执业/助理证书编号"),
        "practice_category": ("执业类别",),
    },
}
#: Header name (as the file has it, lower-cased when ASCII) → column, by import.
HEADER_NAMES: dict[str, dict[str, str]] = {
    kind: {zh: column for column, names in columns.items() for zh in names} for kind, columns in _ZH.items()
}
#: The Chinese header of each column (the first of its names): messages and the guide use it.
COLUMN_ZH: dict[str, dict[str, str]] = {kind: {c: names[0] for c, names in cols.items()} for kind, cols in _ZH.items()}
#: Rows checked between two calls of an import's ``progress``.
PROGRESS_EVERY = 1000
#: An .xlsx file is a ZIP archive: what its first bytes are.
ZIP_MAGIC = b"PK\x03\x04"


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, not a CSV or workbook): nothing was imported."""


@attrs.frozen
class Problem:
    """One row that was not imported: the file's line, the field at fault and why."""

    line: int
    id: str
    field: str
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "field": self.field, "why": self.why}


@attrs.frozen
class Report:
    kind: str
    file: str
    encoding: str
    imported: list[str]
    skipped: list[str]
    rejected: list[Problem]
    conflicts: list[Problem]
    ignored_columns: list[str]
    #: The file's header as it was, and the values of each row reported (by line): what
    #: ``write_rejects`` gives back to correct.
    header: list[str] = attrs.Factory(list)
    problem_rows: dict[int, list[str]] = attrs.Factory(dict)

    @property
    def ok(self) -> bool:
        """Every row of the file is in the store (imported now or before)."""
        return not self.rejected and not self.conflicts

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "encoding": self.encoding,
            "imported": len(self.imported),
            "skipped": len(self.skipped),
            "rejected": [p.as_dict() for p in self.rejected],
            "conflicts": [p.as_dict() for p in self.conflicts],
            "ignored_columns": self.ignored_columns,
        }


# -- reading the file -------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding: UTF-8 (BOM or not), else GB18030 (a Chinese Excel's "CSV")."""
    if b"\x00" in data:
        raise CsvFileError("the file holds NUL bytes: it is neither a CSV text file nor an Excel workbook (.xlsx)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"the file is neither UTF-8 nor GB18030 (byte {exc.start}); save it as CSV UTF-8") from None


@attrs.frozen
class Table:
    """What a file holds: its header as written, the column each header names, and the rows by line."""

    encoding: str
    header: list[str]
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    ignored: list[str]

    def values(self, row: dict[str, str]) -> list[str]:
        """A row's values in the file's column order (what the file had, to give back in the rejects)."""
        return [row.get(c, "") if c else "" for c in self.columns]


def _csv_lines(data: bytes) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    text, encoding = decode(data)
    if not text.strip():
        raise CsvFileError("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))

    def lines() -> Iterator[tuple[int, list[str]]]:
        try:
            for values in reader:
                yield reader.line_num, values
        except csv.Error as exc:
            raise CsvFileError(f"line {reader.line_num}: not a valid CSV row ({exc})") from None

    return encoding, lines()


def _cell_text(value: Any) -> str:
    """A workbook cell as the CSV export would have it: dates as 1961-05-02, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows, numbered as Excel numbers them."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        book.close()
    except Exception as exc:  # whatever the archive holds instead of a workbook: the file's fault, said in one line
        raise CsvFileError(f"not a readable Excel workbook (.xlsx): {exc or type(exc).__name__}") from None
    for number, values in enumerate(rows, 1):
        yield number, [_cell_text(v) for v in values]


def _column(header: str, names: dict[str, str]) -> str:
    """The column a header names: its English id, or the id of its Chinese name ("身份证号" → ``id_card``).
    A required-field mark (``*``) and the spaces around are not part of the name."""
    name = header.strip().lstrip("\ufeff").rstrip("*＊").strip()
    name = name.lower() if name.isascii() else name
    return names.get(name, name)


def read_table(data: bytes, columns: Sequence[str], names: dict[str, str] | None = None) -> Table:
    """The rows of a CSV or ``.xlsx`` file, or ``CsvFileError`` naming what is wrong with the file.

    ``names`` maps Chinese headers to columns (``HEADER_NAMES``); the header is the first row with
    anything in it."""
    if data.startswith(ZIP_MAGIC):
        encoding, lines = "xlsx", _xlsx_lines(data)
    else:
        encoding, lines = _csv_lines(data)
    first = next(((n, v) for n, v in lines if any(x.strip() for x in v)), None)
    if first is None:
        raise CsvFileError("the file is empty")
    header = [h.strip() for h in first[1]]
    keys = [_column(h, names or {}) if h.strip() else "" for h in header]
    missing = [c for c in columns if c not in keys and c not in OPTIONAL]
    if missing:
        zh: dict[str, str] = {}
        for z, c in (names or {}).items():
            zh.setdefault(c, z)  # the first name of each column
        said = [f"{c} ({zh[c]})" if c in zh else c for c in missing]
        raise CsvFileError(
            f"missing column(s) {', '.join(said)}; the header must name {', '.join(columns)} "
            f"(found: {', '.join(h for h in header if h) or 'nothing'})"
        )
    repeated = sorted({k for k in keys if k and keys.count(k) > 1})
    if repeated:
        raise CsvFileError(f"column(s) {', '.join(repeated)} appear twice in the header")
    rows: list[tuple[int, dict[str, str]]] = []
    for line, values in lines:
        if not any(v.strip() for v in values):
            continue
        row = {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(keys) if k}
        if any(v.strip() for v in values[len(keys) :]):
            row["\x00extra"] = "x"
        rows.append((line, row))
    ignored = [h for h, k in zip(header, keys, strict=True) if k and k not in columns]
    return Table(encoding, header, keys, rows, ignored)


def _date(text: str) -> dt.date | None:
    m = _DATE.match(text)
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


# -- institutions -----------------------------------------------------------------------------------


def _institution(line: int, row: dict[str, str], regions: Any) -> Institution | Problem:
    iid = row["id"]

    def bad(name: str, why: str) -> Problem:
        return Problem(line, iid, name, why)

    if "\x00extra" in row:
        return bad("*", "more values than columns in the header")
    if not iid or not ID.match(iid):
        return bad("id", "empty or holds control characters" if not iid else "longer than 64 characters")
    if not row["region"]:
        return bad("region", "empty")
    if row["region"] not in regions:
        return bad("region", f"no region {row['region']!r} in the store: set up the regions first")
    if not row["name"]:
        return bad("name", "empty")
    if len(row["name"]) > MAX_TEXT:  # the `institution` command's limit (``ops``)
        return bad("name", f"longer than {MAX_TEXT} characters")
    kind = KINDS.get(row.get("kind") or "institution")
    if kind is None:
        return bad("kind", f"{row['kind']!r} is not institution (卫生机构) or industry_org (行业组织)")
    return Institution(iid, row["region"], row["name"], kind)


#: An import's progress: (rows checked, rows in the file).
Progress = Callable[[int, int], None]


def _counting(rows: Sequence[Any], progress: Progress | None) -> Iterator[Any]:
    """``rows`` one by one, telling ``progress`` every ``PROGRESS_EVERY`` and at the end."""
    total = len(rows)
    for done, item in enumerate(rows, 1):
        yield item
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)


def _report(kind: str, path: Path, table: Table, *parts: Any) -> Report:
    """The report, keeping the file's values of each row reported (for ``write_rejects``)."""
    imported, skipped, rejected, conflicts = parts
    lines = {p.line for p in (*rejected, *conflicts)}
    kept = {line: table.values(row) for line, row in table.rows if line in lines}
    return Report(
        kind, str(path), table.encoding, imported, skipped, rejected, conflicts, table.ignored, table.header, kept
    )


def import_institutions(
    engine: Engine, file: Path | str, data: bytes | None = None, *, progress: Progress | None = None
) -> Report:
    """Import an institutions CSV or workbook (see the module's docstring); good rows in one transaction."""
    path = Path(file)
    table = read_table(path.read_bytes() if data is None else data, INSTITUTION_COLUMNS, HEADER_NAMES["institutions"])
    world = engine.world()
    good: dict[str, tuple[int, Institution]] = {}
    imported, skipped, rejected, conflicts = [], [], [], []
    for line, row in _counting(table.rows, progress):
        found = _institution(line, row, world.regions)
        if isinstance(found, Problem):
            rejected.append(found)
            continue
        earlier = good.get(found.id)
        if earlier is not None:
            if earlier[1] == found:
                skipped.append(found.id)
            else:
                rejected.append(Problem(line, found.id, "id", f"line {earlier[0]} has the same id with other details"))
            continue
        stored = world.institutions.get(found.id)
        if stored == found:
            skipped.append(found.id)
        elif stored is not None:
            field = next(f for f in ("region", "name", "kind") if getattr(stored, f) != getattr(found, f))
            why = f"the store has {getattr(stored, field)!r}, the file {getattr(found, field)!r}"
            conflicts.append(Problem(line, found.id, field, why))
        else:
            good[found.id] = (line, found)
    if good:
        engine.storage.put_institutions([inst for _, inst in good.values()])
        imported = list(good)
    return _report("institutions", path, table, imported, skipped, rejected, conflicts)


# -- doctors ----------------------------------------------------------------------------------------


def _doctor(line: int, row: dict[str, str], engine: Engine, today: dt.date) -> DoctorOp | Problem:
    did = row["id"]

    def bad(name: str, why: str) -> Problem:
        return Problem(line, did, name, why)

    if "\x00extra" in row:
        return bad("*", "more values than columns in the header")
    if not did or not ID.match(did):
        return bad("id", "empty or holds control characters" if not did else "longer than 64 characters")
    for name in ("institution", "name", "id_card", "license", "birth_date", "practice_since", "record"):
        if not row[name]:
            return bad(name, "empty")
    if row["institution"] not in engine.world().institutions:
        return bad("institution", f"no institution {row['institution']!r} in the store: import the institutions first")
    license = LICENSE_NAMES.get(row["license"].lower() if row["license"].isascii() else row["license"])
    if license is None:
        return bad("license", f"{row['license']!r} is not one of {', '.join(LICENSES)} (执业医师, 执业助理医师)")
    record = RECORD_NAMES.get(row["record"].lower() if row["record"].isascii() else row["record"])
    if record is None:
        return bad("record", f"{row['record']!r} is not one of {', '.join(RECORDS)} (良好, 无, 不良)")
    born = _date(row["birth_date"])
    if born is None:
        return bad("birth_date", f"{row['birth_date']!r} is not a date like 1961-05-02")
    since = _date(row["practice_since"])
    if since is None:
        return bad("practice_since", f"{row['practice_since']!r} is not a date like 2001-09-01")
    card = row["id_card"].upper()
    problem = idcard.problem(card, born)
    if problem:
        return bad("id_card", problem)
    sex = SEX_NAMES.get(_lower(row.get("sex", ""))) if row.get("sex") else None
    if row.get("sex") and sex is None:
        return bad("sex", f"{row['sex']!r} is not one of {', '.join(SEXES)} (男, 女)")
    category = CATEGORY_NAMES.get(_lower(row.get("practice_category", ""))) if row.get("practice_category") else None
    if row.get("practice_category") and category is None:
        return bad(
            "practice_category",
            f"{row['practice_category']!r} is not one of {', '.join(PRACTICE_CATEGORIES)} (临床, 中医, 口腔, 公共卫生)",
        )
    op = DoctorOp(
        did,
        row["institution"],
        row["name"],
        card,
        license,
        born,
        since,
        record,
        sex=sex,
        qualification_no=row.get("qualification_no") or None,
        license_no=row.get("license_no") or None,
        practice_category=category,
    )
    # The engine's own checks (dates a living doctor can have, lengths), so an import can never
    # admit what the `doctor` command refuses; the field is the one its message starts with.
    problem = doctor_problem(op, today)
    if problem:
        return bad(problem.split(" ", 1)[0], problem)
    try:
        engine.doctor_from_op(op, today=today)
    except Refused as refused:
        return bad(_field_of(refused.message), refused.message)
    return op


def _lower(text: str) -> str:
    return text.lower() if text.isascii() else text


def _field_of(message: str) -> str:
    """The field an engine refusal names ("doctor D1: name is longer …" → ``name``), else ``*``."""
    words = message.split(": ", 1)[-1].split(" ", 1)
    return words[0] if words[0] in DOCTOR_COLUMNS else "*"


def _stored_doctors(engine: Engine, ids: list[str]) -> dict[str, Any]:
    """The doctors already in the store among ``ids`` (one query per 500 when a cycle is loaded)."""
    policy = engine.world().policy
    if policy is not None:
        found = {}
        for start in range(0, len(ids), 500):
            found.update({d: pair[1] for d, pair in engine.storage.load(policy.id, ids[start : start + 500]).items()})
        return found
    return {d: doc for d in ids if (doc := engine.storage.get_doctor(d)) is not None}


def _card_holders(engine: Engine, cards: list[str]) -> dict[str, str]:
    """The stored doctor holding each of ``cards`` (one query per 500)."""
    found: dict[str, str] = {}
    for start in range(0, len(cards), 500):
        found.update(engine.storage.doctors_with_id_cards(cards[start : start + 500]))
    return found


def import_doctors(
    engine: Engine, file: Path | str, data: bytes | None = None, *, progress: Progress | None = None
) -> Report:
    """Import a doctors CSV or workbook (see the module's docstring); good rows in one transaction via
    ``add_doctors``."""
    path = Path(file)
    table = read_table(path.read_bytes() if data is None else data, DOCTOR_COLUMNS, HEADER_NAMES["doctors"])
    good: dict[str, tuple[int, DoctorOp]] = {}
    cards: dict[str, tuple[int, str]] = {}
    skipped, rejected, conflicts = [], [], []
    checked: list[tuple[int, DoctorOp]] = []
    today = engine.today()
    for line, row in _counting(table.rows, progress):
        found = _doctor(line, row, engine, today)
        if isinstance(found, Problem):
            rejected.append(found)
        else:
            checked.append((line, found))
    stored = _stored_doctors(engine, list(dict.fromkeys(op.id for _, op in checked)))
    holders = _card_holders(engine, [op.id_card for _, op in checked])
    first: dict[str, tuple[int, DoctorOp]] = {}
    for line, op in checked:
        earlier = first.get(op.id)
        if earlier is not None:
            if earlier[1] == op:
                skipped.append(op.id)
            else:
                rejected.append(Problem(line, op.id, "id", f"line {earlier[0]} has the same id with other details"))
            continue
        twin = cards.get(op.id_card)
        if twin is not None:
            rejected.append(Problem(line, op.id, "id_card", f"line {twin[0]} ({twin[1]}) has the same id-card number"))
            continue
        first[op.id] = (line, op)
        cards[op.id_card] = (line, op.id)
        holder = holders.get(op.id_card, op.id)
        if holder != op.id:
            why = f"doctor {holder} in the store holds this id-card number (one person, one registry entry)"
            conflicts.append(Problem(line, op.id, "id_card", why))
            continue
        old = stored.get(op.id)
        if old is not None:
            new = engine.doctor_from_op(op, today=today)
            fields = DOCTOR_COLUMNS[1:]
            changed = [f for f in fields if getattr(old, f) != getattr(new, f)]
            if not changed:
                skipped.append(op.id)
            else:
                f = changed[0]
                why = f"the store has {str(getattr(old, f))!r}, the file {str(getattr(new, f))!r}"
                conflicts.append(Problem(line, op.id, f, why))
            continue
        good[op.id] = (line, op)
    imported: list[str] = []
    if good:
        engine.add_doctors([op for _, op in good.values()])
        imported = list(good)
    return _report("doctors", path, table, imported, skipped, rejected, conflicts)


IMPORTERS: dict[str, Callable[..., Report]] = {
    "institutions": import_institutions,
    "doctors": import_doctors,
}


# -- the rows to correct ----------------------------------------------------------------------------

#: What ``write_rejects`` adds after the file's own columns.  Their names are no column's, so the
#: corrected file imports as it is (they are listed as ignored).
REJECT_COLUMNS = ("原行号 line", "类别 kind", "字段 field", "原因 why")
REJECT_FORMATS = (".xlsx", ".csv")


def rejects_path(file: Path | str) -> Path:
    """Where the rows to correct go by default: beside the file (``doctors.csv`` → ``doctors.rejects.xlsx``)."""
    path = Path(file)
    return path.with_name(f"{path.stem}.rejects.xlsx")


def reject_rows(report: Report) -> list[list[Any]]:
    """Each reported row as the file had it, then its line, 拒绝 or 冲突, the field and why; in line order."""
    width = len(report.header)
    zh = COLUMN_ZH.get(report.kind, {})
    out = []
    for kind, problems in (("拒绝 rejected", report.rejected), ("冲突 conflict", report.conflicts)):
        for p in problems:
            values = report.problem_rows.get(p.line, [""] * width)
            field = f"{p.field}（{zh[p.field]}）" if p.field in zh else p.field
            out.append([*values, p.line, kind, field, p.why])
    return sorted(out, key=lambda row: row[width])


def write_rejects(report: Report, path: Path | str) -> Path:
    """The rows that did not go in, with their reasons, as a workbook (``.xlsx``) or a CSV with a
    byte-order mark (``.csv``) that Excel opens in Chinese: correct them there and import the file again.
    Every cell is written inert (``cells``) and as text, so an id-card number keeps its 18 digits."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in REJECT_FORMATS:
        raise ValueError(f"the rejects file is .xlsx or .csv, not {target.name}")
    header = [*report.header, *REJECT_COLUMNS]
    rows = reject_rows(report)
    if suffix == ".csv":
        with target.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv_writer(out, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(rows)
        return target
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    ws.title = "待更正"
    for number, row in enumerate([header, *rows], 1):
        put_row(ws, number, row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for index, name in enumerate(header, 1):
        longest = max([len(name), *(len(str(r[index - 1])) for r in rows)])
        ws.column_dimensions[ws.cell(1, index).column_letter].width = min(60, max(8, longest * 1.6 + 2))
    book.properties.title = f"{report.file} 未导入的行"
    book.save(target)
    return target


__all__ = [
    "HEADER_NAMES",
    "IMPORTERS",
    "CsvFileError",
    "Problem",
    "Report",
    "decode",
    "import_doctors",
    "import_institutions",
    "read_table",
    "rejects_path",
    "write_rejects",
]
