"""Turns a request's credentials into a Caller, and counts rate-limited calls: the two hooks
the route decorator uses (installed by ``http_triggers/__init__``).

Accepted credentials, in this order:

* ``X-API-Key: pxc_<id>_<secret>`` - looked up by id, compared by hash in constant time;
* ``Authorization: Bearer <JWT>`` signed RS256 by the OIDC issuer (``PIXCRAWLER_AUTH_OIDC_ISSUER``,
  ``PIXCRAWLER_AUTH_JWKS_URL``, ``PIXCRAWLER_AUTH_AUDIENCE``) or HS256 with the local secret
  (``PIXCRAWLER_AUTH_HS256_SECRET``, what ``scripts/dev-token`` issues).

Anything else is a 401 that says what to send.

Example::

    set_authenticator(authenticate)
    caller = await authenticate(request)     # Caller(user_id="alice", roles=frozenset(), via="jwt")
"""

from __future__ import annotations

import re

import azure.functions as func

from http_triggers._api import Caller
from http_triggers._tokens import JwksCache, token_algorithm, verify_hs256, verify_oidc
from shared.accounts.keys import api_key_matches, parse_api_key
from shared.errors import Unauthorized
from http_triggers._ratelimit import RateRule, Usage, hit
from shared.runtime import get_runtime
from shared.settings import Settings, get_settings

API_KEY_HEADER = "X-API-Key"
#: A bearer credential is RFC 6750's token68 (a JWT is base64url parts joined by dots): a byte
#: outside it -- a non-ASCII byte the host could only decode as a surrogate -- is a 401.
_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")

_jwks: dict[str, JwksCache] = {}


def jwks_for(settings: Settings) -> JwksCache:
    """The process-wide key cache of the configured issuer (one per JWKS URL)."""
    url = settings.auth_jwks_url
    if not url:
        raise Unauthorized(
            "RS256 tokens are not configured on this service.", error_code="token_invalid"
        )
    cache = _jwks.get(url)
    if cache is None:
        cache = _jwks[url] = JwksCache(
            url,
            max_age=settings.auth_jwks_cache_seconds,
            min_refresh=settings.auth_jwks_min_refresh_seconds,
        )
    return cache


async def _from_api_key(key: str) -> Caller:
    key_id = parse_api_key(key)
    runtime = await get_runtime()
    record = await runtime.api_keys.find(key_id)
    if record is None or not api_key_matches(key, record.key_hash):
        raise Unauthorized(
            "The API key is not valid: it was revoked or never issued.",
            error_code="api_key_invalid",
        )
    return Caller(user_id=record.user_id, roles=frozenset(record.roles), via="api_key")


async def _from_bearer(token: str, settings: Settings) -> Caller:
    algorithm, _ = token_algorithm(token)
    if algorithm == "HS256":
        if settings.auth_hs256_secret is None:
            raise Unauthorized(
                "HS256 tokens are not accepted on this service: use the identity provider's token.",
                error_code="token_invalid",
            )
        identity = verify_hs256(
            token,
            secret=settings.auth_hs256_secret.get_secret_value(),
            leeway=settings.auth_clock_skew,
        )
    elif settings.auth_oidc_issuer:
        identity = await verify_oidc(
            token,
            keys=jwks_for(settings),
            issuer=settings.auth_oidc_issuer,
            audience=settings.auth_audience,
            roles_claim=settings.auth_roles_claim,
            leeway=settings.auth_clock_skew,
        )
    else:
        raise Unauthorized(
            f"{algorithm} tokens are not accepted: no OIDC issuer is configured.",
            error_code="token_invalid",
        )
    return Caller(user_id=identity.user_id, roles=frozenset(identity.roles), via="jwt")


async def authenticate(req: func.HttpRequest) -> Caller:
    """The caller of ``req`` from its API key or bearer token; 401 saying what to send."""
    key = (req.headers.get(API_KEY_HEADER) or "").strip()
    if key:
        return await _from_api_key(key)
    scheme, _, token = (req.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'.",
            error_code="credentials_missing",
        )
    token = token.strip()
    if not _TOKEN68.match(token):
        raise Unauthorized(
            "The bearer token is malformed: a token is letters, digits and '-._~+/' (a JWT).",
            error_code="token_invalid",
        )
    return await _from_bearer(token, get_settings())


async def count_call(rule: RateRule, caller: Caller) -> Usage:
    """Count one call of ``caller`` against ``rule`` in the shared Cosmos counters."""
    runtime = await get_runtime()
    windows = runtime.rate_limits
    return await hit(windows, rule, caller.user_id, limit=rule.limit(runtime.settings))
