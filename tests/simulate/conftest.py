"""What the simulation tests share: the installed command, and one acceptance run of 20,000 doctors.

The acceptance run is the issue's literal command, run once per test session
in a fresh process; every test that needs "that database" reads the same one,
so the 20,000-doctor cycle is paid for once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import renew_fsm

#: The issue's acceptance command, word for word (plus --db, to know where the store is).
ACCEPTANCE = ("simulate", "--doctors", "20000", "--seed", "7", "--json")
ACCEPTANCE_DOCTORS = 20_000
#: Summary keys that measure the machine, not the cycle.
TIMINGS = ("seconds", "transitions_per_second")


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed ``renew-fsm`` in a fresh process, the way an office runs it."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    return subprocess.run(["renew-fsm", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)


def assert_clean_failure(result: subprocess.CompletedProcess[str], status: int = 1) -> None:
    """A user's mistake: the given exit status, a message on stderr, never a traceback."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip(), "a failure must say why"


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """A run's summary without the timings and the resume note: what the same seed must reproduce."""
    return {k: v for k, v in summary.items() if k not in (*TIMINGS, "resumed_from")}


def simulate_json(db: Path, *args: str) -> dict[str, Any]:
    """``renew-fsm simulate --json --db DB …``; the summary it printed."""
    result = cli("simulate", "--db", str(db), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@attrs.frozen
class Run:
    """One finished simulation: where its store is and what it printed."""

    db: Path
    summary: dict[str, Any]
    wall_seconds: float

    def engine(self) -> renew_fsm.Engine:
        return renew_fsm.open(str(self.db))


@pytest.fixture(scope="session")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``renew-fsm simulate --doctors 20000 --seed 7 --json`` in a fresh directory, once per session."""
    folder = tmp_path_factory.mktemp("acceptance")
    started = time.perf_counter()
    result = cli(*ACCEPTANCE, "--db", "acceptance.db", cwd=folder)
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return Run(folder / "acceptance.db", json.loads(result.stdout), wall)


@pytest.fixture(scope="session")
def acceptance_engine(acceptance: Run) -> Iterator[renew_fsm.Engine]:
    engine = acceptance.engine()
    yield engine
    engine.close()


def start(db: Path, *args: str) -> subprocess.Popen[str]:
    """``renew-fsm simulate`` in the background, as a terminal's foreground job has it.

    SIGINT restored: a test run started in the background by a shell without job control (CI
    under nohup …&) inherits SIGINT ignored, and so would the run.
    """
    env = {k: v for k, v in os.environ.items() if k != "RENEW_FSM_DB"}
    return subprocess.Popen(
        ["renew-fsm", "simulate", *args, "--db", str(db), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def written(db: Path) -> int:
    """History rows a running simulation has committed so far, read without taking any lock.

    Read-only and without the library: opening the store the usual way may
    create its schema and wait on the running simulation's write lock.
    """
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as conn:
            return conn.execute("SELECT count(*) FROM history").fetchone()[0]
    except sqlite3.Error:
        return 0
