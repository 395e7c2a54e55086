"""Commands over a database: ``replay``, ``verify``, ``anchor``, ``key init``, ``history``, ``state``."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import labels
from ..anchor import write as anchor_store
from ..engine import Engine
from ..keys import ENV_KEY, ENV_KEY_FILE
from ..keys import init as init_key
from ..replay import ReplayStop, replay_file
from ..storage.url import StoreURL
from ..verify import Report as VerifyReport
from ..verify import verify as verify_store
from .common import DB_HELP, ENV_DB, Where, app, choose_db, console, err, fail, missing, open_db

#: A scenario longer than this shows a progress bar while it runs (60,000 lines ran 21 s in silence).
REPLAY_PROGRESS_FROM = 2000


def no_database(url: Where, hint: str = "") -> str:
    """What to say when the store a command was pointed at does not exist."""
    if url.source == ENV_DB:
        return f"no database at {missing(url)} (named by {ENV_DB}): check {ENV_DB}, or give --db{hint}"
    return f"no database at {missing(url)}: give --db, or set {ENV_DB}{hint}"


def open_existing(url: Where, *, adopt_key: bool = True) -> Engine:
    """The engine over an existing store: reading commands never create a store, nor add our tables
    to a file or schema that holds none (``adopt_key=False``: nor mark it with the history key)."""
    if missing(url) is not None:
        fail(no_database(url))
    return open_db(url, create=False, adopt_key=adopt_key)


def _counting_bar(label: str, *, disable: bool = False) -> Progress:
    """A bar of done out of a known total on stderr, gone once the work is: the work's own
    output (a report, a table) is what stays on the screen."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable,
    )


