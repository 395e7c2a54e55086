"""Where ``--out`` writes, for ``stats``, ``notice`` and ``diagram``; and the small refusals of ``check``,
``policy lint`` and ``verify``'s progress.

An existing folder given to ``--out`` means "in it" (``--out /tmp`` wrote
``/tmp.progress.csv`` at the filesystem root); every option either does what it
says or is refused in one line saying what to do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from clirun import cli, refused


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A small simulated cycle, and a doctor in it with a final result (for a notice)."""
    db = str(tmp_path_factory.mktemp("sim") / "sim.db")
    assert cli("simulate", "--db", db, "--doctors", "30", "--json").returncode == 0
    with sqlite3.connect(db) as conn:
        (qualified,) = conn.execute("SELECT doctor FROM instances WHERE state = 'qualified' LIMIT 1").fetchone()
    conn.close()
    return db, qualified


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- stats -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"], ids=["exports", "exports/"])
def test_stats_csv_into_an_existing_folder_writes_inside_it(
    tmp_path: Path, simulated: tuple[str, str], slash: str
) -> None:
    (tmp_path / "exports").mkdir()
    result = cli("stats", "--db", simulated[0], "-f", "csv", "--out", f"exports{slash}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == {"exports", "exports/stats.progress.csv", "exports/stats.results.csv"}


@pytest.mark.parametrize("kind, name", [("xlsx", "stats.xlsx"), ("json", "stats.json"), ("table", "stats.txt")])
def test_stats_of_every_format_into_a_folder_writes_inside_it(
    tmp_path: Path, simulated: tuple[str, str], kind: str, name: str
) -> None:
    result = cli("stats", "--db", simulated[0], "-f", kind, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == {name}


def test_a_folder_that_does_not_exist_is_refused_not_taken_for_a_file_name(
    tmp_path: Path, simulated: tuple[str, str]
) -> None:
    line = refused(cli("stats", "--db", simulated[0], "-f", "csv", "--out", "exports/", cwd=tmp_path))
    assert "exports/" in line and "create it" in line
    assert listing(tmp_path) == set()


def test_the_table_goes_to_the_file_it_is_sent_to(tmp_path: Path, simulated: tuple[str, str]) -> None:
    out = tmp_path / "t.txt"
    result = cli("stats", "--db", simulated[0], "--format", "table", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "考核进度统计" in text and "考核结果统计" in text
    assert "\x1b[" not in text  # no terminal colours in a file
    assert "考核进度统计" not in result.stdout and "wrote" in result.stdout


# -- notice ------------------------------------------------------------------------------------------


def test_a_notice_into_a_folder_is_written_inside_it(tmp_path: Path, simulated: tuple[str, str]) -> None:
    db, doctor = simulated
    result = cli("notice", doctor, "--db", db, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == {f"notice-{doctor}.html"}
    assert "Errno" not in result.stderr


def test_a_notice_that_cannot_be_written_says_why_without_errno_text(
    tmp_path: Path, simulated: tuple[str, str]
) -> None:
    db, doctor = simulated
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    line = refused(cli("notice", doctor, "--db", db, "--out", str(tmp_path / "a-file" / "n.html")))
    assert "cannot write" in line and "[Errno" not in line


# -- diagram -----------------------------------------------------------------------------------------


def test_diagram_of_one_machine_writes_the_file_out_names(tmp_path: Path) -> None:
    shown = cli("diagram", "doctor").stdout
    result = cli("diagram", "doctor", "--out", "dd2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dd2").read_text(encoding="utf-8") == shown
    assert "stateDiagram" not in result.stdout


def test_diagram_of_one_machine_into_a_folder_is_named_after_the_machine_and_format(tmp_path: Path) -> None:
    assert cli("diagram", "reexam", "-f", "dot", "--out", str(tmp_path)).returncode == 0
    assert listing(tmp_path) == {"reexam.dot"}


def test_diagram_all_with_a_format_writes_only_that_format(tmp_path: Path) -> None:
    assert cli("diagram", "--all", "--format", "dot", "--out", str(tmp_path)).returncode == 0
    assert listing(tmp_path) and all(name.endswith(".dot") for name in listing(tmp_path))


def test_diagram_all_alone_still_redraws_every_file_of_docs(tmp_path: Path) -> None:
    assert cli("diagram", "--all", "--out", str(tmp_path)).returncode == 0
    suffixes = {Path(name).suffix for name in listing(tmp_path)}
    assert suffixes == {".mmd", ".dot", ".svg", ".md"}


# -- check, policy lint, verify -------------------------------------------------------------------------


def test_check_of_an_unknown_machine_is_a_usage_error_like_diagram() -> None:
    result = cli("check", "nope")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "KeyError" not in result.stderr
    assert "unknown machine 'nope'" in result.stderr


def test_policy_lint_of_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    line = refused(cli("policy", "lint", str(tmp_path)))
    assert "is a folder" in line and "no such policy file" not in line


def test_verify_shows_how_many_instances_there_are_to_check(simulated: tuple[str, str]) -> None:
    result = cli("verify", "--db", simulated[0], env={"FORCE_COLOR": "1"})  # rich draws as on a terminal
    assert result.returncode == 0, result.stderr
    assert "30/30" in result.stderr and "/?" not in result.stderr
