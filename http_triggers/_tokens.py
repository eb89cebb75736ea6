"""Who is calling, by bearer JWT: HS256 locally, RS256 from an OIDC issuer (API keys are
:mod:`shared.accounts.keys`; ``_auth`` tries both for a request).

Example::

    token = issue_dev_token("alice", secret="s3cret", admin=False)
    identity = verify_hs256(token, secret="s3cret")   # Identity(user_id="alice", roles=())

    keys = JwksCache("https://issuer.example/keys")
    identity = await verify_oidc(token, keys=keys, issuer="https://issuer.example", audience="api")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from shared.accounts.keys import ADMIN_ROLE
from shared.errors import ServiceUnavailable, Unauthorized

#: Issuer and audience of the local (HS256) tokens.
DEV_ISSUER = "pixcrawler-dev"
DEV_AUDIENCE = "pixcrawler"


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


def _identity(claims: dict[str, Any], roles_claim: str = "roles") -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("The token has no subject ('sub').", error_code="token_invalid")
    roles = claims.get(roles_claim) or []
    if not isinstance(roles, list):
        roles = [roles]
    return Identity(user_id=subject, roles=tuple(str(r) for r in roles))


def _decode(
    token: str, key: Any, *, algorithm: str, audience: str | None, issuer: str | None, leeway: float
) -> dict[str, Any]:
    """Verify signature, audience, issuer, exp and nbf; each failure is a 401 saying why."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "sub"], "verify_aud": audience is not None},
        )
        return claims
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "The token has expired: get a new one.", error_code="token_expired"
        ) from None
    except jwt.ImmatureSignatureError:
        raise Unauthorized(
            "The token is not valid yet (nbf/iat in the future): check the clock.",
            error_code="token_not_yet_valid",
        ) from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The token is not valid: {exc}.", error_code="token_invalid") from None


def verify_hs256(token: str, *, secret: str, leeway: float = 0.0) -> Identity:
    """Verify a local token: signature, issuer, audience, expiry and not-before."""
    claims = _decode(
        token, secret, algorithm="HS256", audience=DEV_AUDIENCE, issuer=DEV_ISSUER, leeway=leeway
    )
    return _identity(claims)


def token_algorithm(token: str) -> tuple[str, str | None]:
    """The ``alg`` and ``kid`` of a JWT's header, unverified (to pick the verifier); 401 when
    the token is not a JWT at all.

    >>> token_algorithm(issue_dev_token("alice", secret="s"))
    ('HS256', None)
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(
            f"The bearer token is not a JWT: {exc}.", error_code="token_invalid"
        ) from None
    kid = header.get("kid")
    return str(header.get("alg")), (str(kid) if kid is not None else None)


# --- RS256 tokens of an OIDC issuer ---------------------------------------------------------

JwksFetcher = Callable[[str], Awaitable[dict[str, Any]]]


async def fetch_json(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET ``url`` and parse its JSON body (the JWKS document)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.get(url) as response:
            response.raise_for_status()
            data = await response.json(content_type=None)
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return data


class JwksCache:
    """The signing keys of an issuer, fetched from its JWKS URL and kept for ``max_age``
    seconds. A token signed with a key id the cache does not know triggers a refresh (the
    issuer rotated its keys), but at most once every ``min_refresh`` seconds, so a flood of
    tokens with made-up key ids cannot turn into a flood of requests to the issuer.

    Example::

        keys = JwksCache("https://login.example/keys")
        key = await keys.key("2024-key-1")      # fetched once, then served from memory
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 3600.0,
        min_refresh: float = 30.0,
        fetch: JwksFetcher = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.fetches = 0
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self.max_age

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.min_refresh

    async def _refresh(self) -> None:
        self.fetches += 1
        try:
            document = await self._fetch(self.url)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise ServiceUnavailable(
                f"The token issuer's keys could not be fetched from {self.url} ({exc}); retry later.",
                error_code="jwks_unavailable",
            ) from None
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or algorithm we do not verify with
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        self._fetched_at = self._clock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The signing key ``kid`` (a JWKS with one key serves tokens without a kid)."""
        async with self._lock:
            if self._stale() or (kid not in self._keys and self._may_refresh()):
                await self._refresh()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            found = self._keys.get(kid or "")
        if found is None:
            raise Unauthorized(
                f"The token is signed with an unknown key ({kid!r}).", error_code="token_invalid"
            )
        return found


async def verify_oidc(
    token: str,
    *,
    keys: JwksCache,
    issuer: str,
    audience: str | None,
    roles_claim: str = "roles",
    leeway: float = 0.0,
) -> Identity:
    """Verify an RS256 token of the OIDC issuer: key from its JWKS, signature, issuer,
    audience, expiry and not-before.

    Example::

        identity = await verify_oidc(token, keys=JwksCache(jwks_url), issuer=iss, audience="api")
    """
    algorithm, kid = token_algorithm(token)
    if algorithm != "RS256":
        raise Unauthorized(
            f"Tokens of the issuer must be signed with RS256, not {algorithm}.",
            error_code="token_invalid",
        )
    key = await keys.key(kid)
    claims = _decode(
        token, key.key, algorithm="RS256", audience=audience, issuer=issuer, leeway=leeway
    )
    return _identity(claims, roles_claim)
