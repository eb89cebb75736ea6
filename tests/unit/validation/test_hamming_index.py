"""The multi-index Hamming index finds exactly the brute-force neighbours, without O(N^2)."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.validation.dedupe import DEFAULT_PHASH_THRESHOLD, HammingIndex, find_duplicate_groups
from shared.models.validation import HashedImage


@st.composite
def clustered_hashes(draw: st.DrawFn) -> list[int]:
    """Random 64-bit hashes, many of them a few bit flips away from another one."""
    seeds = draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
    out = list(seeds)
    for _ in range(draw(st.integers(0, 60))):
        value = draw(st.sampled_from(out))
        for bit in draw(st.lists(st.integers(0, 63), max_size=14)):
            value ^= 1 << bit
        out.append(value)
    return out


def brute_force(hashes: list[int], value: int, radius: int) -> list[tuple[int, int]]:
    return [(i, (h ^ value).bit_count()) for i, h in enumerate(hashes)
            if (h ^ value).bit_count() <= radius]


@settings(max_examples=80, deadline=None)
@given(hashes=clustered_hashes(), radius=st.integers(0, 16), probe=st.integers(0, 2**64 - 1))
def test_query_returns_exactly_the_brute_force_neighbours(
    hashes: list[int], radius: int, probe: int
) -> None:
    index = HammingIndex(hashes, radius)
    for value in [*hashes[:10], probe]:
        assert index.query(value) == brute_force(hashes, value, radius)


@settings(max_examples=80, deadline=None)
@given(hashes=clustered_hashes(), radius=st.integers(0, 16))
def test_pairs_are_exactly_the_brute_force_pairs(hashes: list[int], radius: int) -> None:
    left, right = HammingIndex(hashes, radius).pairs()
    expected = [(i, j) for i in range(len(hashes)) for j in range(i + 1, len(hashes))
                if (hashes[i] ^ hashes[j]).bit_count() <= radius]
    assert list(zip(left.tolist(), right.tolist())) == expected


def test_dedupe_of_100k_random_hashes_is_far_from_quadratic() -> None:
    rnd = random.Random(20240101)
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    n = 100_000
    items = [HashedImage(id=f"img-{i}", phash=f"{rnd.getrandbits(64):016x}", width=640,
                         height=480, created_at=when, sha256=f"{i:064x}") for i in range(n)]
    result = find_duplicate_groups(items, DEFAULT_PHASH_THRESHOLD)
    all_pairs = n * (n - 1) // 2
    # about 52 comparisons per image at the default threshold; brute force would be 50,000
    assert result.distance_computations < all_pairs / 500
    assert len(result.keeper_of) == n
