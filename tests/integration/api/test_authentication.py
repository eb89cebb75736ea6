"""Credentials as a user sends them: RS256 tokens of the OIDC issuer (expiry, not-before,
audience, issuer, key rotation), local HS256 tokens, and API keys through their whole life."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from _apitest import AUDIENCE, Api, FakeIssuer, error_code, new_user
from cryptography.hazmat.primitives.asymmetric import rsa

from scripts.devtoken import LOCAL_SECRET
from http_triggers._tokens import issue_dev_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rs256_token_of_the_issuer_is_accepted(api: Api, issuer: FakeIssuer) -> None:
    user = new_user()
    client = api.client(bearer(issuer.token(user)))
    created = client.post("/api-keys", json={"name": "via oidc"})
    assert created.status_code == 201, created.text
    listed = client.get("/api-keys").json()["items"]
    assert [k["id"] for k in listed] == [created.json()["id"]]


def test_rs256_roles_claim_makes_an_admin(api: Api, issuer: FakeIssuer) -> None:
    admin = api.client(bearer(issuer.token(new_user("admin"), roles=["admin"])))
    user = api.client(bearer(issuer.token(new_user())))
    assert admin.get("/health/detailed").status_code == 200
    assert error_code(user.get("/health/detailed")) == "admin_required"


@pytest.mark.parametrize(
    "claims, code",
    [
        ({"exp": int(time.time()) - 60}, "token_expired"),
        ({"nbf": int(time.time()) + 600}, "token_not_yet_valid"),
        ({"aud": "someone-else"}, "token_invalid"),
        ({"iss": "https://impostor.example"}, "token_invalid"),
        ({"sub": None}, "token_invalid"),
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "no-subject"],
)
def test_bad_rs256_tokens_are_401(api: Api, issuer: FakeIssuer, claims: dict, code: str) -> None:
    response = api.client(bearer(issuer.token(new_user(), **claims))).get("/api-keys")
    assert response.status_code == 401
    assert error_code(response) == code


def test_token_signed_by_a_stranger_is_401(api: Api, issuer: FakeIssuer) -> None:
    """A token claiming the issuer's key id but signed with another private key."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": new_user(), "nbf": now, "exp": now + 600}
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": issuer.published[0]})
    response = api.client(bearer(forged)).get("/api-keys")
    assert response.status_code == 401
    assert error_code(response) == "token_invalid"


def test_rotated_key_is_fetched_once_and_refreshes_are_rate_limited(
    api: Api, issuer: FakeIssuer
) -> None:
    kid = issuer.new_key(publish=False)
    token = issuer.token(new_user(), kid=kid)
    time.sleep(2.1)  # past the minimum refresh interval (2 s in this stack)
    before = issuer.jwks_requests
    unknown = [api.client(bearer(token)).get("/api-keys").status_code for _ in range(5)]
    assert unknown == [401] * 5
    assert issuer.jwks_requests - before == 1, "unknown kids must not each trigger a JWKS fetch"

    issuer.publish(kid)  # the issuer rotates: the new key appears in its JWKS
    time.sleep(2.1)
    assert api.client(bearer(token)).get("/api-keys").status_code == 200
    assert api.client(bearer(token)).get("/api-keys").status_code == 200
    assert issuer.jwks_requests - before == 2


def test_hs256_dev_token_with_wrong_secret_is_401(api: Api) -> None:
    token = issue_dev_token(new_user(), secret="not-" + LOCAL_SECRET)
    response = api.client(bearer(token)).get("/api-keys")
    assert response.status_code == 401
    assert error_code(response) == "token_invalid"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not.a.jwt"},
     {"X-API-Key": "hunter2"}, {"X-API-Key": "pxc_0123456789abcdef_" + "A" * 43}],
    ids=["none", "basic", "empty-bearer", "garbage-bearer", "malformed-key", "unknown-key"],
)  # fmt: skip
def test_missing_or_bad_credentials_are_401(api: Api, headers: dict[str, str]) -> None:
    response = api.client(headers).get("/jobs")
    assert response.status_code == 401
    assert error_code(response) in {"credentials_missing", "token_invalid", "api_key_invalid"}


def test_api_key_lifecycle(api: Api) -> None:
    owner = api.as_user(new_user())
    created = owner.post("/api-keys", json={"name": "ci"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("pxc_") and created.json()["hint"].startswith(key[:8])

    with_key = api.client({"X-API-Key": key})
    job = with_key.post(
        "/jobs",
        json={
            "name": "k",
            "sources": [{"type": "urls", "label": "a", "urls": ["http://127.0.0.1:9/a.png"]}],
        },
    )
    assert job.status_code == 201, job.text
    assert owner.get(f"/jobs/{job.json()['id']}").status_code == 200  # the key acts as its owner

    listed = owner.get("/api-keys").json()["items"]
    assert [k["name"] for k in listed] == ["ci"]
    assert key not in httpx.Response(200, json=listed).text, "a listed key must never show the key"
    assert all(set(k) == {"id", "name", "admin", "hint", "created_at"} for k in listed)

    assert with_key.get("/api-keys").status_code == 200
    assert owner.delete(f"/api-keys/{created.json()['id']}").status_code == 204
    revoked = with_key.get("/api-keys")
    assert revoked.status_code == 401 and error_code(revoked) == "api_key_invalid"
    assert owner.delete(f"/api-keys/{created.json()['id']}").status_code == 404


def test_tampered_api_key_is_401(api: Api) -> None:
    key = api.as_user(new_user()).post("/api-keys", json={"name": "x"}).json()["key"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    response = api.client({"X-API-Key": tampered}).get("/api-keys")
    assert response.status_code == 401 and error_code(response) == "api_key_invalid"


def test_only_admins_make_admin_keys_and_they_carry_the_role(api: Api) -> None:
    refused = api.as_user(new_user()).post("/api-keys", json={"name": "x", "admin": True})
    assert refused.status_code == 403 and error_code(refused) == "admin_required"

    admin = api.as_user(new_user("admin"), admin=True)
    plain = admin.post("/api-keys", json={"name": "plain"}).json()
    elevated = admin.post("/api-keys", json={"name": "ops", "admin": True}).json()
    assert elevated["admin"] is True and plain["admin"] is False
    assert api.client({"X-API-Key": elevated["key"]}).get("/health/detailed").status_code == 200
    assert api.client({"X-API-Key": plain["key"]}).get("/health/detailed").status_code == 403


def test_keys_are_listed_per_owner_and_paged(api: Api) -> None:
    owner, other = api.as_user(new_user()), api.as_user(new_user())
    names = [f"key-{i}" for i in range(5)]
    for name in names:
        assert owner.post("/api-keys", json={"name": name}).status_code == 201
    assert other.get("/api-keys").json()["items"] == []

    first = owner.get("/api-keys", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["continuation"]
    seen: list[str] = [k["name"] for k in first["items"]]
    token = first["continuation"]
    while token:
        page = owner.get("/api-keys", params={"limit": 2, "continuation": token}).json()
        seen += [k["name"] for k in page["items"]]
        token = page["continuation"]
    assert sorted(seen) == names and len(seen) == len(set(seen))
