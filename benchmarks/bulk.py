"""Bulk: whole simulated cycles, against the raw SQLite ceiling of the same number of rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import child, pg_database, target

NATION = 4_800_000
#: About what a simulated doctor's cycle writes (9.6 accepted events): the row count of the
#: ceiling taken before a run, whose own count is only known after it.
EVENTS_PER_DOCTOR = 10
#: Ceilings before and after a run further apart than this say the machine changed speed.
DRIFT = 1.15


def run_sqlite(sizes: list[int], folder: Path) -> dict[str, Any]:
    print("\n1. Bulk: renew-fsm simulate on SQLite (default workers: a core each up to 2, one more from 1M doctors)")
    header = (("doctors", 9), ("events", 11), ("seconds", 8), ("events/s", 9), ("peak RSS", 9), ("ceiling/s", 10))
    print("   " + " ".join(f"{name:>{width}}" for name, width in header) + "  ratio")
    runs = []
    drifted = []
    for doctors in sizes:
        # The ceiling is taken right before and right after the simulation, and the ratio is to
        # their mean: this shared machine changes speed by up to 1.6× within minutes, and a
        # ceiling taken at another speed than the run made the ratio anything from 2.5× to 3.9×.
        before = ceiling(folder, doctors, EVENTS_PER_DOCTOR * doctors)
        run = child("simulate", "--db", str(folder / f"bulk-{doctors}.db"), "--doctors", str(doctors))
        after = ceiling(folder, doctors, run["transitions"])
        raw = round((before + after) / 2)
        run["ceiling_per_second"] = raw
        run["ceiling_before_after"] = [before, after]
        run["ratio_to_ceiling"] = round(raw / run["per_second"], 2)
        runs.append(run)
        for f in folder.glob(f"*-{doctors}.db*"):
            f.unlink()
        print(
            f"   {doctors:>9,} {run['transitions']:>11,} {run['seconds']:>8} {run['per_second']:>9,}"
            f" {run['peak_rss_mb']:>7} MB {raw:>10,} {run['ratio_to_ceiling']:>5}×  (ceiling {before:,} → {after:,})"
        )
        if max(before, after) > DRIFT * min(before, after):
            drifted.append(doctors)
    if drifted:
        sizes_text = ", ".join(f"{d:,}" for d in drifted)
        print(f"   the machine changed speed during the {sizes_text}-doctor rows: their ratio is uncertain")
    by_size = {r["doctors"]: r for r in runs}
    targets = []
    if 200_000 in by_size:
        r = by_size[200_000]
        targets.append(
            target("bulk SQLite ≥ 100k events/s at 200k doctors", r["per_second"] >= 100_000, f"{r['per_second']:,}/s")
        )
        targets.append(
            target(
                "bulk SQLite within 3× of the raw ceiling (200k)",
                r["ratio_to_ceiling"] <= 3,
                f"{r['ratio_to_ceiling']}×",
            )
        )
    if 20_000 in by_size and 1_000_000 in by_size:
        small, large = by_size[20_000]["peak_rss_mb"], by_size[1_000_000]["peak_rss_mb"]
        targets.append(
            target("peak RSS at 1M under 2× the peak at 20k", large < 2 * small, f"{large} MB vs {small} MB")
        )
    largest = runs[-1]
    per_doctor = largest["transitions"] / largest["doctors"]
    nation_seconds = NATION * per_doctor / largest["per_second"]
    # At the nation's size the run itself is the figure; below it, the rate is carried to 4.8M.
    how = "measured" if largest["doctors"] >= NATION else "extrapolated"
    extrapolation = {
        "from_doctors": largest["doctors"],
        "events_per_doctor": round(per_doctor, 2),
        "nation_events": round(NATION * per_doctor),
        "nation_seconds_estimated": round(nation_seconds),
        "how": how,
    }
    source = "a run at that size" if how == "measured" else f"the {largest['doctors']:,}-doctor rate"
    print(f"   nation (4.8M doctors, {per_doctor:.1f} events each), {how}: ~{nation_seconds / 60:.1f} minutes")
    targets.append(
        target(
            f"the nation's cycle under 10 minutes ({how})",
            nation_seconds < 600,
            f"~{nation_seconds / 60:.1f} min from {source}",
        )
    )
    return {"runs": runs, "nation": extrapolation, "targets": targets}


def ceiling(folder: Path, doctors: int, rows: int) -> int:
    """Rows per second of the raw ceiling, in a fresh file."""
    raw = child("ceiling", "--db", str(folder / f"ceiling-{doctors}.db"), "--rows", str(rows))
    for f in folder.glob(f"ceiling-{doctors}.db*"):
        f.unlink()
    return int(raw["per_second"])


def run_postgres(doctors: int, server: str) -> dict[str, Any]:
    print(f"\n3. Bulk on PostgreSQL: simulate {doctors:,} doctors (default workers)")
    with pg_database(server) as url:
        run = child("simulate", "--db", url, "--doctors", str(doctors))
    print(f"   {run['transitions']:,} events in {run['seconds']} s = {run['per_second']:,}/s")
    return {"run": run, "targets": []}
