"""``renew-fsm verify``: rebuild every instance from its history and check the hash chains.

Streams instances and history side by side in doctor order, so memory stays
flat however large the store is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import attrs

from .engine import Engine
from .history import Finding, differences, rebuild
from .model import Record


@attrs.frozen
class Report:
    checked: int
    records: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(engine: Engine, progress: Callable[[int], None] | None = None, *, batch: int = 5000) -> Report:
    storage = engine.storage
    checked = records = 0
    findings: list[Finding] = []
    for cycle in storage.cycles():
        stream = storage.all_history(cycle)
        try:
            history: Iterator[tuple[str, Iterator[Record]]] = itertools.groupby(stream, key=lambda r: r.doctor)
            pending = next(history, None)
            after = None
            while page := storage.scan(cycle, None, after, batch):
                after = page[-1][0].doctor
                for inst, doctor in page:
                    while pending is not None and pending[0] < inst.doctor:
                        findings.append(Finding(pending[0], f"history in {cycle} for an instance that does not exist"))
                        pending = next(history, None)
                    own: list[Record] = []
                    if pending is not None and pending[0] == inst.doctor:
                        own = list(pending[1])
                        pending = next(history, None)
                    rebuilt, problems = rebuild(
                        engine.machine, cycle, doctor, own, lambda v, c=cycle: engine.policy_for(c, v)
                    )
                    problems += differences(inst, rebuilt)
                    findings += [Finding(inst.doctor, f"[{cycle}] {p}") for p in problems]
                    checked += 1
                    records += len(own)
                if progress:
                    progress(len(page))
            while pending is not None:
                findings.append(Finding(pending[0], f"history in {cycle} for an instance that does not exist"))
                pending = next(history, None)
        finally:  # let go of a streaming read (PostgreSQL holds a transaction open) even when rebuilding fails
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    return Report(checked, records, findings)
