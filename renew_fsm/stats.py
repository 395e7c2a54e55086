"""The manual's statistics screens: 考核进度统计 (progress) and 考核结果统计 (results).

Both are sums over one grouped count from storage (``tally``: institution ×
state × program × reason), rolled up to the institution, county, city,
province or agency with the world's tree — one query however large the store.
By 执业类别 (``practice_category``, the 2007 Measures art. 5) the count is made
from the instances and their doctors, a walk of the cycle; as the cycle stood
at a past moment (``at``), from the history (``renew_fsm.timeline``).
The same figures print as a table, CSV or an Excel workbook.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from .cells import csv_writer, xlsx_cell
from .engine import Engine
from .machines.graph import Graph
from .model import PRACTICE_CATEGORIES, Doctor, Instance
from .timeline import instances_at
from .tuning import streaming_gc
from .world import World

LEVELS = ("province", "city", "county", "institution", "agency", "practice_category")
LEVEL_ZH = {
    "province": "省",
    "city": "市",
    "county": "区县",
    "institution": "卫生机构",
    "agency": "考核机构",
    "practice_category": "执业类别",
}
#: The group of doctors whose registry record names no category of practice.
NO_CATEGORY = ("-", "未登记执业类别")
#: One row of a grouped count: (institution or category, state, program, reason, doctors).
TallyRow = tuple[str | None, str, str | None, str | None, int]
PROGRAM_ZH = {"simple": "简易程序", "general": "一般程序", None: "未选择程序"}
REASONS = ("work_performance", "ethics", "humanities", "business_level", "absent", "discipline", "violation")
REASON_ZH = {
    "work_performance": "工作成绩",
    "ethics": "职业道德",
    "humanities": "医学人文",
    "business_level": "业务水平",
    "absent": "缺考",
    "discipline": "违纪",
    "violation": "违规执业",
}
#: Result columns: (key, Chinese header).
OUTCOMES = (
    ("qualified", "合格"),
    *((f"unqualified:{r}", f"不合格（{REASON_ZH[r]}）") for r in REASONS),
    ("reexam_pending", "再次考核中"),
    ("reexam_passed", "再次考核合格"),
    ("registration_cancelled", "注销注册"),
    ("in_progress", "考核中"),
    ("not_enrolled", "未纳入"),
)
#: The screen's stages of 考核进度统计: states grouped as the terminal and the workbook show them
#: first (the workbook keeps every state after them).
STAGES = (
    "未纳入",
    "报名",
    "程序评定",
    "测评/免考",
    "待评定",
    "延期",
    "合格",
    "不合格",
    "再次考核",
    "再次考核合格",
    "注销注册",
)
_FIXED_STAGE = {
    "not_enrolled": "未纳入",
    "qualified": "合格",
    "unqualified": "不合格",
    "reexam_passed": "再次考核合格",
    "registration_cancelled": "注销注册",
    "deferred": "延期",
}


def stage(state: str) -> str:
    """The screen's stage (one of ``STAGES``) of a state id."""
    if state in _FIXED_STAGE:
        return _FIXED_STAGE[state]
    if state in ("enrolled", "info_submitted", "info_approved", "registered"):
        return "报名"
    if state.startswith("deferral."):
        return "延期"
    if state.startswith("reexam."):
        return "再次考核"
    if state.endswith(".awaiting_grade"):
        return "待评定"
    if state.endswith((".testing", ".exemption.applied", ".exemption.institution_approved")):
        return "测评/免考"
    return "程序评定"


def outcome(state: str, reason: str | None) -> str:
    """Where a doctor stands in the result screen."""
    if state in ("qualified", "reexam_passed", "registration_cancelled", "not_enrolled"):
        return state
    if state == "unqualified" or state.startswith("appeal."):  # under review, the result stands until answered
        return f"unqualified:{reason}"
    if state.startswith("reexam."):
        return "reexam_pending"
    return "in_progress"


