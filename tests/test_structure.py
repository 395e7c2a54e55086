"""One boundary for the policy (TOML), the replay ops (JSON) and the simulation profile (TOML).

The same mistake reads the same wherever it is made — the path to the field, what was
expected and what was given, in the input's own words — and never as Python's
("'int' object has no attribute 'keys'", "unknown error", cattrs' "@ $.province").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clirun import cli, jsonl, refused

from renew_fsm.errors import Refused
from renew_fsm.ops import parse as parse_op
from renew_fsm.rules.policy import PolicyError, shipped
from renew_fsm.rules.policy import parse as parse_policy
from renew_fsm.simulate.profile import ProfileError, default_text
from renew_fsm.simulate.profile import parse as parse_profile

POLICY = shipped()["guangxi-2019-2020"].read_text(encoding="utf-8")
PYTHONS_WORDS = ("attribute", "unknown error", "@ $", "Traceback", "object has no")


def without_table(text: str, table: str, instead: str) -> str:
    """``text`` with ``[table]`` and its keys replaced by the line ``instead`` at the top."""
    cut = re.sub(rf"(?ms)^\[{re.escape(table)}\][^\n]*\n.*?(?=^\[|\Z)", "", text, count=1)
    assert cut != text, table
    return f"{instead}\n{cut}"


def policy_problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml")
    return [re.sub(r" \(line \d+\)$", "", p) for p in caught.value.problems]


def profile_problems(text: str) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "mine.toml")
    message = str(caught.value)
    assert message.startswith("mine.toml: ")
    return message.removeprefix("mine.toml: ").split("; ")


def op_problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(Refused) as caught:
        parse_op(raw)
    assert caught.value.code == "bad_input"
    op, _, rest = caught.value.message.partition(": ")
    assert op == raw["op"]
    return rest.split("; ")


FIRE = {"op": "fire", "doctor": "D1", "event": "enroll", "actor": {"role": "institution", "id": "H1"}}


def test_a_value_where_a_table_goes_reads_the_same_at_every_boundary() -> None:
    assert policy_problems(without_table(POLICY, "suspension", "suspension = 5")) == [
        "suspension: expected a table, got 5"
    ]
    assert profile_problems(without_table(default_text(), "province", "province = 5")) == [
        "province: expected a table, got 5"
    ]
    assert op_problems({**FIRE, "actor": 5}) == ["actor: expected an object, got 5"]


@pytest.mark.parametrize(
    ("policy", "profile", "op", "problem"),
    [
        (
            ("min_months = 3", "min_months = true"),
            ("max_cities = 14", "max_cities = true"),
            {"op": "exemption_reason", "id": "x", "text": True},
            "expected {what}, got true",
        ),
        (
            ("min_months = 3", 'min_months = "3"'),
            ("retry = 0.97", 'retry = "0.97"'),
            {"op": "sweep", "event": 5},
            "expected {what}, got {given}",
        ),
        (
            ("[suspension]", "[suspension]\nweeks = 2"),
            ("[proctoring]", "[proctoring]\nweeks = 2"),
            {**FIRE, "weeks": 2},
            "is not a known field",
        ),
    ],
    ids=["a truth value for a number or a text", "the wrong scalar", "an unknown key"],
)
def test_the_same_mistake_is_worded_the_same(
    policy: tuple[str, str], profile: tuple[str, str], op: dict[str, object], problem: str
) -> None:
    """Each problem is "dotted.path: what is wrong", the given value as the input spells it."""
    (pol,) = policy_problems(POLICY.replace(*policy, 1))
    (prof,) = profile_problems(default_text().replace(*profile, 1))
    (one,) = op_problems(op)
    for said, path in ((pol, "suspension."), (prof, ""), (one, "")):
        assert said.startswith(path), said
        assert not any(w in said for w in PYTHONS_WORDS), said
    pattern = re.escape(problem).replace(r"\{what\}", "(a whole number|a number|text)")
    pattern = pattern.replace(r"\{given\}", "('3'|'0\\.97'|5)")
    for said in (pol, prof, one):
        assert re.fullmatch(r"[\w.]+: " + pattern, said), said


# -- through the command line: the path named, no traceback -------------------------------------------


def test_a_policy_with_a_bad_type_is_refused_naming_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(without_table(POLICY, "suspension", "suspension = 5"), encoding="utf-8")
    lint = cli("policy", "lint", str(bad))
    assert lint.returncode == 1 and "Traceback" not in lint.stdout + lint.stderr, lint
    assert "suspension: expected a table, got 5" in lint.stdout + lint.stderr
    line = refused(cli("simulate", "--policy", str(bad), "--db", str(tmp_path / "s.db")))
    assert line.startswith(f"error: {bad}: suspension: expected a table, got 5"), line
    assert not any(w in lint.stdout + lint.stderr + line for w in PYTHONS_WORDS)
    assert not (tmp_path / "s.db").exists()  # refused before a database file was made


def test_a_profile_with_a_bad_type_is_refused_naming_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "profile.toml"
    bad.write_text(without_table(default_text(), "province", "province = 5"), encoding="utf-8")
    line = refused(cli("simulate", "--profile", str(bad), "--db", str(tmp_path / "s.db"), "--doctors", "10"))
    assert line == f"error: {bad}: province: expected a table, got 5"
    assert not (tmp_path / "s.db").exists()


def test_a_replay_line_with_a_bad_type_is_refused_naming_the_path_and_the_replay_goes_on(tmp_path: Path) -> None:
    script = jsonl(
        tmp_path / "bad.jsonl",
        {"op": "policy", "name": "guangxi-2019-2020"},
        {"op": "clock", "at": 5},
        {**FIRE, "actor": "H1"},
        {"op": "region", "id": "P", "level": "province", "name": "省"},
    )
    result = cli("replay", str(script), "--json", "--db", str(tmp_path / "r.db"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert [(e["line"], e["code"], e["message"]) for e in errors] == [
        (2, "bad_input", "clock: at: expected a time like 2021-04-20T09:00:00+08:00, got 5"),
        (3, "bad_input", "fire: actor: expected an object, got 'H1'"),
    ]
