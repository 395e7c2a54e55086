"""docs/guide.md and docs/guide.zh.md: every command in them is real.

The guide's file blocks (```json province.jsonl, ```csv doctors.csv, …) are
written to an empty folder and its commands run there in the guide's order,
each with the exit status the guide promises.  A command shown in a guide but
neither run here nor listed in NOT_RUN (with the reason) fails the test, so
the guides cannot drift from what the tools do.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = (ROOT / "docs" / "guide.md", ROOT / "docs" / "guide.zh.md")
FENCE = re.compile(r"^```(\w+)(?: (\S+))?\n(.*?)^```", re.S | re.M)

#: The guide's commands in order, with the exit status each must end with.
RUN: list[tuple[str, int]] = [
    ("renew-fsm replay province.jsonl --db cycle.db", 0),
    ("renew-fsm policy lint renew_fsm/rules/policies/guangxi-2019-2020.toml", 0),
    ("renew-fsm import institutions institutions.csv --db cycle.db", 1),  # H9's region does not exist
    ("renew-fsm import doctors doctors.csv --db cycle.db", 1),  # D3's check digit is wrong
    ("renew-fsm replay agencies.jsonl --db cycle.db", 0),
    ("renew-fsm stats --db cycle.db --by county", 0),
    ("renew-fsm state D1 --db cycle.db", 0),
    ("python examples/service/sweep.py --db cycle.db", 0),
    ('sqlite3 cycle.db ".backup backup-2021-06-28.db"', 0),
    ("sqlite3 cycle.db \"VACUUM INTO 'backup-2021-06-28-compact.db'\"", 0),
    ("renew-fsm verify --db backup-2021-06-28.db", 0),
    ("renew-fsm key init --out history.key", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm verify --db cycle.db", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm anchor --db cycle.db --out anchors.jsonl", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm verify --db cycle.db --anchor anchors.jsonl", 0),
]
#: Run against the guide's service (started with the guide's command, on a free port instead of 8000).
SERVICE = "python examples/service/app.py --db cycle.db --host 127.0.0.1 --port 8000"
CURL = [
    "curl -H 'X-Actor-Role: institution' -H 'X-Actor-Id: H1' http://127.0.0.1:8000/queue",
    "curl -X POST -H 'X-Actor-Role: institution' -H 'X-Actor-Id: H1' -H 'Idempotency-Key: req-0001' "
    "http://127.0.0.1:8000/doctors/D1/events/enroll",
]
NOT_RUN = {
    "python3 -m venv /opt/assess/venv": "installs into /opt",
    "/opt/assess/venv/bin/pip install '.[postgres,service]'": "installs from the network",
    "RENEW_FSM_DB=postgresql://assess@db.internal/health uvicorn --app-dir examples/service --factory app:create_app "
    "--host 127.0.0.1 --port 8000 --workers 4": "the province's PostgreSQL server (the factory runs in the tests)",
    'pg_dump --format=custom --file=assess-2021-06-28.dump "postgresql://assess@db.internal/health"': "a server",
    'pg_restore --dbname="postgresql://assess@restore-test/health" assess-2021-06-28.dump': "a server",
    'renew-fsm verify --db "postgresql://assess@restore-test/health"': "a server",
}


def blocks(guide: Path) -> list[tuple[str, str | None, str]]:
    return [(m[1], m[2], m[3]) for m in FENCE.finditer(guide.read_text(encoding="utf-8"))]


def commands(guide: Path) -> list[str]:
    """Command lines of the ```sh blocks (crontab lines are a file's content, not commands)."""
    out = []
    for lang, _, body in blocks(guide):
        if lang != "sh":
            continue
        for line in body.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "CRON_TZ=")) and not line[0].isdigit():
                out.append(line)
    return out


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_command_in_the_guide_is_run_here_or_says_why_not(guide: Path) -> None:
    known = {c for c, _ in RUN} | {SERVICE} | set(CURL) | set(NOT_RUN)
    unknown = [c for c in commands(guide) if c not in known]
    assert not unknown, f"{guide.name} shows commands no test runs: {unknown}"


def test_the_chinese_guide_covers_the_same_steps() -> None:
    english, chinese = commands(GUIDES[0]), commands(GUIDES[1])
    for step in ("replay province.jsonl", "import institutions", "import doctors", "examples/service/app.py",
                 "sweep.py", ".backup", "verify", "pg_dump", "key init", "anchor"):  # fmt: skip
        assert any(step in c for c in chinese) and any(step in c for c in english), step


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = command.replace("python examples/", f"{sys.executable} {ROOT}/examples/")
    if "policy lint renew_fsm/" in command:
        command = command.replace("renew_fsm/", f"{ROOT}/renew_fsm/")
    return subprocess.run(command, shell=True, cwd=folder, capture_output=True, text=True, env=env, timeout=120)


def test_the_guide_from_an_empty_folder(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line shell is not installed (apt-get install sqlite3)")
    for lang, name, body in blocks(GUIDES[0]):
        if name is not None and lang in ("json", "csv"):
            (tmp_path / name).write_text(body, encoding="utf-8")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("RENEW_FSM_DB", None)
    shown = commands(GUIDES[0])
    assert [c for c in shown if c in dict(RUN)] == [c for c, _ in RUN], "RUN must follow the guide's order"
    for command, status in RUN[:7]:
        done = run(command, tmp_path, env)
        assert done.returncode == status, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    imported = run("renew-fsm state D2 --db cycle.db", tmp_path, env)
    assert '"not_enrolled"' in imported.stdout
    assert "BAISE" in run(RUN[2][0], tmp_path, env).stdout  # the rerun reports the same bad row, imports nothing

    port = free_port()
    args = [sys.executable, str(ROOT / "examples/service/app.py"), *SERVICE.split()[2:]]
    args[-1] = str(port)  # the guide's command on a free port instead of 8000
    server = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        queue = run(CURL[0].replace(":8000", f":{port}"), tmp_path, env)
        assert '"doctor":"D1"' in queue.stdout and '"events":["enroll"]' in queue.stdout, queue.stdout
        fired = run(CURL[1].replace(":8000", f":{port}"), tmp_path, env)
        assert '"state":"enrolled"' in fired.stdout, fired.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)

    for command, status in RUN[7:]:
        done = run(command, tmp_path, env)
        assert done.returncode == status, (command, done.stdout, done.stderr)
        if "sweep.py" in command:  # the clock is pinned on a registration day: every window is still open
            assert done.stdout.count("window still open") == 3, done.stdout
    assert (tmp_path / "backup-2021-06-28.db").exists() and (tmp_path / "backup-2021-06-28-compact.db").exists()
