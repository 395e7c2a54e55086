"""Work-queue latency on a 100k-doctor SQLite province, per actor kind (target: under 50 ms a page).

    python -m benchmarks.work_queue                      # builds /tmp/renew-fsm-wq-100000.db once, reuses it
    python -m benchmarks.work_queue --db my.db --doctors 100000 --samples 300

A front end asks for a queue page on every screen load, so the figure that
matters is the latency of one page for a real actor, first page and deeper.

The province comes from ``simulate``.  Its ``registration`` phase runs the
whole registration through (every doctor ends in the tests, deferred or
unqualified), which leaves hospitals and agencies with nothing to review; so
after the simulated ``setup`` this script spreads the doctors over the
registration and evaluation states the way a province looks in mid-May —
some not enrolled yet, some waiting for their hospital, their agency, a
deferral decision, an assistance approval — and measures there, at two moments:
during registration (2021-05-20) and during the first round (2021-06-10).
``--simulated`` measures instead on a database stopped after the simulated
registration phase (``simulate(stop_after="registration")``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import renew_fsm
from renew_fsm import Actor, Fire
from renew_fsm.engine import Engine, Plan
from renew_fsm.simulate import simulate

BEIJING = dt.timezone(dt.timedelta(hours=8))
#: A program choice comes with the self-evaluation (自评).
SELF = {"self_evaluation": "完成本职工作"}
MOMENTS = {
    "registration 2021-05-20": dt.datetime(2021, 5, 20, 10, tzinfo=BEIJING),
    "first round 2021-06-10": dt.datetime(2021, 6, 10, 10, tzinfo=BEIJING),
}
#: How far each doctor is taken (by doctor number modulo the length): a province in mid-May.
STAGES = (
    "not_enrolled",
    "enrolled",
    "info_submitted",
    "info_approved",
    "registered",
    "submitted",
    "institution_approved",
    "testing",
    "testing+assistance",
    "deferral.requested",
    "deferral.institution_approved",
    "testing",
)


def _spread_plan(engine: Engine, number: int, doctor: str, institution: str, agency: str, county: str) -> Plan:
    """The commands taking one doctor to its stage; refusals (a doctor too young for assistance) are fine."""
    stage = STAGES[number % len(STAGES)]
    when = dt.datetime(2021, 5, 10, 9, tzinfo=BEIJING)
    me, hospital, office = Actor("doctor", doctor), Actor("institution", institution), Actor("agency", agency)
    order = [s for s in STAGES[:8] if s != "testing+assistance"]
    if stage == "not_enrolled":
        return
    target = {"testing+assistance": "testing", "deferral.requested": "registered"}.get(stage, stage)
    target = "registered" if stage == "deferral.institution_approved" else target
    steps = order[1 : order.index(target) + 1]
    program = "simple" if (number // len(STAGES)) % 2 else "general"
    script = {
        "enrolled": Fire(doctor, "enroll", hospital, at=when),
        "info_submitted": Fire(doctor, "submit_info", me, at=when),
        "info_approved": Fire(doctor, "approve_info", hospital, at=when),
        "registered": Fire(doctor, "confirm_registration", office, at=when),
        "submitted": Fire(doctor, "choose_general", me, SELF, at=when)
        if program == "general"
        else Fire(doctor, "choose_simple", me, {"condition": "clean_record_12y", **SELF}, at=when),
        "institution_approved": Fire(
            doctor, "approve_program", hospital, {"work_performance": "pass", "ethics": "pass"}, at=when
        ),
        "testing": Fire(doctor, "confirm_program", office, at=when),
    }
    for step in steps:
        result = yield script[step]
        if isinstance(result, renew_fsm.Refused) and step == "submitted":
            yield Fire(doctor, "choose_general", me, SELF, at=when)
    if stage == "testing+assistance":
        yield Fire(doctor, "request_assistance", me, at=when)
    if stage.startswith("deferral."):
        yield Fire(doctor, "request_deferral", me, {"reason": "进修"}, at=when)
        if stage == "deferral.institution_approved":
            yield Fire(doctor, "approve_deferral", hospital, at=when)


def build(path: Path, doctors: int, simulated: bool) -> None:
    engine = renew_fsm.open(str(path))
    started = time.perf_counter()
    simulate(engine, doctors=doctors, stop_after="registration" if simulated else "setup")
    if not simulated:
        world = engine.world()
        agency_of = {i: a.id for a in sorted(world.agencies.values(), key=lambda a: a.id) for i in a.institutions}

        def plans() -> Iterator[tuple[str, Plan]]:
            for number, (_, doc) in enumerate(engine.scan()):
                region = world.institutions[doc.institution].region
                yield doc.id, _spread_plan(engine, number, doc.id, doc.institution, agency_of[doc.institution], region)

        engine.drive(plans())
    engine.close()
    print(f"built {path} ({doctors:,} doctors) in {time.perf_counter() - started:.1f} s")


def actors(engine: Engine, rng: random.Random, samples: int) -> dict[str, list[Actor]]:
    world = engine.world()
    doctors = engine.instances()
    regions = sorted(world.regions.values(), key=lambda r: r.id)
    province = [r.id for r in regions if r.level == "province"]
    return {
        "doctor": [Actor("doctor", rng.choice(doctors)) for _ in range(samples)],
        "institution": [Actor("institution", rng.choice(sorted(world.institutions))) for _ in range(samples)],
        "agency": [Actor("agency", rng.choice(sorted(world.agencies))) for _ in range(samples)],
        "admin (county)": [
            Actor("admin", rng.choice([r.id for r in regions if r.level == "county"])) for _ in range(samples)
        ],
        "admin (city)": [
            Actor("admin", rng.choice([r.id for r in regions if r.level == "city"])) for _ in range(samples)
        ],
        "admin (province)": [Actor("admin", province[0]) for _ in range(samples)],
        "exam_system": [Actor("exam_system") for _ in range(samples)],
    }


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def measure(engine: Engine, kinds: dict[str, list[Actor]], at: dt.datetime, rng: random.Random) -> dict[str, Any]:
    """Per actor kind: p50/p99 of a first page and of a deeper page (after a random doctor id)."""
    ids = engine.instances()
    out: dict[str, Any] = {}
    for kind, sample in kinds.items():
        first: list[float] = []
        deeper: list[float] = []
        sizes: list[int] = []
        for actor in sample:
            t = time.perf_counter()
            page = engine.work_queue(actor, at=at)
            first.append((time.perf_counter() - t) * 1000)
            sizes.append(len(page.items))
            t = time.perf_counter()
            engine.work_queue(actor, at=at, after=rng.choice(ids))
            deeper.append((time.perf_counter() - t) * 1000)
        first.sort()
        deeper.sort()
        out[kind] = {
            "p50_ms": round(statistics.median(first), 2),
            "p99_ms": round(percentile(first, 0.99), 2),
            "deeper_p50_ms": round(statistics.median(deeper), 2),
            "deeper_p99_ms": round(percentile(deeper, 0.99), 2),
            "mean_items": round(statistics.mean(sizes), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.work_queue", description=__doc__.split("\n")[0])
    parser.add_argument("--doctors", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="reuse this database (built here if missing)")
    parser.add_argument("--samples", type=int, default=200, help="actors measured per kind")
    parser.add_argument("--simulated", action="store_true", help="stop the simulation after registration instead")
    args = parser.parse_args()
    kind = "registration" if args.simulated else "spread"
    path = args.db or Path(f"/tmp/renew-fsm-wq-{kind}-{args.doctors}.db")
    if not path.exists():
        build(path, args.doctors, args.simulated)
    engine = renew_fsm.open(str(path))
    rng = random.Random(7)
    kinds = actors(engine, rng, args.samples)
    print(f"work queue on {path} ({len(engine.instances()):,} doctors), page of 50, {args.samples} actors per kind")
    worst = 0.0
    for label, at in MOMENTS.items():
        figures = measure(engine, kinds, at, rng)
        print(f"\n  {label}")
        print(f"  {'actor':<18}{'p50 ms':>9}{'p99 ms':>9}{'deeper p50':>12}{'deeper p99':>12}{'items':>8}")
        for name, f in figures.items():
            print(
                f"  {name:<18}{f['p50_ms']:>9}{f['p99_ms']:>9}{f['deeper_p50_ms']:>12}"
                f"{f['deeper_p99_ms']:>12}{f['mean_items']:>8}"
            )
            worst = max(worst, f["p99_ms"], f["deeper_p99_ms"])
    engine.close()
    print(f"\n  {'PASS' if worst < 50 else 'FAIL'}  work queue under 50 ms a page (worst p99 {worst} ms)")


if __name__ == "__main__":
    main()
