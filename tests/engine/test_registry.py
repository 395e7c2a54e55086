"""The registry refuses doctors who cannot exist, and keeps the fields the manual's forms need.

Each impossible doctor is tried on the three roads a doctor comes in by: the embedding API
(``Engine.apply``), a replayed scenario and a CSV import — and on each it is refused with the same
code, writing nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import REGISTRATION_DAY, WORLD, doctor_cmd, make_engine

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.idcard import make
from renew_fsm.importer import import_doctors
from renew_fsm.replay import replay as replay_lines
from renew_fsm.storage.base import SCHEMA_VERSION


def _with_card(cmd: dict[str, Any], serial: int = 1) -> dict[str, Any]:
    return {**cmd, "id_card": make("450103", dt.date.fromisoformat(cmd["birth_date"]), serial)}


#: (what is wrong, the fields that make it so): each refused ``bad_input`` on every road.
#: The clock is the registration day, 2021-04-20 in Beijing.
IMPOSSIBLE = {
    "born in year 9990": {"birth_date": "9990-01-01", "practice_since": "2000-09-01"},
    "born in the future": {"birth_date": "2030-01-01", "practice_since": "2000-09-01"},
    "born before 1900": {"birth_date": "1899-12-31", "practice_since": "1925-09-01"},
    "practising from a future day": {"practice_since": "2099-09-01"},
    "practising from the day after the clock": {"practice_since": "2021-04-21"},
    "practising at 17": {"birth_date": "1990-06-01", "practice_since": "2008-05-31"},
    "an unknown sex": {"sex": "M"},
    "an unknown category of practice": {"practice_category": "surgery"},
    "a certificate number with a control character": {"license_no": "110\n450"},
    "a name of 4,001 characters": {"name": "名" * 4001},
}


def _impossible(what: str) -> dict[str, Any]:
    return _with_card({**doctor_cmd("D9"), **IMPOSSIBLE[what]})


def _fresh(url: str) -> renew_fsm.Engine:
    return make_engine(url, [doctor_cmd("D1")])


@pytest.mark.parametrize("what", sorted(IMPOSSIBLE))
def test_the_api_refuses_an_impossible_doctor_and_writes_nothing(url: str, what: str) -> None:
    e = _fresh(url)
    try:
        with pytest.raises(Refused) as refused:
            e.apply(_impossible(what))
        assert refused.value.code == "bad_input", refused.value.message
        assert e.storage.get_doctor("D9") is None
        assert e.instances() == ["D1"]
    finally:
        e.close()


def test_the_edges_themselves_are_accepted(url: str) -> None:
    """18 on the first day of practice, born on 1900-01-01, practising from the clock's own day."""
    e = _fresh(url)
    try:
        for n, fields in enumerate(
            [
                {"birth_date": "1990-06-01", "practice_since": "2008-06-01"},
                {"birth_date": "1900-01-01", "practice_since": "1925-09-01"},
                {"birth_date": "1992-02-29", "practice_since": "2010-03-01"},  # 18 on 1 March in a common year
                {"birth_date": "1980-01-01", "practice_since": "2021-04-20"},
            ],
            2,
        ):
            e.apply(_with_card({**doctor_cmd(f"D{n}"), **fields}, n))
        assert e.instances() == ["D1", "D2", "D3", "D4", "D5"]
        # The oldest and the newest doctor: nothing deeper in raises on their dates.
        for did in ("D3", "D5"):
            assert "enroll" in e.allowed(did, Actor("institution", "H1"))
    finally:
        e.close()


