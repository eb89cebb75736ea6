"""Fixtures of the dataset-archive tests."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from archive_records import BlobLikeStore


@pytest.fixture
def store() -> BlobLikeStore:
    return BlobLikeStore()


@pytest.fixture
def random_bytes() -> Callable[[int], bytes]:
    rng = random.Random(1234)
    return rng.randbytes
