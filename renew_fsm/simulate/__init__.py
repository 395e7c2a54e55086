"""Simulate one province's cycle end to end, through the same engine path as every caller.

The cycle runs in calendar order: registration, the first round, its closing
sweep, grading, suspension, the re-exam list, the make-up, the re-exam and
the last sweeps.  A pass streams over the doctors in the states its phases
concern and takes each doctor through them (``behaviour``'s plans, a sweep's
system event) in batches, one transaction each.  Phases act on state, and every
draw is keyed by (seed, doctor, phase), so an interrupted run resumes where it
stopped and ends with the same figures.

The package, one concept a module:

- ``run``: one run — sizes checked, the province built, the passes played, the figures;
- ``phases``: the phase table and how a pass takes a page of doctors through it;
- ``pool``: the worker processes sharing the pages of doctors;
- ``store``: what a store file holds, and whether a run may delete, replace or resume it;
- ``runlock``: one run per store at a time;
- ``behaviour``, ``profile``, ``province``, ``dice``: what the synthetic doctors do, and how they are drawn.

This module is the public surface the CLI, the benchmarks and the tests use.
"""

from __future__ import annotations

from .errors import SimulationError
from .phases import END_STATES, PHASES, STEPS, Phase, passes
from .pool import Progress, WorkerDied
from .run import (
    DRAWS,
    MAX_BATCH,
    MAX_DOCTORS,
    MAX_WORKERS,
    OVERLAP_FROM,
    PARALLEL_FROM,
    Result,
    check_size,
    default_workers,
    simulate,
)
from .store import discard, holds_a_cycle, prepare, remove_store, sqlite_path, store_kind

__all__ = [
    "DRAWS",
    "END_STATES",
    "MAX_BATCH",
    "MAX_DOCTORS",
    "MAX_WORKERS",
    "OVERLAP_FROM",
    "PARALLEL_FROM",
    "PHASES",
    "STEPS",
    "Phase",
    "Progress",
    "Result",
    "SimulationError",
    "WorkerDied",
    "check_size",
    "default_workers",
    "discard",
    "holds_a_cycle",
    "passes",
    "prepare",
    "remove_store",
    "simulate",
    "sqlite_path",
    "store_kind",
]
