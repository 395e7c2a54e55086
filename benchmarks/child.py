"""One measured run in a fresh process, so that its peak memory is its own.

    python -m benchmarks.child simulate --db URL --doctors N [--workers W]
    python -m benchmarks.child ceiling --db PATH --rows N

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import time

import renew_fsm
from renew_fsm.simulate import simulate


def peak_rss_mb() -> float:
    """The larger of this process's peak and its largest finished child's (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def run_simulation(db: str, doctors: int, workers: int | None) -> dict[str, object]:
    engine = renew_fsm.open(db)
    result = simulate(engine, doctors=doctors, seed=7, workers=workers)
    engine.close()
    return {
        "doctors": doctors,
        "transitions": result.transitions,
        "seconds": round(result.seconds, 2),
        "per_second": round(result.transitions / result.seconds),
        "refusals": result.refusals,
        "peak_rss_mb": peak_rss_mb(),
    }


def ceiling(path: str, rows: int, batch: int = 40_000) -> dict[str, object]:
    """Plain ``executemany`` of history-shaped rows with a JSON payload, our pragmas, no indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536", "temp_store = MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        "CREATE TABLE history (cycle TEXT, doctor TEXT, seq INTEGER, event TEXT, from_state TEXT, to_state TEXT,"
        " role TEXT, actor TEXT, at TEXT, data TEXT, policy_version TEXT, hash TEXT, idempotency_key TEXT)"
    )
    started = time.perf_counter()
    for first in range(0, rows, batch):
        chunk = [
            (
                "guangxi-2019-2020",
                f"D{n // 10:07d}",
                n % 10 + 1,
                "record_score",
                "general.testing",
                "general.testing",
                "exam_system",
                None,
                "2021-06-02T10:00:00+08:00",
                json.dumps({"test": "humanities", "score": 70.0 + n % 30}, ensure_ascii=False, sort_keys=True),
                "2021.1",
                f"{n:064x}",
                None,
            )
            for n in range(first, min(first + batch, rows))
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO history VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", chunk)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return {"rows": rows, "seconds": round(seconds, 2), "per_second": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("simulate", "ceiling"))
    parser.add_argument("--db", required=True)
    parser.add_argument("--doctors", type=int, default=20000)
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    if args.what == "simulate":
        print(json.dumps(run_simulation(args.db, args.doctors, args.workers)))
    else:
        print(json.dumps(ceiling(args.db, args.rows)))


if __name__ == "__main__":
    main()
