"""Scenario replay (SPEC §5): a JSON Lines file of commands, run in order.

A refused command is reported with its line and the replay goes on; a line
that is not a command — not JSON, JSON but not an object, or an object naming
no known op — stops it (``ReplayStop``, exit 2): the scenario itself is wrong,
and what came after that line was written for a state it no longer describes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from . import ops
from .engine import Engine
from .errors import Refused
from .machines import CASE_MACHINES
from .model import CaseView


class ReplayStop(Exception):
    """The replay stopped at ``line``; the lines before it ran (``errors``: those of them refused)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
        self.errors: list[dict[str, Any]] = []


@attrs.frozen
class Outcome:
    doctors: dict[str, dict[str, Any]]
    errors: list[dict[str, Any]]
    #: Workflow cases by machine and id; printed only when there are any (SPEC §5's shape otherwise).
    cases: dict[str, dict[str, dict[str, Any]]] = attrs.Factory(dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"doctors": self.doctors, "errors": self.errors}
        if self.cases:
            out["cases"] = self.cases
        return out


def _refusal(number: int, refused: Refused, case: str | None = None, doctor: str | None = None) -> dict[str, Any]:
    out = {"line": number, "code": refused.code, "rule": refused.rule, "message": refused.message}
    if case is not None:
        out["case"] = case
    if doctor is not None:
        out["doctor"] = doctor
    return out


def replay(
    engine: Engine,
    lines: Iterable[str],
    base: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``lines`` in order; ``progress(n)`` as line ``n`` (counted from 1, blank ones too) starts."""
    errors: list[dict[str, Any]] = []
    try:
        _run(engine, lines, base, progress, errors)
    except ReplayStop as stop:
        stop.errors = errors
        raise
    return Outcome(doctors(engine), errors, cases(engine))


def _command(number: int, line: str) -> dict[str, Any]:
    """The line's JSON object; ``ReplayStop`` for a line that is not one."""
    # Without its line break, so a column counts within the line (the break made every
    # error at the end of a line "column 1" of a second line).
    text = line.rstrip("\r\n")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.lineno > 1:
            where = f"at line {exc.lineno} column {exc.colno} inside it"
        elif exc.pos >= len(text):
            where = f"at the end of the line, column {exc.colno}"
        else:
            where = f"at column {exc.colno}"
        raise ReplayStop(number, f"not valid JSON ({exc.msg} {where})") from None
    except (ValueError, RecursionError) as exc:  # an int of thousands of digits; arrays nested too deep
        raise ReplayStop(number, f"not a JSON line we can read ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(raw, dict):
        kind = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(raw), "a number")
        raise ReplayStop(number, f'not a command: a JSON object such as {{"op": "fire", …}} was expected, not {kind}')
    return raw


def _run(
    engine: Engine,
    lines: Iterable[str],
    base: Path | None,
    progress: Callable[[int], None] | None,
    errors: list[dict[str, Any]],
) -> None:
    #: One-time secrets handed out by activations and resets, by account: held in memory for the
    #: replay's ``change_password`` and ``login`` lines that give no secret, never written anywhere.
    issued: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if progress is not None:
            progress(number)
        if not line.strip():
            continue
        raw = _command(number, line)
        try:
            op = ops.parse(raw)
            if isinstance(op, ops.ChangePasswordOp | ops.LoginOp) and op.secret is None:
                op = attrs.evolve(op, secret=issued.get(op.account, ""))
            result = engine.apply(op, base=base)
        except ops.UnknownOp as exc:
            raise ReplayStop(number, str(exc)) from None
        except Refused as refused:
            errors.append(_refusal(number, refused))
            continue
        # A batch (``ids``) reports each refused case in its place, naming it.
        items = result if isinstance(result, list) else [result]
        batch = op.ids if isinstance(op, ops.CaseOp) and op.ids is not None else [None] * len(items)
        # A selection of doctors (``batch``) names each refused doctor the same way.
        selection = op.doctors if isinstance(op, ops.BatchOp) else [None] * len(items)
        for case_id, doctor, item in zip(batch, selection, items, strict=True):
            if isinstance(item, CaseView) and item.secret is not None:
                issued[item.id] = item.secret
            elif isinstance(item, Refused):
                errors.append(_refusal(number, item, case_id, doctor))


def doctors(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every instance of the current cycle as the replay prints it."""
    if engine.world().policy is None:
        return {}
    return {
        inst.doctor: {"state": inst.state, "reason": inst.reason, "flags": sorted(inst.flags)}
        for inst, _ in engine.scan()
    }


def cases(engine: Engine) -> dict[str, dict[str, dict[str, Any]]]:
    """Every workflow case as the replay prints it (machines without cases left out)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for machine in CASE_MACHINES:
        ids = engine.cases(machine)
        if ids:
            out[machine] = {cid: engine.case_state(machine, cid).as_dict() for cid in ids}
    return out


def _decoded(path: Path) -> Iterable[str]:
    """The file's lines as text; a byte-order mark before the first line (Windows editors
    write one) is not part of the command."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise ReplayStop(number, "not valid UTF-8") from None


def replay_file(engine: Engine, path: Path, progress: Callable[[int], None] | None = None) -> Outcome:
    return replay(engine, _decoded(path), base=path.parent, progress=progress)
