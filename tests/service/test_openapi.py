"""The committed OpenAPI description is the one the service serves, and the service keeps to it.

``examples/service/openapi.json`` is what client teams generate code from, so it
must not drift: the running service's ``/openapi.json`` must equal it, and every
operation in it is called with a valid request and with invalid ones, each
answer checked against the statuses and the JSON schemas the description gives.
After changing a route, regenerate it:

    python examples/service/app.py --openapi > examples/service/openapi.json
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from server import BACKENDS, ROOT, Service, running_service

SPEC_FILE = ROOT / "examples" / "service" / "openapi.json"
service = pytest.fixture(scope="module", params=BACKENDS)(running_service)

# Doctors D031 … D060 of tests/service/server.py are this module's; D033 is in H1 (n % 3 == 0).
DOCTOR, HOSPITAL = "D033", "H1"


def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


#: A valid request per operation: path parameters, query, headers, JSON body.
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/health"): {},
    ("post", "/doctors/{doctor}/events/{event}"): {
        "path": {"doctor": DOCTOR, "event": "enroll"},
        "headers": {"X-Actor-Role": "institution", "X-Actor-Id": HOSPITAL, "Idempotency-Key": "openapi-1"},
        "json": {"data": {}},
    },
    ("get", "/doctors/{doctor}"): {
        "path": {"doctor": DOCTOR},
        "headers": {"X-Actor-Role": "doctor", "X-Actor-Id": DOCTOR},
    },
    ("get", "/doctors/{doctor}/history"): {
        "path": {"doctor": DOCTOR},
        "headers": {"X-Actor-Role": "institution", "X-Actor-Id": HOSPITAL},
    },
    ("get", "/doctors/{doctor}/allowed"): {
        "path": {"doctor": DOCTOR},
        "headers": {"X-Actor-Role": "institution", "X-Actor-Id": HOSPITAL},
    },
    ("post", "/cases/{machine}/{case}/events/{event}"): {
        "path": {"machine": "agency_application", "case": "H2", "event": "allow_application"},
        "headers": {"X-Actor-Role": "admin", "X-Actor-Id": "NN"},
        "json": {"data": {}},
    },
    ("get", "/cases/{machine}/{case}"): {
        "path": {"machine": "agency_application", "case": "H2"},
        "headers": {"X-Actor-Role": "admin", "X-Actor-Id": "NN"},
    },
    ("get", "/cases/{machine}/{case}/allowed"): {
        "path": {"machine": "agency_application", "case": "H2"},
        "headers": {"X-Actor-Role": "institution", "X-Actor-Id": "H2"},
    },
    ("get", "/queue"): {"headers": {"X-Actor-Role": "institution", "X-Actor-Id": HOSPITAL}, "query": {"page_size": 5}},
    ("get", "/stats"): {"headers": {"X-Actor-Role": "admin", "X-Actor-Id": "GX"}, "query": {"by": "county"}},
    ("get", "/stats.xlsx"): {"headers": {"X-Actor-Role": "admin", "X-Actor-Id": "NN"}, "query": {"by": "institution"}},
}


def invalid(method: str, path: str, valid: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """Broken variants of a valid request and the status each must get."""
    out: list[tuple[str, dict[str, Any], int]] = []
    headers = valid.get("headers", {})
    if "X-Actor-Role" in headers:
        out.append(("no actor", {**valid, "headers": {}}, 422))
        out.append(("unknown role", {**valid, "headers": {**headers, "X-Actor-Role": "janitor"}}, 422))
    if "{doctor}" in path:
        out.append(("unknown doctor", {**valid, "path": {**valid["path"], "doctor": "D999"}}, 404))
        outsider = {**headers, "X-Actor-Role": "institution", "X-Actor-Id": "H2"}
        out.append(("another hospital", {**valid, "headers": outsider}, 403))
    if "{case}" in path:
        out.append(("unknown case", {**valid, "path": {**valid["path"], "case": "H9"}}, 404))
        out.append(("unknown workflow", {**valid, "path": {**valid["path"], "machine": "lottery"}}, 422))
        outsider = {**headers, "X-Actor-Role": "admin", "X-Actor-Id": "GL"}
        out.append(("another city", {**valid, "headers": outsider}, 403))
    if path.startswith("/stats"):
        out.append(("a doctor", {**valid, "headers": {"X-Actor-Role": "doctor", "X-Actor-Id": DOCTOR}}, 403))
        out.append(("unknown level", {**valid, "query": {"by": "planet"}}, 422))
    if path == "/queue":
        out.append(("unknown state", {**valid, "query": {"state": "nowhere"}}, 422))
        out.append(("page too large", {**valid, "query": {"page_size": 100000}}, 422))
    if path.endswith("/events/{event}"):
        out.append(("unknown event", {**valid, "path": {**valid["path"], "event": "fly_away"}}, 422))
        out.append(("body not an object", {**valid, "json": {"data": 5}}, 422))
    return out


def call(svc: Service, method: str, path: str, request: dict[str, Any]) -> Any:
    url = path.format(**request.get("path", {}))
    return svc.http.request(
        method.upper(), url, params=request.get("query"), headers=request.get("headers"), json=request.get("json")
    )


def check_against_spec(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The status is documented for the operation and the body matches its schema."""
    documented = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} answered {status}, documented: {sorted(documented)}"
    content = documented[status].get("content", {})
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{method.upper()} {path} {status} sent {media}, documented {sorted(content)}"
    schema = content[media].get("schema")
    if media == "application/json" and schema:
        jsonschema.validate(response.json(), {**schema, "components": document["components"]})


def test_the_committed_description_is_what_the_service_serves(service: Service) -> None:
    served = service.http.get("/openapi.json").json()
    assert served == spec(), (
        "examples/service/openapi.json is stale: python examples/service/app.py --openapi > "
        "examples/service/openapi.json"
    )


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
        assert response.status_code == 200, (method, path, response.text)
        check_against_spec(document, method, path, response)


def test_the_description_names_the_actor_headers_and_the_refusal_body() -> None:
    document = spec()
    fire = document["paths"]["/doctors/{doctor}/events/{event}"]["post"]
    headers = {p["name"] for p in fire["parameters"] if p["in"] == "header"}
    assert {"X-Actor-Role", "X-Actor-Id", "Idempotency-Key", "X-Expected-Version"} <= headers
    assert {"403", "404", "409", "422"} <= set(fire["responses"])
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"code", "rule", "message", "message_zh"}