@attrs.frozen
class Sheet:
    """One statistics table: Chinese headers, rows of values."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


@attrs.frozen
class Stats:
    cycle: str
    by: str
    taken_at: dt.datetime
    progress: Sheet
    results: Sheet
    #: Whole-cycle figures (the simulation's JSON summary uses them).
    by_state: dict[str, int]
    by_outcome: dict[str, int]
    #: Doctors whose result carries each reason (unqualified, in or after the re-exam).
    by_reason: dict[str, int]
    by_program: dict[str, dict[str, int]]
    #: The province's name (the title row of the workbook).
    region: str = ""
    #: Each state's Chinese column header in the workbook ("简易程序·测评中"), by state id.
    labels: dict[str, str] = attrs.Factory(dict)

    @property
    def doctors(self) -> int:
        return sum(self.by_state.values())

    def summary(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "doctors": self.doctors,
            "by_state": self.by_state,
            "by_outcome": self.by_outcome,
            "by_reason": self.by_reason,
            "by_program": self.by_program,
        }


def _groups(world: World, institution: str | None, by: str) -> list[tuple[str, str]]:
    """The (id, name) groups an institution's doctors count in at level ``by`` (by category: the
    category's)."""
    if by == "practice_category":
        if institution not in PRACTICE_CATEGORIES:
            return [NO_CATEGORY]
        return [(institution, PRACTICE_CATEGORIES[institution])]
    assert institution is not None
    inst = world.institutions.get(institution)
    if inst is None:
        return [(institution, institution)]
    if by == "institution":
        return [(inst.id, inst.name or inst.id)]
    if by == "agency":
        found = [(a.id, a.name or a.id) for a in world.agencies.values() if institution in a.institutions]
        return found or [("-", "未指定考核机构")]
    level = {"county": 0, "city": 1, "province": 2}[by]
    chain = world.chains.get(inst.region, ())
    regions = [r for r in chain if world.regions[r].level == by]
    if not regions and len(chain) > level:
        regions = [chain[level]]
    rid = regions[0] if regions else inst.region
    region = world.regions.get(rid)
    return [(rid, region.name if region and region.name else rid)]


def compute(engine: Engine, by: str = "city", at: dt.datetime | None = None) -> Stats:
    """The statistics now, or as the cycle stood just before ``at`` (an aware time; ``timeline.day_end``
    of a day for "at the end of that day"), rebuilt from the history."""
    if by not in LEVELS:
        raise ValueError(f"--by is one of {', '.join(LEVELS)}")
    with streaming_gc():
        if at is not None:
            rows = tally(((doc, past[0]) for doc, past in instances_at(engine, [at])), by)
        elif by == "practice_category":
            rows = tally(((doc, inst) for inst, doc in engine.scan()), by)
        else:
            rows = engine.storage.tally(engine.cycle)
        return _compute(engine, by, rows, at)


def tally(pairs: Iterable[tuple[Doctor, Instance]], by: str = "institution") -> list[TallyRow]:
    """Storage's grouped count made from (doctor, instance) pairs: by the doctor's institution, or
    by their category of practice when ``by`` is ``practice_category``."""
    counts: Counter[tuple[str | None, str, str | None, str | None]] = Counter()
    category = by == "practice_category"
    for doc, inst in pairs:
        counts[(doc.practice_category if category else doc.institution, inst.state, inst.program, inst.reason)] += 1
    return [(*key, n) for key, n in counts.items()]


