"""``python -m benchmarks``: the figures of docs/performance.md, taken in one run on one machine.

    python -m benchmarks                 # everything: 20k, 200k and 1M doctors (about 15 minutes)
    python -m benchmarks --quick         # a smoke run: 5k and 20k doctors, short online runs
    python -m benchmarks --only bulk,online --sizes 20000,200000
    python -m benchmarks --only notices  # an institution's result notices, HTML and PDF
    python -m benchmarks --only peers    # online fire beside transitions / python-statemachine by hand

Each section prints its figures and every target with PASS or FAIL; ``--json FILE``
keeps them, and ``--json`` alone keeps them in ``benchmarks/results/<UTC time>.json``, the run
history docs/performance.md cites.  Runs that write go to a scratch folder (``--dir``, default a temporary one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import bulk, notices, online, peers, reads
from .common import speed_us

SECTIONS = ("bulk", "online", "peers", "pg_bulk", "reads", "notices")
#: Where ``--json`` without a file keeps a run: the project's run history.
RESULTS = Path(__file__).resolve().parent / "results"


def _results_file() -> Path:
    return RESULTS / time.strftime("%Y-%m-%dT%H-%MZ.json", time.gmtime())


def machine() -> dict[str, Any]:
    import sqlite3

    return {
        "python": platform.python_version(),
        # Two CPython builds of one version can differ markedly in speed (a profile-guided,
        # link-time optimised one against a plain one): which one ran belongs beside the figures.
        "python_executable": os.path.realpath(sys.executable),
        "libpython": _libpython(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "taken": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "speed_us_before": speed_us(),
    }


def _libpython() -> str:
    """Whether the interpreter runs from a shared ``libpython`` (calls between its parts go through the
    dynamic linker's tables, which a build linked into its executable saves)."""
    try:
        with open("/proc/self/maps") as maps:
            shared = sorted({line.split()[-1] for line in maps if "libpython" in line})
    except OSError:
        return "unknown"
    return f"shared ({shared[0]})" if shared else "linked into the executable"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated whole numbers: {text!r}") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("every size must be at least 1 doctor")
    return sizes


def _sections(text: str) -> set[str]:
    only = set(text.split(","))
    if unknown := only - set(SECTIONS):
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(sorted(unknown))}")
    return only


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--sizes", type=_sizes, help="comma-separated doctor counts for the bulk section")
    parser.add_argument("--only", type=_sections, help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--pg", default=os.environ.get("RENEW_FSM_PG", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--dir", type=Path, help="scratch folder, made if missing (default: a temporary one)")
    parser.add_argument(
        "--json",
        nargs="?",
        const="",
        help="write every figure to this file (alone: benchmarks/results/<UTC time>.json)",
    )
    args = parser.parse_args()
    # ``--json`` alone (the empty ``const``) names the next file of the run history.
    args.json = _results_file() if args.json == "" else Path(args.json) if args.json else None
    sizes = args.sizes or ([5000, 20000] if args.quick else [20000, 200000, 1000000])
    only = args.only or set(SECTIONS)
    try:
        # Before a run of many minutes, not after it: a figures file that cannot be written.
        if args.dir:
            args.dir.mkdir(parents=True, exist_ok=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.touch()
    except OSError as exc:
        parser.error(str(exc))
    figures: dict[str, Any] = {"machine": machine()}
    print(f"renew_fsm benchmarks on {figures['machine']}")
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        folder = Path(scratch)
        if "bulk" in only:
            figures["bulk"] = bulk.run_sqlite(sizes, folder)
        if "online" in only:
            figures["online"] = online.run(folder, args.pg, events=2000 if args.quick else 10000)
        if "peers" in only:
            figures["peers"] = peers.run(folder, 200 if args.quick else 900, 2 if args.quick else 6)
        if "pg_bulk" in only:
            figures["pg_bulk"] = bulk.run_postgres(20000 if args.quick else 200000, args.pg)
        if "reads" in only:
            figures["reads"] = reads.run(folder, 20000 if args.quick else 1000000)
        if "notices" in only:
            figures["notices"] = notices.run(folder, 5000 if args.quick else 50000)
    figures["machine"]["speed_us_after"] = speed_us()
    print(
        f"\nThe machine's speed (sum(range(1000)), lower is faster): {figures['machine']['speed_us_before']} µs"
        f" before, {figures['machine']['speed_us_after']} µs after"
    )
    targets = [t for section in figures.values() if isinstance(section, dict) for t in section.get("targets", [])]
    print("\nTargets")
    for target in targets:
        print(f"  {'PASS' if target['pass'] else 'FAIL'}  {target['name']}: {target['measured']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
