"""Fixtures of the verify tests: a local image server whose images can leave (404) or change,
settings that let the downloader reach it, and a whole local stack for the HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import Stack
from shared.settings import Settings, get_settings
from tests.integration.datasets._datasettest import ImageServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="package")
def images() -> Iterator[ImageServer]:
    server = ImageServer().start()
    yield server
    server.stop()


@pytest.fixture
def image_server(images: ImageServer) -> Iterator[ImageServer]:
    """The package's image server, every image served again after the test."""
    yield images
    images.gone.clear()
    images.changed.clear()
    images.delay = 0.0


@pytest.fixture
def settings(services: dict[str, str]) -> Settings:
    """The emulators' settings, the downloader let through to 127.0.0.1 (the image server)."""
    return get_settings().model_copy(update={"fetch_allow_networks": ["127.0.0.1/32"], "fetch_retries": 0})


#: The stack's verify limit: reached with a few requests.
VERIFIES_PER_MINUTE = 4


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Emulators + devhost: download batches (so shards) of four images, verify batches of
    four records in pages of three, two batches at a time and one wave per history (so every
    verify here runs several batches and a continue_as_new)."""
    extra = {
        "PIXCRAWLER_BATCH_SIZE": "4",
        "PIXCRAWLER_VERIFY_BATCH_SIZE": "4",
        "PIXCRAWLER_VERIFY_PAGE_SIZE": "3",
        "PIXCRAWLER_VERIFY_PARALLEL": "2",
        "PIXCRAWLER_VERIFY_WAVES_PER_HISTORY": "1",
        "PIXCRAWLER_RATE_LIMIT_VERIFIES_PER_MINUTE": str(VERIFIES_PER_MINUTE),
    }
    with Stack(Path(tmp_path_factory.mktemp("verify-stack")), port=None, extra_env=extra) as running:
        yield running
