"""Running ``renew-fsm`` the way a user does, in a fresh process (the tree under test: see conftest)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``renew-fsm ARGS``; RENEW_FSM_DB is unset unless ``env`` sets it."""
    base = {k: v for k, v in os.environ.items() if k != "RENEW_FSM_DB"}
    full = {**base, "COLUMNS": "200", **(env or {})}
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=full, timeout=timeout, cwd=cwd)


def refused(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """A user's mistake: one ``error:`` line on stderr, the given exit status, no traceback; the line."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    return lines[-1]


def jsonl(path: Path, *lines: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path
