"""Run the installed ``renew-fsm`` command in a fresh process, the way a user or CI would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: ``renew_fsm.cli.main`` calls ``app(standalone_mode=False)`` and drops its return value, so a
#: command ending in ``raise typer.Exit(1)`` exits 0 from the console script; and it tests
#: ``click.ClickException`` while typer raises its vendored ``typer._click`` exceptions, so a
#: usage error prints a traceback.  The commands themselves exit correctly (tested in-process).
#: Strict: once ``main`` is fixed these tests pass, and this marker must go.
ENTRY_POINT_EXIT_BUG = pytest.mark.xfail(
    strict=True,
    reason="renew_fsm/cli/__init__.py main() discards the exit code of app(standalone_mode=False)"
    " and misses typer's vendored ClickException — reported, not ours to fix",
)


def renew_fsm(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("renew-fsm")
    exe = [str(script)] if script.exists() else [shutil.which("renew-fsm") or "renew-fsm"]
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([*exe, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
