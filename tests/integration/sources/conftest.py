"""Fixtures of the search-source tests: the fake services on 127.0.0.1, settings pointing
every source at them, and a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from source_services import RESULT_COUNT, Services, local_settings, start_services

from shared.settings import Settings


@pytest.fixture
async def search_services() -> AsyncIterator[Services]:
    running, runner = await start_services(RESULT_COUNT)
    yield running
    await runner.cleanup()


@pytest.fixture
def settings(search_services: Services) -> Settings:
    return local_settings(search_services.base_url)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
