"""Scenario replay (SPEC §5): a JSON Lines file of commands, run in order.

A refused command is reported with its line and the replay goes on; a line
that is not JSON or names an unknown op stops it (``ReplayStop``, exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from . import ops
from .engine import Engine
from .errors import Refused


class ReplayStop(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@attrs.frozen
class Outcome:
    doctors: dict[str, dict[str, Any]]
    errors: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"doctors": self.doctors, "errors": self.errors}


def replay(engine: Engine, lines: Iterable[str], base: Path | None = None) -> Outcome:
    errors: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayStop(number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        try:
            engine.apply(ops.parse(raw), base=base)
        except ops.UnknownOp as exc:
            raise ReplayStop(number, str(exc)) from None
        except Refused as refused:
            errors.append({"line": number, "code": refused.code, "rule": refused.rule, "message": refused.message})
    return Outcome(doctors(engine), errors)


def doctors(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every instance of the current cycle as the replay prints it."""
    if engine.world().policy is None:
        return {}
    return {
        inst.doctor: {"state": inst.state, "reason": inst.reason, "flags": sorted(inst.flags)}
        for inst, _ in engine.scan()
    }


def _decoded(path: Path) -> Iterable[str]:
    """The file's lines as text; a byte-order mark before the first line (Windows editors
    write one) is not part of the command."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise ReplayStop(number, "not valid UTF-8") from None


def replay_file(engine: Engine, path: Path) -> Outcome:
    return replay(engine, _decoded(path), base=path.parent)
