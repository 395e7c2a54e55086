"""Hostile input at every door: the replay reader, the policy loader and the public API.

Malformed JSON, wrong types, NaN and huge numbers, megabyte strings, unknown
ids, SQL metacharacters and odd Unicode (right-to-left marks, zero-width
joiners, emoji, NUL, lone surrogates).  Whatever comes in, the answer is a
clear refusal — a SPEC §4 code, or exit status 2 naming the line for the
replay CLI — never a traceback, and the store is exactly as it was.  Names and
reasons that are accepted come back exactly as they were given.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import H1, WORLD, doctor, doctor_cmd, make_engine, to_testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import renew_fsm
from renew_fsm import CODES, Actor, Refused
from renew_fsm.eventdata import MAX_DATA_BYTES
from renew_fsm.replay import ReplayStop, replay
from renew_fsm.rules.policy import Policy, PolicyError, load, parse
from renew_fsm.storage.memory import MemoryStorage
from renew_fsm.verify import verify

ENV = {**os.environ, "COLUMNS": "200"}
SQL = "'; DROP TABLE history; --"
MEGA = "名" * 1_000_000
ODD = [
    "\u202eدكتور\u202c",  # right-to-left override, Arabic
    "李\u200d明",  # zero-width joiner
    "👨\u200d👩\u200d👧 医师",  # emoji family (joined)
    "e\u0301\u0308",  # combining marks
    "\ufeffBOM",
    "Ω≈ç√∫˜µ≤≥÷",
    SQL,
    'Robert"); DELETE FROM instances; --',
    "%s %(name)s {0} \\x00",
    "\t tab and\nnewline",
]


# -- what a store holds, to prove nothing was written -------------------------------------------------


def image(engine: renew_fsm.Engine) -> Any:
    """Every row of every table (memory: a copy of its dicts)."""
    storage = engine.storage
    if isinstance(storage, MemoryStorage):
        # Its data, not its lock or the caches it builds as it goes.
        return copy.deepcopy({k: v for k, v in vars(storage).items() if not k.startswith("_")})
    conn = storage.conn  # type: ignore[attr-defined]
    if storage.url.startswith("postgres"):
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                " AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
    else:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
    return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}


@pytest.fixture
def base(url: str) -> Iterator[renew_fsm.Engine]:
    """The small province, doctor D1 enrolled, D2 registered and D3 sitting the tests; the clock in registration."""
    engine = make_engine(url, [doctor_cmd("D1"), doctor_cmd("D2", serial=2), doctor_cmd("D3", serial=3)])
    to_testing(engine, "D3")
    engine.fire("D1", "enroll", H1)
    for event, actor in (
        ("enroll", H1),
        ("submit_info", doctor("D2")),
        ("approve_info", H1),
        ("confirm_registration", Actor("agency", "A1")),
    ):
        engine.fire("D2", event, actor)
    yield engine
    engine.close()


# -- the replay reader, in process ----------------------------------------------------------------------

FIRE = {"op": "fire", "doctor": "D1", "event": "submit_info", "actor": {"role": "doctor", "id": "D1"}}


def _with(**changes: Any) -> str:
    return json.dumps({**FIRE, **changes}, ensure_ascii=False)


#: Lines a replay must refuse (reported in ``errors``, the replay goes on), each with the code expected.
REFUSED_LINES: list[tuple[str, str, str]] = [
    ("doctor id a number", _with(doctor=123), "bad_input"),
    ("doctor id null", _with(doctor=None), "bad_input"),
    ("doctor id empty", _with(doctor=""), "bad_input"),
    ("doctor id 65 characters", _with(doctor="D" * 65), "bad_input"),
    ("doctor id with NUL", _with(doctor="D1\u0000"), "bad_input"),
    ("doctor id a megabyte", _with(doctor=MEGA), "bad_input"),
    ("doctor id SQL", _with(doctor=SQL), "not_found"),
    ("event a list", _with(event=["enroll"]), "bad_input"),
    ("event a float", _with(event=1e308), "bad_input"),
    ("event SQL", _with(event=SQL), "bad_input"),
    ("event upper case", _with(event="SUBMIT_INFO"), "bad_input"),
    ("actor a string", _with(actor="doctor"), "bad_input"),
    ("actor role a number", _with(actor={"role": 1, "id": "D1"}), "bad_input"),
    ("actor role unknown", _with(actor={"role": "root", "id": "D1"}), "bad_input"),
    ("actor extra field", _with(actor={"role": "doctor", "id": "D1", "sudo": True}), "bad_input"),
    (
        "actor id a lone surrogate",
        '{"op":"fire","doctor":"D1","event":"submit_info","actor":{"role":"doctor","id":"\\ud800"}}',
        "bad_input",
    ),
    ("actor out of jurisdiction", _with(actor={"role": "doctor", "id": "D2"}), "forbidden"),
    ("data a list", _with(data=[]), "bad_input"),
    ("data a string", _with(data="phone"), "bad_input"),
    (
        "data with a lone surrogate",
        '{"op":"fire","doctor":"D1","event":"submit_info","actor":{"role":"doctor",'
        '"id":"D1"},"data":{"note":"\\udc00"}}',
        "bad_input",
    ),
    (
        "data key a lone surrogate",
        '{"op":"fire","doctor":"D1","event":"submit_info","actor":{"role":"doctor","id":"D1"},"data":{"\\ud83d":"x"}}',
        "bad_input",
    ),
    ("data nested too large", _with(data={"x": ["长" * 1000] * 70}), "bad_input"),
    ("changing the name", _with(data={"name": "别人"}), "bad_input"),
    ("time a number", _with(at=12345), "bad_input"),
    ("time words", _with(at="yesterday"), "bad_input"),
    ("time 30 February", _with(at="2021-02-30T10:00:00+08:00"), "bad_input"),
    (
        "score NaN",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":"exam_system"},'
        '"data":{"test":"humanities","score":NaN}}',
        "bad_input",
    ),
    (
        "score Infinity",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":"exam_system"},'
        '"data":{"test":"humanities","score":Infinity}}',
        "bad_input",
    ),
    (
        "score 1e400",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":"exam_system"},'
        '"data":{"test":"humanities","score":1e400}}',
        "bad_input",
    ),
    (
        "score a 4000-digit integer",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":'
        '"exam_system"},"data":{"test":"humanities","score":' + "9" * 4000 + "}}",
        "bad_input",
    ),
    (
        "score a boolean",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":"exam_system"},'
        '"data":{"test":"humanities","score":true}}',
        "bad_input",
    ),
    (
        "score a string",
        '{"op":"fire","doctor":"D2","event":"record_score","actor":{"role":"exam_system"},'
        '"data":{"test":"humanities","score":"100"}}',
        "bad_input",
    ),
    (
        "self-evaluation over 4,000 characters",
        '{"op":"fire","doctor":"D2","event":"choose_general","actor":'
        '{"role":"doctor","id":"D2"},"data":{"self_evaluation":"' + "长" * 4001 + '"}}',
        "bad_input",
    ),
    (
        "months a 400-digit integer",
        '{"op":"fire","doctor":"D2","event":"suspend","actor":{"role":"admin",'
        '"id":"GX"},"data":{"months":' + "9" * 400 + "}}",
        "invalid_transition",
    ),
    (
        "reason a megabyte",
        '{"op":"fire","doctor":"D1","event":"cancel_enrollment","actor":{"role":'
        '"institution","id":"H1"},"data":{"reason":"' + MEGA + '"}}',
        "bad_input",
    ),
    (
        "reason a number",
        '{"op":"fire","doctor":"D1","event":"cancel_enrollment","actor":{"role":'
        '"institution","id":"H1"},"data":{"reason":42}}',
        "bad_input",
    ),
    ("fire with nothing", '{"op":"fire"}', "bad_input"),
    ("region level a number", '{"op":"region","id":"XX","level":5}', "bad_input"),
    (
        "region name a megabyte",
        json.dumps({"op": "region", "id": "XX", "level": "province", "name": MEGA}),
        "bad_input",
    ),
    ("region name with NUL", '{"op":"region","id":"XX","level":"province","name":"a\\u0000b"}', "bad_input"),
    ("region name a lone surrogate", '{"op":"region","id":"XX","level":"province","name":"\\udfff"}', "bad_input"),
    ("region parent unknown", '{"op":"region","id":"XX","level":"city","parent":"NOPE"}', "not_found"),
    ("institution region unknown", '{"op":"institution","id":"H9","region":"NOPE"}', "not_found"),
    ("institution kind unknown", '{"op":"institution","id":"H9","region":"NN-QX","kind":"spa"}', "bad_input"),
    ("agency assigned a string", '{"op":"agency","id":"A9","region":"NN","assigned":"H1"}', "bad_input"),
    ("agency assigned numbers", '{"op":"agency","id":"A9","region":"NN","assigned":[1,2]}', "bad_input"),
    ("agency assigned unknown", '{"op":"agency","id":"A9","region":"NN","assigned":["NOPE"]}', "not_found"),
    ("policy name a number", '{"op":"policy","name":42}', "bad_input"),
    ("policy name SQL", json.dumps({"op": "policy", "name": SQL}), "bad_input"),
    ("policy file not TOML", '{"op":"policy","file":"/etc/passwd"}', "bad_input"),
    ("policy file a directory", '{"op":"policy","file":"/tmp"}', "bad_input"),
    ("policy file binary", '{"op":"policy","file":"/bin/sh"}', "bad_input"),
    ("policy name and file", '{"op":"policy","name":"guangxi-2019-2020","file":"x.toml"}', "bad_input"),
    ("doctor id card a number", json.dumps({**doctor_cmd("D9", serial=9), "id_card": 450103197003150011}), "bad_input"),
    (
        "doctor id card check digit",
        json.dumps({**doctor_cmd("D9", serial=9), "id_card": "450103197003150010"}),
        "bad_input",
    ),
    ("doctor born 30 February", json.dumps({**doctor_cmd("D9", serial=9), "birth_date": "1970-02-30"}), "bad_input"),
    ("doctor licence null", json.dumps({**doctor_cmd("D9", serial=9), "license": None}), "bad_input"),
    ("doctor record unknown", json.dumps({**doctor_cmd("D9", serial=9), "record": "excellent"}), "bad_input"),
    ("doctor name a megabyte", json.dumps({**doctor_cmd("D9", serial=9), "name": MEGA}), "bad_input"),
    ("doctor name with NUL", json.dumps({**doctor_cmd("D9", serial=9), "name": "李\u0000明"}), "bad_input"),
    (
        "doctor name a lone surrogate",
        json.dumps(doctor_cmd("D9", serial=9), ensure_ascii=False).replace('"医师D9"', '"\\ud800"'),
        "bad_input",
    ),
    ("doctor name blank", json.dumps({**doctor_cmd("D9", serial=9), "name": "   "}), "bad_input"),
    ("doctor profile a list", json.dumps({**doctor_cmd("D9", serial=9), "profile": []}), "bad_input"),
    ("doctor institution unknown", json.dumps({**doctor_cmd("D9", serial=9), "institution": SQL}), "not_found"),
    ("doctor D1 again, other name", json.dumps({**doctor_cmd("D1"), "name": "冒名"}), "conflict"),
    ("exemption open 'yes'", '{"op":"exemption_reason","id":"x","text":"t","open":"yes"}', "bad_input"),
    ("exemption text empty", '{"op":"exemption_reason","id":"x","text":""}', "bad_input"),
    ("exemption text with NUL", '{"op":"exemption_reason","id":"x","text":"a\\u0000b"}', "bad_input"),
    ("clock nonsense", '{"op":"clock","at":"9999-99-99"}', "bad_input"),
    ("clock a number", '{"op":"clock","at":1e10}', "bad_input"),
    ("sweep SQL", json.dumps({"op": "sweep", "event": "close_first_round" + SQL}), "bad_input"),
    ("sweep a number", '{"op":"sweep","event":5}', "bad_input"),
    ("sweep too early", '{"op":"sweep","event":"close_first_round"}', "guard_failed"),
    ("actor a bare id", json.dumps({**FIRE, "actor": "H1"}), "bad_input"),
    ("an institution actor without its id", json.dumps({**FIRE, "actor": {"role": "institution"}}), "bad_input"),
]

#: What those refusals must say: the user's words, not Python's ("'str' object has no attribute 'keys'").
WORDING = {
    "actor a bare id": "actor: expected an object, got 'H1'",
    "an institution actor without its id": "an actor of role institution needs its id",
    "doctor profile a list": "profile: expected an object",
}

#: Lines that stop the replay (exit status 2): not JSON we can read, or an unknown op.
STOP_LINES: list[tuple[str, str]] = [
    ("truncated JSON", '{"op": "fire", "doctor": "D1"'),
    ("single quotes", "{'op': 'fire'}"),
    ("an integer of 5,000 digits", '{"op":"clock","at":' + "1" * 5000 + "}"),
    ("arrays nested 100,000 deep", "[" * 100_000 + "]" * 100_000),
    ("objects nested 100,000 deep", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ("unknown op", '{"op": "drop_table"}'),
    ("op SQL", json.dumps({"op": SQL})),
    ("op missing", '{"doctor": "D1"}'),
    ("a lone NUL", "\u0000"),
    # JSON, but not an object: no command at all, like an object without an op (SPEC §5).
    ("a command that is a list", "[1, 2, 3]"),
    ("a command that is a string", '"fire"'),
    ("a command that is null", "null"),
]


@pytest.mark.parametrize(("what", "line", "code"), REFUSED_LINES, ids=[c[0] for c in REFUSED_LINES])
def test_a_refused_line_is_reported_and_writes_nothing(base: renew_fsm.Engine, what: str, line: str, code: str) -> None:
    before = image(base)
    outcome = replay(base, ["", "", line])  # the line is line 3
    assert [(e["line"], e["code"]) for e in outcome.errors] == [(3, code)], outcome.errors
    assert outcome.errors[0]["message"]
    assert image(base) == before, f"{what}: the refused line wrote"


@pytest.mark.parametrize("what", sorted(WORDING))
def test_a_refusal_says_what_is_wrong_in_the_users_words(base: renew_fsm.Engine, what: str) -> None:
    line = next(line for name, line, _ in REFUSED_LINES if name == what)
    message = replay(base, [line]).errors[0]["message"]
    assert WORDING[what] in message and "attribute" not in message, message


@pytest.mark.parametrize(("what", "line"), STOP_LINES, ids=[c[0] for c in STOP_LINES])
def test_a_line_that_is_not_a_command_stops_the_replay_and_writes_nothing(
    base: renew_fsm.Engine, what: str, line: str
) -> None:
    before = image(base)
    with pytest.raises(ReplayStop) as stop:
        replay(base, ["", line, json.dumps(FIRE)])
    assert stop.value.line == 2
    assert image(base) == before


# -- the replay CLI: exit 2 with the line, no traceback, the file untouched ---------------------------


@pytest.fixture(scope="module")
def scenario_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store that a scenario built (the province and D1), reused by copy."""
    folder = tmp_path_factory.mktemp("hostile")
    scenario = folder / "base.jsonl"
    scenario.write_text(
        "\n".join(json.dumps(c, ensure_ascii=False) for c in [*WORLD, doctor_cmd("D1")]) + "\n", encoding="utf-8"
    )
    db = folder / "base.db"
    result = subprocess.run(
        ["renew-fsm", "replay", str(scenario), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return db


def _rows(db: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        conn.close()


CLI_LINES: list[tuple[str, bytes, int]] = [
    ("truncated JSON", b'{"op": "fire", "doctor": "D1"\n', 2),
    ("not UTF-8", b'{"op": "region", "id": "\xff\xfe", "level": "province"}\n', 2),
    ("an integer of 5,000 digits", b'{"op":"clock","at":' + b"1" * 5000 + b"}\n", 2),
    ("arrays nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000 + b"\n", 2),
    ("unknown op", b'{"op": "drop_table", "table": "history"}\n', 2),
    (
        "a doctor named in a lone surrogate",
        json.dumps(doctor_cmd("D9", serial=9)).replace('"\\u533b\\u5e08D9"', '"\\ud800"').encode() + b"\n",
        0,
    ),
    (
        "a megabyte reason",
        (
            '{"op":"fire","doctor":"D1","event":"cancel_enrollment","actor":{"role":"institution",'
            '"id":"H1"},"data":{"reason":"' + MEGA + '"}}\n'
        ).encode(),
        0,
    ),
]


@pytest.mark.parametrize(("what", "content", "status"), CLI_LINES, ids=[c[0] for c in CLI_LINES])
def test_the_replay_cli_refuses_without_a_traceback(
    scenario_db: Path, tmp_path: Path, what: str, content: bytes, status: int
) -> None:
    db = tmp_path / "copy.db"
    shutil.copyfile(scenario_db, db)
    before = _rows(db)
    scenario = tmp_path / "hostile.jsonl"
    scenario.write_bytes(b"\n\n" + content)  # the hostile line is line 3
    result = subprocess.run(
        ["renew-fsm", "replay", str(scenario), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert result.returncode == status, (result.returncode, result.stderr[-500:])
    if status == 2:
        assert re.search(r"\bline 3\b", result.stderr), result.stderr
    else:
        errors = json.loads(result.stdout)["errors"]
        assert [(e["line"], e["code"]) for e in errors] == [(3, "bad_input")], errors
    assert _rows(db) == before


# -- accepted names and reasons come back exactly ----------------------------------------------------------

#: Text a person might really type, however odd: no lone surrogates (they are not text at all).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60).filter(lambda s: s.strip())


def test_odd_names_and_reasons_come_back_exactly(url: str) -> None:
    engine = make_engine(url, [doctor_cmd(f"U{i}", name=name, serial=i) for i, name in enumerate(ODD)])
    try:
        for i, text in enumerate(ODD):
            did = f"U{i}"
            assert engine.storage.get_doctor(did).name == text  # type: ignore[union-attr]
            engine.fire(did, "enroll", H1)
            engine.fire(did, "cancel_enrollment", H1, {"reason": text})
            record = engine.history(did)[-1]
            assert json.loads(record.data) == {"reason": text}
        assert verify(engine).ok
    finally:
        engine.close()


#: Reasons as hypothesis writes them, with lone surrogates and NULs mixed in.
REASONS = st.text(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e"])), max_size=80)
_ids = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=TEXT, reason=REASONS)
def test_any_name_and_reason_is_stored_exactly_or_refused_cleanly(
    base: renew_fsm.Engine, name: str, reason: str
) -> None:
    """Hypothesis writes the names and reasons (lone surrogates and NULs included in reasons)."""
    n = next(_ids)
    did = f"H{n}"
    before = image(base)
    try:
        # A card of their own (one person, one registry entry): serials 100–999, clear of D1–D3's.
        base.apply(doctor_cmd(did, name=name, serial=100 + n % 900))
    except Refused as refused:
        assert refused.code == "bad_input" and ("\x00" in name), (name, refused)
        assert image(base) == before
        return
    assert base.storage.get_doctor(did).name == name  # type: ignore[union-attr]
    base.fire(did, "enroll", H1)
    before = image(base)
    try:
        base.fire(did, "cancel_enrollment", H1, {"reason": reason})
    except Refused as refused:
        assert refused.code == "bad_input", refused
        assert not reason.strip() or any(0xD800 <= ord(c) <= 0xDFFF for c in reason), (reason, refused)
        assert image(base) == before
        return
    assert json.loads(base.history(did)[-1].data)["reason"] == reason


def test_the_history_cli_shows_odd_reasons_exactly(tmp_path: Path) -> None:
    db = str(tmp_path / "odd.db")
    engine = make_engine(db, [doctor_cmd("D1", name=ODD[0])])
    engine.fire("D1", "enroll", H1)
    engine.fire("D1", "cancel_enrollment", H1, {"reason": "".join(ODD)})
    engine.close()
    result = subprocess.run(
        ["renew-fsm", "history", "D1", "--db", db, "--json"], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    records = json.loads(result.stdout)
    assert json.loads(records[-1]["data"]) == {"reason": "".join(ODD)}


# -- the public API fed the wrong types -----------------------------------------------------------------


def _api_cases() -> list[tuple[str, Any]]:
    at = dt.datetime(2021, 4, 20, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return [
        ("fire: data a list", lambda e: e.fire("D1", "submit_info", doctor("D1"), [])),
        ("fire: data a string", lambda e: e.fire("D1", "submit_info", doctor("D1"), "phone")),
        ("fire: data a set", lambda e: e.fire("D1", "submit_info", doctor("D1"), {"x": {1, 2}})),
        ("fire: data nested 10,000 deep", lambda e: e.fire("D1", "submit_info", doctor("D1"), _deep(10_000))),
        ("fire: data with int keys", lambda e: e.fire("D1", "cancel_enrollment", H1, {1: "x", "reason": "r"})),
        ("fire: data bytes", lambda e: e.fire("D1", "cancel_enrollment", H1, {"reason": b"bytes"})),
        (
            "fire: score a huge int",
            lambda e: e.fire("D2", "record_score", Actor("exam_system"), {"test": "humanities", "score": 10**400}),
        ),
        (
            "fire: score NaN",
            lambda e: e.fire("D2", "record_score", Actor("exam_system"), {"test": "humanities", "score": float("nan")}),
        ),
        ("fire: reason a lone surrogate", lambda e: e.fire("D1", "cancel_enrollment", H1, {"reason": "\udc80"})),
        ("fire: at a string", lambda e: e.fire("D1", "submit_info", doctor("D1"), at="2021-04-20")),
        ("fire: at a date", lambda e: e.fire("D1", "submit_info", doctor("D1"), at=at.date())),
        ("fire: actor a string", lambda e: e.fire("D1", "submit_info", "doctor")),
        ("fire: actor a tuple", lambda e: e.fire("D1", "submit_info", ("doctor", "D1"))),
        ("fire: actor role None", lambda e: e.fire("D1", "submit_info", Actor(None, "D1"))),  # type: ignore[arg-type]
        ("fire: event None", lambda e: e.fire("D1", None, doctor("D1"))),
        ("fire: event SQL", lambda e: e.fire("D1", SQL, doctor("D1"))),
        ("fire: unknown doctor", lambda e: e.fire("NOPE", "submit_info", doctor("NOPE"))),
        ("fire: doctor SQL", lambda e: e.fire(SQL, "submit_info", doctor(SQL))),
        ("state: unknown doctor", lambda e: e.state(SQL)),
        ("history: unknown doctor", lambda e: e.history("NOPE")),
        ("history: None", lambda e: e.history(None)),
        ("allowed: unknown doctor", lambda e: e.allowed(SQL, H1)),
        ("apply: a string", lambda e: e.apply("fire")),
        ("apply: None", lambda e: e.apply(None)),
        ("apply: a list", lambda e: e.apply([{"op": "clock"}])),
        ("apply: fire with a lone surrogate", lambda e: e.apply({**FIRE, "data": {"note": "\ud800"}})),
        ("sweep: None", lambda e: e.sweep(None)),
        ("sweep: not a sweep", lambda e: e.sweep("enroll")),
        ("sweep: at a string", lambda e: e.sweep("close_first_round", at="2021-07-01")),
    ]


def _deep(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(n):
        out = {"x": out}
    return out


def test_allowed_for_something_that_is_not_an_actor_is_nothing(base: renew_fsm.Engine) -> None:
    assert base.allowed("D1", "institution") == []  # type: ignore[arg-type]


def _typed_cases() -> list[tuple[str, Any]]:
    score = {"test": "humanities", "score": 50}
    first_round = dt.datetime(2021, 6, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return [
        ("fire: doctor a number", lambda e: e.fire(123, "submit_info", doctor("D1"))),
        ("state: doctor a number", lambda e: e.state(123)),
        ("fire: idempotency key a number", lambda e: e.fire("D1", "submit_info", doctor("D1"), idempotency_key=7)),
        (
            "fire: actor id a lone surrogate",
            lambda e: e.fire("D3", "record_score", Actor("exam_system", "\udc00"), score, at=first_round),
        ),
        (
            "fire: actor id with NUL",
            lambda e: e.fire("D3", "record_score", Actor("exam_system", "app\x00"), score, at=first_round),
        ),
        # Year 9999 in UTC is year 10000 in Beijing: an OverflowError inside a rule before.
        ("fire: at past the calendar's end", lambda e: e.fire("D1", "submit_info", doctor("D1"), at=_END_OF_TIME)),
        ("fire_many: at past the calendar's end", lambda e: _raise_first(e.fire_many([_late_fire()]))),
        ("sweep: at past the calendar's end", lambda e: e.sweep("close_first_round", at=_END_OF_TIME)),
        ("clock: past the calendar's end", lambda e: e.apply({"op": "clock", "at": "9999-12-31T23:59:59-12:00"})),
        ("fire: NaN in free-form data", lambda e: e.fire("D1", "submit_info", doctor("D1"), {"x": math.nan})),
        ("fire: infinity nested in data", lambda e: e.fire("D1", "submit_info", doctor("D1"), {"x": [math.inf]})),
        # JSON would write the key 2 as "2" (and sorting keys of two types was a TypeError).
        ("fire: a data key that is a number", lambda e: e.fire("D1", "submit_info", doctor("D1"), {"a": 1, 2: "b"})),
        ("fire: a nested key that is a bool", lambda e: e.fire("D1", "submit_info", doctor("D1"), {"a": {True: 1}})),
        ("fire: event a list", lambda e: e.fire("D1", ["enroll"], H1)),  # type: ignore[arg-type]
        ("fire: role a list", lambda e: e.fire("D1", "enroll", Actor(["institution"], "H1"))),  # type: ignore[arg-type]
        ("sweep: event a list", lambda e: e.sweep(["close_first_round"])),  # type: ignore[arg-type]
        # A profile is stored as JSON: memory kept a date the others could not encode (TypeError).
        ("doctor: a date in the profile", lambda e: e.apply(_with_profile({"hired": dt.date(2001, 9, 1)}))),
        ("doctor: a set in the profile", lambda e: e.apply(_with_profile({"tags": {"a"}}))),
        ("doctor: NaN in the profile", lambda e: e.apply(_with_profile({"x": math.nan}))),
        ("doctor: a number as a profile key", lambda e: e.apply(_with_profile({1: "a"}))),
        ("doctor: a profile nested 10,000 deep", lambda e: e.apply(_with_profile(_deep(10_000)))),
        ("doctor: a 70 kB profile", lambda e: e.apply(_with_profile({"notes": "x" * 70_000}))),
        ("add_doctors: a date in the profile", lambda e: e.add_doctors([_profile_op({"on": dt.date(2001, 9, 1)})])),
    ]


def _with_profile(profile: Any) -> dict[str, Any]:
    return {**doctor_cmd("D9", serial=9), "profile": profile}


def _profile_op(profile: Any) -> Any:
    op = renew_fsm.ops.parse(_with_profile({}))
    return attrs.evolve(op, profile=profile)


_END_OF_TIME = dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)


def _late_fire() -> renew_fsm.Fire:
    return renew_fsm.Fire("D1", "submit_info", doctor("D1"), {}, _END_OF_TIME)


def _raise_first(results: list[Any]) -> None:
    """A batch reports a refusal in its place; raised here so the case reads like the others."""
    if isinstance(results[0], Refused):
        raise results[0]


@pytest.mark.parametrize(("what", "call"), _api_cases(), ids=[c[0] for c in _api_cases()])
def test_the_api_refuses_wrong_types_with_a_code_and_writes_nothing(
    base: renew_fsm.Engine, what: str, call: Any
) -> None:
    before = image(base)
    with pytest.raises(Refused) as refused:
        call(base)
    assert refused.value.code in CODES, refused.value
    assert image(base) == before


@pytest.mark.parametrize(("what", "call"), _typed_cases(), ids=[c[0] for c in _typed_cases()])
def test_the_api_refuses_values_it_could_not_store_or_judge(base: renew_fsm.Engine, what: str, call: Any) -> None:
    """Ids that are not text, times past the calendar's end, data JSON cannot hold as sent."""
    before = image(base)
    with pytest.raises(Refused) as refused:
        call(base)
    assert refused.value.code in CODES, refused.value
    assert image(base) == before


def _sized(size: int) -> dict[str, str]:
    """Free-form data whose stored (canonical) JSON is exactly ``size`` characters."""
    data = {"note": ""}
    data["note"] = "x" * (size - len(json.dumps(data, separators=(",", ":"))))
    return data


def test_free_form_data_is_bounded_by_its_stored_size(base: renew_fsm.Engine) -> None:
    """64 kB of data as the history stores it is taken; one character more is refused and writes nothing."""
    before = image(base)
    with pytest.raises(Refused, match="larger than 65536 bytes") as refused:
        base.fire("D1", "submit_info", doctor("D1"), _sized(MAX_DATA_BYTES + 1))
    assert refused.value.code == "bad_input"
    assert image(base) == before
    base.fire("D1", "submit_info", doctor("D1"), _sized(MAX_DATA_BYTES))
    assert len(base.history("D1")[-1].data) == MAX_DATA_BYTES


# -- the policy loader -------------------------------------------------------------------------------------

SHIPPED = load("guangxi-2019-2020").text
HOSTILE_VALUES = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "true",
    '""',
    '"\\u0000"',
    "[]",
    "{}",
    "1979-13-01",
    "2021-02-30",
    "2021-04-19T25:00:00",
    '"' + "长" * 100_000 + '"',
    "'; DROP TABLE policies; --",
    '"Asia/Nowhere"',
    "{ start = 2021-05-01 }",
    "[1, 2, 3]",
    '"\\ud800"',
    "0x7fffffffffffffff",
]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_mangled_policy_is_a_policy_error_never_a_crash(data: st.DataObject) -> None:
    """Hypothesis mangles the shipped Guangxi file: values replaced, lines dropped or cut, bytes inserted."""
    lines = SHIPPED.splitlines()
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        how = data.draw(st.integers(0, 3), label="how")
        if how == 0 and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {data.draw(st.sampled_from(HOSTILE_VALUES), label='value')}"
        elif how == 1:
            del lines[i]
        elif how == 2:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])), label="cut")]
        else:
            lines.insert(i, data.draw(st.text(max_size=20), label="garbage"))
    text = "\n".join(lines)
    try:
        policy = parse(text, "<mangled>")
    except PolicyError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert isinstance(policy, Policy)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage",
        b"[policy]\nid = 1\n",
        ('[policy]\nid = "' + "x" * 1_000_000 + '"\n').encode(),
        b"[[[[[[[[",
        b"",
    ],
    ids=["not UTF-8", "wrong type", "a megabyte id", "brackets", "empty"],
)
def test_the_policy_cli_refuses_a_broken_file_without_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(PolicyError):
        load(path)
    result = subprocess.run(
        ["renew-fsm", "policy", "lint", str(path)], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("name", ["a\x00b", "x" * 5000, 42, "/tmp", "/dev/null", SQL])
def test_loading_a_policy_by_a_bad_name_is_a_policy_error(name: Any) -> None:
    with pytest.raises(PolicyError):
        load(name)
