"""docs/workflows.md runs: its Python block, in an empty directory, prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_python_example_runs_and_its_comments_tell_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [code] = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/workflows.md", "exec"), {"__name__": "workflows_doc"})
    assert out.getvalue().splitlines() == [
        "agency ['H2']",
        "forbidden must_change_password",
        "Actor(role='institution', id='H2')",
        "active",
        "['create_account', 'activate_account', 'change_password']",
    ]
