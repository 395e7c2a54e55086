"""The cycle report: one HTML file a province's staff open offline to see the cycle unfold.

It holds the two statistics screens (考核进度统计, 考核结果统计), a chart of how
many doctors stood at each stage at the end of every day across the cycle's
windows, the windows themselves under the time axis, and the refusals a run
met.  Everything is in the file: the styles inline and the chart an SVG drawn
here (no script, no CDN, no font fetched), so it opens the same from a mail
attachment, a USB stick or a printer.

The daily counts are rebuilt from the history in one pass over it
(``timeline.with_history``), by the rule ``timeline.instances_at`` follows.
Refusals are not in the store: a refused command writes nothing (SPEC §4), so
only a run that counted its own (the simulation) can give them, and the report
says so when there are none to show.
"""

from __future__ import annotations

import bisect
import datetime as dt
import html
import itertools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs

from .engine import Engine
from .rules.policy import Policy, Window
from .stats import LEVEL_ZH, STAGES, Sheet, Stats, compute, office_progress, stage, taken_at_text, totals_row
from .timeline import day_end, with_history

#: The policy's windows as the report names them, in the order of the cycle.
WINDOWS = (
    ("registration", "报名"),
    ("first_round", "首轮考核"),
    ("grading", "评定首轮成绩"),
    ("makeup", "延期医师补考"),
    ("makeup_grading", "评定补考成绩"),
    ("reexam", "再次考核"),
    ("reexam_grading", "评定再次考核"),
)
#: Days shown before the first window opens and after the last one closes.
MARGIN_DAYS = 3
#: One colour per stage, told apart in print and by the common colour blindnesses (Okabe–Ito, then greys).
COLOURS = (
    "#999999",
    "#56B4E9",
    "#E69F00",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#009E73",
    "#C00000",
    "#F0E442",
    "#6A3D9A",
    "#000000",
)


@attrs.frozen
class Refusals:
    """The refusals a run counted (the simulation's unplanned ones) and a sample of their messages,
    each ``"<doctor> <event>: <code> <rule> <message>"``."""

    total: int
    samples: list[str] = attrs.Factory(list)

    def by_rule(self) -> list[tuple[str, str, int]]:
        """(code, rule, samples) for the sampled refusals, most frequent first."""
        counts: Counter[tuple[str, str]] = Counter()
        for sample in self.samples:
            # "<code> <rule> <message>": a refusal without a rule leaves its place empty ("<code>  <message>").
            words = sample.split(": ", 1)[-1].split(" ")
            code, rule = words[0], words[1] if len(words) > 1 else ""
            counts[(code, rule)] += 1
        return [(code, rule, n) for (code, rule), n in counts.most_common()]


@attrs.frozen
class Timeline:
    """The number of doctors at each of ``STAGES`` at the end of each of ``days``."""

    days: list[dt.date]
    counts: dict[str, list[int]]


def report_days(policy: Policy, until: dt.date | None = None) -> list[dt.date]:
    """Every day from just before the first window to just after the last (or ``until``, when the
    cycle has not got that far: a day to come has no counts yet)."""
    windows = [getattr(policy.windows, name) for name, _ in WINDOWS]
    first = min(w.start for w in windows) - dt.timedelta(days=MARGIN_DAYS)
    last = max(w.end for w in windows) + dt.timedelta(days=MARGIN_DAYS)
    if until is not None:
        last = max(first, min(last, until))
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def timeline(engine: Engine, days: Sequence[dt.date]) -> Timeline:
    """How many doctors stood at each stage at the end of each day, rebuilt from the history.

    Only the state is wanted, and each record names the state it led to, so a doctor's records are
    read once (``timeline.with_history``) rather than each instance rebuilt for every day as
    ``instances_at`` does: two hundred days of a million doctors would be two hundred rebuilds
    each.  A record counts from the first day whose end is after it and after every record before
    it — the rule of ``instances_at``, which the tests hold this to.
    """
    moments = [day_end(engine.policy, d) for d in days]
    # Each stage's change at each day; summed up day by day at the end.
    change = {name: [0] * (len(days) + 1) for name in STAGES}
    for instance, _doctor, records in with_history(engine):
        current = stage(records[0].from_state if records else instance.state)
        change[current][0] += 1
        latest: dt.datetime | None = None
        for record in records:
            at = dt.datetime.fromisoformat(record.at)
            latest = at if latest is None or at > latest else latest
            following = stage(record.to_state)
            if following != current:
                day = bisect.bisect_right(moments, latest)
                change[current][day] -= 1
                change[following][day] += 1
                current = following
    counts = {name: list(itertools.accumulate(steps[: len(days)])) for name, steps in change.items()}
    return Timeline(list(days), counts)


