"""Run the installed ``renew-fsm`` command in a fresh process, the way a user or CI would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def renew_fsm(
    *args: str, pythonpath: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``renew-fsm ARGS``; ``env`` overrides variables of the environment (e.g. a bare ``PATH``)."""
    script = Path(sys.executable).with_name("renew-fsm")
    exe = [str(script)] if script.exists() else [shutil.which("renew-fsm") or "renew-fsm"]
    env = {**os.environ, **(env or {})}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([*exe, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
