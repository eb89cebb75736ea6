"""Splits: decided by the image's hash alone, in proportion, and validated up front."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.datasets import split_for
from shared.models.datasets import DEFAULT_SPLITS, DatasetCreate

hashes = st.binary(min_size=1, max_size=32).map(lambda b: hashlib.sha256(b).hexdigest())


@given(hashes)
def test_an_image_always_lands_in_the_same_split(sha: str) -> None:
    first = split_for(sha, DEFAULT_SPLITS)
    assert first in DEFAULT_SPLITS
    assert all(split_for(sha, dict(DEFAULT_SPLITS)) == first for _ in range(3))


def test_splits_are_roughly_proportional() -> None:
    splits = {"train": 0.7, "val": 0.2, "test": 0.1}
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20_000)]
    counts = Counter(split_for(sha, splits) for sha in shas)
    for name, fraction in splits.items():
        assert counts[name] / len(shas) == pytest.approx(fraction, abs=0.015)


def test_a_split_with_fraction_zero_gets_nothing() -> None:
    splits = {"train": 0.5, "val": 0.0, "test": 0.5}
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2_000)]
    assert "val" not in {split_for(sha, splits) for sha in shas}
    assert split_for("f" * 64, {"train": 0.5, "test": 0.5, "holdout": 0.0}) == "test"


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({}, "at least one split"),
        ({"train": 1.2, "test": -0.2}, ">= 0"),
        ({"train": 0.8, "test": 0.1}, "add up to 1"),
        ({"train": float("nan"), "test": 1.0}, ">= 0"),
    ],
)
def test_bad_splits_are_refused_with_what_to_fix(splits: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_for("0" * 64, splits)
    with pytest.raises(ValidationError, match=message):
        DatasetCreate(job_id="job-1", name="pets", splits=splits)


def test_fractions_a_hair_off_one_are_accepted() -> None:
    splits = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert split_for("f" * 64, splits) == "c"


def test_a_hash_that_is_not_hex_is_refused() -> None:
    with pytest.raises(ValueError, match="hex sha256"):
        split_for("not-a-hash", DEFAULT_SPLITS)
