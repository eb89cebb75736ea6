"""Helpers of the HTTP API tests: a client that speaks as a given user, a fake OIDC issuer (a
real local HTTP server serving a JWKS made here), and a slow image server that keeps a crawl
running long enough to act on it.

Example::

    api = Api(stack.base_url)
    response = api.as_user("alice").get("/jobs/j1")
    assert_error_shape(response)
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from PIL import Image

from scripts.devtoken import LOCAL_SECRET
from tests.local_http import LocalServer
from http_triggers._tokens import issue_dev_token
from shared.models import ErrorBody

AUDIENCE = "pixcrawler-api"
#: The API stack's limits (the defaults are larger, these are reached with a few requests):
#: the largest JSON body, and running jobs per user.
API_MAX_BODY_BYTES = 1024 * 1024
MAX_ACTIVE_JOBS = 3


def new_user(role: str = "user") -> str:
    """A user id no other test uses (rate limits and lists are per user)."""
    return f"{role}-{uuid.uuid4().hex[:10]}"


class Api:
    """httpx clients on the devhost's ``/api/v1``, one per identity."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._anonymous = httpx.Client(base_url=base_url, timeout=30.0)

    def client(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, headers=headers)

    @property
    def anonymous(self) -> httpx.Client:
        return self._anonymous

    def as_user(self, user_id: str, *, admin: bool = False) -> httpx.Client:
        token = issue_dev_token(user_id, secret=LOCAL_SECRET, admin=admin)
        return self.client({"Authorization": f"Bearer {token}"})


def assert_error_shape(response: httpx.Response) -> dict[str, Any]:
    """The response is the documented error body, with its request id also in the header."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    ErrorBody.model_validate(
        body
    )  # exactly message, details[detail, error_code, field], request_id
    assert body["details"], body
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def error_code(response: httpx.Response) -> str:
    return str(assert_error_shape(response)["details"][0]["error_code"])


# --- a fake OIDC issuer -----------------------------------------------------------------------


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class FakeIssuer(LocalServer):
    """An OIDC issuer on 127.0.0.1: serves ``/jwks.json`` with the published keys and signs
    RS256 tokens with any key it made (published or not, to test rotation)."""

    url: str = ""
    keys: dict[str, SigningKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    jwks_requests: int = 0

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def new_key(self, *, publish: bool = True) -> str:
        kid = f"k-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = SigningKey(
            kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        if publish:
            self.publish(kid)
        return kid

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.keys[kid].jwk() for kid in self.published]}

    def token(
        self, subject: str, *, kid: str | None = None, roles: list[str] | None = None, **claims: Any
    ) -> str:
        """An RS256 token for ``subject``; ``claims`` override (None removes a claim)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now, "exp": now + 600,
            "roles": roles or [],
        }  # fmt: skip
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        key = self.keys[kid or self.published[0]]
        return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": key.kid})

    def answer(self, path: str) -> tuple[str, bytes] | None:
        if path != "/jwks.json":
            return None
        self.jwks_requests += 1
        return "application/json", json.dumps(self.jwks()).encode()

    def start(self) -> "FakeIssuer":
        super().start()
        self.new_key()
        return self


# --- a slow image server ----------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class SlowImages(LocalServer):
    """Serves a small PNG at ``/img/<anything>.png`` after ``delay`` seconds: a job crawling
    these URLs stays running for a while."""

    delay: float = 6.0
    url: str = ""
    _png: bytes = field(default=b"", repr=False)

    def urls(self, count: int) -> list[str]:
        tag = uuid.uuid4().hex[:8]
        return [f"{self.url}/img/{tag}-{i}.png" for i in range(count)]

    def answer(self, path: str) -> tuple[str, bytes] | None:
        time.sleep(self.delay)
        return "image/png", self._png

    def start(self) -> "SlowImages":
        self._png = _png()
        return super().start()


def job_body(urls: list[str], name: str = "api test") -> dict[str, Any]:
    """A job crawling ``urls`` (a `urls` source: no search engine involved)."""
    return {"name": name, "sources": [{"type": "urls", "label": "red", "urls": urls}]}


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


def instance_status(origin: str, instance_id: str) -> str | None:
    """The durable runtime status of an orchestration, from the host's management API."""
    response = httpx.get(
        f"{origin}/runtime/webhooks/durabletask/instances/{instance_id}", timeout=10
    )
    if response.status_code == 404:
        return None
    return str(response.json()["runtimeStatus"])


def iter_pages(client: httpx.Client, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, following continuation tokens."""
    token: str | None = None
    while True:
        query = {**params, **({"continuation": token} if token else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        yield from page["items"]
        token = page["continuation"]
        if not token:
            return
