"""CSV import of institutions and doctors, as the national registration system exports them.

A province starts a cycle from the registration system's lists (医师电子化注册
系统): its institutions and its doctors.  Those exports are Excel-CSV — UTF-8
with a byte-order mark, or GB18030 when saved by a Chinese Excel — and they
always hold a few bad rows.  So an import:

- reads UTF-8 (with or without BOM) and falls back to GB18030 when the bytes
  are not UTF-8 (the report names the encoding used);
- checks every row and reports each bad one with its line, the field and why;
- writes the good rows in **one transaction**: a failure writes nothing;
- can be run again: rows already in the store unchanged are *skipped*, rows
  whose id is there with other details are *conflicts* (never overwritten —
  a changed registry record is a decision for a person, not a re-import).

Columns (header names, any order; other columns are ignored and listed):

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import idcard
from .commands import MAX_TEXT
from .engine import Engine
from .errors import Refused
from .model import PRACTICE_CATEGORIES, SEXES
from .ops import ID, DoctorOp, doctor_problem
from .rules.policy import LICENSES, RECORDS
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


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, not a CSV): nothing was imported."""


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
        raise CsvFileError("the file holds NUL bytes: it is not a CSV text file (an .xlsx? save it as CSV)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"the file is neither UTF-8 nor GB18030 (byte {exc.start}); save it as CSV UTF-8") from None


def read_rows(data: bytes, columns: Sequence[str]) -> tuple[str, list[tuple[int, dict[str, str]]], list[str]]:
    """(encoding, [(line, row)], ignored columns), or ``CsvFileError`` naming what is wrong with the file."""
    text, encoding = decode(data)
    if not text.strip():
        raise CsvFileError("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
        missing = [c for c in columns if c not in header and c not in OPTIONAL]
        if missing:
            raise CsvFileError(
                f"missing column(s) {', '.join(missing)}; the header must name {', '.join(columns)} "
                f"(found: {', '.join(h for h in header if h) or 'nothing'})"
            )
        repeated = sorted({h for h in header if h and header.count(h) > 1})
        if repeated:
            raise CsvFileError(f"column(s) {', '.join(repeated)} appear twice in the header")
        rows: list[tuple[int, dict[str, str]]] = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            row = {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header) if h}
            if len(values) > len(header):
                row["\x00extra"] = "x"
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise CsvFileError(f"line {reader.line_num}: not a valid CSV row ({exc})") from None
    return encoding, rows, [h for h in header if h and h not in columns]


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


def import_institutions(engine: Engine, file: Path | str, data: bytes | None = None) -> Report:
    """Import an institutions CSV (see the module's docstring); good rows in one transaction."""
    path = Path(file)
    encoding, rows, ignored = read_rows(path.read_bytes() if data is None else data, INSTITUTION_COLUMNS)
    world = engine.world()
    good: dict[str, tuple[int, Institution]] = {}
    imported, skipped, rejected, conflicts = [], [], [], []
    for line, row in rows:
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
    return Report("institutions", str(path), encoding, imported, skipped, rejected, conflicts, ignored)


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


def import_doctors(engine: Engine, file: Path | str, data: bytes | None = None) -> Report:
    """Import a doctors CSV (see the module's docstring); good rows in one transaction via ``add_doctors``."""
    path = Path(file)
    encoding, rows, ignored = read_rows(path.read_bytes() if data is None else data, DOCTOR_COLUMNS)
    good: dict[str, tuple[int, DoctorOp]] = {}
    cards: dict[str, tuple[int, str]] = {}
    skipped, rejected, conflicts = [], [], []
    checked: list[tuple[int, DoctorOp]] = []
    today = engine.today()
    for line, row in rows:
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
    return Report("doctors", str(path), encoding, imported, skipped, rejected, conflicts, ignored)


IMPORTERS: dict[str, Callable[[Engine, Path | str], Report]] = {
    "institutions": import_institutions,
    "doctors": import_doctors,
}

__all__ = ["IMPORTERS", "CsvFileError", "Problem", "Report", "decode", "import_doctors", "import_institutions"]
