"""账号: created → activated (one-time secret) → the first login must replace it → in use; deleted only
while never activated; reset by the superior.  No password or secret is ever readable from the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CITY, COUNTY, H1, H2, PROVINCE, doctor, make_engine

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.verify import verify
from renew_fsm.workflows import CaseFire, check_secret, hash_secret

ACC = "account"
SYSTEM = Actor("system")


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def activated(e: renew_fsm.Engine, account: str, holder: str, superior: Actor) -> str:
    """Create and activate an account; the one-time secret handed back."""
    e.case_fire(ACC, account, "create_account", superior, {"name": account}, subject=holder)
    secret = e.case_fire(ACC, account, "activate_account", superior).secret
    assert secret is not None
    return secret


def test_the_first_login_must_replace_the_initial_secret(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "h1", "institution:H1", COUNTY)
    assert len(secret) >= 16
    assert engine.case_state(ACC, "h1").state == "must_change"
    assert engine.case_state(ACC, "h1").secret is None  # handed once, on the activation's view only
    assert code(lambda: engine.authenticate("h1", secret)) == ("forbidden", "must_change_password")
    assert code(lambda: engine.authenticate("h1", "666666")) == ("forbidden", None)
    assert code(lambda: engine.change_password("h1", secret, "short")) == ("bad_input", None)
    assert code(lambda: engine.change_password("h1", secret, secret)) == ("bad_input", None)
    assert code(lambda: engine.change_password("h1", "wrong-secret", "a new long secret")) == ("forbidden", None)
    assert engine.change_password("h1", secret, "a new long secret").state == "active"
    assert engine.authenticate("h1", "a new long secret") == H1
    assert code(lambda: engine.authenticate("h1", secret)) == ("forbidden", None)  # the initial one is gone
    assert engine.change_password("h1", "a new long secret", "another long secret").state == "active"
    assert engine.authenticate("h1", "another long secret") == H1
    assert verify(engine).ok


def test_change_password_is_only_through_its_method(engine: renew_fsm.Engine) -> None:
    activated(engine, "h1", "institution:H1", COUNTY)
    assert code(lambda: engine.case_fire(ACC, "h1", "change_password", Actor("account", "h1"))) == (
        "bad_input",
        None,
    )
    assert engine.case_state(ACC, "h1").state == "must_change"


def test_an_institution_account_signs_in_as_the_agency_it_also_is(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "a1", "institution:H1", CITY)
    engine.change_password("a1", secret, "a new long secret")
    assert code(lambda: engine.authenticate("a1", "a new long secret", role="agency")) == ("forbidden", "role_not_held")
    engine.apply({"op": "agency", "id": "H1", "region": "NN-QX", "name": "H1 作为考核机构"})
    assert engine.authenticate("a1", "a new long secret", role="agency") == Actor("agency", "H1")
    assert code(lambda: engine.authenticate("a1", "a new long secret", role="admin")) == ("forbidden", "role_not_held")


def test_delete_only_while_never_activated(engine: renew_fsm.Engine) -> None:
    engine.case_fire(ACC, "old", "create_account", COUNTY, subject="institution:H1")
    assert engine.case_fire(ACC, "old", "delete_account", COUNTY).state == "deleted"
    assert code(lambda: engine.case_fire(ACC, "old", "activate_account", COUNTY)) == ("invalid_transition", None)
    activated(engine, "h1", "institution:H1", COUNTY)
    assert code(lambda: engine.case_fire(ACC, "h1", "delete_account", COUNTY)) == ("invalid_transition", None)
    assert code(lambda: engine.authenticate("old", "")) == ("forbidden", None)


def test_a_reset_issues_a_new_one_time_secret(engine: renew_fsm.Engine) -> None:
    first = activated(engine, "d1", "doctor:D1", H1)
    engine.change_password("d1", first, "a new long secret")
    assert code(lambda: engine.case_fire(ACC, "d1", "reset_password", H2)) == ("forbidden", None)
    view = engine.case_fire(ACC, "d1", "reset_password", H1)
    assert (view.state, view.data) == ("must_change", {"name": "d1", "resets": 1})
    assert view.secret is not None and view.secret != first
    assert code(lambda: engine.authenticate("d1", "a new long secret")) == ("forbidden", None)
    assert code(lambda: engine.authenticate("d1", view.secret)) == ("forbidden", "must_change_password")
    engine.change_password("d1", view.secret, "yet another secret")
    assert engine.authenticate("d1", "yet another secret") == doctor("D1")


def test_the_superior_of_each_account(engine: renew_fsm.Engine) -> None:
    """A county's or a city's authority: any authority above it; a province's: the system operator;
    an institution's: the authority over it; a doctor's: the institution (or the authority)."""
    cases = [
        ("admin:NN-QX", COUNTY, "forbidden"),
        ("admin:NN-QX", CITY, "ok"),
        ("admin:NN-QX", PROVINCE, "ok"),
        ("admin:NN", CITY, "forbidden"),
        ("admin:NN", PROVINCE, "ok"),
        ("admin:NN", Actor("admin", "GL"), "forbidden"),
        ("admin:GX", PROVINCE, "forbidden"),
        ("admin:GX", SYSTEM, "ok"),
        ("institution:H1", COUNTY, "ok"),
        ("institution:H1", Actor("admin", "NN-XN"), "forbidden"),
        ("institution:H1", H1, "forbidden"),
        ("doctor:D1", H1, "ok"),
        ("doctor:D1", H2, "forbidden"),
        ("doctor:D1", CITY, "ok"),
        ("doctor:D1", doctor("D1"), "forbidden"),
    ]
    for n, (holder, actor, expected) in enumerate(cases):
        try:
            engine.case_fire(ACC, f"acc{n}", "create_account", actor, subject=holder)
            got = "ok"
            # One account per holder: deleted, so the next row may create the holder's again.
            engine.case_fire(ACC, f"acc{n}", "delete_account", actor)
        except Refused as refused:
            got = refused.code
        assert got == expected, (holder, actor)
    assert code(lambda: engine.case_fire(ACC, "x", "create_account", CITY, subject="nurse:N1")) == ("bad_input", None)
    assert code(lambda: engine.case_fire(ACC, "x", "create_account", CITY, subject="doctor:D404")) == (
        "not_found",
        None,
    )


def test_batch_activation(engine: renew_fsm.Engine) -> None:
    for i, holder in enumerate(("institution:H1", "doctor:D1", "admin:NN-QX")):
        engine.case_fire(ACC, f"b{i}", "create_account", CITY if holder.startswith("admin") else COUNTY, subject=holder)
    results = engine.case_fire_many(ACC, [CaseFire(f"b{i}", "activate_account", CITY) for i in range(4)])
    views = results[:3]
    assert [v.state for v in views] == ["must_change"] * 3  # type: ignore[union-attr]
    assert len({v.secret for v in views}) == 3  # type: ignore[union-attr]
    assert isinstance(results[3], Refused) and results[3].code == "bad_input"  # b3 does not exist: no subject


def test_a_batch_item_that_is_not_a_case_fire_is_refused_in_its_place(engine: renew_fsm.Engine) -> None:
    engine.case_fire(ACC, "b0", "create_account", COUNTY, subject="institution:H1")
    junk = {"case": "b0", "event": "activate_account", "actor": {"role": "admin", "id": "NN-QX"}}
    results = engine.case_fire_many(ACC, [junk, CaseFire("b0", "activate_account", COUNTY), None])  # type: ignore[list-item]
    assert [getattr(r, "code", None) for r in results] == ["bad_input", None, "bad_input"]
    assert "must be a renew_fsm.workflows.CaseFire, not dict" in results[0].message  # type: ignore[union-attr]
    assert engine.case_state(ACC, "b0").state == "must_change"


def test_the_hash_is_argon2id_with_a_salt_of_its_own() -> None:
    a, b = hash_secret("same secret"), hash_secret("same secret")
    assert a != b and a.startswith("$argon2id$")
    assert check_secret("same secret", a) and check_secret("same secret", b)
    assert not check_secret("other secret", a) and not check_secret("same secret", None)
    assert not check_secret("same secret", "garbage")
    assert not check_secret("x" * 1025, a)


def _scrypt_hash(secret: str) -> str:
    """A hash as stores written before argon2id hold it."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_an_older_scrypt_hash_still_signs_in_and_is_upgraded_then(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "h1", "institution:H1", COUNTY)
    engine.change_password("h1", secret, "a new long secret")
    engine.storage.set_credential("h1", _scrypt_hash("a new long secret"))
    assert code(lambda: engine.authenticate("h1", "wrong secret!")) == ("forbidden", None)
    assert engine.storage.credential("h1").startswith("scrypt$")  # a failed sign-in changes nothing
    assert engine.authenticate("h1", "a new long secret") == H1
    assert engine.storage.credential("h1").startswith("$argon2id$")
    assert engine.authenticate("h1", "a new long secret") == H1


