"""The cycle as it stood at a past moment, rebuilt from the history.

The history is append-only and every accepted event is one record, so the
instance a doctor had at any moment is the replay of their records written
before it (``history.rebuild``, the path ``verify`` takes).  ``instances_at``
walks the cycle once, instances and history side by side in doctor order (as
``verify`` does, so memory stays flat), and gives each doctor's instance at
each of several moments — one pass serves a whole series of days.

What the history cannot tell is left as it is now: the registry (a doctor's
institution, category of practice), and doctors added after a moment, who
count as not yet enrolled then (they had no record).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence

from .engine import Engine
from .history import rebuild
from .model import Doctor, Instance, Record
from .rules.policy import Policy


def day_end(policy: Policy, day: dt.date) -> dt.datetime:
    """The end of ``day`` in the policy's time zone: the first instant of the next day (exclusive)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), policy.tz)


def with_history(engine: Engine, *, batch: int = 5000) -> Iterator[tuple[Instance, Doctor, list[Record]]]:
    """Every instance of the cycle with its doctor and its history records (oldest first), in doctor order."""
    storage, cycle = engine.storage, engine.cycle
    stream = storage.all_history(cycle)
    try:
        history = itertools.groupby(stream, key=lambda r: r.doctor)
        pending = next(history, None)
        after = None
        while page := storage.scan(cycle, None, after, batch):
            after = page[-1][0].doctor
            for inst, doctor in page:
                while pending is not None and pending[0] < inst.doctor:
                    pending = next(history, None)  # history of an instance gone: verify's to report
                own: list[Record] = []
                if pending is not None and pending[0] == inst.doctor:
                    own = list(pending[1])
                    pending = next(history, None)
                yield inst, doctor, own
    finally:  # let go of a streaming read (PostgreSQL holds a transaction open)
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def instances_at(
    engine: Engine, moments: Sequence[dt.datetime], *, batch: int = 5000
) -> Iterator[tuple[Doctor, list[Instance]]]:
    """Each doctor of the cycle with their instance as it stood just before each of ``moments``.

    ``moments`` are aware times (``day_end`` for "at the end of that day"); a record counts when
    its time is earlier.  The records are taken in their order up to the first one at or after
    the moment: the chain is what the state was built from.
    """
    for moment in moments:
        if moment.tzinfo is None:
            raise ValueError("a moment of the timeline must name its time zone")
    policies: dict[str, Policy | None] = {}
    cycle = engine.cycle

    def policy_of(version: str) -> Policy | None:
        if version not in policies:
            policies[version] = engine.policy_for(cycle, version)
        return policies[version]

    for inst, doctor, records in with_history(engine, batch=batch):
        times = [dt.datetime.fromisoformat(r.at) for r in records]
        built: dict[int, Instance] = {}
        out = []
        for moment in moments:
            count = next((n for n, at in enumerate(times) if at >= moment), len(times))
            if count not in built:
                # Up to now the stored instance is the answer (verify is what checks it is the rebuilt one).
                whole = count == len(records)
                built[count] = inst if whole else rebuild(engine.machine, cycle, doctor, records[:count], policy_of)[0]
            out.append(built[count])
        yield doctor, out


__all__ = ["day_end", "instances_at", "with_history"]
