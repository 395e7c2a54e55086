"""A province's own single sign-on: tokens signed by a trusted issuer, accepted instead of a sign-in.

Off unless ``renew-fsm serve`` is given ``--jwt-issuer``, ``--jwt-audience`` and
``--jwt-public-key``.  A bearer token that is a JWT is then verified with PyJWT
(a well-kept library; nothing is hand-rolled): the signature with the
configured public key (RS256 or ES256 — never ``none``, never a shared
secret), the issuer, the audience and the expiry, each required.  Its claims
name the actor: ``renew_fsm:role`` (doctor, institution, agency, admin or
exam_system) and ``renew_fsm:id`` (the doctor's, institution's or agency's id;
an admin's or testing app's region).  What the actor may then do is decided
exactly as for a signed-in account.  Such a token cannot be signed out here:
it ends at its expiry, or at the issuer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ..model import Actor
from .sessions import HTTP_ROLES, Session, unauthenticated

ALGORITHMS = ("RS256", "ES256")
ROLE_CLAIM, ID_CLAIM = "renew_fsm:role", "renew_fsm:id"


@attrs.frozen
class TrustedIssuer:
    issuer: str
    audience: str
    public_key: str

    def session(self, token: str) -> Session:
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the issuer's token has expired", "登录已过期，请重新登录", "token_expired") from None
        except jwt.PyJWTError as exc:
            raise unauthenticated(
                f"the token is not one of the trusted issuer's ({exc})", "登录凭证无效", "token_invalid"
            ) from None
        role, ident = claims.get(ROLE_CLAIM), claims.get(ID_CLAIM)
        if role not in HTTP_ROLES or not isinstance(ident, str) or not ident:
            raise unauthenticated(
                f"the token names no actor: it needs {ROLE_CLAIM} (one of {', '.join(HTTP_ROLES)}) and {ID_CLAIM}",
                "登录凭证未指明角色",
                "token_invalid",
            )
        expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        return Session(f"{self.issuer}#{claims['sub']}", Actor(role, ident), expires)


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


__all__ = ["ALGORITHMS", "ID_CLAIM", "ROLE_CLAIM", "TrustedIssuer", "looks_like_jwt"]
