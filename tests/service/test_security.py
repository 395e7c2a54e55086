"""What makes ``renew-fsm serve`` safe to put on a province's network, tried over real HTTP.

Signing in, tokens that expire and end, locked accounts, headers that try to
choose the actor, a testing app confined to its province, the version race, a
locked or lost database, an oversized body, and the one error body for all.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server import BACKENDS, Service, cli, make_account, password, start, stop, store

PROBLEM_KEYS = {"code", "rule", "message", "message_zh"}


def problem(response: httpx.Response, status: int, code: str, rule: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["code"] == code and body["rule"] == rule, body
    assert body["message"] and body["message_zh"]
    return body


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from store(request, tmp_path_factory)


@pytest.fixture(scope="module")
def service(db: str) -> Iterator[Service]:
    running = start(db, "--lockout-failures", "3")
    yield running
    stop(running)


def sign_in(svc: Service, account: str, secret: str) -> httpx.Response:
    return svc.http.post("/session", json={"account": account, "secret": secret})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- signing in ---------------------------------------------------------------------------------------


def test_sign_in_gives_a_token_that_acts_as_the_account(service: Service) -> None:
    account = make_account(service.db, "institution", "H1")
    response = sign_in(service, account, password(account))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["account"], body["role"], body["id"]) == (account, "institution", "H1")
    assert len(body["token"]) >= 40
    me = service.http.get("/session", headers=bearer(body["token"]))
    assert me.json()["account"] == account
    # The store holds the token's hash, never the token.
    import renew_fsm

    engine = renew_fsm.open(service.db)
    try:
        assert engine.storage.get_meta("session:" + hashlib.sha256(body["token"].encode()).hexdigest())
    finally:
        engine.close()
    if not service.db.startswith("postgresql"):
        assert body["token"].encode() not in Path(service.db).read_bytes() + _wal(service.db)


def _wal(db: str) -> bytes:
    wal = Path(db + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_a_wrong_secret_and_an_unknown_account_get_the_same_answer(service: Service) -> None:
    account = make_account(service.db, "institution", "H2")
    wrong = problem(sign_in(service, account, "not the secret"), 401, "forbidden", "wrong_secret")
    unknown = problem(sign_in(service, "no-such-account", "not the secret"), 401, "forbidden", "wrong_secret")
    assert wrong == unknown


def test_failed_sign_ins_lock_the_account_even_for_the_right_secret(service: Service) -> None:
    account = make_account(service.db, "institution", "H3")
    for _ in range(3):  # --lockout-failures 3
        problem(sign_in(service, account, "guess"), 401, "forbidden", "wrong_secret")
    problem(sign_in(service, account, password(account)), 401, "forbidden", "locked")
    # An account name that does not exist is locked the same way: the lock tells nothing either.
    for _ in range(3):
        sign_in(service, "ghost", "guess")
    problem(sign_in(service, "ghost", "guess"), 401, "forbidden", "locked")


def test_sign_out_ends_the_token(service: Service) -> None:
    account = make_account(service.db, "doctor", "D010")
    token = sign_in(service, account, password(account)).json()["token"]
    assert service.http.get("/doctors/D010", headers=bearer(token)).status_code == 200
    assert service.http.delete("/session", headers=bearer(token)).status_code == 204
    problem(service.http.get("/doctors/D010", headers=bearer(token)), 401, "forbidden", "token_invalid")


def test_a_password_change_ends_every_token_of_the_account(service: Service) -> None:
    account = make_account(service.db, "doctor", "D011")
    first = sign_in(service, account, password(account)).json()["token"]
    second = sign_in(service, account, password(account)).json()["token"]
    changed = service.http.post(
        "/session/password",
        json={"account": account, "secret": password(account), "new_secret": "a brand new password"},
    )
    assert changed.status_code == 200, changed.text
    for token in (first, second):
        problem(service.http.get("/doctors/D011", headers=bearer(token)), 401, "forbidden", "token_invalid")
    assert sign_in(service, account, "a brand new password").status_code == 200


def test_a_reset_ends_the_tokens_and_the_one_time_secret_must_be_replaced(service: Service) -> None:
    account = make_account(service.db, "doctor", "D013")  # D013's institution is H2
    token = sign_in(service, account, password(account)).json()["token"]
    reset = service.http.post(
        f"/cases/account/{account}/events/reset_password", json={}, headers=service.headers("institution", "H2")
    )
    assert reset.status_code == 200, reset.text
    one_time = reset.json()["secret"]
    problem(service.http.get("/doctors/D013", headers=bearer(token)), 401, "forbidden", "token_invalid")
    problem(sign_in(service, account, one_time), 403, "forbidden", "must_change_password")
    for bad in (account, one_time, "short"):
        body = {"account": account, "secret": one_time, "new_secret": bad}
        problem(service.http.post("/session/password", json=body), 422, "bad_input")
    too_long = {"account": account, "secret": one_time, "new_secret": "x" * 1025}
    problem(service.http.post("/session/password", json=too_long), 422, "bad_input")


# -- the actor is the account's, never a header's ------------------------------------------------------


def test_headers_cannot_choose_the_actor(service: Service) -> None:
    doctor = service.headers("doctor", "D014")
    # A doctor claiming to be the testing app, an admin or the system is still the doctor.
    for role, ident in (("exam_system", "GX"), ("admin", "GX"), ("system", "")):
        attack = {**doctor, "X-Actor-Role": role, "X-Actor-Id": ident}
        response = service.http.post("/doctors/D015/events/enroll", json={"data": {}}, headers=attack)
        problem(response, 403, "forbidden")
    # Nor can it create and activate a province's admin account (the system operator's step).
    attack = {**doctor, "X-Actor-Role": "system"}
    created = service.http.post(
        "/cases/account/gx-evil/events/create_account", json={"subject": "admin:GX"}, headers=attack
    )
    problem(created, 403, "forbidden")
    assert service.get("/doctors/D015", "admin", "GX").json()["version"] == 0


def test_system_is_not_an_http_role(service: Service) -> None:
    account = make_account(service.db, "admin", "GX")
    body = {"account": account, "secret": password(account), "role": "system"}
    problem(service.http.post("/session", json=body), 422, "bad_input")


def test_a_testing_app_scores_only_its_province_s_doctors(service: Service) -> None:
    # Y001 is in the province YN: the GX testing app may not touch it; YN's may (and is then judged
    # by the rules: the doctor is not at the tests).
    problem(
        service.fire("Y001", "record_score", "exam_system", "GX", {"test": "business", "score": 100}), 403, "forbidden"
    )
    problem(
        service.fire("Y001", "record_score", "exam_system", "YN", {"test": "business", "score": 100}),
        409,
        "invalid_transition",
    )
    problem(
        service.fire("D016", "record_score", "exam_system", "YN", {"test": "business", "score": 100}), 403, "forbidden"
    )


# -- the version race ----------------------------------------------------------------------------------


def test_of_many_requests_expecting_one_version_exactly_one_is_accepted(service: Service) -> None:
    headers = {**service.headers("institution", "H1"), "X-Expected-Version": "0"}  # D018 is in H1
    start_line = threading.Barrier(10)
    statuses: list[int] = []
    codes: Counter[str] = Counter()

    def one(event: str) -> None:
        start_line.wait()
        response = service.http.post(f"/doctors/D018/events/{event}", json={"data": {}}, headers=headers)
        statuses.append(response.status_code)
        if response.status_code != 200:
            codes[response.json()["code"]] += 1

    threads = [threading.Thread(target=one, args=("enroll",)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1, statuses
    assert codes == Counter({"conflict": 9})
    assert len(service.get("/doctors/D018/history", "institution", "H1").json()) == 1


# -- bodies and routes ---------------------------------------------------------------------------------------


def test_a_body_over_a_mebibyte_is_refused_413(service: Service) -> None:
    headers = {**service.headers("institution", "H1"), "Content-Type": "application/json"}
    big = b'{"data": {"reason": "' + b"x" * (1024 * 1024) + b'"}}'
    problem(
        service.http.post("/doctors/D021/events/enroll", content=big, headers=headers),
        413,
        "bad_input",
        "body_too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"data": {"reason": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    response = service.http.post("/doctors/D021/events/enroll", content=chunks(), headers=headers)
    problem(response, 413, "bad_input", "body_too_large")
    assert service.get("/doctors/D021", "institution", "H1").json()["version"] == 0


def test_every_error_has_the_one_body(service: Service) -> None:
    problem(service.http.get("/no/such/route"), 404, "not_found")
    problem(service.http.put("/health"), 405, "bad_input")
    problem(service.get("/doctors/D999", "admin", "GX"), 404, "not_found")
    bad_json = {**service.headers("institution", "H1"), "Content-Type": "application/json"}
    problem(service.http.post("/doctors/D021/events/enroll", content=b"{", headers=bad_json), 422, "bad_input")
    problem(service.fire("D021", "fly", "institution", "H1"), 422, "bad_input")
    problem(service.http.post("/session", json={"account": 5}), 422, "bad_input")


def test_the_access_log_names_the_actor_never_the_token(db: str) -> None:
    running = start(db)
    try:
        token = running.token("institution", "H1")
        running.get("/doctors/D024", "institution", "H1")
    finally:
        out, err = stop(running)
    assert out.startswith("renew-fsm serve: http://127.0.0.1:") and "pool 10" in out
    assert "GET /doctors/D024 200" in err and "institution:H1" in err
    assert token not in err and token not in out


# -- starting ----------------------------------------------------------------------------------------------


def test_serve_refuses_a_missing_file_and_a_rehearsal_store(tmp_path: Path, db: str) -> None:
    done = subprocess.run(
        [*cli(), "serve", "--db", str(tmp_path / "typo.db")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "no database at" in done.stderr and "--create" in done.stderr
    assert not (tmp_path / "typo.db").exists()
    done = subprocess.run([*cli(), "serve", "--db", db, "--port", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "pinned" in done.stderr and "--rehearsal" in done.stderr


def test_a_token_expires(db: str) -> None:
    running = start(db, "--token-hours", "0.0005")  # under two seconds
    try:
        token = running.token("admin", "NN")
        assert running.http.get("/session", headers=bearer(token)).status_code == 200
        time.sleep(2.5)
        problem(running.http.get("/session", headers=bearer(token)), 401, "forbidden", "token_expired")
    finally:
        stop(running)


def test_the_api_page_works_without_the_internet(service: Service) -> None:
    page = service.http.get("/docs")
    assert page.status_code == 200
    assert "/static/swagger-ui-bundle.js" in page.text and "://" not in page.text.split("<body>")[1]
    assert service.http.get("/static/swagger-ui-bundle.js").status_code == 200
    assert service.http.get("/openapi.json").json()["info"]["title"].startswith("renew_fsm")


def test_serve_create_makes_an_empty_store(tmp_path: Path) -> None:
    running = start(str(tmp_path / "new.db"), "--create")
    try:
        assert running.http.get("/health").json() == {"ok": True, "cycle": None}
    finally:
        stop(running)
    assert (tmp_path / "new.db").exists()


def test_a_one_time_secret_expires_after_the_configured_days(db: str) -> None:
    import datetime as dt

    import renew_fsm
    from renew_fsm import Actor

    engine = renew_fsm.open(db)
    try:
        issued = engine.now() - dt.timedelta(days=3)
        engine.case_fire("account", "d025", "create_account", Actor("system"), subject="doctor:D025", at=issued)
        old = engine.case_fire("account", "d025", "activate_account", Actor("system"), at=issued).secret
    finally:
        engine.close()
    running = start(db, "--one-time-days", "2")
    try:
        body = {"account": "d025", "secret": old, "new_secret": "a long passphrase"}
        problem(running.http.post("/session/password", json=body), 403, "forbidden", "secret_expired")
    finally:
        stop(running)
    running = start(db, "--one-time-days", "4")
    try:
        body = {"account": "d025", "secret": old, "new_secret": "a long passphrase"}
        assert running.http.post("/session/password", json=body).status_code == 200
    finally:
        stop(running)
