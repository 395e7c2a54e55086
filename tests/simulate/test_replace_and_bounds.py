"""What ``simulate`` may delete or write over, and the sizes it accepts.

``--replace`` starts a rehearsal again; it must never cost an office its real
cycle database, or a file that is not a database at all.  Sizes no province
has are refused before a file is touched, instead of failing half-way (a
batch beyond SQLite's integers) or filling the memory in silence.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from renew_fsm.simulate import SimulationError, discard

from .conftest import assert_clean_failure, cli, simulate_json

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
SCENARIO = SCENARIOS / "assistant_physician_scoring_55_passes.jsonl"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def real_cycle(folder: Path) -> Path:
    """A database ``replay`` made: a province's cycle, not a simulation."""
    db = folder / "cycle.db"
    assert cli("replay", str(SCENARIO), "--db", str(db)).returncode == 0
    return db


def other_programs_database(folder: Path) -> Path:
    db = folder / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
        conn.execute("INSERT INTO accounts (owner) VALUES ('财务科')")
    conn.close()
    return db


def notes(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("考核工作会议纪要\n", encoding="utf-8")
    return path


# -- --replace ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, says",
    [
        (real_cycle, "holds a cycle that is not a simulation"),
        (other_programs_database, "is not a renew-fsm database"),
        (notes, "is not a renew-fsm database"),
    ],
    ids=["a real cycle", "another program's SQLite file", "a text file"],
)
def test_replace_deletes_only_a_simulation(tmp_path: Path, make, says: str) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    before = snapshot(tmp_path)
    result = cli("simulate", "--doctors", "20", "--db", str(target), "--replace")
    assert_clean_failure(result, 1)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and says in line and "--replace only replaces a simulation" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("make", [other_programs_database, notes], ids=["another program's SQLite file", "a text file"])
def test_a_file_that_is_not_ours_is_not_simulated_into_either(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    before = snapshot(tmp_path)
    result = cli("simulate", "--doctors", "20", "--db", str(target))
    assert_clean_failure(result, 1)
    assert "is not a renew-fsm database" in result.stderr
    assert snapshot(tmp_path) == before


def test_replace_starts_a_simulation_again_and_a_missing_file_is_simply_made(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    first = simulate_json(db, "--doctors", "40", "--replace")  # nothing there yet: nothing to delete
    again = simulate_json(db, "--doctors", "40", "--replace")
    assert again["resumed_from"] is None and again["transitions"] == first["transitions"]


def test_the_default_database_is_started_again_only_when_it_holds_a_simulation(tmp_path: Path) -> None:
    real = real_cycle(tmp_path)
    real.rename(tmp_path / "renew-fsm-simulation.db")
    before = snapshot(tmp_path)
    result = cli("simulate", "--doctors", "20", cwd=tmp_path)
    assert_clean_failure(result, 1)
    assert "not a simulation" in result.stderr
    assert snapshot(tmp_path) == before


def test_replace_never_empties_a_postgresql_database() -> None:
    result = cli("simulate", "--doctors", "20", "--db", "postgresql://nobody@127.0.0.1:1/none", "--replace")
    assert_clean_failure(result, 1)
    assert "PostgreSQL" in result.stderr and "--replace" in result.stderr


def test_resume_and_replace_together_are_a_usage_error(tmp_path: Path) -> None:
    result = cli("simulate", "--doctors", "20", "--db", "x.db", "--resume", "--replace", cwd=tmp_path)
    assert_clean_failure(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_discard_leaves_a_real_cycle_alone(tmp_path: Path) -> None:
    db = real_cycle(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SimulationError, match="not a simulation"):
        discard(str(db))
    assert snapshot(tmp_path) == before


# -- sizes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, says",
    [
        (["--batch", "99999999999999999999"], "100,000"),
        (["--batch", "100001"], "100,000"),
        (["--doctors", "1000000000"], "twice the nation's 4.8 million"),
        (["--workers", "1000"], "64"),
    ],
    ids=["a batch past SQLite's integers", "a batch too big", "a billion doctors", "a thousand workers"],
)
def test_sizes_no_province_has_are_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], says: str
) -> None:
    started = time.monotonic()
    result = cli("simulate", "--doctors", "50", *args, "--db", "hb.db", cwd=tmp_path, timeout=20)
    assert time.monotonic() - started < 20, "a refused size must not start the run"
    assert_clean_failure(result, 2)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and says in line
    assert list(tmp_path.iterdir()) == []


#: Run in a process of its own with its memory capped: before the bounds, a billion doctors grew
#: the memory by 100 MB/s, and a test of that must fail, not take the machine down with it.
LIBRARY_CALL = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import renew_fsm
from renew_fsm.simulate import SimulationError, simulate
engine = renew_fsm.open(sys.argv[1])
try:
    simulate(engine, **{"doctors": 50, **eval(sys.argv[2])})
except SimulationError as exc:
    print("refused:", exc)
print("simulation" if engine.storage.get_meta("simulation") else "", "policy" if engine.world().policy else "")
"""


@pytest.mark.parametrize(
    "kwargs", [{"batch": 10**20}, {"batch": 100_001}, {"doctors": 10**9}, {"workers": 65}], ids=str
)
def test_the_library_refuses_the_same_sizes_and_writes_nothing(tmp_path: Path, kwargs: dict[str, int]) -> None:
    db = str(tmp_path / "lib.db")
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_CALL, db, repr(kwargs)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    refusal, written = result.stdout.splitlines()
    assert refusal.startswith("refused: ")
    assert written.strip() == ""  # neither the simulation's mark nor its policy
