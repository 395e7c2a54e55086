"""The commands over the organisations' records and the lists, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import cli

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
PHOTOS = SCENARIOS / "proctoring_photos_are_sent_per_attempt_and_reviewed_within_jurisdiction.jsonl"
REGISTRY = SCENARIOS / "cheating_in_the_photos_is_unqualified_and_published.jsonl"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "store.db")
    assert cli("replay", str(PHOTOS), "--db", path).returncode == 0
    return path


def test_photos_list_as_json_within_the_jurisdiction(db: str) -> None:
    result = cli("photos", "list", "--db", db, "--as", "agency:A1", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["case"] for r in json.loads(result.stdout)["rows"]] == ["D1/business/1", "D2/business/1"]
    low = cli("photos", "list", "--db", db, "--as", "admin:GX", "--below", "50", "--json")
    assert [r["case"] for r in json.loads(low.stdout)["rows"]] == ["D1/business/1"]


def test_the_published_list_is_written_as_xlsx(db: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    result = cli("photos", "published", "--db", db, "--as", "admin:GX", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(tmp_path / "向社会公布名单.xlsx")["向社会公布名单"]
    assert [c.value for c in sheet[2]][:2] == ["D1", "医师D1"]


def test_a_refusal_is_one_line_and_no_traceback(db: str) -> None:
    for args in (
        ("doctors", "show", "D1", "--as", "agency:A2"),
        ("photos", "list", "--as", "doctor:D1"),
        ("photos", "list", "--as", "nobody"),
        ("case", "department", "H1/IM", "create_department", "--as", "institution:H1", "--data", "{"),
    ):
        result = cli(*args, "--db", db)
        assert result.returncode == 1 and "Traceback" not in result.stderr, args
        assert result.stderr.strip().startswith("refused: "), (args, result.stderr)


def test_settings_and_a_department_by_command(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.db")
    setup = [line for line in REGISTRY.read_text(encoding="utf-8").splitlines()[:9] if '"op": "policy"' not in line]
    (tmp_path / "setup.jsonl").write_text("\n".join(setup) + "\n", encoding="utf-8")
    assert cli("replay", str(tmp_path / "setup.jsonl"), "--db", path).returncode == 0
    loaded = cli("settings", "load", "guangxi-2019-2020", "--as", "admin:GX", "--db", path)
    assert loaded.returncode == 0 and "guangxi-2019-2020" in loaded.stdout, loaded.stderr
    added = cli("settings", "reason", "add", "senior_title", "--text", "取得高级职称", "--as", "admin:GX", "--db", path)
    assert added.returncode == 0 and "senior_title  开启  取得高级职称" in added.stdout, added.stderr
    city = cli("settings", "reason", "close", "senior_title", "--as", "admin:NN", "--db", path)
    assert city.returncode == 1 and "forbidden" in city.stderr
    made = cli(
        "case", "department", "H1/IM", "create_department", "--as", "institution:H1",
        "--subject", "H1", "--data", '{"name": "内科"}', "--db", path,
    )  # fmt: skip
    assert made.returncode == 0 and json.loads(made.stdout)["state"] == "active", made.stderr
    listed = cli("departments", "H1", "--as", "admin:NN", "--json", "--db", path)
    assert [r["department"] for r in json.loads(listed.stdout)["rows"]] == ["H1/IM"]
    history = cli("doctors", "list", "--as", "institution:H1", "--json", "--db", path)
    assert [r["doctor"] for r in json.loads(history.stdout)["rows"]] == ["D1", "D2", "D3"]
