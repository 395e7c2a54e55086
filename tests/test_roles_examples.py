"""Every script of examples/roles/ runs standalone and ends where its role's steps should leave it.

Each script asserts its own end state; here each is run as a user would run
it (a fresh interpreter, from any folder) and must exit 0 without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[1] / "examples" / "roles"
#: A line each script must print: evidence it walked its steps, not just that it started.
EXPECT = {
    "doctor.py": "D1: state",
    "institution.py": "approve_assistance",
    "agency.py": "refuse_simple",
    "admin.py": "confirm_reexam (province only)",
    "exam_system.py": "attempts_exhausted",
}


def test_there_is_a_script_per_role() -> None:
    assert {p.name for p in ROLES.glob("*.py") if not p.name.startswith("_")} == set(EXPECT)


@pytest.mark.parametrize("script", sorted(EXPECT))
def test_the_role_script_runs(script: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROLES / script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert EXPECT[script] in done.stdout
