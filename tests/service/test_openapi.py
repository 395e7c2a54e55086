"""The committed OpenAPI description is the one the service serves, and the service keeps to it.

``docs/openapi.json`` is what client teams generate code from, so it must not
drift: the running service's ``/openapi.json`` must equal it, and every
operation in it is called with a valid request and with invalid ones, each
answer checked against the statuses and the JSON schemas the description gives.
After changing a route, regenerate it:

    renew-fsm serve --openapi > docs/openapi.json
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from server import BACKENDS, ROOT, Service, make_account, password, running_service

import renew_fsm
from renew_fsm import Actor

SPEC_FILE = ROOT / "docs" / "openapi.json"
service_started = pytest.fixture(scope="module", params=BACKENDS)(running_service)

# Doctors D031 … D060 of tests/service/server.py are this module's; D033 is in H1 (n % 3 == 0).
DOCTOR, HOSPITAL = "D033", "H1"


@pytest.fixture(scope="module")
def service(service_started: Service) -> Iterator[Service]:
    """The running service with what the valid requests need: accounts, and a produced export."""
    for who in ("doctor-D035", "doctor-D037", "doctor-D039", "doctor-D040"):
        make_account(service_started.db, "doctor", who.split("-")[1])
    exported = service_started.http.post(
        "/cases/export_request/e1/events/request_export",
        json={"subject": "NN"},
        headers=service_started.headers("admin", "NN"),
    )
    assert exported.status_code == 200, exported.text
    engine = renew_fsm.open(service_started.db)
    try:
        engine.case_fire("export_request", "e1", "produce_export", Actor("system"))
        engine.case_fire("account", "xn-new", "create_account", Actor("admin", "NN"), subject="admin:NN-XN")
    finally:
        engine.close()
    yield service_started


def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


#: A valid request per operation: whom it is signed in as, path parameters, query, headers, JSON body,
#: and the status it gets when that is not 200.
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/health"): {},
    ("post", "/session"): {"json": {"account": "doctor-D035", "secret": password("doctor-D035")}},
    ("get", "/session"): {"as": ("doctor", DOCTOR)},
    ("post", "/session/password"): {
        "json": {"account": "doctor-D037", "secret": password("doctor-D037"), "new_secret": "a new long secret"}
    },
    ("post", "/doctors/{doctor}/events/{event}"): {
        "path": {"doctor": DOCTOR, "event": "enroll"},
        "as": ("institution", HOSPITAL),
        "headers": {"Idempotency-Key": "openapi-1"},
        "json": {"data": {}},
    },
    ("post", "/batch"): {"as": ("institution", "H2"), "json": {"event": "enroll", "doctors": ["D041", "D044"]}},
    ("get", "/doctors/{doctor}"): {"path": {"doctor": DOCTOR}, "as": ("doctor", DOCTOR)},
    ("get", "/doctors/{doctor}/history"): {"path": {"doctor": DOCTOR}, "as": ("institution", HOSPITAL)},
    ("get", "/doctors/{doctor}/allowed"): {"path": {"doctor": DOCTOR}, "as": ("institution", HOSPITAL)},
    ("get", "/doctors/{doctor}/notice.pdf"): {
        "path": {"doctor": DOCTOR},
        "as": ("institution", HOSPITAL),
        "status": 409,  # no final result in the registration window
    },
    ("post", "/cases/{machine}/{case}/events/{event}"): {
        "path": {"machine": "agency_application", "case": "H2", "event": "allow_application"},
        "as": ("admin", "NN"),
        "json": {"data": {}},
    },
    ("get", "/cases/{machine}/{case}"): {
        "path": {"machine": "agency_application", "case": "H2"},
        "as": ("admin", "NN"),
    },
    ("get", "/cases/{machine}/{case}/allowed"): {
        "path": {"machine": "agency_application", "case": "H2"},
        "as": ("institution", "H2"),
    },
    ("get", "/exports/{case}/download"): {"path": {"case": "e1"}, "as": ("admin", "NN")},
    ("get", "/queue"): {"as": ("institution", HOSPITAL), "query": {"page_size": 5}},
    ("get", "/changes"): {"as": ("institution", HOSPITAL), "query": {"after": 0, "limit": 50}},
    ("get", "/stats"): {"as": ("admin", "GX"), "query": {"by": "county"}},
    ("get", "/stats.xlsx"): {"as": ("admin", "NN"), "query": {"by": "institution"}},
    # The routes of issue 36 (renew_fsm/service/records.py).
    ("get", "/photos"): {"as": ("admin", "NN"), "query": {"similarity_below": 60, "page_size": 10}},
    ("get", "/discipline-records"): {"as": ("agency", "A1")},
    ("get", "/published"): {"as": ("admin", "GX")},
    ("get", "/published.xlsx"): {"as": ("admin", "NN")},
    ("get", "/organisations/{organisation}"): {"path": {"organisation": "institution:H1"}, "as": ("admin", "NN")},
    ("get", "/institutions/{institution}/departments"): {"path": {"institution": "H1"}, "as": ("agency", "A1")},
    ("get", "/institutions"): {"as": ("admin", "NN"), "query": {"unassigned": "false"}},
    ("get", "/doctors"): {"as": ("institution", HOSPITAL), "query": {"state": "not_enrolled", "page_size": 5}},
    ("get", "/doctors.xlsx"): {"as": ("agency", "A1"), "query": {"institution": "H2"}},
    ("get", "/doctors/{doctor}/profile"): {"path": {"doctor": DOCTOR}, "as": ("institution", HOSPITAL)},
    ("post", "/settings/policy"): {"as": ("admin", "GX"), "json": {"name": "guangxi-2019-2020"}},
    ("post", "/settings/exemption-reasons/{reason}/{action}"): {
        "path": {"reason": "openapi_reason", "action": "add"},
        "as": ("admin", "GX"),
        "json": {"text": "考核周期内取得高级专业技术职务任职资格"},
    },
    ("post", "/agencies/{agency}/revoke"): {
        "path": {"agency": "A2"},
        "as": ("admin", "GX"),
        "json": {"reason": "不再具备考核条件"},
    },
    ("get", "/accounts"): {"as": ("admin", "NN"), "query": {"state": "active"}},
    ("get", "/accounts.xlsx"): {"as": ("institution", HOSPITAL)},
    ("post", "/accounts/{account}/edit"): {
        "path": {"account": "xn-new"},
        "as": ("admin", "NN"),
        "json": {"name": "兴宁区卫生健康局"},
    },
    ("post", "/accounts/{account}/deactivate"): {
        "path": {"account": "doctor-D039"},
        "as": ("institution", "H1"),
        "json": {"reason": "调离"},
    },
    ("post", "/accounts/reset"): {"as": ("institution", "H2"), "json": {"accounts": ["doctor-D040"]}},
    ("delete", "/session"): {"as": ("doctor", "D038"), "status": 204},
}


def invalid(method: str, path: str, valid: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """Broken variants of a valid request and the status each must get."""
    out: list[tuple[str, dict[str, Any], int]] = []
    if "as" in valid:
        out.append(("no token", {k: v for k, v in valid.items() if k != "as"}, 401))
    if "{doctor}" in path:
        out.append(("unknown doctor", {**valid, "path": {**valid["path"], "doctor": "D999"}}, 404))
        out.append(("another hospital", {**valid, "as": ("institution", "H2")}, 403))
    if "{machine}" in path:
        out.append(("unknown case", {**valid, "path": {**valid["path"], "case": "H9"}}, 404))
        out.append(("unknown workflow", {**valid, "path": {**valid["path"], "machine": "lottery"}}, 422))
        out.append(("another city", {**valid, "as": ("admin", "GL")}, 403))
    if path.startswith("/stats"):
        out.append(("a doctor", {**valid, "as": ("doctor", DOCTOR)}, 403))
        out.append(("unknown level", {**valid, "query": {"by": "planet"}}, 422))
    if path == "/queue":
        out.append(("unknown state", {**valid, "query": {"state": "nowhere"}}, 422))
        out.append(("page too large", {**valid, "query": {"page_size": 100000}}, 422))
    if path.endswith("/events/{event}"):
        out.append(("unknown event", {**valid, "path": {**valid["path"], "event": "fly_away"}}, 422))
        out.append(("body not an object", {**valid, "json": {"data": 5}}, 422))
    if path == "/changes":
        out.append(("negative position", {**valid, "query": {"after": -1}}, 422))
    if path in ("/photos", "/doctors", "/institutions", "/accounts"):
        out.append(("a doctor", {**valid, "as": ("doctor", DOCTOR)}, 403))
        out.append(("page too large", {**valid, "query": {"page_size": 5000}}, 422))
    if path == "/accounts/reset":
        out.append(("no accounts", {**valid, "json": {"accounts": []}}, 422))
    if path == "/batch":
        out.append(("no doctors", {**valid, "json": {"event": "enroll", "doctors": []}}, 422))
    return out


def call(svc: Service, method: str, path: str, request: dict[str, Any]) -> Any:
    url = path.format(**request.get("path", {}))
    headers = svc.headers(*request["as"], **request.get("headers", {})) if "as" in request else request.get("headers")
    return svc.http.request(method.upper(), url, params=request.get("query"), headers=headers, json=request.get("json"))


def check_against_spec(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The status is documented for the operation and the body matches its schema."""
    documented = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} answered {status}, documented: {sorted(documented)}"
    content = documented[status].get("content", {})
    if not content:
        assert not response.content
        return
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{method.upper()} {path} {status} sent {media}, documented {sorted(content)}"
    schema = content[media].get("schema")
    if media == "application/json" and schema:
        jsonschema.validate(response.json(), {**schema, "components": document["components"]})


