"""``renew-fsm serve`` over real HTTP on localhost, on SQLite and PostgreSQL, as signed-in accounts.

Each test takes its own doctors (D001 … D060; ``institution_of(n)`` says whose),
so one running server per backend serves the whole module.
"""

from __future__ import annotations

import io
import threading

import openpyxl
import pytest
from server import BACKENDS, Service, institution_of, running_service

from renew_fsm import CODES

PROBLEM_KEYS = {"code", "rule", "message", "message_zh"}
#: A program choice comes with the doctor's self-evaluation (自评), or it is refused bad_input.
CHOICE = {"self_evaluation": "完成本职工作"}
service = pytest.fixture(scope="module", params=BACKENDS)(running_service)


def did(n: int) -> str:
    return f"D{n:03d}"


def hospital(n: int) -> tuple[str, str]:
    return ("institution", institution_of(n))


def agency(n: int) -> tuple[str, str]:
    return ("agency", "A2" if institution_of(n) == "H3" else "A1")


def register(svc: Service, n: int) -> None:
    """Enrol doctor ``n`` and take them to ``registered``, over HTTP."""
    d = did(n)
    for event, actor in (
        ("enroll", hospital(n)),
        ("submit_info", ("doctor", d)),
        ("approve_info", hospital(n)),
        ("confirm_registration", agency(n)),
    ):
        response = svc.fire(d, event, *actor)
        assert response.status_code == 200, response.text


def problem(response: object, status: int, code: str, rule: str | None = None) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == PROBLEM_KEYS
    assert body["code"] == code and body["rule"] == rule
    assert body["message"] and body["message_zh"]


def test_firing_moves_the_doctor_and_history_and_state_follow(service: Service) -> None:
    response = service.fire("D001", "enroll", *hospital(1))
    assert response.status_code == 200
    view = response.json()
    assert {k: view[k] for k in ("doctor", "state", "reason", "flags", "version")} == {
        "doctor": "D001",
        "state": "enrolled",
        "reason": None,
        "flags": [],
        "version": 1,
    }
    # Chinese first: each id with what a person reads for it, the ids unchanged beside them.
    assert view["state_label_zh"] == "已纳入，待医师确认个人信息" and view["reason_label_zh"] is None
    service.fire("D001", "submit_info", "doctor", "D001", {"phone": "13800000000"})
    state = service.get("/doctors/D001", "doctor", "D001")
    assert state.status_code == 200 and state.json()["state"] == "info_submitted"
    history = service.get("/doctors/D001/history", *hospital(1)).json()
    assert [(r["event"], r["from_state"], r["to_state"]) for r in history] == [
        ("enroll", "not_enrolled", "enrolled"),
        ("submit_info", "enrolled", "info_submitted"),
    ]
    assert history[1]["data"] == {"phone": "13800000000"} and history[1]["role"] == "doctor"
    assert (history[1]["event_label_zh"], history[1]["to_state_label_zh"]) == ("确认个人信息", "待卫生机构审核")
    assert history[1]["role_label_zh"] == "医师"
    allowed = service.get("/doctors/D001/allowed", *hospital(1)).json()
    assert allowed["events"] == ["cancel_enrollment", "approve_info", "reject_info"]
    assert [e["id"] for e in allowed["event_labels"]] == allowed["events"]
    assert allowed["event_labels"][1] == {
        "id": "approve_info",
        "label_zh": "审核通过个人信息",
        "label_en": "approve the details",
    }


def test_every_refusal_code_maps_to_its_status(service: Service) -> None:
    register(service, 2)
    seen = set()
    # forbidden: another hospital's doctor.
    other = "H2" if institution_of(2) != "H2" else "H1"
    problem(service.fire("D002", "choose_general", "institution", other, CHOICE), 403, "forbidden")
    seen.add("forbidden")
    # not_found: no such doctor.
    problem(service.fire("D999", "enroll", *hospital(2)), 404, "not_found")
    seen.add("not_found")
    # invalid_transition: not possible in `registered`.
    problem(service.fire("D002", "approve_info", *hospital(2)), 409, "invalid_transition")
    seen.add("invalid_transition")
    # guard_failed: D002 has 20 years of practice but no good record for the 5-year condition? it has one;
    # ask for a condition the policy does not know instead.
    problem(
        service.fire("D002", "choose_simple", "doctor", "D002", {"condition": "no_such_condition", **CHOICE}),
        422,
        "guard_failed",
        "not_eligible",
    )
    seen.add("guard_failed")
    # bad_input: an unknown event, and a malformed body.
    problem(service.fire("D002", "fly_away", "doctor", "D002"), 422, "bad_input")
    response = service.http.post(
        "/doctors/D002/events/choose_general",
        content=b"{not json",
        headers=service.headers("doctor", "D002", **{"Content-Type": "application/json"}),
    )
    problem(response, 422, "bad_input")
    seen.add("bad_input")
    # conflict: the screen showed version 3, the doctor has moved on to version 4.
    problem(
        service.fire("D002", "choose_general", "doctor", "D002", CHOICE, **{"X-Expected-Version": "3"}), 409, "conflict"
    )
    seen.add("conflict")
    assert seen == set(CODES)
    # None of the refusals wrote anything.
    assert service.get("/doctors/D002", "doctor", "D002").json()["version"] == 4
    ok = service.fire("D002", "choose_general", "doctor", "D002", CHOICE, **{"X-Expected-Version": "4"})
    assert ok.status_code == 200 and ok.json()["state"] == "general.submitted"


