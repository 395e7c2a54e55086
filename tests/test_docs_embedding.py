"""docs/embedding.md runs: its Python blocks, in order, in one namespace, in an empty directory."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def test_the_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSESSMENT_DB", raising=False)
    code = blocks("python")
    assert len(code) >= 10
    namespace: dict[str, object] = {"__name__": "embedding_doc"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for number, body in enumerate(code, 1):
            try:
                exec(compile(body, f"{DOC.name} python block {number}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"python block {number} of {DOC.name} failed: {exc!r}\n{body}") from exc
        # The nightly job script: at the pinned clock (2021-04-20) no window has closed yet.
        assert namespace["main"]("cycle.db") == 0  # type: ignore[operator]
    # The comments beside the examples' prints tell the truth.
    printed = out.getvalue().splitlines()
    assert "registered None () 4" in printed
    assert "forbidden None D2 is outside the jurisdiction of institution H2" in printed
    assert "['D1', 'D2']" in printed
    assert any(line.startswith("['grade', ") for line in printed)
    assert "refused: forbidden D2 is outside the jurisdiction of institution H2" in printed
    assert (tmp_path / "backup-2021-06-28.db").exists()
    assert (tmp_path / "backup-2021-06-28-compact.db").exists()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_the_sqlite_shell_backup_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "embedding_doc"}
    with contextlib.redirect_stdout(io.StringIO()):
        for body in blocks("python"):
            exec(body, namespace)
    for f in tmp_path.glob("backup-*"):
        f.unlink()
    shell = next(b for b in blocks("sh") if b.startswith("sqlite3"))
    env = {k: v for k, v in os.environ.items() if k != "RENEW_FSM_DB"}
    result = subprocess.run(["sh", "-e", "-c", shell], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "every state matches its history" in result.stdout


def test_every_renew_fsm_command_the_page_names_exists() -> None:
    names = set(re.findall(r"renew-fsm (\w+)", DOC.read_text(encoding="utf-8")))
    assert names >= {"verify"}
    for name in names:
        result = subprocess.run(["renew-fsm", name, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (name, result.stderr)