def _compute(engine: Engine, by: str, rows: Iterable[TallyRow], at: dt.datetime | None) -> Stats:
    world, graph = engine.world(), engine.machine.graph
    cycle = engine.cycle
    states = _states(graph)
    # Counts go straight into each sheet row's columns (the total last or first): a million doctors
    # come as ~50,000 tally rows over 16,666 institutions, and a Counter per group plus a lookup
    # per cell took a third of the statistics.
    state_column = {s: i for i, s in enumerate(states)}
    outcome_column = {key: i for i, (key, _) in enumerate(OUTCOMES, 1)}
    group_index: dict[str, list[tuple[str, str]]] = {}
    where_of: dict[tuple[str, str | None], tuple[str, int | None]] = {}
    progress: dict[tuple[str, str], list[int]] = {}
    results: dict[tuple[str, str, str | None], list[int]] = {}
    by_state: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    by_program: dict[str, Counter[str]] = defaultdict(Counter)
    by_reason: Counter[str] = Counter()
    width = len(states)
    for institution, state, program, reason, count in rows:
        groups = group_index.get(institution)
        if groups is None:
            groups = group_index[institution] = _groups(world, institution, by)
        hit = where_of.get((state, reason))
        if hit is None:
            where = outcome(state, reason)
            hit = where_of[(state, reason)] = (where, outcome_column.get(where))
        where, column = hit
        state_at = state_column.get(state)
        for gid, name in groups:
            counts = progress.get((gid, name))
            if counts is None:
                counts = progress[(gid, name)] = [0] * (width + 1)
            if state_at is not None:
                counts[state_at] += count
            counts[width] += count
            outcomes = results.get((gid, name, program))
            if outcomes is None:
                outcomes = results[(gid, name, program)] = [0] * (len(OUTCOMES) + 1)
            outcomes[0] += count
            if column is not None:
                outcomes[column] += count
        by_state[state] += count
        by_outcome[where.split(":")[0]] += count
        by_program[PROGRAM_ZH[program]][where] += count
        if reason is not None:
            by_reason[reason] += count
    label = LEVEL_ZH[by]
    progress_sheet = Sheet(
        "考核进度统计",
        [f"{label}编号", f"{label}名称", *(f"{graph.nodes[s].zh}（{s}）" for s in states), "合计"],
        [[gid, name, *counts] for (gid, name), counts in sorted(progress.items())],
    )
    results_sheet = Sheet(
        "考核结果统计",
        [f"{label}编号", f"{label}名称", "考核程序", "人数", *(zh for _, zh in OUTCOMES)],
        [
            [gid, name, PROGRAM_ZH[program], *counts]
            for (gid, name, program), counts in sorted(results.items(), key=lambda kv: (kv[0][0], str(kv[0][2])))
        ],
    )
    return Stats(
        cycle,
        by,
        dt.datetime.now(world.policy.tz if world.policy else dt.UTC) if at is None else at,
        progress_sheet,
        results_sheet,
        dict(sorted(by_state.items())),
        {key: by_outcome.get(key, 0) for key in _outcome_keys()},
        dict(sorted(by_reason.items())),
        {p: dict(c) for p, c in sorted(by_program.items())},
        _province(world),
        {s: state_label(graph, s) for s in states},
    )


def _province(world: World) -> str:
    """The name of the cycle's top region (a province; the first top region of a store that has several)."""
    tops = sorted((r for r in world.regions.values() if r.parent is None), key=lambda r: r.id)
    return (tops[0].name or tops[0].id) if tops else ""


def state_label(graph: Graph, state: str) -> str:
    """A state's Chinese name that no other state shares: a sub-state's is prefixed with its top state's
    ("一般程序·测评中"), since both programs have a 测评中."""
    node = graph.nodes[state]
    top = state.split(".", 1)[0]
    if top == state:
        return node.zh
    return f"{graph.nodes[top].zh}·{node.zh}"


def _outcome_keys() -> list[str]:
    return list(dict.fromkeys(key.split(":")[0] for key, _ in OUTCOMES))


def _states(graph: Graph) -> list[str]:
    """Leaf states in the order the machine file declares them."""
    return [n.id for n in graph.nodes.values() if n.leaf]


# -- output ----------------------------------------------------------------------------------------


def to_csv(sheet: Sheet) -> str:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(sheet.headers)
    writer.writerows(sheet.rows)
    return buffer.getvalue()


def _width(value: Any) -> int:
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def state_of(header: str) -> str:
    """The state id of a progress sheet's column header ("合格（qualified）" → ``qualified``)."""
    return header.rsplit("（", 1)[1].rstrip("）")


def office_progress(stats: Stats) -> Sheet:
    """考核进度统计 as an office reads it: 编号, 名称, the screen's stages (``STAGES``) and 合计 first,
    then every state under its Chinese name — the ids stay in the CSV and JSON, which programs read."""
    sheet = stats.progress
    states = [state_of(h) for h in sheet.headers[2:-1]]
    headers = [*sheet.headers[:2], *STAGES, "合计", *(stats.labels.get(s, s) for s in states)]
    rows = []
    for row in sheet.rows:
        stages = dict.fromkeys(STAGES, 0)
        for state, count in zip(states, row[2:-1], strict=True):
            stages[stage(state)] += count
        rows.append([*row[:2], *stages.values(), row[-1], *row[2:-1]])
    return Sheet(sheet.title, headers, rows)


