"""The routes the manual needs beyond single events: the batch (批量通过 / 一键确认), the result notice
as PDF, and the export download — over a real ``renew-fsm serve``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from conftest import A1, to_testing
from server import BACKENDS, Service, running_service

import renew_fsm
from renew_fsm import Actor

service = pytest.fixture(scope="module", params=BACKENDS)(running_service)


def batch(svc: Service, role: str, ident: str, **body: object) -> dict[str, object]:
    response = svc.http.post("/batch", json=body, headers=svc.headers(role, ident))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_batch_answers_per_doctor_and_writes_the_accepted(service: Service) -> None:
    # D003, D006 and D009 are H1's; D004 is H2's.
    done = batch(service, "institution", "H1", event="enroll", doctors=["D003", "D004", "D006"])
    assert (done["accepted"], done["refused"]) == (2, 1)
    by_doctor = {r["doctor"]: r for r in done["results"]}  # type: ignore[union-attr]
    assert by_doctor["D003"]["ok"] and by_doctor["D003"]["view"]["state"] == "enrolled"
    assert by_doctor["D004"]["error"]["code"] == "forbidden"
    assert service.get("/doctors/D006", "institution", "H1").json()["state"] == "enrolled"


def test_an_all_or_nothing_batch_writes_nothing_when_one_is_refused(service: Service) -> None:
    done = batch(service, "institution", "H1", event="enroll", doctors=["D009", "D007", "D012"], all_or_nothing=True)
    assert done["accepted"] == 0
    codes = [(r["doctor"], r["error"]["code"], r["error"]["rule"]) for r in done["results"]]  # type: ignore[union-attr]
    assert codes == [
        ("D009", "conflict", "batch_refused"),
        ("D007", "forbidden", None),  # D007 is H2's
        ("D012", "conflict", "batch_refused"),
    ]
    for d in ("D009", "D012"):
        assert service.get(f"/doctors/{d}", "institution", "H1").json()["version"] == 0
    done = batch(service, "institution", "H1", event="enroll", doctors=["D009", "D012"], all_or_nothing=True)
    assert done["accepted"] == 2


def test_a_batch_is_refused_whole_when_malformed(service: Service) -> None:
    response = service.http.post(
        "/batch", json={"event": "enroll", "doctors": ["D015", "D015"]}, headers=service.headers("institution", "H1")
    )
    assert response.status_code == 422 and response.json()["code"] == "bad_input"


@pytest.fixture
def qualified(service: Service) -> Iterator[str]:
    """D018 (H1) taken to qualified in the library, at the policy's own times."""
    engine = renew_fsm.open(service.db)
    try:
        to_testing(engine, "D018")
        test_day = dt.datetime(2021, 6, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        engine.fire("D018", "record_score", Actor("exam_system"), {"test": "business", "score": 80}, test_day)
        engine.fire("D018", "record_score", Actor("exam_system"), {"test": "humanities", "score": 80}, test_day)
        engine.fire("D018", "grade", A1, at=test_day + dt.timedelta(days=29))
        assert engine.state("D018").state == "qualified"
    finally:
        engine.close()
    yield "D018"


def test_the_result_notice_as_pdf(service: Service, qualified: str) -> None:
    response = service.get(f"/doctors/{qualified}/notice.pdf", "doctor", qualified)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert service.get(f"/doctors/{qualified}/notice.pdf", "institution", "H2").status_code == 403
    not_yet = service.get("/doctors/D021/notice.pdf", "institution", "H1")
    assert not_yet.status_code == 409 and not_yet.json()["code"] == "invalid_transition"


def test_the_export_download_returns_the_file(service: Service) -> None:
    requested = service.http.post(
        "/cases/export_request/nn-1/events/request_export",
        json={"subject": "NN"},
        headers=service.headers("admin", "NN"),
    )
    assert requested.status_code == 200, requested.text
    early = service.get("/exports/nn-1/download", "admin", "NN")
    assert early.status_code == 409  # not produced yet: the nightly sweep produces it
    engine = renew_fsm.open(service.db)
    try:
        engine.case_fire("export_request", "nn-1", "produce_export", Actor("system"))
    finally:
        engine.close()
    csv = service.get("/exports/nn-1/download", "admin", "NN")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith("\ufeff医师编号".encode())
    xlsx = service.get("/exports/nn-1/download", "admin", "NN", format="xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert service.get("/exports/nn-1/download", "admin", "GL").status_code == 403
    history = service.get("/cases/export_request/nn-1", "admin", "NN").json()
    assert history["state"] == "ready"


def test_the_change_feed_shows_the_caller_s_records_in_commit_order(service: Service) -> None:
    start = service.get("/changes", "institution", "H3", after=0, limit=1000).json()
    after = start["next"]
    # D023 and D026 are H3's, D024 is H1's.
    for doctor, event, who in (
        ("D023", "enroll", ("institution", "H3")),
        ("D024", "enroll", ("institution", "H1")),
        ("D026", "enroll", ("institution", "H3")),
        ("D023", "submit_info", ("doctor", "D023")),
    ):
        assert service.fire(doctor, event, *who).status_code == 200
    seen, pages = [], 0
    while True:
        page = service.get("/changes", "institution", "H3", after=after, limit=2).json()
        if page["next"] == after:
            break
        seen += [(c["doctor"], c["event"]) for c in page["changes"]]
        assert [c["position"] for c in page["changes"]] == sorted(c["position"] for c in page["changes"])
        after, pages = page["next"], pages + 1
    assert seen == [("D023", "enroll"), ("D026", "enroll"), ("D023", "submit_info")]
    assert pages >= 2
    own = service.get("/changes", "doctor", "D023", after=start["next"]).json()
    assert [(c["doctor"], c["event"]) for c in own["changes"]] == [("D023", "enroll"), ("D023", "submit_info")]
    assert service.get("/changes", None, after=0).status_code == 401