def test_a_new_secret_is_not_the_account_id_nor_too_long(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "hospital-one", "institution:H1", COUNTY)
    assert code(lambda: engine.change_password("hospital-one", secret, "hospital-one")) == ("bad_input", None)
    assert code(lambda: engine.change_password("hospital-one", secret, "x" * 1025)) == ("bad_input", None)
    assert engine.change_password("hospital-one", secret, "x" * 1024).state == "active"


def test_one_account_per_holder(engine: renew_fsm.Engine) -> None:
    activated(engine, "h1", "institution:H1", COUNTY)
    assert code(lambda: engine.case_fire(ACC, "h1-again", "create_account", COUNTY, subject="institution:H1")) == (
        "conflict",
        None,
    )
    # Outside the jurisdiction the answer is forbidden, whether or not the holder has an account.
    assert code(lambda: engine.case_fire(ACC, "h1-x", "create_account", H2, subject="institution:H1")) == (
        "forbidden",
        None,
    )


def test_a_one_time_secret_expires(tmp_path: Path) -> None:
    e = make_engine(str(tmp_path / "c.db"))
    try:
        secret = activated(e, "h1", "institution:H1", COUNTY)
        e.apply({"op": "clock", "at": "2021-06-01T09:00:00+08:00"})  # some six weeks later
        assert code(lambda: e.change_password("h1", secret, "a new long secret")) == ("forbidden", "secret_expired")
        assert code(lambda: e.authenticate("h1", secret)) == ("forbidden", "secret_expired")
        again = e.case_fire(ACC, "h1", "reset_password", COUNTY).secret
        assert e.change_password("h1", again, "a new long secret").state == "active"
    finally:
        e.close()


