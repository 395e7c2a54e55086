"""A province's single sign-on: ``renew-fsm serve --jwt-issuer …`` accepts tokens its issuer signed,
and only those — over a real service, on SQLite."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import Service, cli, start, stop, store

jwt = pytest.importorskip("jwt", reason="the sso extra (PyJWT) is part of the test extra")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

ISSUER, AUDIENCE = "https://sso.gxhealth.example", "renew-fsm"


def keypair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, str]:
    return keypair()


@pytest.fixture(scope="module", params=["sqlite"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: tuple[bytes, str]
) -> Iterator[Service]:
    stores = store(request, tmp_path_factory)
    db = next(stores)
    key_file = tmp_path_factory.mktemp("issuer") / "issuer.pem"
    key_file.write_text(keys[1], encoding="utf-8")
    running = start(db, "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE, "--jwt-public-key", str(key_file))
    yield running
    stop(running)
    next(stores, None)


def token(private: bytes, **claims: object) -> str:
    now = dt.datetime.now(dt.UTC)
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "exp": now + dt.timedelta(minutes=5),
        "renew_fsm:role": "institution",
        "renew_fsm:id": "H1",
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, private, algorithm="RS256")


def get(svc: Service, path: str, bearer: str) -> object:
    return svc.http.get(path, headers={"Authorization": f"Bearer {bearer}"})


def test_a_token_of_the_issuer_acts_as_its_claims(service: Service, keys: tuple[bytes, str]) -> None:
    good = token(keys[0])
    me = get(service, "/session", good)
    assert me.status_code == 200, me.text  # type: ignore[attr-defined]
    assert (me.json()["role"], me.json()["id"]) == ("institution", "H1")  # type: ignore[attr-defined]
    assert get(service, "/doctors/D003", good).status_code == 200  # type: ignore[attr-defined]
    assert get(service, "/doctors/D004", good).status_code == 403  # type: ignore[attr-defined]  # H2's


@pytest.mark.parametrize(
    ("claims", "rule"),
    [
        ({"exp": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}, "token_expired"),
        ({"iss": "https://evil.example"}, "token_invalid"),
        ({"aud": "another-service"}, "token_invalid"),
        ({"renew_fsm:role": "system"}, "token_invalid"),
        ({"renew_fsm:id": None}, "token_invalid"),
        ({"sub": None}, "token_invalid"),
    ],
)
def test_a_token_that_is_not_quite_right_is_refused(
    service: Service, keys: tuple[bytes, str], claims: dict[str, object], rule: str
) -> None:
    response = get(service, "/session", token(keys[0], **claims))
    assert response.status_code == 401 and response.json()["rule"] == rule  # type: ignore[attr-defined]


def test_another_key_or_no_signature_is_refused(service: Service) -> None:
    other, _ = keypair()
    assert get(service, "/session", token(other)).status_code == 401  # type: ignore[attr-defined]
    unsigned = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "x",
            "exp": 9999999999,
            "renew_fsm:role": "admin",
            "renew_fsm:id": "GX",
        },
        None,
        algorithm="none",
    )
    assert get(service, "/session", unsigned).status_code == 401  # type: ignore[attr-defined]


def test_serve_needs_all_three_settings(tmp_path: Path) -> None:
    done = subprocess.run(
        [*cli(), "serve", "--db", str(tmp_path / "x.db"), "--create", "--jwt-issuer", ISSUER],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "all three" in done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before the store was made
