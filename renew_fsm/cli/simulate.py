"""``simulate``, ``stats`` and ``notice``: a whole cycle rehearsed, counted and printed."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..notice import notice as make_notice
from ..notice import to_html, to_pdf, write_notices
from ..paper import PDF_MISSING
from ..report import Refusals, write_report
from ..rules.policy import load as load_policy
from ..simulate import MAX_WORKERS, PHASES, SimulationError, check_size, prepare
from ..simulate import simulate as run_simulation
from ..simulate.profile import ProfileError
from ..simulate.profile import default_text as default_profile_text
from ..simulate.profile import load as load_profile
from ..simulate.runlock import Busy, hold
from ..stats import LEVELS, OUTCOMES, STAGES, Sheet, Stats, compute, to_csv, to_xlsx
from ..stats import stage as _stage
from ..timeline import day_end
from .common import DB_HELP, ENV_DB, app, choose_db, console, err, fail, open_db, out_path, write
from .store import open_existing

DEFAULT_SIM_DB = "renew-fsm-simulation.db"


def _progress_table(stats: Stats) -> Table:
    table = Table(title=f"考核进度统计（按{stats.progress.headers[0][:-2]}）")
    names = list(STAGES)
    for column in ["", *names, "合计"]:
        table.add_column(column, justify="right" if column else "left")
    states = stats.progress.headers[2:-1]
    for row in stats.progress.rows:
        counts = dict.fromkeys(names, 0)
        for header, n in zip(states, row[2:-1], strict=True):
            counts[_stage(header.rsplit("（", 1)[1].rstrip("）"))] += n
        table.add_row(str(row[1]), *(str(counts[n]) if counts[n] else "·" for n in names), str(row[-1]))
    return table


def _results_table(stats: Stats) -> Table:
    table = Table(title="考核结果统计（按考核程序）")
    keys = [k for k, _ in OUTCOMES]
    shown = [(k, zh) for k, zh in OUTCOMES if any(stats.by_program.get(p, {}).get(k) for p in stats.by_program)]
    for column in ["考核程序", "人数", *(zh for _, zh in shown)]:
        table.add_column(column, justify="left" if column == "考核程序" else "right")
    for program, counts in stats.by_program.items():
        table.add_row(program, str(sum(counts.values())), *(str(counts.get(k, 0)) for k, _ in shown))
    assert set(keys) >= {k for k, _ in shown}
    return table


@contextmanager
def _alone(url: str) -> Iterator[None]:
    """The store for this run alone (``runlock.hold``); another run still writing to it ends the command."""
    try:
        with hold(url):
            yield
    except Busy as exc:
        fail(str(exc))


@app.command()
def simulate(
    doctors: Annotated[
        int, typer.Option(min=1, help="模拟医师人数 / Number of synthetic doctors (at most 10,000,000)")
    ] = 5000,
    seed: Annotated[
        int, typer.Option(help="随机种子：相同种子得到相同结果 / Random seed: the same seed gives the same cycle")
    ] = 7,
    policy: Annotated[
        str, typer.Option(help="随附政策名或 TOML 文件 / A shipped policy name or a TOML file")
    ] = "guangxi-2019-2020",
    profile: Annotated[
        Path | None, typer.Option(help="行为参数文件（TOML） / Behaviour profile (TOML); default: the shipped one")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help=f"数据库 / database (default: ${ENV_DB}, else a fresh {DEFAULT_SIM_DB})")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="继续 --db 中中断的模拟 / Continue an interrupted simulation in --db")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            help="删除 --db 中已有的模拟并重新开始 / "
            "Delete the SQLite --db first if it holds a simulation, and start again"
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="以 JSON 输出统计数 / Print the figures as one JSON object")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=1, help="每个事务的医师数 / Doctors per transaction (at most 100,000)")
    ] = 2000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"工作进程数 / worker processes, at most {MAX_WORKERS} (default: one per core, up to 2, and one more "
            "from 1,000,000 doctors; 1 below 20,000 doctors and for an in-memory db)",
        ),
    ] = None,
    print_profile: Annotated[
        bool,
        typer.Option(
            "--print-profile",
            help="输出随附的行为参数文件后退出 / Print the shipped behaviour profile (to copy and edit) and exit",
        ),
    ] = False,
    stop_after: Annotated[str | None, typer.Option(help="在该阶段后停止 / Stop after this phase", hidden=True)] = None,
    report_file: Annotated[
        str | None,
        typer.Option(
            "--report",
            help="同时输出周期报告（HTML） / Write the cycle report (HTML, with the run's refusals) here too",
        ),
    ] = None,
) -> None:
    """模拟一个省的考核周期 / play one province's cycle end to end and show the progress and result screens."""
    if print_profile:
        print(default_profile_text(), end="")
        return
    if stop_after is not None and stop_after not in {p.name for p in PHASES}:
        raise typer.BadParameter(f"--stop-after is one of {', '.join(p.name for p in PHASES)}")
    if resume and replace:
        fail("--resume continues the simulation in --db and --replace deletes it: give one of them", 2)
    try:
        # Sizes no province has fail here, before a database file is touched.
        check_size(doctors, batch, workers)
    except SimulationError as exc:
        fail(str(exc), 2)
    # A bad policy or profile fails here, before a database file is created for nothing.
    load_policy(policy)
    try:
        load_profile(profile)
    except ProfileError as exc:
        fail(str(exc))
    report_to = out_path(report_file, "cycle-report.html") if report_file is not None else None
    if report_to is not None and not report_to.parent.is_dir():  # said now, not after the whole run
        fail(f"--report {report_to}: there is no folder {report_to.parent}; create it first")
    url = choose_db(db, DEFAULT_SIM_DB)
    # Held from before the store is deleted or opened until the run ends: another run (or the
    # workers of one whose parent was killed) writing to it meanwhile is refused, not raced.
    with _alone(url):
        try:
            # The default file is the simulation's own scratch file, started again by each run.
            path = prepare(url, replace=replace, resume=resume, scratch=url.source == "default")
        except SimulationError as exc:
            fail(str(exc))
        engine = open_db(url)
        if not resume and engine.storage.get_meta("simulation") is not None:
            engine.close()
            instead = "--replace deletes it and starts again" if path is not None else "or choose another --db"
            fail(f"{url} already holds a simulation: --resume continues it, {instead}")
        columns = (
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.fields[events]:>10,} events"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=err, transient=as_json, disable=as_json) as bar:
                tasks: dict[str, int] = {}
                phase_zh = {p.name: p.zh for p in PHASES} | {"setup": "建立模拟省份"}

                def report(phase: str, seen: int, accepted: int) -> None:
                    if phase not in tasks:
                        total = doctors if phase in ("setup", "registration") else None
                        tasks[phase] = bar.add_task(f"{phase_zh.get(phase, phase)} {phase}", total=total, events=0)
                    task = tasks[phase]
                    bar.update(task, advance=seen, events=bar.tasks[task].fields["events"] + accepted)

                result = run_simulation(
                    engine,
                    doctors,
                    seed,
                    policy,
                    profile,
                    resume=resume,
                    batch=batch,
                    workers=workers,
                    progress=report,
                    stop_after=stop_after,
                )
            if report_to is not None:  # a file that cannot be written: main()'s one line
                write_report(engine, report_to, Refusals(result.refusals, result.samples))
        except (SimulationError, ProfileError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            # Every finished page is committed: say how to go on instead of a bare exit status.
            err.print(f"interrupted: the finished work is kept in {url}; the same command with --resume continues it")
            raise typer.Exit(130) from None
        finally:
            engine.close()
    if as_json:
        print(json.dumps(result.summary(), ensure_ascii=False, indent=2))
        return
    console.print(_progress_table(result.stats))
    console.print(_results_table(result.stats))
    rate = result.transitions / result.seconds if result.seconds else 0
    console.print(
        f"{result.doctors:,} doctors, {result.transitions:,} accepted events in {result.seconds:.1f} s "
        f"({rate:,.0f}/s) → {url}"
    )
    if result.refusals:
        err.print(f"[yellow]{result.refusals} unplanned refusal(s), e.g.:[/yellow]")
        for sample in result.samples[:5]:
            err.print(f"  {sample}", markup=False)
    if report_to is not None:
        console.print(f"wrote {report_to} (cycle report)", markup=False, highlight=False)
    console.print(f"Next: renew-fsm stats --db {url} --format xlsx --out stats.xlsx; renew-fsm verify --db {url}")


@app.command()
def stats(
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    by: Annotated[str, typer.Option(help=f"统计口径 / group by: {', '.join(LEVELS)}")] = "city",
    format: Annotated[str, typer.Option("--format", "-f", help="输出格式 / table, csv, xlsx or json")] = "table",
    out: Annotated[
        str | None,
        typer.Option(
            help="输出到文件 / write here instead of the screen (a folder: stats.xlsx, stats.json, stats.txt or "
            "stats.progress.csv and stats.results.csv in it; csv: <stem>.progress.csv …)"
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="该日日终时的统计 / "
            "as the cycle stood at the end of this day (YYYY-MM-DD, the policy's time zone), rebuilt "
            "from the history"
        ),
    ] = None,
) -> None:
    """The progress (考核进度统计) and result (考核结果统计) statistics of a database."""
    if by not in LEVELS:
        raise typer.BadParameter(f"--by is one of {', '.join(LEVELS)}")
    if format not in ("table", "csv", "xlsx", "json"):
        raise typer.BadParameter("--format is table, csv, xlsx or json")
    day = _day(at) if at is not None else None
    # Where it goes is settled before the store is read: a bad --out fails at once.
    suffix = {"table": "txt", "csv": "csv", "xlsx": "xlsx", "json": "json"}[format]
    target = out_path(out, f"stats.{suffix}") if out is not None else None
    engine = open_existing(choose_db(db))
    try:
        figures = compute(engine, by=by, at=None if day is None else day_end(engine.policy, day))
    finally:
        engine.close()
    if day is not None and format == "table":
        err.print(f"as the cycle stood at the end of {day} (截至 {day} 日终)", markup=False, highlight=False)
    if format == "table":
        if target is None:
            console.print(_progress_table(figures))
            console.print(_results_table(figures))
        else:
            text = _plain(_progress_table(figures), _results_table(figures))
            write(target, lambda p: p.write_text(text, encoding="utf-8"))
    elif format == "json":
        payload = figures.summary() | {
            **({"at_end_of": day.isoformat()} if day is not None else {}),
            "progress": _sheet_dict(figures.progress),
            "results": _sheet_dict(figures.results),
        }
        _write_or_print(target, json.dumps(payload, ensure_ascii=False, indent=2))
    elif format == "csv":
        if target is None:
            for sheet in (figures.progress, figures.results):
                print(f"# {sheet.title}\n{to_csv(sheet)}")
        else:
            for sheet, tag in ((figures.progress, "progress"), (figures.results, "results")):
                text = to_csv(sheet)
                write(target.with_name(f"{target.stem}.{tag}.csv"), lambda p, t=text: p.write_text(t, "utf-8-sig"))
    else:
        path = target or Path("stats.xlsx")
        write(path, lambda p: to_xlsx(figures, p), f" (sheets: {figures.progress.title}, {figures.results.title})")


def _day(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day like 2021-06-27", param_hint="--at") from None
    if day >= dt.date.max:  # its end is the next day, which the calendar does not have
        raise typer.BadParameter(f"{text} is the calendar's last day: give an earlier one", param_hint="--at")
    return day


def _plain(*tables: Table) -> str:
    """Tables as a file holds them: no colours, and as wide as they need (a terminal would wrap them)."""
    page = Console(file=io.StringIO(), width=240, color_system=None, soft_wrap=True, record=True)
    for table in tables:
        page.print(table)
    return page.export_text()


def _sheet_dict(sheet: Sheet) -> dict[str, object]:
    return {"title": sheet.title, "headers": sheet.headers, "rows": sheet.rows}


def _write_or_print(out: Path | None, text: str) -> None:
    if out is None:
        print(text)
    else:
        write(out, lambda p: p.write_text(text, encoding="utf-8"))


@app.command()
def notice(
    doctor: Annotated[
        str | None,
        typer.Argument(
            help="医师编号（或用 --institution 指定整个机构） / Doctor id (or --institution for all its doctors')"
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    out: Annotated[
        str | None,
        typer.Option(
            help="输出文件或目录 / write here; .pdf for a PDF, else HTML (a folder: notice-<doctor>.html in it). "
            "With --institution: the folder to write every notice into"
        ),
    ] = None,
    institution: Annotated[
        str | None,
        typer.Option(
            help="该机构所有已有结果医师的通知书，每人一个文件 / "
            "Every notice of this institution's doctors who have a result, one file each"
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(help="html 或 pdf / html or pdf (default: by the --out name's extension; html for a folder)"),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            help="本省的模板（Jinja2），替代随附模板 / "
            "The province's own template (Jinja2) in place of the packaged one"
        ),
    ] = None,
) -> None:
    """The result notice (考核结果通知书) of a doctor with a result, as HTML or PDF; or an institution's, in one run."""
    if (doctor is None) == (institution is None):
        fail("give a doctor id or --institution (one of them)", 2)
    if format not in (None, "html", "pdf"):
        fail(f"--format must be html or pdf, not {format!r}", 2)
    if institution is not None:
        _notices_of_institution(institution, db, out, format or "html", template)
        return
    assert doctor is not None
    if format == "pdf" and out is None:
        fail("a PDF is written to a file: give --out notice.pdf (or a folder)", 2)
    target = out_path(out, f"notice-{doctor.replace('/', '_')}.{format or 'html'}") if out is not None else None
    if target is not None and format is not None and target.suffix.lower() != f".{format}":
        fail(f"--out {target.name} does not end in .{format}, as --format {format} writes", 2)
    engine = open_existing(choose_db(db))
    try:
        content = make_notice(engine, doctor)
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
        print(page, end="")  # the page ends with its own newline
    else:
        write(target, lambda p: p.write_text(page, encoding="utf-8"))


def _notices_of_institution(institution: str, db: str | None, out: str | None, fmt: str, template: Path | None) -> None:
    if out is None or not out.strip():
        fail("--institution writes one file per doctor: give the folder with --out DIR")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file: --out names the folder the notices go into")
    engine = open_existing(choose_db(db))
    try:
        try:
            written = write_notices(engine, institution, folder, fmt=fmt, template=template)
        except ImportError:
            fail(PDF_MISSING)
    finally:
        engine.close()
    if not written:
        console.print(f"no doctor of {institution} has a result yet: no notice written", markup=False)
        return
    console.print(f"wrote {len(written)} notices of {institution} into {folder}", markup=False, highlight=False)
