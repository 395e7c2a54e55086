"""Signing in: an account's secret for a bearer token, and the token for the account's actor.

A token is 256 random bits, handed to the client once; the store keeps only its
SHA-256 (a stolen backup holds no usable token) in the store's ``meta`` table
under ``session:<hash>``, with the account, the actor, the expiry and a
fingerprint of the account's password hash.  Chosen over a signed JWT: the
service is the only reader, a revocation (``DELETE /session``, a password change
or reset) takes effect at once without a deny list, and there is no signing key
to keep, rotate or leak.  A password change or reset replaces the hash, so the
fingerprint no longer matches and every token of the account ends together; so does
deactivating the account (注销), which the next use of a token is told.

Failed sign-ins are counted per account name under ``signin:<account>``; after
``failures`` of them in a row the name is locked for ``lockout`` — names that do
not exist are counted and locked the same way, so neither the answer nor its
timing tells whether an account exists (``Engine.authenticate`` checks a decoy
hash for an unknown name).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import attrs

from ..engine import Engine
from ..errors import FORBIDDEN, Refused
from ..model import Actor

#: Roles an account can act as over HTTP; ``system`` is not one: sweeps run on the server.
HTTP_ROLES = ("doctor", "institution", "agency", "admin", "exam_system")


@attrs.frozen
class SignInRules:
    token_ttl: dt.timedelta = dt.timedelta(hours=8)
    failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)


@attrs.frozen
class Session:
    account: str
    actor: Actor
    expires: dt.datetime


def _now() -> dt.datetime:
    # Sessions live on the wall clock: a store's ``clock`` (a rehearsal) moves the cycle, not the doors.
    return dt.datetime.now(dt.UTC)


def _key(token: str) -> str:
    return "session:" + hashlib.sha256(token.encode()).hexdigest()


def _fingerprint(stored: str | None) -> str:
    return hashlib.sha256((stored or "").encode()).hexdigest()[:32]


def unauthenticated(message: str, message_zh: str, rule: str = "sign_in_required") -> Refused:
    return Refused(FORBIDDEN, message, rule=rule, message_zh=message_zh)


def _wrong() -> Refused:
    return unauthenticated("unknown account or wrong secret", "账号或密码错误", "wrong_secret")


def sign_in(
    engine: Engine, rules: SignInRules, account: Any, secret: Any, role: str | None = None
) -> tuple[str, Session]:
    """A new token and its session, or ``Refused(forbidden)`` — one answer for every failure but a lock."""
    if not isinstance(account, str) or not isinstance(secret, str) or not 0 < len(account) <= 64:
        raise _wrong()
    count_key = f"signin:{account}"
    counted = json.loads(engine.storage.get_meta(count_key) or "{}")
    now = _now()
    locked = counted.get("locked_until")
    if locked and dt.datetime.fromisoformat(locked) > now:
        minutes = max(1, int((dt.datetime.fromisoformat(locked) - now).total_seconds() // 60) + 1)
        raise unauthenticated(
            f"too many failed sign-ins: try again in {minutes} min",
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            "locked",
        )
    try:
        actor = engine.authenticate(account, secret, role)
    except Refused as refused:
        if refused.rule in ("must_change_password", "secret_expired", "role_not_held"):
            raise  # the secret was right: the holder is told what to do next
        failures = int(counted.get("failures", 0)) + 1
        record: dict[str, Any] = {"failures": failures, "last": now.isoformat()}
        if failures >= rules.failures:
            record = {"failures": 0, "locked_until": (now + rules.lockout).isoformat()}
        engine.storage.set_meta(count_key, json.dumps(record))
        raise _wrong() from None
    if actor.role not in HTTP_ROLES:
        raise _wrong()
    if counted:
        engine.storage.set_meta(count_key, "{}")
    token = secrets.token_urlsafe(32)
    session = Session(account, actor, now + rules.token_ttl)
    value = {
        "account": account,
        "role": actor.role,
        "id": actor.id,
        "expires": session.expires.isoformat(),
        "credential": _fingerprint(engine.storage.credential(account)),
    }
    engine.storage.set_meta(_key(token), json.dumps(value))
    return token, session


def resolve(engine: Engine, token: str | None) -> Session:
    """The session of a bearer token still in force, or ``Refused(forbidden)`` with a rule saying why."""
    if not token:
        raise unauthenticated("sign in first: POST /session, then send Authorization: Bearer <token>", "请先登录")
    raw = engine.storage.get_meta(_key(token)) if len(token) <= 128 else None
    if not raw:
        raise unauthenticated(
            "this token is unknown or was signed out: sign in again", "登录已失效，请重新登录", "token_invalid"
        )
    value = json.loads(raw)
    expires = dt.datetime.fromisoformat(value["expires"])
    if expires <= _now():
        raise unauthenticated("this token has expired: sign in again", "登录已过期，请重新登录", "token_expired")
    account = value["account"]
    case = engine.storage.load_case("account", account)
    if case is not None and case.state == "deactivated":
        # 注销: the account is out of use for good; its tokens end with it.
        raise unauthenticated(
            "this account was deactivated: its tokens ended", "该账号已注销，登录已失效", "token_invalid"
        )
    if (
        case is None
        or case.state != "active"
        or _fingerprint(engine.storage.credential(account)) != value["credential"]
    ):
        # The password was changed or reset, or the account taken out of use: every token ends.
        raise unauthenticated(
            "this token ended with a password change or reset: sign in again",
            "密码已修改或重置，请重新登录",
            "token_invalid",
        )
    return Session(account, Actor(value["role"], value["id"]), expires)


def sign_out(engine: Engine, token: str) -> None:
    engine.storage.set_meta(_key(token), "")


#: A count of failed sign-ins without a lock is forgotten this long after the last one.
FAILURES_KEPT = dt.timedelta(days=1)


def purge(storage: Any, now: dt.datetime | None = None) -> int:
    """Delete ended sessions (expired, signed out) and spent sign-in counts; how many.

    The nightly ``renew-fsm sweep`` calls it, so the store keeps the live sessions only.
    A session ended by a password change is deleted at its expiry.
    """
    now = now or _now()
    gone: list[str] = []
    for key, value in storage.meta_with_prefix("session:"):
        if not value or dt.datetime.fromisoformat(json.loads(value)["expires"]) <= now:
            gone.append(key)
    for key, value in storage.meta_with_prefix("signin:"):
        counted = json.loads(value or "{}")
        locked, last = counted.get("locked_until"), counted.get("last")
        ended = locked is None or dt.datetime.fromisoformat(locked) <= now
        stale = last is None or dt.datetime.fromisoformat(last) + FAILURES_KEPT <= now
        if ended and stale:
            gone.append(key)
    if gone:
        storage.delete_meta(gone)
    return len(gone)


__all__ = ["HTTP_ROLES", "Session", "SignInRules", "purge", "resolve", "sign_in", "sign_out", "unauthenticated"]
