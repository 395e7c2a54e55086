"""The engine's layout: importing it pulls in no module that imports it back, and it is composed
(``engine.cases``, ``engine.gate``, the ``setup`` and ``apply`` tables), not mixed in."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import renew_fsm
from renew_fsm import ops, setup

PACKAGE = Path(renew_fsm.__file__).parent


def _imports_engine(path: Path) -> list[int]:
    """Lines of ``path`` that import ``renew_fsm.engine`` when run (a ``TYPE_CHECKING`` block is not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    lines = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            absolute = node.level == 0 and node.module == "renew_fsm.engine"
            relative = node.level > 0 and (node.module or "").split(".")[-1] == "engine"
            named = node.level > 0 and not node.module and any(a.name == "engine" for a in node.names)
            if absolute or relative or named:
                lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name == "renew_fsm.engine" for a in node.names):
            lines.append(node.lineno)
    return lines


def test_importing_the_engine_imports_no_module_that_imports_it_back() -> None:
    code = "import json, sys, renew_fsm.engine; print(json.dumps([m for m in sys.modules if m[:10] == 'renew_fsm.']))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert "renew_fsm.gate" in loaded and "renew_fsm.workflows" in loaded  # (the walk below sees real modules)
    back: dict[str, list[int]] = {}
    for name in loaded:
        if name in ("renew_fsm", "renew_fsm.engine"):  # (the package's face re-exports the engine)
            continue
        path = PACKAGE.joinpath(*name.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if lines := _imports_engine(path):
            back[name] = lines
    assert back == {}


def test_a_module_that_imported_the_engine_back_would_be_found(tmp_path: Path) -> None:
    """The check above can fail: a lazy import inside a function counts, a type-only one does not."""
    sample = tmp_path / "m.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .engine import Engine\n"
        "def f():\n    from .engine import Engine\n    from . import engine\n"
    )
    assert _imports_engine(sample) == [5, 6]


def test_every_replay_command_has_one_handler_and_setup_has_the_world_commands() -> None:
    engine = renew_fsm.open("memory:")
    try:
        assert set(setup.SETUP) == {
            ops.RegionOp,
            ops.InstitutionOp,
            ops.AgencyOp,
            ops.PolicyOp,
            ops.DoctorOp,
            ops.ExemptionReasonOp,
            ops.ClockOp,
        }
        assert not any(name.startswith("_op_") for name in dir(engine))
        assert not isinstance(engine, type(engine.cases))  # composed, not mixed in
        assert engine.cases.engine is engine
        assert engine.cases("account") == []  # the old ``engine.cases(machine)`` still lists ids
    finally:
        engine.close()
