"""Helpers the benchmark sections share."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import timeit
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def child(*args: str) -> dict[str, Any]:
    """Run ``python -m benchmarks.child ARGS`` and return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed_us() -> float:
    """The machine's speed now: microseconds for ``sum(range(1000))``, best of five (lower is faster).

    The machine is shared: the same code has run 2.5× slower at one hour than at
    another, so figures of two runs compare only with this beside each.
    """
    timer = timeit.Timer("sum(range(1000))")
    number, _ = timer.autorange()
    return round(min(timer.repeat(5, number)) / number * 1e6, 2)


def target(name: str, passed: bool, measured: str) -> dict[str, Any]:
    return {"name": name, "pass": bool(passed), "measured": measured}


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3)}


@contextmanager
def pg_database(server: str) -> Iterator[str]:
    """A throwaway PostgreSQL database on ``server``; its URL."""
    import psycopg

    name = f"renew_fsm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
