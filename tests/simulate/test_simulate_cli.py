"""``renew-fsm simulate`` as an office uses it: the screens, a second run, a broken profile, a copied one.

Every mistake a user can make ends with one line naming the cause, exit
status 1 (2 for a malformed option) and no traceback — and leaves no
half-made database behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

import renew_fsm
from renew_fsm.simulate.profile import default_text

from .conftest import assert_clean_failure, cli, figures, simulate_json, start, written


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2,000-doctor run printed as the progress and result screens (not --json)."""
    folder = tmp_path_factory.mktemp("screens")
    result = cli("simulate", "--doctors", "2000", "--db", "screens.db", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "screens.db", result.stdout


def test_the_screens_show_progress_by_city_and_results_by_program(screens: tuple[Path, str]) -> None:
    db, out = screens
    assert "考核进度统计（按市）" in out and "考核结果统计（按考核程序）" in out
    for column in ("未纳入", "合格", "再次考核合格", "注销注册", "合计"):
        assert column in out
    for program in ("简易程序", "一般程序"):
        assert program in out
    engine = renew_fsm.open(str(db))
    try:
        cities = [r.name for r in engine.world().regions.values() if r.level == "city"]
        doctors = len(engine.instances())
    finally:
        engine.close()
    assert cities and all(name in out for name in cities)
    assert re.search(rf"{doctors:,} doctors, [\d,]+ accepted events in [\d.]+ s", out)
    assert "renew-fsm stats --db screens.db" in out and "renew-fsm verify --db screens.db" in out


def test_without_options_it_runs_on_a_fresh_sqlite_file_in_the_current_directory(tmp_path: Path) -> None:
    """The README's first command: no options at all (default 5,000 doctors)."""
    stale = tmp_path / "renew-fsm-simulation.db"
    stale.write_bytes(b"left over from last time")
    result = cli("simulate", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["doctors"] == 5000 and summary["refusals"] == 0
    assert sum(summary["by_outcome"].values()) == 5000
    engine = renew_fsm.open(str(stale))
    try:
        assert len(engine.instances()) == 5000
    finally:
        engine.close()


def test_a_second_run_on_the_same_database_is_refused_pointing_to_resume_and_replace(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    first = simulate_json(db, "--doctors", "300")
    again = cli("simulate", "--doctors", "300", "--db", str(db), "--json")
    assert_clean_failure(again, 1)
    assert "already holds a simulation" in again.stderr
    assert "--resume" in again.stderr and "--replace" in again.stderr
    assert again.stdout == ""
    # Nothing was written by the refused run.
    engine = renew_fsm.open(str(db))
    try:
        assert engine.storage.count_history(engine.cycle) == first["transitions"]
    finally:
        engine.close()
    # --replace starts again from scratch: the same seed, the same figures.
    replaced = simulate_json(db, "--doctors", "300", "--replace")
    assert figures(replaced) == figures(first)
    # --resume on a finished run has nothing left to do and reports the same figures.
    resumed = simulate_json(db, "--doctors", "300", "--resume")
    assert figures(resumed) == figures(first)


def test_ctrl_c_says_how_to_go_on_and_resume_finishes_the_run(tmp_path: Path) -> None:
    """Ctrl-C in mid-cycle, sent to the whole process group as a terminal sends it."""
    args = ["--doctors", "4000", "--workers", "1"]
    run = start(tmp_path / "cut.db", *args)
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline and written(tmp_path / "cut.db") < 500:
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be interrupted"
    seen = written(tmp_path / "cut.db")
    os.killpg(run.pid, signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, f"{seen} history rows when interrupted; stdout {out[:300]!r}; stderr {err!r}"
    assert "Traceback" not in err and out == ""
    assert "interrupted" in err and "--resume" in err
    resumed = simulate_json(tmp_path / "cut.db", *args, "--resume")
    assert resumed["resumed_from"] not in (None, "done")
    assert resumed["refusals"] == 0
    assert sum(resumed["by_outcome"].values()) == 4000 and resumed["by_outcome"]["in_progress"] == 0


def test_resume_with_other_arguments_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "cycle.db"
    simulate_json(db, "--doctors", "300", "--stop-after", "registration")
    result = cli("simulate", "--doctors", "301", "--db", str(db), "--resume")
    assert_clean_failure(result, 1)
    assert "other arguments" in result.stderr


def test_a_run_stored_by_an_earlier_release_is_not_resumed(tmp_path: Path) -> None:
    """Its province was drawn otherwise: resumed, its last pages would hold other doctors than its first."""
    db = tmp_path / "cycle.db"
    simulate_json(db, "--doctors", "300", "--stop-after", "registration")
    engine = renew_fsm.open(str(db))
    stored = json.loads(engine.storage.get_meta("simulation") or "{}")
    del stored["draws"]
    engine.storage.set_meta("simulation", json.dumps(stored))
    before = engine.storage.count_history(engine.cycle)
    engine.close()
    result = cli("simulate", "--doctors", "300", "--db", str(db), "--resume")
    assert_clean_failure(result, 1)
    assert "earlier release" in result.stderr and "--replace" in result.stderr
    engine = renew_fsm.open(str(db))
    assert engine.storage.count_history(engine.cycle) == before
    engine.close()
    # As it says: --replace starts the run again with this release's draws.
    again = simulate_json(db, "--doctors", "300", "--replace")
    assert again["refusals"] == 0 and again["resumed_from"] is None


def test_a_database_that_holds_a_real_cycle_is_not_simulated_over(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    engine = renew_fsm.open(str(db))
    engine.apply({"op": "policy", "name": "guangxi-2019-2020"})
    engine.close()
    result = cli("simulate", "--doctors", "100", "--db", str(db))
    assert_clean_failure(result, 1)
    assert "not a simulation" in result.stderr


# -- the behaviour profile ------------------------------------------------------------------------------


def test_print_profile_gives_the_shipped_profile_to_copy(tmp_path: Path) -> None:
    result = cli("simulate", "--print-profile")
    assert result.returncode == 0, result.stderr
    assert result.stdout == default_text()
    assert not list(tmp_path.iterdir())


def test_an_edited_copy_of_the_profile_changes_the_cycle(tmp_path: Path) -> None:
    """Copy, edit, run: nobody defers and everybody sits the tests when the profile says so."""
    text = cli("simulate", "--print-profile").stdout
    edited = re.sub(r"(?m)^requested = [\d.]+", "requested = 0.0", text)
    edited = re.sub(r"(?m)^(\[tests\]\nabsent) = [\d.]+", r"\1 = 0.0", edited)
    assert edited.count("= 0.0") >= 2
    profile = tmp_path / "my-profile.toml"
    profile.write_text(edited, encoding="utf-8")
    summary = simulate_json(tmp_path / "edited.db", "--doctors", "2000", "--profile", str(profile))
    assert summary["refusals"] == 0
    engine = renew_fsm.open(str(tmp_path / "edited.db"))
    try:
        events = {r.event for r in engine.storage.all_history(engine.cycle)}
    finally:
        engine.close()
    assert "request_deferral" not in events
    assert "close_makeup" not in events
    shipped = simulate_json(tmp_path / "shipped.db", "--doctors", "2000")
    assert summary["by_reason"].get("absent", 0) < shipped["by_reason"]["absent"]


BROKEN = {
    "not TOML": ("[tests\nabsent = 0.1\n", "not valid TOML"),
    "a probability above 1": (default_text().replace("absent = 0.008", "absent = 1.5"), "absent is a probability"),
    "a word where a number goes": (default_text().replace("age_60 = 0.85", 'age_60 = "most"'), "exemptions.age_60"),
    "a misspelt field": (default_text().replace("retry = 0.97", "retyr = 0.97"), "retyr"),
    "a missing table": (default_text().split("[proctoring]")[0], "proctoring"),
    "suspension shares not adding up": (default_text().replace("3 = 0.80", "3 = 0.50"), "reexam.months"),
    "an age range upside down": (default_text().replace("age_min = 24", "age_min = 70"), "age_min"),
    "no doctors per institution": (
        default_text().replace("doctors_per_institution = 60", "doctors_per_institution = 0"),
        "doctors_per_institution",
    ),
    "a mean score above 100": (default_text().replace("humanities_mean = 76", "humanities_mean = 760"), "0–100"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_profile_is_a_clear_error_and_no_database(tmp_path: Path, case: str) -> None:
    text, says = BROKEN[case]
    profile = tmp_path / "broken.toml"
    profile.write_text(text, encoding="utf-8")
    db = tmp_path / "never.db"
    result = cli("simulate", "--doctors", "100", "--profile", str(profile), "--db", str(db))
    assert_clean_failure(result, 1)
    assert result.stderr.startswith("error: ")
    assert str(profile) in result.stderr, "the message names the file"
    assert says in result.stderr
    assert not db.exists(), "a failed start leaves no database behind"


def test_a_missing_profile_file_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("simulate", "--doctors", "100", "--profile", str(tmp_path / "nope.toml"), "--db", "x.db", cwd=tmp_path)
    assert_clean_failure(result, 1)
    assert "cannot read profile" in result.stderr and "nope.toml" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_policy_is_a_clear_error(tmp_path: Path) -> None:
    result = cli("simulate", "--doctors", "100", "--policy", "atlantis-2019", "--db", "x.db", cwd=tmp_path)
    assert_clean_failure(result, 1)
    assert "atlantis-2019" in result.stderr and "guangxi-2019-2020" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [["--doctors", "0"], ["--batch", "0"], ["--workers", "0"], ["--stop-after", "lunch"], ["--doctors", "many"]],
    ids=["no doctors", "empty batches", "no workers", "unknown phase", "not a number"],
)
def test_malformed_options_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = cli("simulate", *args, "--db", "x.db", cwd=tmp_path)
    assert_clean_failure(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_another_shipped_policy_runs_its_own_cycle(tmp_path: Path) -> None:
    summary = simulate_json(tmp_path / "law.db", "--doctors", "500", "--policy", "physician-law-2021-2023")
    assert summary["cycle"] == "physician-law-2021-2023"
    assert summary["refusals"] == 0
    assert sum(summary["by_outcome"].values()) == 500
