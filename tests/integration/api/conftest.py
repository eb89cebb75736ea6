"""Fixtures of the HTTP API tests: the whole local stack (emulators + devhost serving
function_app.py) configured with a fake OIDC issuer, started once for the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from _apitest import API_MAX_BODY_BYTES, AUDIENCE, MAX_ACTIVE_JOBS, Api, FakeIssuer, SlowImages

from scripts.stack import Stack
from shared.settings import ENV_PREFIX, Settings
from shared.storage import StorageContext
from shared.storage.bootstrap import ensure_storage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def issuer() -> Iterator[FakeIssuer]:
    fake = FakeIssuer().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def api_stack(tmp_path_factory: pytest.TempPathFactory, issuer: FakeIssuer) -> Iterator[Stack]:
    """Emulators + devhost; RS256 tokens from ``issuer`` accepted besides the local HS256 ones."""
    extra = {
        "PIXCRAWLER_AUTH_OIDC_ISSUER": issuer.url,
        "PIXCRAWLER_AUTH_JWKS_URL": issuer.jwks_url,
        "PIXCRAWLER_AUTH_AUDIENCE": AUDIENCE,
        "PIXCRAWLER_AUTH_JWKS_MIN_REFRESH_SECONDS": "2",
        "PIXCRAWLER_AUTH_CLOCK_SKEW": "0",
        # small enough for the limit tests to reach with a few requests
        "PIXCRAWLER_API_MAX_BODY_BYTES": str(API_MAX_BODY_BYTES),
        "PIXCRAWLER_MAX_ACTIVE_JOBS_PER_USER": str(MAX_ACTIVE_JOBS),
    }
    stack = Stack(Path(tmp_path_factory.mktemp("api-stack")), port=None, extra_env=extra)
    with stack:
        yield stack


@pytest.fixture(scope="session")
def api(api_stack: Stack) -> Api:
    return Api(api_stack.base_url)


@pytest.fixture(scope="session")
def origin(api_stack: Stack) -> str:
    """``http://127.0.0.1:PORT`` of the devhost (its durable management API lives there)."""
    return api_stack.base_url.removesuffix("/api/v1")


@pytest.fixture(scope="session")
def stack_settings(api_stack: Stack) -> Settings:
    """The settings the devhost runs with, for tests that reach the same storage directly
    (the database and containers made, as the app makes them on its first request)."""
    values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in api_stack.env.items()
        if k.startswith(ENV_PREFIX)
    }
    settings = Settings(**values)
    asyncio.run(ensure_storage(settings))
    return settings


@pytest_asyncio.fixture(loop_scope="session")
async def stack_storage(stack_settings: Settings) -> AsyncIterator[StorageContext]:
    async with StorageContext(stack_settings) as storage:
        yield storage


@pytest.fixture(scope="session")
def slow_images() -> Iterator[SlowImages]:
    server = SlowImages().start()
    yield server
    server.stop()
