"""Who is calling: bearer JWTs (HS256 locally, RS256 from an OIDC issuer) and API keys.

Example::

    token = issue_dev_token("alice", secret="s3cret", admin=False)
    identity = verify_hs256(token, secret="s3cret")   # Identity(user_id="alice", roles=())
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from shared.errors import Unauthorized

#: Issuer and audience of the local (HS256) tokens.
DEV_ISSUER = "pixcrawler-dev"
DEV_AUDIENCE = "pixcrawler"
ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Identity:
    """A verified caller: the subject and its roles."""

    user_id: str
    roles: tuple[str, ...] = ()


def issue_dev_token(user_id: str, *, secret: str, admin: bool = False, ttl: int = 12 * 3600) -> str:
    """A local HS256 token for the demo and the tests (never used on Azure)."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl,
        "roles": [ADMIN_ROLE] if admin else [],
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _identity(claims: dict[str, object]) -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("The token has no subject ('sub').", error_code="token_invalid")
    roles = claims.get("roles") or []
    if not isinstance(roles, list):
        roles = [roles]
    return Identity(user_id=subject, roles=tuple(str(r) for r in roles))


def verify_hs256(token: str, *, secret: str) -> Identity:
    """Verify a local token: signature, issuer, audience, expiry and not-before."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=DEV_AUDIENCE,
            issuer=DEV_ISSUER,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired: get a new one.", error_code="token_expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The token is not valid: {exc}.", error_code="token_invalid") from None
    return _identity(claims)
