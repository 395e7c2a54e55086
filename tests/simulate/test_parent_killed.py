"""Simulation workers die with their parent, and one run writes to a store at a time.

``kill -9`` of ``renew-fsm simulate`` used to leave its workers running: they
went on committing their shares of the doctors (76,858 records at the kill,
230,728 after), then sat idle for ever; a ``--resume`` started meanwhile
crashed on the doctors they were writing.  Now the workers are gone within
seconds of their parent, nothing more is written, and ``--resume`` ends as a
run never interrupted; a second run on a store still being written is refused
in one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

import renew_fsm
from renew_fsm.simulate import SimulationError, simulate

from .conftest import assert_clean_failure, cli, figures, simulate_json, start, written
from .test_determinism import history_digest

#: Long enough to be killed mid-run (30,000 doctors by two workers: about 300,000 records).
RUN = ("--doctors", "30000", "--seed", "7", "--workers", "2", "--batch", "250")
#: Fewer for PostgreSQL, where each page costs more (still long enough to be refused and killed mid-run).
PG_RUN = ("--doctors", "15000", "--seed", "7", "--workers", "2", "--batch", "100")
#: The issue's bound: no worker left this long after the parent was killed.
GONE_WITHIN = 5.0


def alive_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that still run (a zombie writes nothing, and may wait on a reaper)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name is in parentheses and may hold spaces: the fields start after the last ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            state, pgrp = fields[0], int(fields[2])
            if pgrp == group and state != "Z":
                found.append(int(entry.name))
    return found


def start_on(url: str, *args: str) -> subprocess.Popen[str]:
    """``start`` for any store URL (``start`` takes a path, which is just as good as a URL string)."""
    return start(Path(url) if "://" not in url else url, *args)  # type: ignore[arg-type]


def wait_until_written(run: subprocess.Popen[str], count: Callable[[], int], at_least: int = 1) -> None:
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline and count() < at_least:
        time.sleep(0.02)
    assert run.poll() is None, f"the run ended before it could be killed: {run.communicate()}"
    assert count() >= at_least, "nothing was committed in two minutes"


def kill_the_parent_and_see_the_workers_go(run: subprocess.Popen[str], count: Callable[[], int]) -> None:
    group = run.pid  # ``start`` gives the run a session (and a process group) of its own
    workers = [p for p in alive_in_group(group) if p != run.pid]
    assert len(workers) == 2, f"expected the pool's two workers, found {workers}"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    killed_at = time.monotonic()
    try:
        while alive_in_group(group) and time.monotonic() - killed_at < GONE_WITHIN:
            time.sleep(0.05)
        assert alive_in_group(group) == [], f"workers still running {GONE_WITHIN} s after their parent was killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # a failing test leaves no orphans behind
    settled = count()
    time.sleep(1.0)
    assert count() == settled, "records were still being written after the workers were gone"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("whole")
    return {
        "run": simulate_json(folder / "whole.db", *RUN),
        "digest": history_digest(folder / "whole.db"),
        "pg_run": simulate_json(folder / "pg_whole.db", *PG_RUN),
    }


def test_kill_9_of_the_parent_ends_its_workers_and_resume_ends_as_an_uninterrupted_run(
    uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "killed.db"
    run = start(db, *RUN)
    wait_until_written(run, lambda: written(db))
    kill_the_parent_and_see_the_workers_go(run, lambda: written(db))
    assert written(db) < uninterrupted["run"]["transitions"], "the run had finished before it was killed"
    resumed = simulate_json(db, *RUN, "--resume")
    assert resumed["resumed_from"] not in (None, "done")
    assert resumed["refusals"] == 0
    assert figures(resumed) == figures(uninterrupted["run"])
    assert history_digest(db) == uninterrupted["digest"]
    assert not Path(f"{db}-run").exists(), "the run's lock file is gone once the run is over"


def test_a_second_run_on_a_store_being_written_is_refused_in_one_line_and_the_first_goes_on(
    uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "busy.db"
    run = start(db, *RUN)
    try:
        wait_until_written(run, lambda: written(db))
        for extra in (("--resume",), ("--replace",), ()):
            before = written(db)
            second = cli("simulate", "--db", str(db), "--json", *RUN, *extra, timeout=60)
            assert_clean_failure(second, 1)
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: another simulation is still writing"), lines
            assert str(db) in lines[0]
            assert db.exists() and written(db) >= before, f"{extra}: the store being written was touched"
        _out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    assert run.returncode == 0, err
    assert "Traceback" not in err


def pg_count(url: str) -> int:
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM history").fetchone()[0]
    return 0


def test_on_postgresql_too_the_workers_die_with_their_parent_and_hold_the_store_until_then(
    uninterrupted: dict[str, Any], pg_url: str
) -> None:
    run = start_on(pg_url, *PG_RUN)
    try:
        wait_until_written(run, lambda: pg_count(pg_url))
        second = cli("simulate", "--db", pg_url, "--json", *PG_RUN, "--resume", timeout=60)
        assert_clean_failure(second, 1)
        assert "another simulation is still writing" in second.stderr
        kill_the_parent_and_see_the_workers_go(run, lambda: pg_count(pg_url))
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    resumed = simulate_json(pg_url, *PG_RUN, "--resume")  # type: ignore[arg-type]
    assert resumed["resumed_from"] not in (None, "done")
    assert resumed["refusals"] == 0
    # Every backend plays the same cycle (test_determinism): the SQLite run's figures are PostgreSQL's too.
    assert figures(resumed) == figures(uninterrupted["pg_run"])


#: Another process holding a store's run lock until its standard input closes, as a run's workers would.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"4242")
print("held", flush=True)
sys.stdin.read()
"""


def test_the_library_refuses_a_store_another_process_holds_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{db}-run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    engine = renew_fsm.open(str(db))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(SimulationError, match=r"another simulation is still writing .*process 4242"):
            simulate(engine, 50, 7)
        assert engine.storage.get_meta("simulation") is None, "nothing was written"
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        # The holder is gone without tidying up: the lock file it left keeps nobody out.
        assert Path(f"{db}-run").exists()
        assert simulate(engine, 50, 7).refusals == 0
        assert not Path(f"{db}-run").exists()
    finally:
        engine.close()
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
