"""``prepare``: which store file a simulation run may delete, replace or resume, asked of the library.

The CLI's ``simulate`` asks this before it opens the store; a program embedding the
simulation asks the same and gets the same answers, so a rehearsal can never cost
an office its real cycle or another program its file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import renew_fsm
from renew_fsm.simulate import SimulationError, prepare, simulate, store_kind

from .test_replace_and_bounds import notes, other_programs_database, real_cycle, snapshot


def a_simulation(folder: Path) -> Path:
    db = folder / "sim.db"
    engine = renew_fsm.open(str(db))
    try:
        simulate(engine, 20, 7, stop_after="setup")
    finally:
        engine.close()
    return db


def test_the_scratch_file_is_started_again_unless_resumed(tmp_path: Path) -> None:
    db = a_simulation(tmp_path)
    assert store_kind(str(db)) == "simulation"
    assert prepare(str(db), resume=True, scratch=True) == str(db)
    assert store_kind(str(db)) == "simulation"  # kept for --resume
    assert prepare(str(db), scratch=True) == str(db)
    assert store_kind(str(db)) == "missing"  # and what SQLite kept beside it
    assert not any(p.name.startswith("sim.db") for p in tmp_path.iterdir())


def test_a_named_file_holding_a_simulation_is_kept_unless_replaced(tmp_path: Path) -> None:
    db = a_simulation(tmp_path)
    prepare(str(db))
    assert store_kind(str(db)) == "simulation"  # the run itself then asks for --resume or --replace
    prepare(f"sqlite:///{db}", replace=True)
    assert store_kind(str(db)) == "missing"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (real_cycle, "holds a cycle that is not a simulation; choose another --db"),
        (other_programs_database, "is not a renew-fsm database; choose another --db"),
        (notes, "is not a renew-fsm database; choose another --db"),
    ],
    ids=["a real cycle", "another program's SQLite file", "a text file"],
)
def test_a_file_given_that_is_not_a_simulation_is_refused_and_left_alone(
    tmp_path: Path,
    make,  # type: ignore[no-untyped-def]
    says: str,
) -> None:
    target = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SimulationError, match=says):
        prepare(str(target))
    assert snapshot(tmp_path) == before


def test_the_scratch_name_is_the_simulations_own_but_a_real_cycle_there_is_kept(tmp_path: Path) -> None:
    """Whatever an earlier run (or anything else) left at the scratch name goes — but never a cycle."""
    cycle = real_cycle(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SimulationError, match="holds a cycle that is not a simulation"):
        prepare(str(cycle), scratch=True)
    assert snapshot(tmp_path) == before
    left = notes(tmp_path)
    assert prepare(str(left), scratch=True) == str(left)
    assert not left.exists()


@pytest.mark.parametrize("url", ["memory:", ":memory:", "file::memory:?cache=shared"])
def test_an_in_memory_store_has_no_file_to_delete(url: str) -> None:
    assert prepare(url, replace=True, scratch=True) is None


def test_a_postgresql_store_is_never_replaced() -> None:
    with pytest.raises(SimulationError, match="never empties a PostgreSQL database"):
        prepare("postgresql://postgres@127.0.0.1/none", replace=True)
    assert prepare("postgresql://postgres@127.0.0.1/none") is None  # nothing to delete, nothing refused
