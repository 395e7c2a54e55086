"""The HTTP service under load: ``renew-fsm serve`` on PostgreSQL, many signed-in clients at once.

    python -m benchmarks.service                          # 4 workers, 32 clients, 4,000 requests
    python -m benchmarks.service --workers 4 --clients 32 --requests 4000 --json figures.json

A throwaway database on the local server (``--server``) gets a province of
``--clients`` hospitals with ``--doctors`` doctors each, and an account per
hospital.  The service is started for real on a free localhost port with its
default pool; each client thread signs in once, then sends its share of the
requests — fires (enrol, cancel the enrolment, each with the version it read),
reads of a doctor, and its work queue — and stops.  Meanwhile a monitor counts
the service's connections in ``pg_stat_activity``.

Printed: throughput, p50/p99 latency, the answers by status, the peak number
of connections against the bound (workers × pool size), and two targets: no
answer 5xx, and the peak within the bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .common import percentiles, pg_database

SERVER = "postgresql://postgres@127.0.0.1:5432"
#: The service's output: its start-up line and a line per request.
LOG = os.path.join(tempfile.gettempdir(), "renew-fsm-benchmark-service.log")
#: The registration window is open on this day of the shipped policy; the store is a rehearsal.
CLOCK = "2021-04-20T09:00:00+08:00"


def province(clients: int, doctors: int) -> list[dict[str, Any]]:
    from renew_fsm.idcard import make

    cmds: list[dict[str, Any]] = [
        {"op": "region", "id": "GX", "level": "province", "name": "广西"},
        {"op": "region", "id": "NN", "level": "city", "parent": "GX", "name": "南宁"},
        {"op": "region", "id": "NN-QX", "level": "county", "parent": "NN", "name": "青秀区"},
        {"op": "policy", "name": "guangxi-2019-2020"},
    ]
    serial = 0
    for c in range(clients):
        hospital = f"H{c:03d}"
        cmds.append({"op": "institution", "id": hospital, "region": "NN-QX", "name": hospital})
        for d in range(doctors):
            serial += 1
            cmds.append(
                {
                    "op": "doctor",
                    "id": f"{hospital}-D{d:03d}",
                    "institution": hospital,
                    "name": "医师",
                    "id_card": make("450103", dt.date(1970, 1, 1), serial),
                    "license": "physician",
                    "birth_date": "1970-01-01",
                    "practice_since": "1995-09-01",
                    "record": "good",
                }
            )
    cmds.append({"op": "clock", "at": CLOCK})
    return cmds


def setup(db: str, clients: int, doctors: int) -> None:
    import renew_fsm
    from renew_fsm import Actor

    engine = renew_fsm.open(db)
    try:
        for cmd in province(clients, doctors):
            engine.apply(cmd)
        for c in range(clients):
            account = f"h{c:03d}"
            engine.case_fire("account", account, "create_account", Actor("system"), subject=f"institution:H{c:03d}")
            secret = engine.case_fire("account", account, "activate_account", Actor("system")).secret
            engine.change_password(account, secret or "", f"{account} benchmark password")
    finally:
        engine.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: str, port: int, workers: int, pool_size: int | None) -> subprocess.Popen[str]:
    exe = shutil.which("renew-fsm")
    command = [exe] if exe else [sys.executable, "-c", "from renew_fsm.cli import main; main()"]
    args = [*command, "serve", "--db", db, "--port", str(port), "--workers", str(workers), "--rehearsal"]
    if pool_size:
        args += ["--pool-size", str(pool_size)]
    # This tree's renew_fsm, whatever is installed; its log (a line per request) to a file, not a pipe
    # nobody reads while the run goes on.
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    with open(LOG, "w", encoding="utf-8") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(args, stdout=log, stderr=log, text=True, env=env)


def wait_ready(base: str, process: subprocess.Popen[str]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = Path(LOG).read_text(encoding="utf-8")
            raise SystemExit(f"the service exited with status {process.returncode}: {said[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not answer within 60 s")


SERVICE_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class Monitor(threading.Thread):
    """Samples the service's connections to its database until stopped; keeps the peak."""

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.db, self.peak, self.done = db, 0, threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.db, autocommit=True) as conn:
            while not self.done.is_set():
                (count,) = conn.execute(SERVICE_CONNECTIONS).fetchone()  # type: ignore[misc]
                self.peak = max(self.peak, int(count))
                time.sleep(0.05)


