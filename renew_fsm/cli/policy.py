"""``policy lint`` and ``policy list``: a province's policy file, checked before the cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..rules.lint import lint as lint_policy
from ..rules.policy import PolicyError, load, shipped
from .common import app, console, err, fail

policy_app = typer.Typer(
    help="考核政策文件：列出随附的政策、检查政策文件 / cycle policy files: list the shipped ones, lint a file.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


@policy_app.command("list")
def list_() -> None:
    """随附的考核政策 / the policies shipped with the library."""
    for name, path in sorted(shipped().items()):
        p = load(path)
        console.print(f"{name}  {p.policy.zh}  (version {p.version}, period {p.period.start} … {p.period.end})")


@policy_app.command()
def lint(
    source: Annotated[str, typer.Argument(help="随附政策名或 TOML 文件 / a shipped policy name or a TOML file")],
) -> None:
    """检查考核政策：有错误时退出码为 1，只有提醒时为 0 / check a policy: errors exit 1, warnings exit 0."""
    if Path(source).is_dir():
        fail(f"{source} is a folder: give a policy file (.toml) or a shipped name (renew-fsm policy list)")
    try:
        policy = load(source)
    except PolicyError as exc:
        err.print(f"[red]✗ {exc.source}[/red]")
        for problem in exc.problems:
            err.print(f"  ERROR   {problem}", markup=False)
        raise typer.Exit(1) from None
    findings = lint_policy(policy)
    for finding in findings:
        (err if finding.level == "error" else console).print(f"  {finding}", markup=False)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    summary = (
        f"{policy.id} {policy.version}：错误 {errors} 项，提醒 {warnings} 项 / "
        f"{policy.id} {policy.version}: {errors} error(s), {warnings} warning(s)"
    )
    if errors:
        err.print(f"[red]✗ {summary}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]✓ {summary}[/green]")
