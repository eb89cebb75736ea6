"""Turns a request's credentials into a Caller: the authenticator the routes use."""

from __future__ import annotations

import azure.functions as func

from http_triggers._api import Caller
from shared.auth import verify_hs256
from shared.errors import Unauthorized
from shared.settings import get_settings


async def authenticate(req: func.HttpRequest) -> Caller:
    """Bearer JWT (HS256 with the local secret); 401 with what to send otherwise."""
    header = req.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'.",
            error_code="credentials_missing",
        )
    settings = get_settings()
    if settings.auth_hs256_secret is None:
        raise Unauthorized("Bearer tokens are not configured on this service.", error_code="token_invalid")
    identity = verify_hs256(token.strip(), secret=settings.auth_hs256_secret.get_secret_value())
    return Caller(user_id=identity.user_id, roles=frozenset(identity.roles), via="jwt")
