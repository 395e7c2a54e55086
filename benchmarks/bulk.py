"""Bulk: whole simulated cycles, against the raw SQLite ceiling of the same number of rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import child, pg_database, target

NATION = 4_800_000


def run_sqlite(sizes: list[int], folder: Path) -> dict[str, Any]:
    print("\n1. Bulk: renew-fsm simulate on SQLite (2 worker processes)")
    header = (("doctors", 9), ("events", 11), ("seconds", 8), ("events/s", 9), ("peak RSS", 9), ("ceiling/s", 10))
    print("   " + " ".join(f"{name:>{width}}" for name, width in header) + "  ratio")
    runs = []
    for doctors in sizes:
        run = child("simulate", "--db", str(folder / f"bulk-{doctors}.db"), "--doctors", str(doctors))
        raw = child("ceiling", "--db", str(folder / f"ceiling-{doctors}.db"), "--rows", str(run["transitions"]))
        run["ceiling_per_second"] = raw["per_second"]
        run["ratio_to_ceiling"] = round(raw["per_second"] / run["per_second"], 2)
        runs.append(run)
        for f in folder.glob(f"*-{doctors}.db*"):
            f.unlink()
        print(
            f"   {doctors:>9,} {run['transitions']:>11,} {run['seconds']:>8} {run['per_second']:>9,}"
            f" {run['peak_rss_mb']:>7} MB {raw['per_second']:>10,} {run['ratio_to_ceiling']:>5}×"
        )
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


def run_postgres(doctors: int, server: str) -> dict[str, Any]:
    print(f"\n3. Bulk on PostgreSQL: simulate {doctors:,} doctors (2 worker processes)")
    with pg_database(server) as url:
        run = child("simulate", "--db", url, "--doctors", str(doctors))
    print(f"   {run['transitions']:,} events in {run['seconds']} s = {run['per_second']:,}/s")
    return {"run": run, "targets": []}
