"""The shipped machines, by id, and their compiled forms (built once, shared)."""

from __future__ import annotations

import functools

from .compile import Compiled, compile_machine
from .doctor import DOCTOR_MACHINE
from .dsl import Machine
from .reexam import REEXAM

MACHINES: dict[str, Machine] = {m.id: m for m in (DOCTOR_MACHINE, REEXAM)}


@functools.cache
def compiled(machine_id: str) -> Compiled:
    return compile_machine(MACHINES[machine_id])


__all__ = ["MACHINES", "Compiled", "Machine", "compiled"]