@app.command()
def replay(
    file: Annotated[
        Path,
        typer.Argument(
            help="回放文件：JSON Lines，每行一条命令 / A scenario: JSON Lines, one command per line",
            exists=True,
            dir_okay=False,
        ),
    ],
    db: Annotated[
        str | None,
        typer.Option(help=f"保存到该数据库 / keep the store here (default: ${ENV_DB}, else a fresh in-memory one)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 / Print one JSON object")] = False,
) -> None:
    """回放场景文件 / run a scenario file against a fresh store and show where every doctor ended."""
    url = choose_db(db, ":memory:")
    kept = StoreURL.parse(url).shareable
    with file.open("rb") as handle:
        lines = sum(1 for _ in handle)
    engine = open_db(url)
    try:
        with _counting_bar("replaying", disable=lines < REPLAY_PROGRESS_FROM) as bar:
            task = bar.add_task("replay", total=lines)
            outcome = replay_file(engine, file, progress=lambda n: bar.update(task, completed=n))
    except ReplayStop as stop:
        err.print(f"{file}: {stop}", markup=False, highlight=False)
        if kept:
            # The lines before it are in the store now: say so, or a rerun of the whole file
            # would surprise (its earlier fires are refused as already done).
            if stop.line == 1:
                said = "nothing ran"
            else:
                ran = "line 1 ran and is" if stop.line == 2 else f"lines 1–{stop.line - 1} ran and are"
                refused = f" ({len(stop.errors)} command(s) refused)" if stop.errors else ""
                said = f"{ran} kept in {url}{refused}; line {stop.line} and the lines after it did not run"
            err.print(said, markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        engine.close()
    if url.source == ENV_DB:
        # Unseen on the command line: say where the commands went.
        err.print(f"replayed into {url} (named by {ENV_DB})", markup=False, highlight=False)
    if as_json:
        print(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{file.name}: {len(outcome.doctors)} doctor(s)")
    for column in ("doctor", "state", "reason", "flags"):
        table.add_column(column)
    for doctor, view in outcome.doctors.items():
        table.add_row(doctor, view["state"], view["reason"] or "", ", ".join(view["flags"]))
    console.print(table)
    if outcome.cases:
        cases = Table(title="workflow cases")
        for column in ("workflow", "case", "subject", "state", "data"):
            cases.add_column(column)
        for machine, by_id in outcome.cases.items():
            for case_id, view in by_id.items():
                data = json.dumps(view["data"], ensure_ascii=False) if view["data"] else ""
                cases.add_row(machine, case_id, view["subject"], view["state"], data)
        console.print(cases)
    if outcome.errors:
        errors = Table(title=f"{len(outcome.errors)} refused command(s)")
        for column in ("line", "code", "rule", "message"):
            errors.add_column(column)
        for e in outcome.errors:
            errors.add_row(str(e["line"]), e["code"], e["rule"] or "", e["message"])
        console.print(errors)


@app.command()
def verify(
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            help="锚点文件：证明其固定的内容此后未被改动 / "
            "An anchor file (renew-fsm anchor): prove nothing it pinned has changed since",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """校验历史记录与哈希链 / rebuild every instance from its history and check the hash chains; exit 1 on any mismatch.

    With the history key (RENEW_FSM_KEY_FILE or RENEW_FSM_KEY) each record's HMAC is checked; without
    it only the structure is, and verify says so.
    """
    if anchor is not None and not anchor.is_file():
        fail(f"no anchor file at {anchor}: make one with renew-fsm anchor --db URL --out FILE", 2)
    engine = open_existing(choose_db(db), adopt_key=False)
    try:
        # The bar's total: a count of each cycle's instances, a pass far quicker than the rebuild.
        total = sum(row[-1] for cycle in engine.storage.cycles() for row in engine.storage.tally(cycle))
        with _counting_bar("verifying") as bar:
            task = bar.add_task("verify", total=total)
            report = verify_store(engine, progress=lambda n: bar.advance(task, n), anchor=anchor)
        key = engine.key
    finally:
        engine.close()
    for finding in report.findings:
        err.print(f"  ✗ {finding}", markup=False)
    summary = (
        f"{report.checked} instance(s), {report.records} history record(s), "
        f"{report.registry_rows} registry row(s) in {report.registry_entries} log entr(ies)"
    )
    out = err if report.findings else console
    for line in _authenticity(report, key.id if key is not None else None):
        out.print(line, markup=False, highlight=False)
    if report.findings:
        err.print(f"[red]✗ {summary}: {len(report.findings)} problem(s)[/red]")
        raise typer.Exit(1)
    console.print(f"[green]✓ {summary}: every state matches its history, every chain holds[/green]")


def _authenticity(report: VerifyReport, key_id: str | None) -> list[str]:
    """What the hashes proved: by the key, by the old rule, or nothing beyond the structure."""
    old = (
        f"; {report.legacy} by the old unkeyed rule (written before the key, or rewritten without it)"
        if report.legacy
        else ""
    )
    if key_id is not None:
        lines = [f"authenticity: {report.keyed} record(s) and log entries carry a valid HMAC with key {key_id}{old}"]
    else:
        lines = [
            f"authenticity NOT checked: no history key ({ENV_KEY_FILE} or {ENV_KEY}); "
            f"{report.unchecked} keyed record(s) and log entries checked for structure only{old}"
        ]
    if report.anchor_lines:
        lines.append(f"anchor: {report.anchor_lines} line(s), the newest of {report.anchored_at}: checked")
    return lines


@app.command()
def anchor(
    out: Annotated[
        Path,
        typer.Option(help="锚点文件：每次运行追加一行 / The anchor file: one line is appended per run", dir_okay=False),
    ],
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
) -> None:
    """锚定哈希链 / pin the head of every chain: a heads file beside OUT, and one line appended to OUT.

    The line (its time, counts and the heads file's SHA-256) is what to print, sign or send away;
    verify --anchor OUT then proves nothing before it changed, even to someone who has the key.
    Run verify first: an anchor pins what is there, tampered or not.
    """
    if out.exists() and not out.is_file():
        fail(f"{out} is not a file", 2)
    if not out.parent.is_dir():
        fail(f"no folder {out.parent} for the anchor file", 2)
    engine = open_existing(choose_db(db), adopt_key=False)
    try:
        line = anchor_store(engine.storage, out)
    finally:
        engine.close()
    print(json.dumps(line, ensure_ascii=False, sort_keys=True))
    err.print(
        f"anchored {line['chains']} chain(s), {line['records']} record(s): {line['heads']} beside {out}; "
        "keep both, and send the line above away",
        markup=False,
        highlight=False,
    )


key_app = typer.Typer(help="历史密钥 / the history key that makes each record's hash an HMAC.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("init")
def key_init(
    out: Annotated[
        Path,
        typer.Option(
            help="新密钥写入的文件（已存在则拒绝） / Where to write the new key (refused if it exists)", dir_okay=False
        ),
    ],
) -> None:
    """生成历史密钥 / make a new random key in OUT (mode 0600).

    Name it in RENEW_FSM_KEY_FILE for every renew-fsm process."""
    try:
        key_id = init_key(out)
    except FileExistsError:
        fail(f"{out} exists: a key is never overwritten (records signed with it would stop verifying)", 2)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}", 2)
    print(f"key {key_id} written to {out} (readable by you only)")
    err.print(
        f"set {ENV_KEY_FILE}={out} for the service, the simulator and verify; keep a copy where the "
        "database's administrators cannot read it",
        markup=False,
        highlight=False,
    )


@app.command()
def history(
    doctor: Annotated[str, typer.Argument(help="医师编号 / doctor id")],
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（含中英文名称）/ print JSON, with labels")] = False,
) -> None:
    """考核记录 / a doctor's trail in the current cycle: one line per event, with actor, time and reason."""
    engine = open_existing(choose_db(db))
    try:
        records = engine.history(doctor)
    finally:
        engine.close()
    if as_json:
        print(json.dumps([labels.record(r) for r in records], ensure_ascii=False, indent=2))
        return
    # Plain lines, never wrapped or cut: a trail is read (and grepped) one event per line.
    # Chinese first, the id beside it: the ids stay greppable, the names are what a person reads.
    rows = [
        (
            str(r.seq),
            r.at,
            f"{labels.event(r.event).zh} {r.event}",
            f"{labels.state(r.from_state).zh} → {labels.state(r.to_state).zh}（{r.from_state} → {r.to_state}）",
            f"{labels.role(r.role).zh} {r.role}:{r.actor}" if r.actor else f"{labels.role(r.role).zh} {r.role}",
            "" if r.data == "{}" else r.data,
        )
        for r in records
    ]
    header = ("#", "时间 time", "操作 event", "状态 from → to", "操作者 actor", "数据 data")
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    print(f"{doctor}: {len(records)} event(s)")
    for lead, row in [("  ", header), *(("│ ", row) for row in rows)]:
        cells = [cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=False)]
        print(lead + " │ ".join([*cells, row[-1]]))


def _width(text: str) -> int:
    """Terminal columns: a Chinese character takes two, so the columns line up under each other."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@app.command()
def state(
    doctor: Annotated[str, typer.Argument(help="医师编号 / doctor id")],
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
) -> None:
    """考核状态 / a doctor's current state, reason and flags, as JSON with their Chinese and English labels."""
    engine = open_existing(choose_db(db))
    try:
        view = engine.state(doctor)
    finally:
        engine.close()
    print(json.dumps({"doctor": doctor, **labels.view(view)}, ensure_ascii=False))
