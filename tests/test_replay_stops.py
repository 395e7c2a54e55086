"""Where a scenario stops (SPEC §5): a line that is not a command stops the replay with exit status 2,
naming the line and the column, and saying what the kept store now holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import cli, jsonl
from conftest import WORLD

import renew_fsm
from renew_fsm.replay import ReplayStop, replay

REGIONS = WORLD[:3]  # GX, NN, NN-QX
UNCLOSED = '{"op": "region", "id": "NN-XN", "level": "county", "parent": "NN"'


def stopped(result, line: int) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert f"line {line}:" in result.stderr
    return result.stderr


def test_a_line_missing_its_closing_brace_is_placed_at_the_end_of_that_line(tmp_path: Path) -> None:
    said = stopped(cli("replay", str(jsonl(tmp_path / "s.jsonl", *REGIONS, UNCLOSED, WORLD[3]))), 4)
    assert f"column {len(UNCLOSED) + 1}" in said and "end of the line" in said
    assert "column 1)" not in said  # the line break is not a second line of the command


def test_an_error_inside_a_line_names_its_column(tmp_path: Path) -> None:
    bad = '{"op": "region" "id": "GX"}'
    said = stopped(cli("replay", str(jsonl(tmp_path / "s.jsonl", bad))), 1)
    column = bad.index('"id"') + 1  # the key that lacks its colon
    assert f"at column {column})" in said


def test_a_windows_line_ending_does_not_move_the_column(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    first = b'{"op": "region", "id": "GX", "level": "province", "name": "x"}'
    path.write_bytes(first + b"\r\n" + UNCLOSED.encode() + b"\r\n")
    said = stopped(cli("replay", str(path)), 2)
    assert f"column {len(UNCLOSED) + 1}" in said


def test_with_db_the_stop_says_the_lines_before_it_ran_and_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    said = stopped(cli("replay", str(jsonl(tmp_path / "s.jsonl", *REGIONS, UNCLOSED, WORLD[3])), "--db", str(db)), 4)
    assert "lines 1–3" in said and str(db) in said and "kept" in said
    engine = renew_fsm.open(str(db))
    try:
        assert set(engine.world().regions) == {"GX", "NN", "NN-QX"}  # what it says: 1–3 in, nothing after
    finally:
        engine.close()


def test_in_memory_the_stop_does_not_speak_of_a_kept_store(tmp_path: Path) -> None:
    said = stopped(cli("replay", str(jsonl(tmp_path / "s.jsonl", *REGIONS, UNCLOSED))), 4)
    assert "kept" not in said


@pytest.mark.parametrize("line", ["[1, 2]", "null", '"region"', "42", "true", "{}"])
def test_a_line_that_is_not_a_command_stops_the_replay_like_an_unknown_op(tmp_path: Path, line: str) -> None:
    db = tmp_path / "cycle.db"
    result = cli("replay", str(jsonl(tmp_path / "s.jsonl", WORLD[0], line, WORLD[1])), "--db", str(db), "--json")
    said = stopped(result, 2)
    assert result.stdout == ""
    assert "not a command" in said or "unknown op" in said
    engine = renew_fsm.open(str(db))
    try:
        assert set(engine.world().regions) == {"GX"}  # the line after it did not run
    finally:
        engine.close()


def test_the_library_stop_carries_the_refusals_before_it() -> None:
    engine = renew_fsm.open(":memory:")
    lines = [
        '{"op": "region", "id": "NN", "level": "city", "parent": "nowhere"}\n',  # refused: no parent region
        "[1, 2]\n",
    ]
    with pytest.raises(ReplayStop) as stop:
        replay(engine, lines)
    assert stop.value.line == 2
    assert [e["line"] for e in stop.value.errors] == [1]


def test_a_long_scenario_shows_its_progress_on_a_terminal(tmp_path: Path) -> None:
    clocks = [{"op": "clock", "at": f"2021-04-{20 + k % 5}T09:00:00+08:00"} for k in range(3000)]
    path = jsonl(tmp_path / "long.jsonl", *WORLD, *clocks)
    result = cli("replay", str(path), "--json", env={"FORCE_COLOR": "1"})  # rich draws as on a terminal
    assert result.returncode == 0, result.stderr
    assert "replaying" in result.stderr and f"/{len(WORLD) + 3000}" in result.stderr