def test_a_replay_reports_each_impossible_doctor_and_goes_on(tmp_path: Path) -> None:
    lines = [*WORLD, {"op": "clock", "at": REGISTRATION_DAY}, *(_impossible(w) for w in sorted(IMPOSSIBLE))]
    lines.append(doctor_cmd("D1"))
    engine = renew_fsm.open(":memory:")
    try:
        outcome = replay_lines(engine, [json.dumps(line, ensure_ascii=False) for line in lines])
    finally:
        engine.close()
    assert [(e["line"], e["code"]) for e in outcome.errors] == [
        (len(WORLD) + 2 + n, "bad_input") for n in range(len(IMPOSSIBLE))
    ]
    assert list(outcome.doctors) == ["D1"]


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = ["id", "institution", "name", "id_card", "license", "birth_date", "practice_since", "record"]
    columns += ["sex", "qualification_no", "license_no", "practice_category"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([[r.get(c) or "" for c in columns] for r in rows])
    return out.getvalue()


def test_an_import_rejects_each_impossible_doctor_by_its_field_and_imports_the_rest(url: str, tmp_path: Path) -> None:
    e = _fresh(url)
    try:
        names = sorted(IMPOSSIBLE)
        rows = [{**_impossible(w), "id": f"X{n}"} for n, w in enumerate(names)]
        rows.append(_with_card(doctor_cmd("D2", born="1975-01-01"), 2))
        path = tmp_path / "doctors.csv"
        path.write_text(_csv(rows), encoding="utf-8")
        report = import_doctors(e, path)
        assert report.imported == ["D2"]
        fields = {p.id: p.field for p in report.rejected}
        expected = {
            "born in year 9990": "birth_date",
            "born in the future": "birth_date",
            "born before 1900": "birth_date",
            "practising from a future day": "practice_since",
            "practising from the day after the clock": "practice_since",
            "practising at 17": "practice_since",
            "an unknown sex": "sex",
            "an unknown category of practice": "practice_category",
            "a certificate number with a control character": "license_no",
            "a name of 4,001 characters": "name",
        }
        assert fields == {f"X{n}": expected[w] for n, w in enumerate(names)}
        assert sorted(e.instances()) == ["D1", "D2"]
    finally:
        e.close()


# -- one person, one registry entry ----------------------------------------------------------------


def test_an_id_card_held_by_another_doctor_is_a_conflict_on_the_api(url: str) -> None:
    e = _fresh(url)
    try:
        twin = {**doctor_cmd("D2"), "id_card": doctor_cmd("D1")["id_card"]}
        with pytest.raises(Refused) as refused:
            e.apply(twin)
        assert refused.value.code == "conflict"
        assert "D1" in refused.value.message
        # In one batch: the second of two new doctors with one card refuses the whole batch.
        from renew_fsm.ops import parse

        with pytest.raises(Refused) as batch:
            e.add_doctors([parse(doctor_cmd("D3", serial=7)), parse({**doctor_cmd("D4", serial=7)})])
        assert batch.value.code == "conflict"
        assert e.instances() == ["D1"]
        e.apply(doctor_cmd("D1"))  # the same doctor again is no conflict with themself
    finally:
        e.close()


def test_a_replay_reports_the_twin_as_a_conflict() -> None:
    lines = [*WORLD, doctor_cmd("D1"), {**doctor_cmd("D2"), "id_card": doctor_cmd("D1")["id_card"]}]
    engine = renew_fsm.open(":memory:")
    try:
        outcome = replay_lines(engine, [json.dumps(line, ensure_ascii=False) for line in lines])
    finally:
        engine.close()
    assert [(e["line"], e["code"]) for e in outcome.errors] == [(len(WORLD) + 2, "conflict")]


def test_an_import_reports_a_row_whose_card_another_stored_doctor_holds(url: str, tmp_path: Path) -> None:
    e = _fresh(url)
    try:
        rows = [
            {**doctor_cmd("D2"), "id_card": doctor_cmd("D1")["id_card"]},
            _with_card(doctor_cmd("D3", born="1972-02-02"), 3),
        ]
        path = tmp_path / "doctors.csv"
        path.write_text(_csv(rows), encoding="utf-8")
        report = import_doctors(e, path)
        assert [(p.line, p.id, p.field) for p in report.conflicts] == [(2, "D2", "id_card")]
        assert "D1" in report.conflicts[0].why
        assert report.imported == ["D3"]
        assert e.storage.get_doctor("D2") is None
    finally:
        e.close()


# -- the registry fields ---------------------------------------------------------------------------------


def test_the_registry_fields_are_kept_on_every_road(url: str, tmp_path: Path) -> None:
    e = _fresh(url)
    try:
        fields = {
            "sex": "female",
            "qualification_no": "200345110450103",
            "license_no": "110450100003512",
            "practice_category": "tcm",
        }
        e.apply({**_with_card(doctor_cmd("D2", born="1975-01-01"), 2), **fields})
        path = tmp_path / "doctors.csv"
        row = {**_with_card(doctor_cmd("D3", born="1976-01-01"), 3), **fields, "sex": "男", "practice_category": "口腔"}
        path.write_text(_csv([row]), encoding="utf-8")
        assert import_doctors(e, path).imported == ["D3"]
        d2, d3 = e.storage.get_doctor("D2"), e.storage.get_doctor("D3")
        assert (d2.sex, d2.qualification_no, d2.license_no, d2.practice_category) == tuple(fields.values())
        assert (d3.sex, d3.practice_category) == ("male", "dental")
        assert e.storage.get_doctor("D1").practice_category is None  # optional: a doctor without them
        # Imported again with another category: a conflict, never an overwrite.
        path.write_text(_csv([{**row, "practice_category": "临床"}]), encoding="utf-8")
        again = import_doctors(e, path)
        assert [(p.id, p.field) for p in again.conflicts] == [("D3", "practice_category")]
        assert e.storage.get_doctor("D3").practice_category == "dental"
    finally:
        e.close()


def test_a_schema_4_sqlite_store_gains_the_registry_columns_and_keeps_its_doctors(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    e = make_engine(path, [doctor_cmd("D1")])
    e.close()
    with sqlite3.connect(path) as conn:
        for column in ("sex", "qualification_no", "license_no", "practice_category"):
            conn.execute(f"ALTER TABLE doctors DROP COLUMN {column}")
        conn.execute("DROP INDEX idx_doctors_id_card")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    e = renew_fsm.open(path)
    try:
        assert e.storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert e.storage.get_doctor("D1").sex is None
        with pytest.raises(Refused) as refused:  # the id-card index serves the twin check at once
            e.apply({**doctor_cmd("D2"), "id_card": doctor_cmd("D1")["id_card"]})
        assert refused.value.code == "conflict"
    finally:
        e.close()


def test_a_schema_4_postgresql_store_gains_the_registry_columns(pg_url: str) -> None:
    import psycopg

    e = make_engine(pg_url, [doctor_cmd("D1")])
    e.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE doctors DROP COLUMN sex, DROP COLUMN qualification_no, DROP COLUMN license_no, "
            "DROP COLUMN practice_category"
        )
        conn.execute("DROP INDEX idx_doctors_id_card")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    e = renew_fsm.open(pg_url)
    try:
        assert e.storage.get_meta("schema_version") == str(SCHEMA_VERSION)
        e.apply({**doctor_cmd("D2", serial=2), "practice_category": "public_health"})
        assert e.storage.get_doctor("D2").practice_category == "public_health"
        assert e.storage.get_doctor("D1").practice_category is None
    finally:
        e.close()


def test_an_institution_name_over_the_limit_is_rejected_by_the_import_as_by_the_command(
    url: str, tmp_path: Path
) -> None:
    from renew_fsm.importer import import_institutions

    e = _fresh(url)
    try:
        with pytest.raises(Refused) as refused:
            e.apply({"op": "institution", "id": "H8", "region": "NN-QX", "name": "院" * 4001})
        assert refused.value.code == "bad_input"
        path = tmp_path / "institutions.csv"
        path.write_text(f"id,region,name,kind\nH8,NN-QX,{'院' * 4001},\nH9,NN-QX,{'院' * 4000},\n", encoding="utf-8")
        report = import_institutions(e, path)
        assert [(p.id, p.field) for p in report.rejected] == [("H8", "name")]
        assert report.imported == ["H9"]
    finally:
        e.close()


def test_a_clock_near_the_calendars_end_admits_no_doctor_whose_ages_it_cannot_count(url: str) -> None:
    """A birth date in the future is refused against the engine's day; with that day set near year 9999,
    a doctor born 9950 would have turned 60 past the calendar's end — refused, not a ValueError later."""
    e = _fresh(url)
    try:
        e.apply({"op": "clock", "at": "9999-06-01T00:00:00+08:00"})
        with pytest.raises(Refused) as refused:
            e.apply(_with_card({**doctor_cmd("D9"), "birth_date": "9950-01-01", "practice_since": "9980-01-01"}))
        assert refused.value.code == "bad_input"
        e.apply(_with_card({**doctor_cmd("D8"), "birth_date": "9890-01-01", "practice_since": "9920-01-01"}, 8))
        assert "enroll" not in e.allowed("D8", Actor("institution", "H1"))  # outside the window, and no raise
    finally:
        e.close()