def test_a_request_without_a_token_is_refused_whatever_its_headers_say(service: Service) -> None:
    for role, ident in (("system", None), ("admin", "GX"), ("exam_system", "GX")):
        headers = {"X-Actor-Role": role, **({"X-Actor-Id": ident} if ident else {})}
        response = service.http.post("/doctors/D003/events/enroll", json={"data": {}}, headers=headers)
        problem(response, 401, "forbidden", "sign_in_required")
    problem(service.get("/queue", None), 401, "forbidden", "sign_in_required")
    response = service.http.get("/queue", headers={"Authorization": "Bearer not-a-token"})
    problem(response, 401, "forbidden", "token_invalid")
    assert service.get("/doctors/D003", "admin", "GX").json()["version"] == 0


def test_reads_follow_the_jurisdiction(service: Service) -> None:
    problem(service.get("/doctors/D004", "doctor", "D005"), 403, "forbidden")
    other = "H1" if institution_of(4) != "H1" else "H2"
    problem(service.get("/doctors/D004/history", "institution", other), 403, "forbidden")
    problem(service.get("/doctors/D004/allowed", "agency", "A2" if agency(4)[1] == "A1" else "A1"), 403, "forbidden")
    problem(service.get("/doctors/D998", "admin", "GX"), 404, "not_found")
    assert service.get("/doctors/D004", "admin", "GX").status_code == 200


def test_a_retry_with_the_same_idempotency_key_writes_once(service: Service) -> None:
    headers = {"Idempotency-Key": "hr-req-0006"}
    first = service.fire("D006", "enroll", *hospital(6), **headers)
    again = service.fire("D006", "enroll", *hospital(6), **headers)
    # Even with a version check that the first attempt made stale, the retry is recognised.
    third = service.fire("D006", "enroll", *hospital(6), **headers, **{"X-Expected-Version": "0"})
    assert first.status_code == again.status_code == third.status_code == 200
    assert first.json() == again.json() == third.json()
    history = service.get("/doctors/D006/history", *hospital(6)).json()
    assert [r["idempotency_key"] for r in history] == ["hr-req-0006"]