def test_a_province_testing_app_account_acts_for_that_province(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "exam-gx", "exam_system:GX", PROVINCE)
    engine.change_password("exam-gx", secret, "a new long secret")
    assert engine.authenticate("exam-gx", "a new long secret") == Actor("exam_system", "GX")
    assert code(lambda: engine.case_fire(ACC, "exam-nn", "create_account", CITY, subject="exam_system:NN")) == (
        "bad_input",
        None,
    )


def _store_text(url: str, tmp_path: Path) -> bytes:
    """Everything the store holds, as bytes: the SQLite files, or every PostgreSQL row as text."""
    if not url.startswith("postgresql"):
        return b"".join(p.read_bytes() for p in Path(url).parent.glob(Path(url).name + "*"))
    import psycopg

    out = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            out += [str(r[0]) for r in conn.execute(f'SELECT t::text FROM "{table}" t')]  # type: ignore[arg-type]
    return "\n".join(out).encode()


def test_no_secret_is_readable_from_the_store(sql_url: str, tmp_path: Path) -> None:
    e = make_engine(sql_url)
    initial = activated(e, "h1", "institution:H1", COUNTY)
    chosen = "my chosen password 2021"
    e.change_password("h1", initial, chosen)
    reset = e.case_fire(ACC, "h1", "reset_password", COUNTY).secret
    assert reset is not None
    e.close()
    stored = _store_text(sql_url, tmp_path)
    assert b"institution:H1" in stored and b"$argon2id$" in stored  # what is stored is read, the hash too ...
    for secret in (initial, chosen, reset):
        assert secret.encode() not in stored, secret  # ... and no secret, in clear, anywhere
    again = renew_fsm.open(sql_url)
    try:
        assert code(lambda: again.authenticate("h1", chosen)) == ("forbidden", None)
        assert code(lambda: again.authenticate("h1", reset)) == ("forbidden", "must_change_password")
        assert verify(again).ok
    finally:
        again.close()


def test_a_doctor_s_account_follows_the_doctor_to_another_institution(engine: renew_fsm.Engine) -> None:
    secret = activated(engine, "d1", "doctor:D1", H1)
    engine.change_password("d1", secret, "a new long secret")
    engine.change_institution("D1", "H2", CITY)
    assert code(lambda: engine.case_fire(ACC, "d1", "reset_password", H1)) == ("forbidden", None)
    assert engine.case_fire(ACC, "d1", "reset_password", H2).state == "must_change"
