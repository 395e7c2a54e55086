"""``python -m benchmarks`` refuses a bad argument up front, in one line, before a run of many minutes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--sizes", "20000,2e5"], "--sizes: not comma-separated whole numbers: '20000,2e5'"),
        (["--sizes", "0"], "--sizes: every size must be at least 1 doctor"),
        (["--only", "bulk,reeds"], "--only: unknown section(s) reeds"),
    ],
)
def test_a_bad_argument_is_one_line_and_runs_nothing(args: list[str], says: str) -> None:
    result = bench(*args)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_figures_file_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = bench("--only", "bulk", "--sizes", "1", "--json", str(tmp_path / "a-file" / "figures.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a-file" in result.stderr
    assert result.stdout == ""  # refused before the first section started


def test_missing_folders_for_the_scratch_and_the_figures_are_made(tmp_path: Path) -> None:
    figures = tmp_path / "out" / "figures.json"
    result = bench(
        "--only", "bulk", "--sizes", "30", "--dir", str(tmp_path / "scratch" / "deep"), "--json", str(figures)
    )
    assert result.returncode == 0, result.stderr
    written = json.loads(figures.read_text(encoding="utf-8"))
    (run,) = written["bulk"]["runs"]
    assert run["doctors"] == 30 and run["transitions"] > 0
    # The machine's speed beside the figures, before and after: runs at two hours compare only with it.
    assert all(0 < written["machine"][k] < 1000 for k in ("speed_us_before", "speed_us_after"))
    # And the interpreter that ran them: two builds of the same Python differ by a sixth here.
    assert Path(written["machine"]["python_executable"]).is_file()
    assert written["machine"]["libpython"].startswith(("shared (", "linked into"))
    assert "µs before" in result.stdout
    assert (tmp_path / "scratch" / "deep").is_dir()


def test_the_peers_section_prints_each_rate_and_the_ratio(tmp_path: Path) -> None:
    """The three rows fire the same path; the figures file keeps every sample and the ratio."""
    figures = tmp_path / "figures.json"
    result = bench("--only", "peers", "--quick", "--json", str(figures))
    assert result.returncode == 0, result.stderr
    peers = json.loads(figures.read_text(encoding="utf-8"))["peers"]
    assert set(peers["rates"]) == {"renew_fsm", "renew_fsm keyed", "transitions", "python-statemachine"}
    assert all(len(samples) == 2 and min(samples) > 0 for samples in peers["rates"].values())
    best = max(peers["medians"]["transitions"], peers["medians"]["python-statemachine"])
    assert peers["ratio"] == pytest.approx(peers["medians"]["renew_fsm"] / best, rel=1e-3)
    # Where the time goes: each store's statements alone, what its engine adds to them, and
    # renew_fsm's engine on the memory store (its checks without SQL).
    assert set(peers["statements_alone"]) == {"renew_fsm statements", "hand store statements"}
    assert all(len(samples) == 2 and min(samples) > 0 for samples in peers["statements_alone"].values())
    assert len(peers["engine_without_sql"]) == 2 and min(peers["engine_without_sql"]) > 0
    split = peers["us_per_event"]
    whole = 1e6 / peers["medians"]["renew_fsm"]
    assert split["renew_fsm statements"] + split["renew_fsm engine"] == pytest.approx(whole, abs=0.1)
    parts = split["renew_fsm engine without SQL"] + split["renew_fsm SQLite store"]
    assert parts == pytest.approx(split["renew_fsm engine"], abs=0.15)
    # The best ratio the statements allow: the faster peer's whole fire over renew_fsm's statements
    # and its engine without SQL.
    without_store = split["renew_fsm statements"] + split["renew_fsm engine without SQL"]
    assert peers["ceiling"] == pytest.approx(1e6 / best / without_store, rel=0.01)
    assert "best ratio these statements allow" in result.stdout
    assert "statements alone" in result.stdout
    assert "renew_fsm ÷" in result.stdout