def test_the_work_queue_over_http(service: Service) -> None:
    for n in (9, 12, 15):  # all three in H1, where nobody else waits for the details check
        service.fire(did(n), "enroll", *hospital(n))
        service.fire(did(n), "submit_info", "doctor", did(n))
    role, hid = hospital(9)
    queue = service.get("/queue", role, hid, state="info_submitted").json()
    assert [i["doctor"] for i in queue["items"]] == ["D009", "D012", "D015"]
    assert queue["items"][0]["events"] == ["approve_info", "reject_info"] and queue["next"] is None
    first = queue["items"][0]
    assert first["state_label_zh"] == "待卫生机构审核"
    assert [e["label_zh"] for e in first["event_labels"]] == ["审核通过个人信息", "驳回个人信息"]
    pages, after = [], None
    while True:
        params = {"state": "info_submitted", "page_size": 1, **({"after": after} if after else {})}
        page = service.get("/queue", role, hid, **params).json()
        pages += [i["doctor"] for i in page["items"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert pages == ["D009", "D012", "D015"]
    problem(service.get("/queue", role, hid, state="nowhere"), 422, "bad_input")
    problem(service.get("/queue", role, hid, page_size=0), 422, "bad_input")


def test_statistics_are_limited_to_the_actors_rows(service: Service) -> None:
    province = service.get("/stats", "admin", "GX", by="city").json()
    assert {row[0] for row in province["progress"]["rows"]} == {"NN", "GL"}
    total = sum(row[-1] for row in province["progress"]["rows"])
    assert total == 60
    city = service.get("/stats", "admin", "NN", by="institution").json()
    assert {row[0] for row in city["progress"]["rows"]} == {"H1", "H2"}
    own = service.get("/stats", "institution", "H3", by="institution").json()
    assert [row[0] for row in own["results"]["rows"]] == ["H3"] * len(own["results"]["rows"])
    assert service.get("/stats", "institution", "H3", by="city").json()["progress"]["rows"] == []
    problem(service.get("/stats", "doctor", "D001"), 403, "forbidden")
    problem(service.get("/stats", "admin", "GX", by="planet"), 422, "bad_input")


def test_statistics_as_an_excel_workbook(service: Service) -> None:
    response = service.get("/stats.xlsx", "admin", "GX", by="county")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["考核进度统计", "考核结果统计"]
    counties = {row[0] for row in book["考核进度统计"].iter_rows(min_row=3, values_only=True)}  # under title, header
    assert counties == {"NN-QX", "NN-XN", "GL-XF", "合计"}
    problem(service.get("/stats.xlsx", "exam_system", "GX"), 403, "forbidden")


def test_many_requests_at_once_each_on_its_own_doctor(service: Service) -> None:
    """The thread pool serves requests in parallel, each thread with its own engine."""
    numbers = list(range(30, 54))
    results: dict[int, int] = {}

    def one(n: int) -> None:
        results[n] = service.fire(did(n), "enroll", *hospital(n)).status_code

    threads = [threading.Thread(target=one, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == dict.fromkeys(numbers, 200)
    for n in numbers:
        assert service.get(f"/doctors/{did(n)}", *hospital(n)).json()["state"] == "enrolled"


def test_racing_the_same_event_one_wins_and_the_others_are_told(service: Service) -> None:
    register(service, 55)
    codes: list[int] = []

    def one() -> None:
        codes.append(service.fire("D055", "choose_general", "doctor", "D055", CHOICE).status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(200) == 1
    assert set(codes) <= {200, 409}
    assert len(service.get("/doctors/D055/history", "doctor", "D055").json()) == 5


def test_health(service: Service) -> None:
    body = service.http.get("/health").json()
    assert body == {"ok": True, "cycle": "guangxi-2019-2020"}


def case_fire(svc: Service, machine: str, case: str, event: str, role: str, ident: str, **body: object) -> object:
    return svc.http.post(f"/cases/{machine}/{case}/events/{event}", json=body, headers=svc.headers(role, ident))


def test_a_workflow_case_over_http(service: Service) -> None:
    """申请考核机构 end to end: each actor sees its buttons, reads follow the jurisdiction, refusals map."""
    app = "agency_application"
    problem(service.get(f"/cases/{app}/H1", "admin", "NN"), 404, "not_found")
    assert case_fire(service, app, "H1", "allow_application", "admin", "NN").json()["state"] == "allowed"
    problem(case_fire(service, app, "H1", "apply_agency", "institution", "H1"), 422, "bad_input")  # no materials
    problem(case_fire(service, app, "H1", "approve_agency", "admin", "NN"), 409, "invalid_transition")
    allowed = service.get(f"/cases/{app}/H1/allowed", "institution", "H1").json()
    assert {k: allowed[k] for k in ("machine", "id", "events")} == {
        "machine": app,
        "id": "H1",
        "events": ["apply_agency"],
    }
    assert allowed["event_labels"] == [
        {"id": "apply_agency", "label_zh": "提交考核机构申请", "label_en": allowed["event_labels"][0]["label_en"]}
    ]
    applied = case_fire(service, app, "H1", "apply_agency", "institution", "H1", data={"materials": "资质证明"})
    assert applied.status_code == 200, applied.text
    assert sorted(service.get(f"/cases/{app}/H1/allowed", "admin", "GX").json()["events"]) == [
        "approve_agency",
        "reject_agency",
    ]
    problem(case_fire(service, app, "H1", "approve_agency", "admin", "GL"), 403, "forbidden")  # another city
    problem(service.get(f"/cases/{app}/H1", "institution", "H2"), 403, "forbidden")
    approved = case_fire(service, app, "H1", "approve_agency", "admin", "NN").json()
    assert approved["state"] == "agency" and approved["version"] == 3
    read = service.get(f"/cases/{app}/H1", "institution", "H1").json()
    assert read == {
        "machine": app,
        "id": "H1",
        "subject": "H1",
        "state": "agency",
        "version": 3,
        "flags": [],
        "data": {"materials": "资质证明"},
        "secret": None,
        "state_label_zh": "考核机构",
        "state_label_en": "an assessment agency",
    }
    problem(case_fire(service, "lottery", "H1", "draw", "admin", "NN"), 422, "bad_input")


def test_an_account_s_one_time_secret_is_in_the_activation_answer_only(service: Service) -> None:
    created = case_fire(service, "account", "d059", "create_account", "admin", "GL", subject="doctor:D059")
    assert created.status_code == 200, created.text
    activated = case_fire(service, "account", "d059", "activate_account", "admin", "GL").json()
    assert activated["state"] == "must_change" and len(activated["secret"]) >= 16
    assert service.get("/cases/account/d059", "admin", "GL").json()["secret"] is None
    problem(service.get("/cases/account/d059", "admin", "NN"), 403, "forbidden")
    # A second account for the same doctor is refused.
    again = case_fire(service, "account", "d059-b", "create_account", "institution", "H3", subject="doctor:D059")
    problem(again, 409, "conflict")
