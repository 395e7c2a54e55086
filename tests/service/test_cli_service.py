"""``renew-fsm account`` and ``renew-fsm sweep``: the service's commands that run on the server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import make_engine
from server import cli

import renew_fsm
from renew_fsm import Actor


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=120)


def test_account_create_prints_the_one_time_secret_once_and_reset_a_new_one(tmp_path: Path) -> None:
    db = str(tmp_path / "cycle.db")
    make_engine(db).close()
    made = run("account", "create", "gx-admin", "--holder", "admin:GX", "--db", db)
    assert made.returncode == 0, made.stderr
    secret = re.search(r"one-time secret: (\S+)", made.stdout)
    assert secret and len(secret[1]) >= 16
    again = run("account", "create", "gx-admin-2", "--holder", "admin:GX", "--db", db)
    assert again.returncode == 1 and "conflict" in again.stderr and "secret" not in again.stdout
    engine = renew_fsm.open(db)
    try:
        assert engine.case_state("account", "gx-admin").state == "must_change"
        assert secret[1] not in Path(db).read_bytes().decode("latin-1")
        engine.change_password("gx-admin", secret[1], "a long passphrase")
    finally:
        engine.close()
    reset = run("account", "reset", "gx-admin", "--db", db)
    fresh = re.search(r"one-time secret: (\S+)", reset.stdout)
    assert reset.returncode == 0 and fresh and fresh[1] != secret[1]
    bad = run("account", "create", "x", "--holder", "nurse:N1", "--db", db)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    missing = run("account", "create", "x", "--holder", "admin:GX", "--db", str(tmp_path / "typo.db"))
    assert missing.returncode == 1 and "no database at" in missing.stderr


def test_sweep_closes_ended_windows_and_produces_requested_exports(tmp_path: Path) -> None:
    db = str(tmp_path / "cycle.db")
    engine = make_engine(db)
    engine.fire("D1", "enroll", Actor("institution", "H1"))
    engine.case_fire("export_request", "e1", "request_export", Actor("admin", "NN"), subject="NN")
    engine.close()
    early = run("sweep", "--db", db)
    assert early.returncode == 0, early.stderr
    assert early.stdout.count("window still open") == 3 and "exports produced: 1" in early.stdout
    late = run("sweep", "--db", db, "--at", "2021-06-28T00:10:00+08:00")
    assert late.returncode == 0, late.stderr
    assert "close_first_round: 1" in late.stdout and "exports produced: 0" in late.stdout
    engine = renew_fsm.open(db)
    try:
        assert (engine.state("D1").state, engine.state("D1").reason) == ("unqualified", "absent")
        assert engine.case_state("export_request", "e1").state == "ready"
    finally:
        engine.close()
    bad = run("sweep", "--db", db, "--at", "tomorrow")
    assert bad.returncode == 1 and "ISO 8601" in bad.stderr


def test_account_edit_deactivate_and_export_as_the_superior(tmp_path: Path) -> None:
    db = str(tmp_path / "cycle.db")
    engine = make_engine(db)
    county = Actor("admin", "NN-QX")
    engine.case_fire("account", "h1", "create_account", county, {"name": "旧名"}, subject="institution:H1")
    engine.close()
    assert run("account", "edit", "h1", "--name", "x", "--as", "institution:H2", "--db", db).returncode == 1
    edited = run("account", "edit", "h1", "--name", "青秀区人民医院", "--as", "admin:NN-QX", "--db", db)
    assert edited.returncode == 0, edited.stderr
    made = run("account", "create", "nn", "--holder", "admin:NN", "--db", db)
    secret = re.search(r"one-time secret: (\S+)", made.stdout)
    assert secret
    refused = run("account", "deactivate", "nn", "--as", "admin:NN", "--db", db)  # its own: the province's
    assert refused.returncode == 1 and "forbidden" in refused.stderr and "Traceback" not in refused.stderr
    gone = run("account", "deactivate", "nn", "--as", "admin:GX", "--reason", "机构撤并", "--db", db)
    assert gone.returncode == 0, gone.stderr
    listed = run("account", "export", "--as", "admin:NN", "--db", db)
    assert listed.returncode == 0, listed.stderr
    assert [row["账号"] for row in json.loads(listed.stdout)] == ["h1"]  # its own account is not its to manage
    everyone = run("account", "export", "--db", db, "--state", "deactivated")
    assert [row["状态"] for row in json.loads(everyone.stdout)] == ["已注销"]
    out = tmp_path / "accounts.xlsx"
    assert run("account", "export", "--as", "admin:GX", "--db", db, "--out", str(out)).returncode == 0
    assert out.read_bytes()[:2] == b"PK" and secret[1].encode() not in out.read_bytes()
    assert run("account", "export", "--as", "doctor:D1", "--db", db).returncode == 1
    engine = renew_fsm.open(db)
    try:
        assert engine.case_state("account", "h1").data["name"] == "青秀区人民医院"
        assert [r.event for r in engine.case_history("account", "nn")][-1] == "deactivate_account"
    finally:
        engine.close()
