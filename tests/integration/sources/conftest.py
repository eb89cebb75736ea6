"""Fixtures of the search-source tests: the fake services on 127.0.0.1, settings pointing
every source at them, and a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from source_services import FLICKR_KEY, GOOGLE_CX, GOOGLE_KEY, Services, start_services

from shared.settings import Settings

#: Results every fake service holds for the test keyword: more than one page everywhere
#: (Google stops at 100 of them, as the real API does).
RESULT_COUNT = 130


def local_settings(base_url: str, **overrides: object) -> Settings:
    """Settings with every source at ``base_url``, keys set, and quick backoff."""
    values: dict[str, object] = {
        "cosmos_endpoint": "https://127.0.0.1:8081/",
        "blob_connection_string": "UseDevelopmentStorage=true",
        "flickr_api_key": FLICKR_KEY,
        "google_api_key": GOOGLE_KEY,
        "google_cx": GOOGLE_CX,
        "source_max_tries": 3,
        "source_backoff_base": 0.01,
        "source_backoff_cap": 5.0,
        "source_timeout": 5.0,
    }
    for source in ("wikimedia", "openverse", "flickr", "google", "bing", "duckduckgo", "baidu"):
        values[f"{source}_base_url"] = base_url
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    running, runner = await start_services(RESULT_COUNT)
    yield running
    await runner.cleanup()


@pytest.fixture
def settings(services: Services) -> Settings:
    return local_settings(services.base_url)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