def test_the_committed_description_is_what_the_service_serves(service: Service) -> None:
    served = service.http.get("/openapi.json").json()
    assert served == spec(), "docs/openapi.json is stale: renew-fsm serve --openapi > docs/openapi.json"


def test_every_operation_has_a_valid_request_here() -> None:
    operations = {(method, path) for path, item in spec()["paths"].items() for method in item}
    assert operations == set(VALID)


def test_every_operation_answers_as_documented(service: Service) -> None:
    document = spec()
    for (method, path), valid in VALID.items():
        for label, request, status in invalid(method, path, valid):
            response = call(service, method, path, request)
            assert response.status_code == status, (method, path, label, response.text)
            check_against_spec(document, method, path, response)
            if status != 200:
                assert response.json()["code"] in ("bad_input", "forbidden", "not_found")
        response = call(service, method, path, valid)
        assert response.status_code == valid.get("status", 200), (method, path, response.text)
        check_against_spec(document, method, path, response)


def test_the_description_names_the_bearer_token_the_headers_and_the_refusal_body() -> None:
    document = spec()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    fire = document["paths"]["/doctors/{doctor}/events/{event}"]["post"]
    headers = {p["name"] for p in fire["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "X-Expected-Version"}  # no X-Actor-*: the actor is the token's
    assert fire["security"] == [{"HTTPBearer": []}]
    assert {"401", "403", "404", "409", "422", "503"} <= set(fire["responses"])
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"code", "rule", "message", "message_zh"}


def test_events_states_and_roles_are_enums_and_each_event_s_data_has_its_schema() -> None:
    from renew_fsm.machines import compiled

    document = spec()
    schemas = document["components"]["schemas"]
    machine = compiled("doctor").machine
    people = {name for name, ev in machine.events.items() if not ev.sweep}
    assert set(schemas["EventId"]["enum"]) == people
    assert "close_first_round" not in schemas["EventId"]["enum"]
    assert "qualified" in schemas["StateId"]["enum"] and "system" not in schemas["RoleId"]["enum"]
    score = schemas["EventData.record_score"]
    assert score["required"] == ["test", "score"]
    assert score["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 100}
    assert score["additionalProperties"] is False
    assert schemas["EventData.submit_info"]["additionalProperties"] is True
    for name in people:  # each event's data validates what the engine accepts: an empty body where nothing is required
        if not schemas[f"EventData.{name}"].get("required"):
            jsonschema.validate({}, schemas[f"EventData.{name}"])
