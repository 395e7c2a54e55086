"""docs/records.md runs: its Python block, in an empty directory, prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "records.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SAID = re.compile(r"  # (.*)$")


def test_the_python_example_runs_and_its_comments_tell_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [code] = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/records.md", "exec"), {"__name__": "records_doc"})
    promised = [m[1] for line in code.splitlines() if "print(" in line and (m := SAID.search(line))]
    assert out.getvalue().splitlines() == promised
    assert len(promised) >= 10
