"""Fixtures of the dataset tests: the whole local stack with builds cut into parts of four
images (two parts per orchestration history) and webdataset shards of three images, and a
local image server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _datasettest import ImageServer

from scripts.stack import Stack

pytestmark = pytest.mark.integration

#: Small parts, so that every build here runs several parts and a continue_as_new.
PART_IMAGES = 4


@pytest.fixture(scope="session")
def images() -> Iterator[ImageServer]:
    server = ImageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra = {
        "PIXCRAWLER_DATASET_PART_IMAGES": str(PART_IMAGES),
        "PIXCRAWLER_DATASET_PARTS_PER_HISTORY": "2",
        "PIXCRAWLER_DATASET_BLOCK_SIZE": str(64 * 1024),
        "PIXCRAWLER_DATASET_SHARD_IMAGES": "3",  # webdataset: several shards per split
    }
    with Stack(Path(tmp_path_factory.mktemp("datasets-stack")), port=None, extra_env=extra) as running:
        yield running
