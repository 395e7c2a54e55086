"""The history key: made by ``renew-fsm key init``, named by the environment, adopted by a store.

Records written before a store had a key still verify, by the old rule, and verify says how
many; records written after are HMACs; verify without the key says it could not check them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import EXAM, H1, at, doctor_cmd, make_engine, to_testing

import renew_fsm
from renew_fsm.keys import ENV_KEY, ENV_KEY_FILE, HistoryKey, KeyError_, from_env, read_mark
from renew_fsm.verify import verify

KEY = bytes.fromhex("3c" * 32)


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (ENV_KEY, ENV_KEY_FILE)}
    return subprocess.run(
        ["renew-fsm", *args], capture_output=True, text=True, env={**base, **(env or {})}, cwd=cwd, timeout=120
    )


def test_key_init_writes_a_key_only_its_owner_can_read_and_never_overwrites_one(tmp_path: Path) -> None:
    done = cli("key", "init", "--out", "history.key", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "history.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = HistoryKey(bytes.fromhex(path.read_text().strip()))
    assert key.id in done.stdout and len(key.raw) == 32
    before = path.read_text()
    again = cli("key", "init", "--out", "history.key", cwd=tmp_path)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert path.read_text() == before
    # Named by the environment, the file wins over the variable.
    assert from_env({ENV_KEY_FILE: str(path), ENV_KEY: "00" * 32}).id == key.id  # type: ignore[union-attr]
    assert from_env({}) is None


@pytest.mark.parametrize("value", ["not hex", "ab" * 8, ""])
def test_an_unusable_key_is_refused_without_a_traceback(tmp_path: Path, value: str) -> None:
    if value:
        with pytest.raises(KeyError_):
            from_env({ENV_KEY: value})
    (tmp_path / "bad.key").write_text(value)
    renew_fsm.open(str(tmp_path / "x.db"), key=None).close()
    done = cli("verify", "--db", str(tmp_path / "x.db"), env={ENV_KEY_FILE: str(tmp_path / "bad.key")})
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
    missing = cli("verify", "--db", "x.db", env={ENV_KEY_FILE: str(tmp_path / "nowhere.key")}, cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read the key file" in missing.stderr


def test_records_before_the_key_verify_by_the_old_rule_and_are_counted(sql_url: str) -> None:
    e = make_engine(sql_url, [doctor_cmd("D1"), doctor_cmd("D2", serial=2)])  # no key: the old rule
    e.fire("D1", "enroll", H1)
    e.close()
    keyed = renew_fsm.open(sql_url, key=KEY)
    mark = read_mark(keyed.storage)
    assert mark is not None and mark["id"] == HistoryKey(KEY).id and mark["legacy_records"] == 1
    to_testing(keyed, "D2")
    keyed.fire("D1", "submit_info", renew_fsm.Actor("doctor", "D1"))
    keyed.fire("D2", "record_score", EXAM, {"test": "business", "score": 80}, at=at("2021-06-02"))
    report = verify(keyed)
    assert report.ok, report.findings
    # The one record and the registry entries written before the key, and nothing since.
    assert report.keyed_check and report.legacy == 1 + mark["legacy_entries"] and report.keyed >= 7
    keyed.close()
    # The same store without the key: structure only, and it says how much it could not check.
    plain = renew_fsm.open(sql_url, key=None, create=False)
    blind = verify(plain)
    plain.close()
    assert blind.ok and not blind.keyed_check and blind.unchecked == report.keyed and blind.legacy == report.legacy
    shown = cli("verify", "--db", sql_url)
    assert shown.returncode == 0 and "authenticity NOT checked" in shown.stdout
    assert f"{report.legacy} by the old unkeyed rule" in shown.stdout


def test_a_store_never_keyed_is_still_checked_record_by_record(tmp_path: Path) -> None:
    """Without a key anywhere, an edited record that was not rehashed is still found, as before."""
    url = str(tmp_path / "plain.db")
    e = make_engine(url)
    e.fire("D1", "enroll", H1)
    e.close()
    from tamperkit import tamper

    tamper(url, "UPDATE history SET actor = 'H2' WHERE doctor = 'D1'")
    done = cli("verify", "--db", url)
    assert done.returncode == 1 and "does not match its hash" in done.stderr


def test_anchor_appends_one_line_a_run_and_verify_reads_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "cycle.db")
    env = {ENV_KEY: KEY.hex()}
    monkeypatch.setenv(ENV_KEY, KEY.hex())
    e = make_engine(url)
    e.fire("D1", "enroll", H1)
    e.close()
    out = tmp_path / "anchors.jsonl"
    first = cli("anchor", "--db", url, "--out", str(out), env=env)
    assert first.returncode == 0, first.stderr
    e = renew_fsm.open(url, key=KEY)
    e.fire("D1", "submit_info", renew_fsm.Actor("doctor", "D1"))
    e.close()
    second = cli("anchor", "--db", url, "--out", str(out), env=env)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2 and [line["records"] for line in lines] == [1, 2]
    assert all((tmp_path / line["heads"]).is_file() for line in lines)
    assert json.loads(second.stdout) == lines[1]
    checked = cli("verify", "--db", url, "--anchor", str(out), env=env)
    assert checked.returncode == 0, checked.stderr
    assert "anchor: 2 line(s)" in checked.stdout
    assert cli("verify", "--db", url, "--anchor", str(tmp_path / "none.jsonl"), env=env).returncode == 2
