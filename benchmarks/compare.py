"""Before and after in one run: the bulk ratio to raw SQLite of this tree and of earlier commits.

    python -m benchmarks.compare b30d6c5 [cb8c667 ...] [--doctors 200000] [--rounds 2] [--json FILE]

Each commit's ``renew_fsm`` and ``benchmarks`` are unpacked (``git archive``) into a scratch
folder and its simulation runs there, in a process of its own; this tree's runs beside them.  The
trees take turns, in an order that alternates from round to round, and each simulation is
bracketed by raw-SQLite ceilings taken just before and after it, so a machine whose speed drifts
during the run weighs on every tree alike.  A ratio is the ceiling's rate over the simulation's
(lower is better); the figure kept for each tree is its median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = "this tree"


def unpack(commit: str, into: Path) -> Path:
    """``commit``'s package and benchmarks in a folder of their own; what its child process runs."""
    folder = into / commit
    folder.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "renew_fsm", "benchmarks"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def child(tree: Path, *args: str) -> dict[str, Any]:
    """``python -m benchmarks.child ARGS`` run from ``tree``: its own package is the one imported."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", *args], cwd=tree, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: benchmark child {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ceiling(scratch: Path, rows: int) -> int:
    path = scratch / "ceiling.db"
    rate = int(child(ROOT, "ceiling", "--db", str(path), "--rows", str(rows))["per_second"])
    for f in scratch.glob("ceiling.db*"):
        f.unlink()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    parser.add_argument("commits", nargs="+", help="the commits to compare this tree with")
    parser.add_argument("--doctors", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="keep the figures in this file")
    args = parser.parse_args()
    for commit in args.commits:
        if subprocess.run(
            ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True
        ).returncode:
            parser.error(f"{commit!r} is not a commit of this repository")
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        trees = {HERE: ROOT, **{c: unpack(c, scratch) for c in args.commits}}
        names = list(trees)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else reversed(names):
                db = scratch / "bulk.db"
                before = ceiling(scratch, 10 * args.doctors)
                run = child(trees[name], "simulate", "--db", str(db), "--doctors", str(args.doctors))
                after = ceiling(scratch, run["transitions"])
                for f in scratch.glob("bulk.db*"):
                    f.unlink()
                ratio = (before + after) / 2 / run["per_second"]
                ratios.setdefault(name, []).append(round(ratio, 3))
                print(
                    f"round {r + 1} {name:<10} {run['transitions']:,} events at {run['per_second']:,}/s,"
                    f" ceiling {before:,} → {after:,}/s: ratio {ratio:.2f}×",
                    flush=True,
                )
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    print(f"\nBulk ratio to raw SQLite at {args.doctors:,} doctors (median of {args.rounds}; lower is better)")
    for name, median in medians.items():
        change = "" if name == HERE else f"   this tree: {(medians[HERE] / median - 1) * 100:+.1f} %"
        print(f"  {name:<10} {median:.2f}×  {ratios[name]}{change}")
    if args.json:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "renew_fsm"], cwd=ROOT, capture_output=True, text=True)
        figures = {
            "doctors": args.doctors,
            "this_tree": head.stdout.strip() + (" with changes" if dirty.stdout.strip() else ""),
            "ratios": ratios,
            "medians": medians,
        }
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