def client(
    base: str, n: int, requests: int, doctors: int, seed: int, latencies: list[float], statuses: Counter[int]
) -> None:
    import httpx

    rng = random.Random(seed)
    account = f"h{n:03d}"
    mine = [f"H{n:03d}-D{d:03d}" for d in range(doctors)]
    with httpx.Client(base_url=base, timeout=60) as http:
        signed = http.post("/session", json={"account": account, "secret": f"{account} benchmark password"})
        statuses[signed.status_code] += 1
        headers = {"Authorization": f"Bearer {signed.json()['token']}"}
        for _ in range(requests):
            doctor = rng.choice(mine)
            roll = rng.random()
            if roll < 0.5:  # a fire, conditional on the version just read, as a screen does
                seen = timed(http.get, f"/doctors/{doctor}", latencies, statuses, headers=headers).json()
                event = "enroll" if seen["state"] == "not_enrolled" else "cancel_enrollment"
                fire_headers = {**headers, "X-Expected-Version": str(seen["version"])}
                timed(
                    http.post, f"/doctors/{doctor}/events/{event}", latencies, statuses, json={}, headers=fire_headers
                )
            elif roll < 0.8:
                timed(http.get, f"/doctors/{doctor}/history", latencies, statuses, headers=headers)
            else:
                timed(http.get, "/queue", latencies, statuses, params={"page_size": 20}, headers=headers)


def timed(call: Any, path: str, latencies: list[float], statuses: Counter[int], **kwargs: Any) -> Any:
    started = time.perf_counter()
    answer = call(path, **kwargs)
    latencies.append((time.perf_counter() - started) * 1000)
    statuses[answer.status_code] += 1
    return answer


def run(server: str, workers: int, clients: int, requests: int, doctors: int, pool_size: int | None) -> dict[str, Any]:
    from renew_fsm.service import default_pool

    with pg_database(server) as db:
        setup(db, clients, doctors)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = serve(db, port, workers, pool_size)
        try:
            wait_ready(base, process)
            monitor = Monitor(db)
            monitor.start()
            latencies: list[float] = []
            statuses: Counter[int] = Counter()
            share = requests // clients
            threads = [
                threading.Thread(target=client, args=(base, n, share, doctors, n, latencies, statuses))
                for n in range(clients)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            monitor.done.set()
            monitor.join()
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    pool = pool_size or default_pool(workers)
    bound = workers * pool
    errors = sum(v for k, v in statuses.items() if k >= 500)
    return {
        "workers": workers,
        "clients": clients,
        "requests": len(latencies),
        "pool_size": pool,
        "elapsed_s": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "peak_connections": monitor.peak,
        "bound": bound,
        "targets": {"no 5xx": errors == 0, "peak connections within the bound": monitor.peak <= bound},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default=os.environ.get("RENEW_FSM_PG_SERVER", SERVER))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--requests", type=int, default=4000, help="steps in all, shared by the clients (a fire is two requests)"
    )
    parser.add_argument("--doctors", type=int, default=20, help="per client's hospital")
    parser.add_argument("--pool-size", type=int, default=None, help="default: the service's own")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if min(args.workers, args.clients, args.requests, args.doctors) < 1:
        parser.error("--workers, --clients, --requests and --doctors must be at least 1")
    figures = run(args.server, args.workers, args.clients, args.requests, args.doctors, args.pool_size)
    print(
        f"service: {figures['workers']} workers × pool {figures['pool_size']}, {figures['clients']} clients, "
        f"{figures['requests']} HTTP requests in {figures['elapsed_s']} s"
    )
    print(f"  throughput {figures['throughput_per_s']}/s · p50 {figures['p50_ms']} ms · p99 {figures['p99_ms']} ms")
    print(f"  answers by status: {figures['statuses']}")
    print(f"  peak connections {figures['peak_connections']} (bound {figures['bound']})")
    for name, ok in figures["targets"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if all(figures["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
