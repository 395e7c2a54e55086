"""docs/simulation.md tells the truth: its commands run, and it explains every option, phase and profile field.

The ``sh`` blocks run in order in one empty directory, the way an office would
type them, with ``--doctors`` cut to a few hundred so the suite stays fast; a
command marked ``# → exit N`` must fail with that status.  The ``python`` block
runs too.  The doc's tables are checked against the code they describe, so a
new option, phase or profile field without a line in the doc fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import attrs
import pytest
import typer

from renew_fsm.cli.common import app
from renew_fsm.rules.policy import load as load_policy
from renew_fsm.simulate import END_STATES, PHASES
from renew_fsm.simulate.profile import Profile

DOC = Path(__file__).resolve().parent.parent / "docs" / "simulation.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECTED_EXIT = re.compile(r"#\s*→\s*exit (\d+)")
SMALL = "400"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(text()) if lang == language]


def commands() -> list[tuple[str, int]]:
    """Each shell command of the doc with the exit status it must end with."""
    found = []
    for body in blocks("sh"):
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            expected = EXPECTED_EXIT.search(line)
            found.append((line, int(expected.group(1)) if expected else 0))
    return found


def small(command: str) -> str:
    """The command with a few hundred doctors instead of thousands."""
    return re.sub(r"--doctors \d+", f"--doctors {SMALL}", command)


def test_the_doc_has_commands_for_every_part_of_the_job() -> None:
    typed = " ".join(c for c, _ in commands())
    for needed in (
        "renew-fsm simulate --doctors",
        "--print-profile",
        "--profile",
        "--resume",
        "--json",
        "renew-fsm stats",
        "--format xlsx",
        "--format csv",
        "renew-fsm notice",
        ".pdf",
        "renew-fsm history",
        "renew-fsm verify",
    ):
        assert needed in typed, needed
    assert any(status == 1 for _, status in commands()), "the refused second run is shown"


def test_every_shell_command_in_the_doc_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RENEW_FSM_DB"}
    for command, status in commands():
        run = subprocess.run(
            ["bash", "-c", small(command)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == status, f"{command!r} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
        assert "Traceback" not in run.stderr, command
    # What the commands promise to leave behind.
    for made in ("rehearsal.db", "my-profile.toml", "mine.db", "paused.db", "small.db", "考核统计.xlsx"):
        assert (tmp_path / made).exists(), made
    assert (tmp_path / "institutions.progress.csv").exists() and (tmp_path / "institutions.results.csv").exists()
    assert (tmp_path / "D0000000.pdf").read_bytes().startswith(b"%PDF-")
    assert "医师定期考核结果通知书" in (tmp_path / "D0000000.html").read_text(encoding="utf-8")


def test_the_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-profile.toml").write_text(
        subprocess.run(["renew-fsm", "simulate", "--print-profile"], capture_output=True, text=True).stdout,
        encoding="utf-8",
    )
    (code,) = blocks("python")
    exec(compile(code.replace("doctors=20000", f"doctors={SMALL}"), f"{DOC.name} python block", "exec"), {})
    assert (tmp_path / "考核统计.xlsx").exists()


def test_every_option_of_simulate_is_in_the_options_table() -> None:
    command = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    table = text().split("## The command")[1].split("## The phases")[0]
    for param in command.params:
        if getattr(param, "hidden", False) or param.name == "help":
            continue
        assert f"`{param.opts[0]}" in table, param.opts[0]


def test_the_phase_table_lists_every_phase_in_calendar_order_with_its_dates() -> None:
    section = text().split("## The phases, in calendar order")[1].split("## The synthetic province")[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \| `", line)]
    names = [re.search(r"\| `(\w+)` \|", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert names == ["setup", *(p.name for p in PHASES)]
    windows = load_policy("guangxi-2019-2020").windows
    for row in rows:
        name = re.search(r"\| `(\w+)` \|", row).group(1)  # type: ignore[union-attr]
        phase = next((p for p in PHASES if p.name == name), None)
        assert phase is None or phase.zh in row, name
        window = getattr(windows, name, None)
        if window is not None:
            assert f"{window.start:%Y-%m-%d}"[5:] in row and f"{window.end:%m-%d}" in row, name
        if phase is not None and phase.sweep:
            after = getattr(windows, phase.window).end
            assert f"{after.year}-{after.month:02d}-{after.day + 1:02d} 00:30" in row, name
    for state in END_STATES:
        assert f"`{state}`" in section, state


@pytest.mark.parametrize(
    ("table", "field"),
    [
        (t.name, f.name)
        for t in attrs.fields(attrs.resolve_types(Profile))
        if t.name != "text"
        for f in attrs.fields(t.type)
    ],
)
def test_every_profile_field_is_explained(table: str, field: str) -> None:
    section = text().split(f"### `[{table}]`")[1].split("###")[0].split("## ")[0]
    assert re.search(rf"\| [^|]*`{field}`[^|]*\| [^|]+ \| \S", section), f"{table}.{field} is not explained"
