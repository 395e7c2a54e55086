"""Stopping a parallel simulation: Ctrl-C, and a worker process killed from outside.

With two workers the parent waits on them, so Ctrl-C has to reach them: a run
that took the rest of each worker's slice to stop (42 s at 300,000 doctors)
looks hung, and a worker killed by the out-of-memory killer must not end in a
traceback.  Either way the pages committed so far stay, and ``--resume``
finishes the cycle with the figures of a run never interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import figures, simulate_json, start, written

#: Big enough that a worker's slice of the first pass is about 140,000 records, so a stop that
#: waits for it is told apart from one that waits for a page (250 doctors, about 2,400 records).
CTRL_C = ("--doctors", "30000", "--seed", "7", "--workers", "2", "--batch", "250")
#: Records the workers may still commit once told to stop: the page each is deciding, with room
#: (a doctor's first pass is at most a dozen events).  Counted, not timed, so a slow machine is no matter.
AFTER_THE_STOP = 2 * 250 * 12
KILLED = ("--doctors", "4000", "--seed", "7", "--workers", "2", "--batch", "100")


def wait_for_the_first_page(run: subprocess.Popen[str], db: Path) -> None:
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline and written(db) == 0:
        time.sleep(0.02)
    assert run.poll() is None, f"the run ended before it could be stopped: {run.communicate()}"
    assert written(db) > 0, "no page was committed in two minutes"


def workers_of(pid: int) -> list[int]:
    """The processes forked from ``pid``'s descendants that run the same program (the pool's workers)."""

    def children(p: int) -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            return []

    def cmdline(p: int) -> bytes:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return b""

    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in children(parent):
            todo.append(child)
            if cmdline(child) == cmdline(parent):
                found.append(child)
    return found


@pytest.fixture(scope="module")
def never_interrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("whole")
    return {
        "ctrl_c": simulate_json(folder / "ctrl_c.db", *CTRL_C),
        "killed": simulate_json(folder / "killed.db", *KILLED),
    }


def test_ctrl_c_stops_two_workers_after_their_page_and_resume_ends_as_an_uninterrupted_run(
    never_interrupted: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    db = tmp_path / "cut.db"
    run = start(db, *CTRL_C)
    wait_for_the_first_page(run, db)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal sends: the parent and the workers
    seen = written(db)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, (out[:300], err)
    more = written(db) - seen
    assert more <= AFTER_THE_STOP, f"{more} records after Ctrl-C: the workers finished their slices instead"
    assert "Traceback" not in err and out == ""
    assert "interrupted" in err and "--resume" in err
    resumed = simulate_json(db, *CTRL_C, "--resume")
    assert resumed["resumed_from"] not in (None, "done")
    assert resumed["refusals"] == 0
    assert figures(resumed) == figures(never_interrupted["ctrl_c"])


def test_a_worker_killed_from_outside_ends_in_one_line_pointing_to_resume(
    never_interrupted: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    db = tmp_path / "oom.db"
    run = start(db, *KILLED)
    wait_for_the_first_page(run, db)
    workers = workers_of(run.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)  # as the out-of-memory killer does
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, (out[:300], err)
    assert "Traceback" not in err and "BrokenProcessPool" not in err and out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: a worker process died"), err
    assert "--resume" in lines[-1]
    resumed = simulate_json(db, *KILLED, "--resume")
    assert resumed["refusals"] == 0
    assert figures(resumed) == figures(never_interrupted["killed"])
