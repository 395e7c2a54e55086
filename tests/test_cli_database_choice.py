"""Which database a command uses: ``--db``, else ``RENEW_FSM_DB``, else the command's default — for every
command alike; an empty name is a mistake said in one line, and an import never makes an empty store.

An office sets RENEW_FSM_DB once (a systemd unit, a shell profile); a command
that ignored it would write a province's replay into a throwaway in-memory store,
or a simulation beside the real database, and say nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from clirun import cli, jsonl, refused
from conftest import WORLD, doctor_cmd

import renew_fsm

DOCTORS_CSV = (
    "id,institution,name,id_card,license,birth_date,practice_since,record\n"
    f"D1,H1,李明,{doctor_cmd('D1')['id_card']},physician,1970-03-15,2000-09-01,good\n"
)
INSTITUTIONS_CSV = "id,region,name,kind\nH7,NN-QX,青秀区第七医院,institution\n"


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def regions_of(db: Path) -> set[str]:
    engine = renew_fsm.open(str(db))
    try:
        return set(engine.world().regions)
    finally:
        engine.close()


# -- RENEW_FSM_DB is read by every command ---------------------------------------------------------


def test_replay_keeps_its_commands_in_the_database_RENEW_FSM_DB_names(tmp_path: Path) -> None:
    scenario = jsonl(tmp_path / "province.jsonl", *WORLD)
    result = cli("replay", str(scenario), cwd=tmp_path, env={"RENEW_FSM_DB": "cycle.db"})
    assert result.returncode == 0, result.stderr
    assert regions_of(tmp_path / "cycle.db") >= {"GX", "NN", "NN-QX"}
    assert "cycle.db" in result.stderr and "RENEW_FSM_DB" in result.stderr  # says where the commands went


def test_simulate_writes_into_the_database_RENEW_FSM_DB_names(tmp_path: Path) -> None:
    result = cli("simulate", "--doctors", "20", "--json", cwd=tmp_path, env={"RENEW_FSM_DB": "rehearsal.db"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rehearsal.db").exists()
    assert not (tmp_path / "renew-fsm-simulation.db").exists()


def test_import_verify_and_state_read_RENEW_FSM_DB_too(tmp_path: Path) -> None:
    env = {"RENEW_FSM_DB": str(tmp_path / "cycle.db")}
    assert cli("replay", str(jsonl(tmp_path / "w.jsonl", *WORLD)), env=env).returncode == 0
    (tmp_path / "doctors.csv").write_text(DOCTORS_CSV, encoding="utf-8")
    assert cli("import", "doctors", str(tmp_path / "doctors.csv"), env=env).returncode == 0
    assert cli("verify", env=env).returncode == 0
    state = cli("state", "D1", env=env)
    assert state.returncode == 0 and '"not_enrolled"' in state.stdout


def test_without_db_or_RENEW_FSM_DB_replay_still_runs_in_memory(tmp_path: Path) -> None:
    result = cli("replay", str(jsonl(tmp_path / "w.jsonl", *WORLD)), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert files(tmp_path) == {"w.jsonl"}


# -- an empty name ---------------------------------------------------------------------------------

COMMANDS = {
    "verify": ["verify"],
    "state": ["state", "D1"],
    "history": ["history", "D1"],
    "stats": ["stats"],
    "notice": ["notice", "D1"],
    "notice --institution": ["notice", "--institution", "H1", "--out", "notices"],
    "form deferral": ["form", "deferral", "D1"],
    "replay": ["replay", "w.jsonl"],
    "import": ["import", "doctors", "doctors.csv"],
    "simulate": ["simulate", "--doctors", "5"],
}


@pytest.mark.parametrize("how", ["--db ''", "RENEW_FSM_DB=''", "RENEW_FSM_DB=' '"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_database_name_is_refused_and_nothing_is_written(tmp_path: Path, command: str, how: str) -> None:
    jsonl(tmp_path / "w.jsonl", *WORLD)
    (tmp_path / "doctors.csv").write_text(DOCTORS_CSV, encoding="utf-8")
    before = files(tmp_path)
    if how.startswith("--db"):
        result = cli(*COMMANDS[command], "--db", "", cwd=tmp_path)
    else:
        result = cli(*COMMANDS[command], cwd=tmp_path, env={"RENEW_FSM_DB": how.split("=")[1].strip("'")})
    line = refused(result)
    assert "empty" in line
    assert ("RENEW_FSM_DB" in line) == how.startswith("RENEW_FSM_DB")
    assert files(tmp_path) == before


# -- import into a store that is not there, or not ready -----------------------------------------


@pytest.mark.parametrize("kind", ["doctors", "institutions"])
@pytest.mark.parametrize("db", ["cyclee.db", None], ids=["mistyped --db", "no --db"])
def test_import_into_a_database_that_does_not_exist_is_refused_and_creates_none(
    tmp_path: Path, kind: str, db: str | None
) -> None:
    csv = tmp_path / f"{kind}.csv"
    csv.write_text(DOCTORS_CSV if kind == "doctors" else INSTITUTIONS_CSV, encoding="utf-8")
    result = cli("import", kind, csv.name, *(["--db", db] if db else []), cwd=tmp_path)
    line = refused(result, 2)
    assert f"no database at {db or 'renew-fsm.db'}" in line
    assert "renew-fsm replay province.jsonl" in line  # the guide's first step
    assert files(tmp_path) == {csv.name}


def test_institutions_into_a_store_without_regions_are_refused_before_any_row(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    assert cli("replay", str(jsonl(tmp_path / "p.jsonl", WORLD[-1])), "--db", str(db)).returncode == 0
    (tmp_path / "institutions.csv").write_text(INSTITUTIONS_CSV, encoding="utf-8")
    line = refused(cli("import", "institutions", str(tmp_path / "institutions.csv"), "--db", str(db)), 2)
    assert "no regions" in line and "replay" in line


def test_doctors_into_a_store_without_institutions_are_refused_before_any_row(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    regions = [cmd for cmd in WORLD if cmd["op"] in ("region", "policy")]
    assert cli("replay", str(jsonl(tmp_path / "p.jsonl", *regions)), "--db", str(db)).returncode == 0
    (tmp_path / "doctors.csv").write_text(DOCTORS_CSV, encoding="utf-8")
    line = refused(cli("import", "doctors", str(tmp_path / "doctors.csv"), "--db", str(db)), 2)
    assert "no institutions" in line and "import institutions" in line
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM doctors").fetchone()[0] == 0


# -- another program's database is never given our tables ----------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["stats"],
        ["state", "D1"],
        ["history", "D1"],
        ["import", "institutions", "institutions.csv"],
        ["replay", "province.jsonl"],
    ],
    ids=lambda c: c[0],
)
def test_a_database_of_another_program_is_refused_and_left_as_it_was(tmp_path: Path, command: list[str]) -> None:
    """``verify --db other.db`` gave the file our thirteen tables, then reported success on nothing."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.close()
    (tmp_path / "institutions.csv").write_text(INSTITUTIONS_CSV, encoding="utf-8")
    jsonl(tmp_path / "province.jsonl", *WORLD)
    before = other.read_bytes()
    line = refused(cli(*command, "--db", "other.db", cwd=tmp_path))
    assert "other.db is not a renew_fsm store (it holds another program's tables)" in line
    assert other.read_bytes() == before
    assert files(tmp_path) == {"other.db", "institutions.csv", "province.jsonl"}


def test_a_reading_command_on_an_empty_file_makes_no_store_of_it(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    line = refused(cli("verify", "--db", "empty.db", cwd=tmp_path))
    assert "empty.db is not a renew_fsm store (none of its tables are there)" in line
    assert (tmp_path / "empty.db").read_bytes() == b"" and files(tmp_path) == {"empty.db"}