def taken_at_text(stats: Stats) -> str:
    """The statistics time as the sheet's title row says it (the policy's local time; the manual:
    "此功能不是实时统计，请操作时注意系统展示的统计时间")."""
    offset = stats.taken_at.strftime("%z")
    zone = f"（UTC{offset[:3]}:{offset[3:]}）" if offset else ""
    return f"{stats.taken_at:%Y-%m-%d %H:%M}{zone}"


def to_xlsx(stats: Stats, path: Path) -> None:
    """The two screens as one workbook fit for an office: title rows, the grouped progress columns first,
    a 合计 row, frozen headings, landscape pages one page wide."""
    where = f"{stats.region}　" if stats.region else ""
    description = f"{where}按{LEVEL_ZH[stats.by]}统计　统计时间 {taken_at_text(stats)}"
    write_xlsx([office_progress(stats), stats.results], path, f"{stats.cycle} 考核统计", description, totals=True)


#: Rows above the data: the title row (what, where, when) and the header row.
TITLE_ROWS = 2
#: Columns kept in view while scrolling right and printed on every page: the ones naming the row (编号, 名称).
FIXED_COLUMNS = 2


def totals_row(sheet: Sheet) -> list[Any]:
    """合计: each column of counts added up; a column of text (names, 考核程序) is left empty (``None``)."""
    row: list[Any] = ["合计"]
    for index in range(1, len(sheet.headers)):
        column = [r[index] for r in sheet.rows]
        counts = all(isinstance(v, int) and not isinstance(v, bool) for v in column)
        row.append(sum(column) if counts and index >= FIXED_COLUMNS else None)
    return row


def put_row(ws: Any, number: int, values: Sequence[Any]) -> list[Any]:
    """Row ``number`` of a sheet as inert cells (``cells.xlsx_cell``); its cells.

    By its number, not appended: openpyxl's ``max_row``, which finding an appended row takes, counts
    every cell of the sheet each time, and a list of a million doctors would be read a million times."""
    return [xlsx_cell(ws, number, column, value) for column, value in enumerate(values, 1)]


def write_xlsx(sheets: Sequence[Sheet], path: Path, title: str, description: str, *, totals: bool = False) -> None:
    """Sheets as one workbook (the writer of every Excel export: statistics, result lists).

    Each sheet: a title row (the sheet's title and ``description``: region, statistics time), the
    header row, the rows and with ``totals`` a 合计 row; headings frozen and repeated on every
    printed page, printed landscape one page wide.  Every cell goes through ``cells`` (inert text).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        heading = xlsx_cell(ws, 1, 1, f"{sheet.title}　{description}")
        heading.font = Font(bold=True, size=14)
        width = max(1, len(sheet.headers))
        if width > 1:
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=min(width, 14))
        put_row(ws, TITLE_ROWS, sheet.headers)
        for number, row in enumerate(sheet.rows, TITLE_ROWS + 1):
            put_row(ws, number, row)
        if totals:
            for cell in put_row(ws, TITLE_ROWS + len(sheet.rows) + 1, totals_row(sheet)):
                cell.font = Font(bold=True)
        for cell in ws[TITLE_ROWS]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.freeze_panes = ws.cell(TITLE_ROWS + 1, FIXED_COLUMNS + 1).coordinate
        for index, header in enumerate(sheet.headers, 1):
            # The header wraps (a long state name takes two or three lines); the values fit on one.
            values = max((_width(r[index - 1]) for r in sheet.rows), default=0)
            ws.column_dimensions[get_column_letter(index)].width = min(40, max(8, min(_width(header), 16), values) + 2)
        ws.row_dimensions[TITLE_ROWS].height = 48
        ws.print_title_rows = f"1:{TITLE_ROWS}"
        ws.print_title_cols = f"A:{get_column_letter(FIXED_COLUMNS)}"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    book.properties.title = title
    book.properties.description = description
    book.save(path)
