"""The routes of issue 36 over a real ``renew-fsm serve``: every list shows each role only its own
jurisdiction's rows; the acts (settings, accounts, revocation) are the library's, refusals and all.

Doctors D001 … D060 of tests/service/server.py: D(n) is in H1 when n % 3 == 0, H2 when 1, H3 when 2;
A1 assesses H1 and H2 (city NN), A2 assesses H3 (city GL).  The tests run in file order: the photo
review moves the store's clock to the tests, and the revocation of A2 comes last.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from conftest import to_testing
from openpyxl import load_workbook
from server import BACKENDS, DOCTORS, Service, institution_of, make_account, password, running_service

import renew_fsm
from renew_fsm import Actor
from renew_fsm.photos import submit_photos

service = pytest.fixture(scope="module", params=BACKENDS)(running_service)

#: Who each role is, and the institutions of the doctors it oversees.
SCOPES = {
    ("institution", "H1"): {"H1"},
    ("institution", "H2"): {"H2"},
    ("agency", "A1"): {"H1", "H2"},
    ("agency", "A2"): {"H3"},
    ("admin", "NN-QX"): {"H1"},
    ("admin", "NN"): {"H1", "H2"},
    ("admin", "GL"): {"H3"},
    ("admin", "GX"): {"H1", "H2", "H3"},
}


def engine_of(svc: Service) -> renew_fsm.Engine:
    return renew_fsm.open(svc.db)


def every_row(svc: Service, path: str, role: str, ident: str, **params: object) -> list[dict[str, object]]:
    """Every page of a list, as the role: the rows, followed through ``next`` with small pages."""
    rows: list[dict[str, object]] = []
    after = None
    while True:
        query = {**params, "page_size": 7, **({"after": after} if after else {})}
        response = svc.get(path, role, ident, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["rows"]) <= 7
        rows += body["rows"]
        if body["next"] is None:
            return rows
        after = body["next"]


def problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "rule", "message", "message_zh"} and body["code"] == code
    return body


def test_the_doctor_list_shows_each_role_its_own_doctors(service: Service) -> None:
    for (role, ident), institutions in SCOPES.items():
        rows = every_row(service, "/doctors", role, ident)
        expected = {f"D{n:03d}" for n in range(1, DOCTORS + 1) if institution_of(n) in institutions}
        assert {r["doctor"] for r in rows} == expected, (role, ident)
        assert [r["doctor"] for r in rows] == sorted(r["doctor"] for r in rows)
    assert every_row(service, "/doctors", "admin", "GX", institution="H2", state="not_enrolled")
    problem(service.get("/doctors", "doctor", "D003"), 403, "forbidden")
    problem(service.get("/doctors", "admin", "NN", page_size=5000), 422, "bad_input")
    problem(service.get("/doctors", "admin", "NN", state="nowhere"), 422, "bad_input")
    problem(service.get("/doctors", None), 401, "forbidden")


def test_the_doctor_export_is_the_callers_list(service: Service) -> None:
    response = service.get("/doctors.xlsx", "institution", "H2")
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rows and {r[2] for r in rows} == {"H2"}
    assert len(rows) == sum(1 for n in range(1, DOCTORS + 1) if institution_of(n) == "H2")
    problem(service.get("/doctors.xlsx", "doctor", "D003"), 403, "forbidden")


def test_a_profile_is_read_by_whoever_oversees_the_doctor(service: Service) -> None:
    profile = service.get("/doctors/D003/profile", "institution", "H1")
    assert profile.status_code == 200, profile.text
    assert profile.json()["registry"]["institution"] == "H1" and profile.json()["state"]["state"] == "not_enrolled"
    assert service.get("/doctors/D003/profile", "doctor", "D003").status_code == 200
    for role, ident in (("institution", "H2"), ("agency", "A2"), ("admin", "GL"), ("doctor", "D006")):
        problem(service.get("/doctors/D003/profile", role, ident), 403, "forbidden")
    problem(service.get("/doctors/D999/profile", "admin", "GX"), 404, "not_found")


def test_the_institution_list_shows_each_role_its_own_institutions(service: Service) -> None:
    for (role, ident), institutions in SCOPES.items():
        if role == "institution":
            institutions = {ident}
        assert {r["institution"] for r in every_row(service, "/institutions", role, ident)} == institutions
    problem(service.get("/institutions", "doctor", "D003"), 403, "forbidden")


def test_the_organisations_records_and_departments_within_jurisdiction(service: Service) -> None:
    confirmed = service.http.post(
        "/cases/organisation/institution:H1/events/confirm_cycle", headers=service.headers("institution", "H1")
    )
    assert confirmed.status_code == 200, confirmed.text
    record = service.get("/organisations/institution:H1", "admin", "NN")
    assert record.status_code == 200 and record.json()["confirmed"] == ["guangxi-2019-2020"]
    problem(service.get("/organisations/institution:H1", "institution", "H2"), 403, "forbidden")
    rows = every_row(service, "/institutions", "admin", "NN")
    assert {r["institution"]: r["cycle_confirmed"] for r in rows} == {"H1": True, "H2": False}
    engine = engine_of(service)
    try:
        engine.case_fire("department", "H1/IM", "create_department", Actor("institution", "H1"), {"name": "内科"},
                         subject="H1")  # fmt: skip
    finally:
        engine.close()
    for role, ident in (("institution", "H1"), ("agency", "A1"), ("admin", "NN-QX")):
        listed = service.get("/institutions/H1/departments", role, ident)
        assert listed.status_code == 200 and [d["department"] for d in listed.json()] == ["H1/IM"]
    for role, ident in (("institution", "H2"), ("agency", "A2"), ("admin", "GL")):
        problem(service.get("/institutions/H1/departments", role, ident), 403, "forbidden")


def test_settings_are_the_province_admins_acts(service: Service) -> None:
    reason = "/settings/exemption-reasons/senior_title/add"
    body = {"text": "考核周期内取得高级专业技术职务任职资格", "open": True}
    problem(service.http.post(reason, json=body, headers=service.headers("admin", "NN")), 403, "forbidden")
    added = service.http.post(reason, json=body, headers=service.headers("admin", "GX"))
    assert added.status_code == 200, added.text
    problem(service.http.post(reason, json=body, headers=service.headers("admin", "GX")), 409, "conflict")
    closed = service.http.post("/settings/exemption-reasons/senior_title/close", headers=service.headers("admin", "GX"))
    assert closed.status_code == 200, closed.text
    engine = engine_of(service)
    try:
        assert engine.policy.business_exemptions.reasons["senior_title"].open is False
        assert [r.event for r in engine.case_history("cycle_settings", "GX")][-2:] == [
            "add_exemption_reason",
            "close_exemption_reason",
        ]
    finally:
        engine.close()
    problem(
        service.http.post(
            "/settings/policy", json={"name": "../../etc/passwd"}, headers=service.headers("admin", "GX")
        ),
        422,
        "bad_input",
    )
    problem(
        service.http.post(
            "/cases/cycle_settings/GX/events/set_policy",
            json={"data": {"file": "/etc/passwd"}},
            headers=service.headers("admin", "GX"),
        ),
        422,
        "bad_input",
    )
    problem(
        service.http.post(
            "/settings/policy", json={"name": "guangxi-2019-2020"}, headers=service.headers("admin", "GL")
        ),
        403,
        "forbidden",
    )


def test_accounts_are_listed_edited_deactivated_and_reset_by_their_superior(service: Service) -> None:
    for did in ("D003", "D006", "D004"):
        make_account(service.db, "doctor", did)
    engine = engine_of(service)
    try:
        engine.case_fire("account", "new-xn", "create_account", Actor("admin", "NN"), {"name": "旧"},
                         subject="admin:NN-XN")  # fmt: skip
    finally:
        engine.close()
    h1 = {r["account"] for r in every_row(service, "/accounts", "institution", "H1")}
    assert h1 == {"doctor-D003", "doctor-D006"}
    h2 = {r["account"] for r in every_row(service, "/accounts", "institution", "H2")}
    assert h2 == {"doctor-D004"}
    county = {r["account"] for r in every_row(service, "/accounts", "admin", "NN-QX")}
    assert {"doctor-D003", "doctor-D006", "institution-H1"} <= county
    assert not county & {"doctor-D004", "institution-H2", "new-xn", "admin-NN-QX"}
    assert "new-xn" in {r["account"] for r in every_row(service, "/accounts", "admin", "NN")}
    problem(service.get("/accounts", "agency", "A1"), 403, "forbidden")
    problem(service.get("/accounts", "doctor", "D003"), 403, "forbidden")

    stranger = service.headers("institution", "H2")
    problem(service.http.post("/accounts/new-xn/edit", json={"name": "x"}, headers=stranger), 403, "forbidden")
    edited = service.http.post("/accounts/new-xn/edit", json={"name": "新"}, headers=service.headers("admin", "NN"))
    assert edited.status_code == 200 and edited.json()["data"]["name"] == "新"

    reset = service.http.post(
        "/accounts/reset",
        json={"accounts": ["doctor-D006", "doctor-D004"]},
        headers=service.headers("institution", "H1"),
    )
    assert reset.status_code == 200, reset.text
    first, second = reset.json()
    assert first["ok"] and first["state"] == "must_change" and len(first["secret"]) >= 16
    assert not second["ok"] and second["error"]["code"] == "forbidden"

    token = service.token("doctor", "D003")
    assert service.get("/doctors/D003", "doctor", "D003").status_code == 200
    problem(service.http.post("/accounts/doctor-D003/deactivate", headers=service.headers("institution", "H2")),
            403, "forbidden")  # fmt: skip
    gone = service.http.post(
        "/accounts/doctor-D003/deactivate", json={"reason": "调离"}, headers=service.headers("institution", "H1")
    )
    assert gone.status_code == 200 and gone.json()["state"] == "deactivated"
    ended = service.http.get("/doctors/D003", headers={"Authorization": f"Bearer {token}"})
    assert problem(ended, 401, "forbidden")["message_zh"] == "该账号已注销，登录已失效"
    signin = service.http.post("/session", json={"account": "doctor-D003", "secret": password("doctor-D003")})
    problem(signin, 401, "forbidden")

    sheet = service.get("/accounts.xlsx", "institution", "H1")
    assert sheet.status_code == 200
    cells = [c for row in load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True) for c in row]
    assert "doctor-D003" in cells and "已注销" in cells
    assert first["secret"] not in cells and password("doctor-D006") not in cells


@pytest.fixture
def photographed(service: Service) -> Iterator[None]:
    """D009 (H1) and D011 (H3) sat the business test with their photos sent; D009 found cheating."""
    engine = engine_of(service)
    try:
        to_testing(engine, "D009", institution=Actor("institution", "H1"), agency=Actor("agency", "A1"))
        to_testing(engine, "D011", institution=Actor("institution", "H3"), agency=Actor("agency", "A2"))
        engine.apply({"op": "clock", "at": "2021-06-02T10:00:00+08:00"})
        exam = Actor("exam_system")
        for did, low in (("D009", 31.0), ("D011", 88.0)):
            engine.fire(did, "record_score", exam, {"test": "business", "score": 80})
            photo = [{"ref": f"oss://gx/{did}-1.jpg", "at": "2021-06-02T09:05:00+08:00", "similarity": low}]
            submit_photos(engine, did, "business", 1, low, photo, exam)
        engine.fire("D009", "discipline", Actor("admin", "NN"), {"finding": "cheating", "reason": "照片显示他人替考"})
    finally:
        engine.close()
    yield


def test_the_photo_review_lists_are_limited_to_each_role(service: Service, photographed: None) -> None:
    expected = {("agency", "A1"): {"D009"}, ("agency", "A2"): {"D011"}, ("admin", "NN"): {"D009"},
                ("admin", "GL"): {"D011"}, ("admin", "GX"): {"D009", "D011"}}  # fmt: skip
    for (role, ident), doctors in expected.items():
        assert {r["doctor"] for r in every_row(service, "/photos", role, ident)} == doctors, (role, ident)
        found = {r["doctor"] for r in every_row(service, "/discipline-records", role, ident)}
        assert found == doctors & {"D009"}
        assert {r["doctor"] for r in every_row(service, "/published", role, ident)} == doctors & {"D009"}
    assert [r["doctor"] for r in every_row(service, "/photos", "admin", "GX", similarity_below=50)] == ["D009"]
    problem(service.get("/photos", "doctor", "D009"), 403, "forbidden")
    problem(service.get("/photos", "admin", "GX", test="chess"), 422, "bad_input")
    published = service.get("/published.xlsx", "admin", "GL")
    assert published.status_code == 200
    assert len(list(load_workbook(io.BytesIO(published.content)).active.iter_rows(min_row=2))) == 0
    published = service.get("/published.xlsx", "admin", "NN")
    rows = list(load_workbook(io.BytesIO(published.content)).active.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["D009"]


def test_revoking_an_agency_leaves_its_institutions_unassigned_and_listed(service: Service) -> None:
    body = {"reason": "不再具备考核条件"}
    city = service.headers("admin", "NN")
    problem(service.http.post("/agencies/A2/revoke", json=body, headers=city), 403, "forbidden")
    revoked = service.http.post("/agencies/A2/revoke", json=body, headers=service.headers("admin", "GX"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revocation"]["state"] == "revoked" and revoked.json()["reassigned"] == []
    unassigned = every_row(service, "/institutions", "admin", "GX", unassigned="true")
    assert [r["institution"] for r in unassigned] == ["H3"]
    assert every_row(service, "/institutions", "admin", "NN", unassigned="true") == []
    again = service.http.post("/agencies/A2/revoke", json=body, headers=service.headers("admin", "GX"))
    problem(again, 409, "invalid_transition")
