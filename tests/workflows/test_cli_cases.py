"""The command line replays a workflow scenario: the JSON has its cases, the table shows them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
SCENARIO = EXAMPLES / "the_first_login_must_replace_the_one_time_initial_secret.jsonl"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("renew-fsm")
    command = [exe] if exe else [sys.executable, "-c", "from renew_fsm.cli import main; main()"]
    return subprocess.run([*command, *args], capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_replay_json_prints_the_cases_and_no_secret() -> None:
    done = cli("replay", str(SCENARIO), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = json.loads(SCENARIO.with_name(f"{SCENARIO.stem}.expected.json").read_text(encoding="utf-8"))
    assert printed["cases"] == expected["cases"]
    assert printed["cases"]["account"]["h1"]["state"] == "active"
    assert all(set(case) == {"state", "subject", "flags", "data"} for case in printed["cases"]["account"].values())
    assert not any("secret" in key for case in printed["cases"]["account"].values() for key in case["data"])


def test_replay_table_lists_the_cases(tmp_path: Path) -> None:
    done = cli("replay", str(SCENARIO), "--db", str(tmp_path / "store.db"))
    assert done.returncode == 0, done.stderr
    assert "workflow cases" in done.stdout
    assert "institution:H1" in done.stdout and "must_change_password" in done.stdout
