"""考试进展导出 (先申请，再导出): an authority asks, the system produces the list of the doctors at the
tests — who has sat them and who has not — and every download is recorded."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from conftest import CITY, COUNTY, EXAM, PROVINCE, at, doctor_cmd, make_engine, register, to_testing

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.verify import verify

EX = "export_request"
SYSTEM = Actor("system")
A2 = Actor("agency", "A2")
H3 = Actor("institution", "H3")
DAY = at("2021-06-02")


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


@pytest.fixture
def e(url: str) -> renew_fsm.Engine:
    """D1 testing and has sat humanities; D2 testing, nothing sat; D3 registered (not at the tests);
    D4 testing in Guilin."""
    engine = make_engine(
        url,
        [doctor_cmd("D1"), doctor_cmd("D2", serial=2), doctor_cmd("D3", serial=3), doctor_cmd("D4", "H3", serial=4)],
    )
    to_testing(engine, "D1")
    to_testing(engine, "D2", "simple")
    register(engine, "D3")
    to_testing(engine, "D4", institution=H3, agency=A2)
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 50}, at=DAY)
    return engine


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_ask_then_export(e: renew_fsm.Engine) -> None:
    view = e.case_fire(EX, "X1", "request_export", CITY, subject="NN", at=DAY)
    assert (view.state, view.data) == ("requested", {"cycle": "guangxi-2019-2020"})
    assert code(lambda: e.download_export("X1", CITY)) == ("invalid_transition", None)  # not produced yet
    assert code(lambda: e.case_fire(EX, "X1", "produce_export", CITY)) == ("forbidden", None)
    assert code(lambda: e.case_fire(EX, "X1", "produce_export", SYSTEM, {"rows": 0})) == ("bad_input", None)
    view = e.case_fire(EX, "X1", "produce_export", SYSTEM, at=DAY)
    assert view.state == "ready"
    assert (view.data["rows"], view.data["taken"]) == (2, 1)
    data = e.download_export("X1", CITY, at=DAY)
    table = rows(data)
    assert table[0][:3] == ["医师编号", "姓名", "卫生机构"]
    assert [(r[0], r[4], r[5], r[8]) for r in table[1:]] == [
        ("D1", "general.testing", "1", "是"),
        ("D2", "simple.testing", "0", "否"),
    ]  # D3 has not reached the tests; D4 is in Guilin
    assert hashlib.sha256(data.decode("utf-8-sig").encode()).hexdigest() == view.data["sha256"]
    e.download_export("X1", PROVINCE, at=DAY)  # an authority above may download it too
    assert code(lambda: e.download_export("X1", Actor("admin", "GL"))) == ("forbidden", None)
    assert code(lambda: e.download_export("X1", COUNTY)) == ("forbidden", None)  # below the requester
    history = e.case_history(EX, "X1")
    assert [(r.event, r.role, r.actor) for r in history] == [
        ("request_export", "admin", "NN"),
        ("produce_export", "system", None),
        ("download_export", "admin", "NN"),
        ("download_export", "admin", "GX"),
    ]
    assert json.loads(history[1].data)["sha256"] == view.data["sha256"]  # the list is fixed in the chain
    assert e.case_state(EX, "X1").data["downloads"] == 2
    assert verify(e).ok


def test_the_list_is_frozen_when_produced_and_xlsx_is_the_same(e: renew_fsm.Engine) -> None:
    e.case_fire(EX, "X1", "request_export", PROVINCE, subject="GX")
    e.case_fire(EX, "X1", "produce_export", SYSTEM)
    e.fire("D2", "record_score", EXAM, {"test": "humanities", "score": 90}, at=DAY)  # after production
    table = rows(e.download_export("X1", PROVINCE))
    assert [(r[0], r[8]) for r in table[1:]] == [("D1", "是"), ("D2", "否"), ("D4", "否")]
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(e.download_export("X1", PROVINCE, format="xlsx")))
    sheet = [[c.value for c in row] for row in book.active.iter_rows()]
    assert sheet[0] == table[0] and [r[0] for r in sheet[1:]] == ["D1", "D2", "D4"]
    assert code(lambda: e.download_export("X1", PROVINCE, format="pdf")) == ("bad_input", None)


def test_who_may_ask(e: renew_fsm.Engine) -> None:
    assert code(lambda: e.case_fire(EX, "X1", "request_export", COUNTY, subject="NN")) == ("forbidden", None)
    assert code(lambda: e.case_fire(EX, "X1", "request_export", Actor("agency", "A1"), subject="NN")) == (
        "forbidden",
        None,
    )
    assert code(lambda: e.case_fire(EX, "X1", "request_export", CITY, subject="ZZ")) == ("not_found", None)
    assert code(lambda: e.case_fire(EX, "X1", "request_export", CITY, {"cycle": "1999"}, subject="NN")) == (
        "not_found",
        None,
    )
    assert e.cases(EX) == []


def test_an_empty_list_is_a_list(url: str) -> None:
    e = make_engine(url)
    e.case_fire(EX, "X1", "request_export", COUNTY, subject="NN-QX")
    assert e.case_fire(EX, "X1", "produce_export", SYSTEM).data["rows"] == 0
    assert len(rows(e.download_export("X1", COUNTY))) == 1
