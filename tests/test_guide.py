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
import shlex
import shutil
import socket
import subprocess
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
    ("renew-fsm account create gx-admin --holder admin:GX --name 广西壮族自治区卫生健康委员会 --db cycle.db", 0),
    ("renew-fsm sweep --db cycle.db", 0),
    ('sqlite3 cycle.db ".backup backup-2021-06-28.db"', 0),
    ("sqlite3 cycle.db \"VACUUM INTO 'backup-2021-06-28-compact.db'\"", 0),
    ("renew-fsm verify --db backup-2021-06-28.db", 0),
    ("renew-fsm key init --out history.key", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm verify --db cycle.db", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm anchor --db cycle.db --out anchors.jsonl", 0),
    ("RENEW_FSM_KEY_FILE=history.key renew-fsm verify --db cycle.db --anchor anchors.jsonl", 0),
    # 9. settings, lists and photo review (issue 36)
    (
        'renew-fsm settings reason add rural_service --text "考核周期内对口支援农村满一年" --as admin:GX --db cycle.db',
        0,
    ),
    ("renew-fsm settings reason close senior_title --as admin:GX --db cycle.db", 0),
    ("renew-fsm institutions list --as admin:NN --db cycle.db", 0),
    ("renew-fsm doctors list --as admin:NN --db cycle.db", 0),
    ("renew-fsm doctors list --as admin:NN --out doctors.xlsx --db cycle.db", 0),
    ("renew-fsm photos list --as admin:GX --below 60 --db cycle.db", 0),
    ('renew-fsm account deactivate h1 --reason "机构法人变更，原账号停用" --as admin:GX --db cycle.db', 0),
    ("renew-fsm case account h1-2021 create_account --subject institution:H1 --as admin:GX --db cycle.db", 0),
    ('renew-fsm account edit h1-2021 --name "青秀区人民医院" --as admin:GX --db cycle.db', 0),
    ("renew-fsm account export --as admin:GX --out accounts.xlsx --db cycle.db", 0),
]
#: Run against the guide's service (started with the guide's command, on a free port instead of 8000).
SERVICE = "renew-fsm serve --db cycle.db --rehearsal --host 127.0.0.1 --port 8000"
#: The guide's requests to it, run as one shell script (the token is a shell variable); the one-time
#: secret ``account create`` printed is put where the guide says ONE-TIME-SECRET.
CURL = [
    "curl -s -X POST http://127.0.0.1:8000/session/password -H 'Content-Type: application/json' -d "
    '\'{"account": "gx-admin", "secret": "ONE-TIME-SECRET", "new_secret": "a long passphrase of our own"}\'',
    "TOKEN=$(curl -s -X POST http://127.0.0.1:8000/session -H 'Content-Type: application/json' -d "
    '\'{"account": "gx-admin", "secret": "a long passphrase of our own"}\' | python3 -c '
    "'import json, sys; print(json.load(sys.stdin)[\"token\"])')",
    'curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/doctors/D1',
    "curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d "
    '\'{"subject": "institution:H1", "data": {"name": "青秀区人民医院"}}\' '
    "http://127.0.0.1:8000/cases/account/h1/events/create_account",
    'curl -s -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/cases/account/h1/events/activate_account',
    'curl -s -X DELETE -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/session',
]
NOT_RUN = {
    "python3 -m venv /opt/assess/venv": "installs into /opt",
    "/opt/assess/venv/bin/pip install 'renew_fsm[postgres,service]'": "installs from the network",
    "renew-fsm serve --db postgresql://assess@db.internal/health --host 127.0.0.1 --port 8000 --workers 4": (
        "the province's PostgreSQL server (tests/service serves PostgreSQL with workers)"
    ),
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
    for step in ("replay province.jsonl", "import institutions", "import doctors", "account create",
                 "renew-fsm serve", "/session", "renew-fsm sweep", ".backup", "verify", "pg_dump",
                 "key init", "anchor"):  # fmt: skip
        assert any(step in c for c in chinese) and any(step in c for c in english), step


def test_the_chinese_guide_stands_on_its_own() -> None:
    """A reader of guide.zh.md never needs the English guide: the same commands in the same order,
    the same files to write (province.jsonl, doctors.csv, the cron and systemd units …), and no step
    that sends the reader to guide.md for what to type."""
    english, chinese = GUIDES
    assert commands(chinese) == commands(english)
    assert blocks(chinese) == blocks(english)
    assert not re.search(r"见 ?\[?guide\.md", chinese.read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
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
    for command, status in RUN[:8]:
        done = run(command, tmp_path, env)
        assert done.returncode == status, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    imported = run("renew-fsm state D2 --db cycle.db", tmp_path, env)
    assert '"not_enrolled"' in imported.stdout
    assert "BAISE" in run(RUN[2][0], tmp_path, env).stdout  # the rerun reports the same bad row, imports nothing
    created = run(RUN[7][0], tmp_path, env)
    assert created.returncode == 1 and "one-time secret" not in created.stdout  # made once, its secret shown once
    secret = re.search(r"one-time secret: (\S+)", done.stdout)
    assert secret, done.stdout

    port = free_port()
    # The command itself, not a shell running it: SIGTERM must reach the service.
    server = subprocess.Popen(
        shlex.split(SERVICE.replace("8000", str(port))),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        script = "\n".join(["set -e", *CURL]).replace(":8000", f":{port}").replace("ONE-TIME-SECRET", secret[1])
        said = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
        assert said.returncode == 0, said.stderr
        lines = said.stdout
        assert '"state":"active"' in lines, lines  # the one-time secret replaced
        assert '"doctor":"D1","state":"not_enrolled"' in lines, lines
        assert '"subject":"institution:H1","state":"must_change"' in lines and '"secret":"' in lines, lines
    finally:
        server.terminate()
        try:
            out, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
            raise AssertionError(f"the service did not stop on SIGTERM: {err[-3000:]}") from None
    assert out.startswith(f"renew-fsm serve: http://127.0.0.1:{port} · db cycle.db"), out
    assert "GET /doctors/D1 200" in err and "admin:GX" in err, err

    for command, status in RUN[8:]:
        done = run(command, tmp_path, env)
        assert done.returncode == status, (command, done.stdout, done.stderr)
        if "sweep" in command:  # the clock is pinned on a registration day: every window is still open
            assert done.stdout.count("window still open") == 3, done.stdout
    assert (tmp_path / "backup-2021-06-28.db").exists() and (tmp_path / "backup-2021-06-28-compact.db").exists()
    assert (tmp_path / "doctors.xlsx").exists()
    accounts = (tmp_path / "accounts.xlsx").read_bytes()
    assert accounts[:2] == b"PK" and secret[1].encode() not in accounts
