"""kill -9 in the middle of a simulation, three times over: nothing half-written, and the resumed
cycle ends with the figures of a run that was never interrupted.

``renew-fsm simulate --doctors 20000 --seed 7 --workers 1`` runs as a child
process.  The test watches the store from outside (the phase the simulation
records in ``meta`` and the number of history records) and kills the child
with SIGKILL at three moments of the write-heavy passes: while the 20,000
doctors are being inserted, in the middle of the pass that plays registration,
the first round and grading (≈190,000 events in pages of 2,000 doctors), and
again in that pass once the resumed run has written more of it.  After each
kill ``renew-fsm verify`` must find every instance equal to its history and
every chain whole; the next run is ``--resume``, and the last one's figures
(``--json``, timing fields aside) must equal an uninterrupted run of the same
seed.  The same on SQLite and on PostgreSQL; the uninterrupted reference runs
once, on SQLite, alongside — the figures do not depend on the backend.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DOCTORS = "20000"
SIMULATE = ["renew-fsm", "simulate", "--doctors", DOCTORS, "--seed", "7", "--workers", "1"]
#: Summary fields that measure the run rather than the cycle.
TIMING = ("seconds", "transitions_per_second", "resumed_from")
RUN_TIMEOUT = 300
ENV = {**os.environ, "COLUMNS": "200"}


def figures(stdout: str) -> dict[str, Any]:
    summary = json.loads(stdout)
    return {k: v for k, v in summary.items() if k not in TIMING}


def start(*args: str) -> subprocess.Popen[str]:
    """A child in its own process group, so the kill reaches it and nothing else."""
    return subprocess.Popen(
        [*SIMULATE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], dict[str, Any]]]:
    """The uninterrupted run, started at once in the background; call the result to wait for its figures."""
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    proc = start("--db", str(path), "--json")
    done: dict[str, Any] = {}

    def wait() -> dict[str, Any]:
        if not done:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            assert proc.returncode == 0 and "Traceback" not in err, err
            done.update(figures(out))
        return done

    yield wait
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- looking at the store from outside ----------------------------------------------------------------


class Probe:
    """Reads the phase the simulation is in and how many history records are committed."""

    def __init__(self, url: str):
        self.url = url
        self.conn: Any = None

    def _connect(self) -> Any:
        if self.url.startswith("postgresql://"):
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        if not Path(self.url).exists():
            return None
        return sqlite3.connect(f"file:{self.url}?mode=ro", uri=True, timeout=5)

    def read(self) -> tuple[str | None, int]:
        try:
            if self.conn is None:
                self.conn = self._connect()
                if self.conn is None:
                    return None, 0
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'simulation.next'").fetchone()
            count = self.conn.execute("SELECT count(*) FROM history").fetchone()[0]
            return (row[0] if row else None), count
        except Exception:  # the schema is not there yet
            self.close()
            return None, 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def kill_when(
    proc: subprocess.Popen[str], probe: Probe, ready: Callable[[str | None, int], bool], what: str, wait: float
) -> tuple[str | None, int]:
    """SIGKILL the child ``wait`` seconds after ``ready(phase, records)`` holds; the phase and count seen then."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        phase, count = probe.read()
        if ready(phase, count):
            time.sleep(wait)
            if proc.poll() is not None:
                pytest.fail(f"the simulation ended before the kill ({what})")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            return phase, count
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the simulation ended before the kill ({what}): exit {proc.returncode}\n{err[-2000:]}")
        time.sleep(0.02)
    pytest.fail(f"never reached the moment to kill ({what})")


def verify_cli(url: str) -> str:
    result = subprocess.run(
        ["renew-fsm", "verify", "--db", url], capture_output=True, text=True, env=ENV, timeout=RUN_TIMEOUT
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "every state matches its history, every chain holds" in result.stdout, result.stdout
    return result.stdout.strip()


# -- the test -------------------------------------------------------------------------------------------

#: (name, when to kill, then how long to wait): as the first doctors are added and driven, in the
#: middle of that pass, and in it again once the resumed run has added 8,000 records.  ``phase`` is
#: the pass's first phase (``simulation.next``): the setup, whose pass drives the doctors it adds
#: through registration to grading.  A page of 2,000 doctors is decided then committed in about
#: 0.5 s; the waits after a page has just landed put the kill at different points of the next one
#: (deciding, writing).
MOMENTS: list[tuple[str, Callable[[str | None, int, dict[str, int]], bool], float]] = [
    ("adding the first doctors", lambda phase, n, seen: phase == "setup", 0.2),
    ("mid-way through the first pass", lambda phase, n, seen: phase == "setup" and n >= 40_000, 0.3),
    (
        "in that pass again, resumed",
        lambda phase, n, seen: phase == "setup" and n >= seen.setdefault("setup", n) + 8_000,
        0.1,
    ),
]


def test_killed_three_times_then_resumed_gives_the_same_figures(
    sql_url: str, tmp_path: Path, reference: Callable[[], dict[str, Any]]
) -> None:
    url = sql_url
    probe = Probe(url)
    log = []
    started = time.perf_counter()
    try:
        for n, (what, moment, wait) in enumerate(MOMENTS):
            proc = start("--db", url, *(["--resume"] if n else []), "--json")
            seen: dict[str, int] = {}
            phase, count = kill_when(proc, probe, lambda p, c, m=moment, s=seen: m(p, c, s), what, wait)
            probe.close()
            report = verify_cli(url)
            log.append(f"killed {what} ({phase} at {count:,} records, +{wait} s): {report.split(':')[0]}")
        final = subprocess.run(
            [*SIMULATE, "--db", url, "--resume", "--json"], capture_output=True, text=True, env=ENV, timeout=RUN_TIMEOUT
        )
        assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr[-3000:]
        resumed = json.loads(final.stdout)
        assert resumed["resumed_from"] is not None
        log.append(f"resumed from {resumed['resumed_from']}: {resumed['transitions']:,} events")
        log.append(verify_cli(url))
    finally:
        probe.close()
    assert figures(final.stdout) == reference(), "the resumed cycle's figures differ from the uninterrupted run"
    print(f"\n{url.split('?')[0]} ({time.perf_counter() - started:.1f} s):\n  " + "\n  ".join(log))
