"""Tokens and API keys without a server: what a caller presenting them gets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from http_triggers._tokens import JwksCache, issue_dev_token, verify_hs256, verify_oidc
from shared.accounts.keys import API_KEY_PREFIX, api_key_matches, hash_api_key, new_api_key, parse_api_key
from shared.errors import ServiceUnavailable, Unauthorized

ISSUER, AUDIENCE = "https://issuer.test", "api"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """Serves a JWKS document from memory (the fetch function JwksCache is given)."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.down = False

    def add(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    async def fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise ValueError("connection refused")
        keys = []
        for kid in self.published:
            jwk = RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "nbf": now,
            "exp": now + 60,
            **claims,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Issuer:
    made = Issuer()
    made.add("k1")
    return made


def verify(token: str, cache: JwksCache) -> Any:
    return asyncio.run(verify_oidc(token, keys=cache, issuer=ISSUER, audience=AUDIENCE))


def test_keys_are_fetched_once_and_reused(issuer: Issuer) -> None:
    cache = JwksCache("u", fetch=issuer.fetch)
    for _ in range(3):
        assert verify(issuer.token("k1", roles=["admin"]), cache).roles == ("admin",)
    assert issuer.fetches == 1


def test_unknown_kid_refreshes_at_most_once_per_interval(issuer: Issuer) -> None:
    clock = Clock()
    cache = JwksCache("u", fetch=issuer.fetch, min_refresh=30, clock=clock)
    verify(issuer.token("k1"), cache)
    issuer.add("k2", publish=False)
    clock.now += 31
    for _ in range(5):
        with pytest.raises(Unauthorized):
            verify(issuer.token("k2"), cache)
    assert issuer.fetches == 2, "a burst of unknown kids costs one fetch"
    issuer.published.append("k2")
    clock.now += 10
    with pytest.raises(Unauthorized):
        verify(issuer.token("k2"), cache)  # still inside the refresh interval
    clock.now += 21
    assert verify(issuer.token("k2"), cache).user_id == "alice"
    assert issuer.fetches == 3


def test_keys_expire_after_max_age(issuer: Issuer) -> None:
    clock = Clock()
    cache = JwksCache("u", fetch=issuer.fetch, max_age=100, clock=clock)
    verify(issuer.token("k1"), cache)
    clock.now += 101
    verify(issuer.token("k1"), cache)
    assert issuer.fetches == 2


def test_unreachable_issuer_is_503_not_401(issuer: Issuer) -> None:
    issuer.down = True
    with pytest.raises(ServiceUnavailable):
        verify(issuer.token("k1"), JwksCache("u", fetch=issuer.fetch))


def test_hs256_tokens_must_be_rs256_for_the_issuer(issuer: Issuer) -> None:
    token = issue_dev_token("alice", secret="s")
    with pytest.raises(Unauthorized, match="RS256"):
        verify(token, JwksCache("u", fetch=issuer.fetch))


@pytest.mark.parametrize("offset, code", [(-120, "token_expired"), (0, None)])
def test_hs256_leeway(offset: int, code: str | None) -> None:
    now = int(time.time())
    claims = {
        "sub": "bob",
        "iss": "pixcrawler-dev",
        "aud": "pixcrawler",
        "exp": now + offset - 20,
        "roles": [],
    }
    token = jwt.encode(claims, "s", algorithm="HS256")
    if code is None:
        assert verify_hs256(token, secret="s", leeway=30).user_id == "bob"
    else:
        with pytest.raises(Unauthorized) as raised:
            verify_hs256(token, secret="s", leeway=30)
        assert raised.value.error_code == code


def test_api_keys_are_recognisable_parseable_and_checked_by_hash() -> None:
    created = new_api_key()
    assert created.key.startswith(API_KEY_PREFIX + created.key_id + "_")
    assert parse_api_key(created.key) == created.key_id
    assert created.key_hash == hash_api_key(created.key) and created.key not in created.key_hash
    assert api_key_matches(created.key, created.key_hash)
    assert not api_key_matches(created.key + "x", created.key_hash)
    assert new_api_key().key != created.key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "pxc_",
        "pxc_XYZ_" + "a" * 43,
        "abc_0123456789abcdef_" + "a" * 43,
        "pxc_0123456789abcdef_short",
    ],
)
def test_malformed_api_keys_are_401(key: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        parse_api_key(key)
    assert raised.value.error_code == "api_key_invalid"
