"""Online: one ``engine.fire`` per transaction, as a service fires them, from 1, 2 and 4 processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from pathlib import Path
from typing import Any

import renew_fsm
from renew_fsm import Actor
from renew_fsm.idcard import make

from .common import percentiles, pg_database, target

CLIENTS = (1, 2, 4)
TZ = dt.timezone(dt.timedelta(hours=8))
WORLD = [
    {"op": "region", "id": "GX", "level": "province", "name": "广西"},
    {"op": "region", "id": "NN", "level": "city", "parent": "GX"},
    {"op": "region", "id": "NN-QX", "level": "county", "parent": "NN"},
    {"op": "institution", "id": "H1", "region": "NN-QX", "name": "医院"},
    {"op": "agency", "id": "A1", "region": "NN", "assigned": ["H1"]},
    {"op": "policy", "name": "guangxi-2019-2020"},
]


def steps(doctor: str) -> list[tuple[str, Actor, dict[str, Any] | None, dt.datetime]]:
    """A general-program doctor's cycle: ten events, each its own transaction."""
    reg, test, grade = (
        dt.datetime(2021, 4, 20, 9, tzinfo=TZ),
        dt.datetime(2021, 6, 2, 9, tzinfo=TZ),
        dt.datetime(2021, 7, 1, 9, tzinfo=TZ),
    )
    me, h, a, x = Actor("doctor", doctor), Actor("institution", "H1"), Actor("agency", "A1"), Actor("exam_system")
    return [
        ("enroll", h, None, reg),
        ("submit_info", me, None, reg),
        ("approve_info", h, None, reg),
        ("confirm_registration", a, None, reg),
        ("choose_general", me, {"self_evaluation": "完成本职工作"}, reg),
        ("approve_program", h, {"work_performance": "pass", "ethics": "pass"}, reg),
        ("confirm_program", a, None, reg),
        ("record_score", x, {"test": "business", "score": 75}, test),
        ("record_score", x, {"test": "humanities", "score": 80}, test),
        ("grade", a, None, grade),
    ]


def prepare(url: str, doctors: int) -> None:
    engine = renew_fsm.open(url)
    populate(engine, doctors)
    engine.close()


def populate(engine: renew_fsm.Engine, doctors: int) -> None:
    """The world and ``doctors`` doctors ``D000000``…, in an engine already open (the memory store
    keeps them only while it is)."""
    for cmd in WORLD:
        engine.apply(cmd)
    born = dt.date(1975, 1, 1)
    engine.add_doctors(
        [
            renew_fsm.ops.parse(
                {
                    "op": "doctor",
                    "id": f"D{n:06d}",
                    "institution": "H1",
                    "name": "医师",
                    "id_card": make(f"45{n // 1000 % 10000:04d}", born, n),  # one card per doctor
                    "license": "physician",
                    "birth_date": born.isoformat(),
                    "practice_since": "2000-01-01",
                    "record": "good",
                }
            )
            for n in range(doctors)
        ]
    )


def client(url: str, doctors: list[str]) -> tuple[list[float], float]:
    engine = renew_fsm.open(url)
    engine.state(doctors[0])  # warm the world cache, as a running service would be
    latencies: list[float] = []
    started = time.perf_counter()
    for doctor in doctors:
        for event, actor, data, at in steps(doctor):
            t = time.perf_counter()
            engine.fire(doctor, event, actor, data, at)
            latencies.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - started
    engine.close()
    return latencies, elapsed


def measure(url: str, events: int) -> list[dict[str, Any]]:
    per_doctor = len(steps("D"))
    rows = []
    prepare(url, events // per_doctor * len(CLIENTS))
    offset = 0
    for clients in CLIENTS:
        share = events // per_doctor // clients
        groups = [[f"D{offset + c * share + i:06d}" for i in range(share)] for c in range(clients)]
        offset += share * clients
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            started = time.perf_counter()
            results = pool.starmap(client, [(url, g) for g in groups])
            wall = time.perf_counter() - started
        latencies = [ms for lat, _ in results for ms in lat]
        rows.append(
            {
                "clients": clients,
                "events": len(latencies),
                "per_second": round(len(latencies) / wall),
                **percentiles(latencies),
            }
        )
    return rows


def run(folder: Path, server: str, events: int = 10000) -> dict[str, Any]:
    print(f"\n2. Online: engine.fire, one event per transaction ({events:,} events per row)")
    figures: dict[str, Any] = {}
    figures["sqlite"] = measure(str(folder / "online.db"), events)
    with pg_database(server) as url:
        figures["postgres"] = measure(url, events)
    print(f"   {'':<11} {'SQLite p50 / p99, events/s':>36}   {'PostgreSQL p50 / p99, events/s':>36}")
    for lite, pg_row in zip(figures["sqlite"], figures["postgres"], strict=True):
        cells = [f"{r['p50_ms']:.3f} / {r['p99_ms']:.3f} ms, {r['per_second']:>6,}/s".rjust(36) for r in (lite, pg_row)]
        print(f"   {lite['clients']} client(s) {cells[0]}   {cells[1]}")
    sqlite1, pg = figures["sqlite"][0], figures["postgres"]
    figures["targets"] = [
        target("online SQLite p99 of one fire under 1 ms", sqlite1["p99_ms"] < 1, f"{sqlite1['p99_ms']} ms"),
        target("online PostgreSQL p99 under 5 ms", pg[0]["p99_ms"] < 5, f"{pg[0]['p99_ms']} ms"),
        target(
            "PostgreSQL throughput grows with client processes up to the 2 cores",
            pg[1]["per_second"] > pg[0]["per_second"],
            f"{pg[0]['per_second']:,}/s with 1, {pg[1]['per_second']:,}/s with 2, {pg[2]['per_second']:,}/s with 4",
        ),
    ]
    return figures