def render(engine: Engine, refusals: Refusals | None = None, *, until: dt.date | None = None) -> str:
    """The report as one HTML document (see the module's docstring); ``until`` ends the chart early
    (default: the engine's today)."""
    stats = compute(engine, by="city")
    policy = engine.policy
    days = report_days(policy, until if until is not None else engine.today())
    return page(stats, policy, timeline(engine, days), refusals)


def write_report(engine: Engine, path: Path | str, refusals: Refusals | None = None) -> Path:
    """Write the report to ``path`` (UTF-8); the path."""
    target = Path(path)
    target.write_text(render(engine, refusals), encoding="utf-8")
    return target


# -- the page ---------------------------------------------------------------------------------------

_e = html.escape

CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.en { color: #666; font-weight: normal; font-size: .85em; }
.meta { color: #444; } .note { color: #555; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: .25em .5em; } th { background: #f0f0f0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } tr.total td { font-weight: bold; background: #fafafa; }
.scroll { overflow-x: auto; } svg { max-width: 100%; height: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; margin: 1em 0; }
.figures div { border: 1px solid #ddd; padding: .4em .8em; border-radius: 4px; }
.figures b { font-size: 1.3em; display: block; }
@media print { .scroll { overflow: visible; } h2 { break-after: avoid; } }
"""


def page(stats: Stats, policy: Policy, line: Timeline, refusals: Refusals | None) -> str:
    """The HTML of the report from its parts (what ``render`` reads from the store)."""
    title = f"{policy.policy.zh} 周期报告"
    outcome = stats.by_outcome
    figures = [
        ("医师", "doctors", stats.doctors),
        ("合格", "qualified", outcome.get("qualified", 0)),
        ("不合格", "unqualified", outcome.get("unqualified", 0)),
        ("再次考核中", "in re-exam", outcome.get("reexam_pending", 0)),
        ("考核中", "in progress", outcome.get("in_progress", 0)),
        ("未纳入", "not enrolled", outcome.get("not_enrolled", 0)),
    ]
    cards = "".join(f"<div>{zh} <span class='en'>{en}</span><b>{n:,}</b></div>" for zh, en, n in figures)
    progress = office_progress(stats)
    screen = Sheet(progress.title, progress.headers[:14], [row[:14] for row in progress.rows])
    by = LEVEL_ZH[stats.by]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)} <span class='en'>cycle report</span></h1>",
        f"<p class='meta'>考核周期 {_e(stats.cycle)}（{policy.period.start} 至 {policy.period.end}）"
        f"　统计时间 {_e(taken_at_text(stats))}</p>",
        f"<div class='figures'>{cards}</div>",
        "<h2>各阶段人数变化 <span class='en'>doctors at each stage, at the end of each day</span></h2>",
        "<p class='note'>每日日终各阶段人数，由考核历史记录逐日重建；图下为各考核时间窗口。"
        "<span class='en'>Rebuilt from the history; the policy's windows under the time axis.</span></p>",
        chart(line, policy),
        _daily_table(line),
        f"<h2>考核进度统计 <span class='en'>progress, by {stats.by}</span></h2>",
        f"<p class='note'>按{by}统计；各阶段的明细状态见 <code>renew-fsm stats --format xlsx</code> 导出的工作簿。</p>",
        _table(screen, totals=True),
        f"<h2>考核结果统计 <span class='en'>results, by {stats.by} and program</span></h2>",
        _table(_shown(stats.results), totals=True),
        "<h2>被拒绝的操作（按规则） <span class='en'>refusals by rule</span></h2>",
        _refusals(refusals),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _shown(sheet: Sheet) -> Sheet:
    """The result sheet without the outcome columns no row has (a cycle in progress has few)."""
    keep = [i for i in range(len(sheet.headers)) if i < 4 or any(row[i] for row in sheet.rows)]
    return Sheet(sheet.title, [sheet.headers[i] for i in keep], [[row[i] for i in keep] for row in sheet.rows])


def _cell(value: object) -> str:
    if isinstance(value, int):
        return f"<td class='n'>{value:,}</td>"
    return f"<td>{_e('' if value is None else str(value))}</td>"


def _table(sheet: Sheet, *, totals: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in sheet.headers)
    body = ["<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in sheet.rows]
    if totals and sheet.rows:
        body.append("<tr class='total'>" + "".join(_cell(v) for v in totals_row(sheet)) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _daily_table(line: Timeline) -> str:
    """The chart's numbers, for a reader who wants them (and a screen reader)."""
    shown = [name for name in STAGES if any(line.counts[name])]
    rows = [[day.isoformat(), *(line.counts[name][i] for name in shown)] for i, day in enumerate(line.days)]
    table = _table(Sheet("每日人数", ["日期", *shown], rows))
    return f"<details><summary>每日人数表 <span class='en'>the numbers</span></summary>{table}</details>"


def _refusals(refusals: Refusals | None) -> str:
    stored = (
        "<p class='note'>存储只保存被接受的事件（考核历史）；被拒绝的命令不写入任何记录，"
        "因此无法从数据库重建按规则的拒绝统计。"
        "<span class='en'>The store keeps accepted events only: a refused command writes nothing, so refusals "
        "by rule cannot be rebuilt from the database.</span></p>"
    )
    if refusals is None:
        return stored + (
            "<p>本报告由数据库生成，没有运行记录的拒绝数。"
            "<span class='en'>Made from a database: no run's refusals to show (<code>renew-fsm simulate "
            "--report</code> adds the simulation's).</span></p>"
        )
    said = (
        f"<p>本次模拟中未按计划被拒绝的命令：<b>{refusals.total:,}</b> 条"
        "（模拟按行为设定有意产生的退回、驳回是被接受的事件，不计在内）。"
        f"<span class='en'>Unplanned refusals in this simulation run: {refusals.total:,}.</span></p>"
    )
    if not refusals.total:
        return stored + said
    rows = [[code, rule or "—", n] for code, rule, n in refusals.by_rule()]
    sample = Sheet("样本", ["拒绝代码 code", "规则 rule", "样本条数 samples"], rows)
    examples = "".join(f"<li><code>{_e(s)}</code></li>" for s in refusals.samples)
    return (
        stored + said + f"<p class='note'>模拟只保留前 {len(refusals.samples)} 条拒绝的样本，下表按规则统计这些样本。"
        "<span class='en'>The run keeps a sample of its refusals; the table counts the sample by rule.</span></p>"
        + _table(sample)
        + f"<details><summary>样本 <span class='en'>samples</span></summary><ul>{examples}</ul></details>"
    )


# -- the chart --------------------------------------------------------------------------------------

WIDTH, PLOT_TOP, PLOT_HEIGHT, LEFT, RIGHT = 1000, 20, 300, 60, 150
LANE = 16


def chart(line: Timeline, policy: Policy) -> str:
    """Lines of doctors per stage over the days, and one lane per window under the time axis."""
    days = line.days
    shown = [(name, COLOURS[i]) for i, name in enumerate(STAGES) if any(line.counts[name])]
    top = max([4, *(max(line.counts[name]) for name, _ in shown)])  # four grid steps of at least one
    top = _nice(top)
    plot_width = WIDTH - LEFT - RIGHT
    span = max(1, len(days) - 1)
    lanes_top = PLOT_TOP + PLOT_HEIGHT + 30
    height = lanes_top + LANE * (len(WINDOWS) + 1) + 10

    def x(index: float) -> float:
        return LEFT + plot_width * index / span

    def y(count: int) -> float:
        return PLOT_TOP + PLOT_HEIGHT * (1 - count / top)

    def x_of(day: dt.date) -> float:
        return x((day - days[0]).days)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" font-size="11" role="img" aria-label="各阶段人数变化">',
        f'<rect x="{LEFT}" y="{PLOT_TOP}" width="{plot_width}" height="{PLOT_HEIGHT}" fill="#fff" stroke="#aaa"/>',
    ]
    # The windows, faint behind the lines and as labelled bars in lanes under the axis.
    for lane, (name, zh) in enumerate(WINDOWS):
        window: Window = getattr(policy.windows, name)
        if window.end < days[0] or window.start > days[-1]:
            continue
        x0 = x_of(max(window.start, days[0]))
        # A window includes its last day: its bar reaches the end of that day.
        x1 = min(x_of(window.end) + plot_width / span, LEFT + plot_width)
        ly = lanes_top + LANE * lane
        out.append(
            f'<rect class="window" data-window="{name}" x="{x0:.1f}" y="{PLOT_TOP}" width="{x1 - x0:.1f}" '
            f'height="{PLOT_HEIGHT}" fill="#4a7ebb" fill-opacity="0.06"/>'
        )
        out.append(
            f'<rect x="{x0:.1f}" y="{ly}" width="{max(x1 - x0, 2):.1f}" height="{LANE - 4}" fill="#4a7ebb" '
            f'fill-opacity="0.55"><title>{zh} {name}: {window.start} – {window.end}</title></rect>'
        )
        label_x, anchor = (x1 + 4, "start") if x1 + 90 < WIDTH else (x0 - 4, "end")
        out.append(
            f'<text x="{label_x:.1f}" y="{ly + LANE - 6}" text-anchor="{anchor}">{zh} '
            f"{window.start:%m-%d}–{window.end:%m-%d}</text>"
        )
    deadline = policy.windows.deferral_deadline
    if days[0] <= deadline <= days[-1]:
        dx = x_of(deadline) + plot_width / span
        ly = lanes_top + LANE * len(WINDOWS)
        out.append(
            f'<line x1="{dx:.1f}" y1="{PLOT_TOP}" x2="{dx:.1f}" y2="{ly + LANE - 4}" stroke="#C00000" '
            f'stroke-dasharray="4 3"/><text x="{dx + 4:.1f}" y="{ly + LANE - 6}">延期申请截止 {deadline:%m-%d}</text>'
        )
    # Axes: counts on the left, the first of each month (and the first day) along the bottom.
    for step in range(5):
        value = top * step // 4
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_width}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,}</text>'
        )
    months = [i for i, day in enumerate(days) if day.day == 1]
    # The first day is named too, unless the first month's label would sit on it.
    first = [0] if not months or x(months[0]) - x(0) > 80 else []
    for index in first + months:
        tx = x(index)
        out.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{PLOT_TOP + PLOT_HEIGHT}" y2="{PLOT_TOP + PLOT_HEIGHT + 5}" '
            f'stroke="#666"/><text x="{tx:.1f}" y="{PLOT_TOP + PLOT_HEIGHT + 17}" text-anchor="middle">'
            f"{days[index]:%Y-%m-%d}</text>"
        )
    # One line per stage that ever has a doctor, and its name in the legend.
    for order, (name, colour) in enumerate(shown):
        counts = line.counts[name]
        points = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(n):.1f}" for i, n in enumerate(counts))
        peak = max(counts)
        out.append(
            f'<path class="series" data-stage="{_e(name)}" d="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2"><title>{_e(name)}（最多 {peak:,} 人）</title></path>'
        )
        ly = PLOT_TOP + 6 + order * 18
        lx = LEFT + plot_width + 12
        out.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/>'
            f'<text x="{lx + 24}" y="{ly + 4}">{_e(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _nice(top: int) -> int:
    """The axis's top: ``top`` rounded up to 1, 2 or 5 times a power of ten, so the grid reads plainly."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= top:
                return step * scale
        scale *= 10


__all__ = ["Refusals", "Timeline", "render", "report_days", "timeline", "write_report"]
