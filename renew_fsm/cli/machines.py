"""``check`` and ``diagram``: the machine definitions, validated and drawn."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ..machines import MACHINES
from ..machines.dsl import Machine
from ..machines.graph import build
from ..machines.render import dot, mermaid, role_table
from ..machines.validate import validate
from .common import app, console, err, fail, out_path, write


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
    machines: Annotated[list[str] | None, typer.Argument(help="Machine ids (default: all shipped)")] = None,
    definition: Annotated[
        list[str] | None, typer.Option("--from", help="Also check a machine from module:attribute")
    ] = None,
) -> None:
    """Validate machine definitions: reachability, dead ends, roles, rule ids, ambiguity."""
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


#: The diagram formats, and the file suffix of each.
RENDERERS = {"mermaid": mermaid, "dot": dot}
SUFFIXES = {"mermaid": ".mmd", "dot": ".dot"}


@app.command()
def diagram(
    machine: Annotated[str | None, typer.Argument(help="Machine id")] = None,
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="mermaid or dot (default mermaid; with --all, both)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every machine, written to --out")] = False,
    out: Annotated[
        str | None, typer.Option(help="A file for one machine (a folder: <machine>.mmd in it); the folder for --all")
    ] = None,
) -> None:
    """Draw a machine as Mermaid or Graphviz DOT text (no system binary needed)."""
    if format is not None and format not in RENDERERS:
        raise typer.BadParameter("--format is mermaid or dot")
    if all_:
        folder = Path(out or "docs/diagrams")
        if folder.exists() and not folder.is_dir():
            fail(f"{folder} is a file: --all writes every machine into a folder, e.g. --out docs/diagrams")
        # --all alone redraws docs/ (both formats and the role table); with --format, that format's files.
        suffix = SUFFIXES.get(format or "")
        for path, text in diagram_files(folder).items():
            if suffix is not None and path.suffix != suffix:
                continue
            write(path, _text(text, make_folder=True))
        return
    if machine is None or machine not in MACHINES:
        raise typer.BadParameter(f"name a machine: {', '.join(MACHINES)} (or --all)")
    chosen = format or "mermaid"
    text = RENDERERS[chosen](build(MACHINES[machine]))
    if out is None:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    path = out_path(out, f"{machine}{SUFFIXES[chosen]}")
    write(path, _text(text))


def _text(text: str, *, make_folder: bool = False) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        if make_folder:  # --all makes docs/diagrams in a fresh checkout; one file goes where it is told
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return save


def diagram_files(folder: Path) -> dict[Path, str]:
    """Every generated file under ``folder`` with its text (the freshness test compares these)."""
    graphs = [build(m) for m in MACHINES.values()]
    files = {folder / f"{g.id}{SUFFIXES[name]}": draw(g) for name, draw in RENDERERS.items() for g in graphs}
    files[folder / "roles.md"] = role_table(graphs)
    return files
