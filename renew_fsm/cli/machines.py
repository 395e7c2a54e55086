"""``check`` and ``diagram``: the machine definitions, validated and drawn."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ..machines import MACHINES
from ..machines.dsl import Machine
from ..machines.graph import Graph, build
from ..machines.render import dot, index, mermaid, role_table
from ..machines.svg import svg
from ..machines.validate import validate
from ..machines.views import Diagram, overview, traced, view_of, views
from .common import DB_HELP, app, choose_db, console, err, fail, out_path, write
from .store import open_existing


def _load(ref: str) -> Machine:
    module, _, attribute = ref.partition(":")
    try:
        value = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise typer.BadParameter(f"cannot load {ref!r}: {exc}") from None
    if not isinstance(value, Machine):
        raise typer.BadParameter(f"{ref!r} is not a Machine")
    return value


@app.command()
def check(
    machines: Annotated[
        list[str] | None, typer.Argument(help="状态机编号（默认全部） / Machine ids (default: all shipped)")
    ] = None,
    definition: Annotated[
        list[str] | None,
        typer.Option("--from", help="另检查 module:attribute 中的状态机 / Also check a machine from module:attribute"),
    ] = None,
) -> None:
    """检查状态机定义 / validate machine definitions: reachability, dead ends, roles, rule ids, ambiguity."""
    unknown = [m for m in machines or [] if m not in MACHINES]
    if unknown:
        raise typer.BadParameter(f"unknown machine {unknown[0]!r} (known: {', '.join(MACHINES)})")
    chosen = [MACHINES[m] for m in machines] if machines else list(MACHINES.values())
    chosen += [_load(ref) for ref in definition or []]
    failed = 0
    for machine in chosen:
        problems = validate(machine)
        if problems:
            failed += 1
            err.print(f"[red]✗ {machine.id}[/red]: {len(problems)} problem(s)")
            for problem in problems:
                err.print(f"  {problem}", markup=False)
        else:
            g = build(machine)
            console.print(
                f"[green]✓ {machine.id}[/green]: {len(g.leaves())} states, {len(g.edges)} transitions, "
                f"{len(machine.events)} events — no problems"
            )
    if failed:
        raise typer.Exit(1)


#: The diagram formats: the renderer, and the file suffixes it writes (the first is the default).
FORMATS: dict[str, tuple[Callable[[Diagram], str], tuple[str, ...]]] = {
    "mermaid": (mermaid, (".mmd", ".mermaid")),
    "dot": (dot, (".dot", ".gv")),
    "svg": (svg, (".svg",)),
}
SUFFIXES = {name: suffixes[0] for name, (_, suffixes) in FORMATS.items()}
FORMAT_NAMES = ", ".join(f"{name} ({suffixes[0]})" for name, (_, suffixes) in FORMATS.items())


@app.command()
def diagram(
    machine: Annotated[
        str | None, typer.Argument(help="状态机编号 / Machine id (default with --doctor: doctor)")
    ] = None,
    view: Annotated[
        str | None,
        typer.Option(
            help=(
                "复合状态的分图，如 simple（默认：总图） / "
                "A compound state's own view, e.g. simple (default: the overview)"
            )
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="格式 / mermaid, dot or svg (default: from --out's suffix, else mermaid; with --all, every one). "
            "SVG is laid out by renew_fsm itself: no Graphviz needed",
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option("--all", help="所有状态机的所有视图，写入 --out / Every view of every machine, written to --out"),
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(
            help="输出文件或目录 / a file (its suffix must match the format), a folder to write <view>.<suffix> in, "
            "or with --all the folder"
        ),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            help="SVG 排版方式 / svg only: builtin (no program needed) or graphviz (Graphviz's dot, where installed)"
        ),
    ] = "builtin",
    db: Annotated[str | None, typer.Option(help=DB_HELP + "; with --doctor")] = None,
    doctor: Annotated[
        str | None,
        typer.Option(
            help="标出该医师的当前位置和经过的路径 / Mark where this doctor is and the path taken (read from --db)"
        ),
    ] = None,
) -> None:
    """绘制状态图 / draw a machine — an overview and a view per compound state — as Mermaid, DOT or SVG.

    绘制状态图：概览（复合状态折叠）与各复合状态的分图；--doctor 标出医师当前所在与经过的路径。
    """
    if format is not None and format not in FORMATS:
        raise typer.BadParameter(f"--format is one of {', '.join(FORMATS)}")
    if layout not in ("builtin", "graphviz"):
        raise typer.BadParameter("--layout is builtin or graphviz")
    if all_:
        if doctor is not None or view is not None:
            fail("--all draws every view of every machine: leave out --doctor and --view, or leave out --all")
        folder = Path(out or "docs/diagrams")
        if folder.exists() and not folder.is_dir():
            fail(f"{folder} is a file: --all writes every machine into a folder, e.g. --out docs/diagrams")
        # --all alone redraws docs/ (every format and the role table); with --format, that format's files.
        suffix = SUFFIXES.get(format or "")
        for path, text in diagram_files(folder).items():
            if suffix is not None and path.suffix != suffix:
                continue
            write(path, _text(text, make_folder=True))
        return
    if machine is None and doctor is not None:
        machine = "doctor"
    if machine is None or machine not in MACHINES:
        raise typer.BadParameter(f"name a machine: {', '.join(MACHINES)} (or --all)")
    chosen = _format("svg" if format is None and layout == "graphviz" else format, out)
    graph = build(MACHINES[machine])
    if doctor is not None:
        if machine != "doctor" or view is not None:
            fail("--doctor draws a doctor's path on the doctor machine's overview: leave out --view and the machine")
        drawn = _traced(graph, db, doctor)
    elif view is not None:
        names = [d.id.split(".", 1)[1] for d in views(graph)[1:]]
        if view not in names:
            raise typer.BadParameter(f"{machine} has no view {view!r} (views: {', '.join(names) or 'none'})")
        drawn = view_of(graph, view)
    else:
        drawn = overview(graph)
    if layout == "graphviz" and chosen != "svg":
        fail(f"--layout graphviz lays out SVG: add --format svg (or leave out --layout for {chosen})")
    text = _graphviz(drawn) if layout == "graphviz" else FORMATS[chosen][0](drawn)
    if out is None:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    path = out_path(out, f"{drawn.id}{SUFFIXES[chosen]}")
    write(path, _text(text))


def _format(given: str | None, out: str | None) -> str:
    """The format asked for, checked against the suffix of ``--out`` (a .png full of DOT helps nobody)."""
    suffix = ""
    if out and out.strip() and not Path(out).is_dir() and not out.endswith(("/", os.sep)):
        suffix = Path(out).suffix.lower()
    by_suffix = next((name for name, (_, suffixes) in FORMATS.items() if suffix in suffixes), None)
    if given is None:
        if suffix and by_suffix is None:
            fail(f"--out {out}: a diagram is written as {FORMAT_NAMES}; {suffix} is none of them")
        return by_suffix or "mermaid"
    if suffix and by_suffix != given:
        fix = Path(out or "").with_suffix(SUFFIXES[given])
        fail(f"--out {out} does not match --format {given}: name it {fix} (or choose the format its suffix names)")
    return given


def _graphviz(drawn: Diagram) -> str:
    """The SVG Graphviz's ``dot`` lays out from our DOT text — only where it is installed."""
    program = shutil.which("dot")
    if program is None:
        fail("--layout graphviz needs Graphviz's dot on PATH; the built-in layout needs nothing: leave out --layout")
    done = subprocess.run(
        [program, "-Tsvg"], input=dot(drawn), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        fail(f"Graphviz's dot failed: {said[-1] if said else f'exit status {done.returncode}'}")
    return done.stdout


def _traced(graph: Graph, db: str | None, doctor: str) -> Diagram:
    engine = open_existing(choose_db(db))
    try:
        current = engine.state(doctor).state
        path = [(r.event, r.from_state, r.to_state) for r in engine.history(doctor)]
    finally:
        engine.close()
    return traced(graph, current, path)


def _text(text: str, *, make_folder: bool = False) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        if make_folder:  # --all makes docs/diagrams in a fresh checkout; one file goes where it is told
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return save


def diagram_files(folder: Path) -> dict[Path, str]:
    """Every generated file under ``folder`` with its text (the freshness test compares these)."""
    graphs = [build(m) for m in MACHINES.values()]
    files = {
        folder / f"{d.id}{SUFFIXES[name]}": render(d)
        for g in graphs
        for d in views(g)
        for name, (render, _) in FORMATS.items()
    }
    files[folder / "README.md"] = index([d for g in graphs for d in views(g)])
    files[folder / "roles.md"] = role_table(graphs)
    return files
