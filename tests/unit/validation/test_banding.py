"""The banded near-duplicate search (shared.validation.banding) finds exactly the groups of the in-memory
reference, whatever the thresholds and however the job is cut into maps, chunks and
partitions; its pieces keep their invariants (pigeonhole, forests, keepers, memory)."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from shared.validation.banding import (
    BYTES_PER_ENTRY, BandLayout, Forest, Keepers, MapInput, SearchSpec, Slice,
    banded_duplicate_groups, route, search_partition,
)
from shared.validation.dedupe import find_duplicate_groups
from shared.validation.dedupe_stages import plan_dedupe
from shared.models.validation import HashedImage
from shared.settings import Settings

_T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
_BITS = st.lists(st.integers(0, 63), unique=True)


def flipped(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


# --------------------------------------------------------------------------------------------
# Pigeonhole
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(value=st.integers(0, 2**64 - 1), threshold=st.integers(0, 32), data=st.data())
def test_hashes_within_the_threshold_share_a_whole_band(value: int, threshold: int, data: st.DataObject) -> None:
    """Two hashes at most ``threshold`` bits apart agree on at least one of the
    ``threshold + 1`` bands, wherever the differing bits are (clustered ones included)."""
    layout = BandLayout.for_threshold(threshold)
    start = data.draw(st.integers(0, 63))
    spread = data.draw(st.lists(st.integers(0, 63), max_size=threshold, unique=True))
    clustered = [(start + i) % 64 for i in range(data.draw(st.integers(0, threshold)))]
    for bits in (spread, clustered):
        other = flipped(value, bits)
        bands = layout.band_values([value, other])
        assert (bands[0] == bands[1]).any(), (threshold, bits)


@pytest.mark.parametrize("threshold", [0, 1, 6, 13, 32])
def test_bands_cover_the_64_bits_once(threshold: int) -> None:
    layout = BandLayout.for_threshold(threshold)
    assert layout.bands == threshold + 1 and sum(layout.widths) == 64
    assert max(layout.widths) - min(layout.widths) <= 1
    covered = [bit for shift, width in zip(layout.shifts, layout.widths) for bit in range(shift, shift + width)]
    assert covered == list(range(64))
    every_bit = np.uint64(2**64 - 1)
    assert layout.band_values([every_bit]).tolist() == [[(1 << w) - 1 for w in layout.widths]]


def test_one_band_more_than_differing_bits_is_needed() -> None:
    """With one band fewer (threshold bands for threshold bits) some pairs share no band: the
    pigeonhole bound is tight, so the layout is not wasteful."""
    layout = BandLayout.for_threshold(5)  # 6 bands
    value = 0
    other = flipped(value, list(layout.shifts))  # one bit in each of the 6 bands
    bands = layout.band_values([value, other])
    assert not (bands[0] == bands[1]).any()


# --------------------------------------------------------------------------------------------
# Same groups as the reference
# --------------------------------------------------------------------------------------------


@st.composite
def planted_jobs(draw: st.DrawFn) -> list[HashedImage]:
    """Originals with window hashes, and planted copies: equal hashes, hashes a few bits away
    (resizes), hashes near one of an original's windows (crops), identical bytes; sizes and
    times that tie."""
    originals = draw(st.integers(1, 12))
    images: list[HashedImage] = []
    bases: list[tuple[int, list[int]]] = []
    for _ in range(originals):
        value = draw(st.integers(0, 2**64 - 1))
        windows = [flipped(value, draw(st.lists(st.integers(0, 63), min_size=4, max_size=12, unique=True)))
                   for _ in range(draw(st.sampled_from([0, 3, 18])))]
        bases.append((value, windows))
    for i in range(draw(st.integers(1, 45))):
        value, windows = draw(st.sampled_from(bases))
        kind = draw(st.sampled_from(["original", "same", "near", "far", "crop", "random"]))
        if kind == "same":
            phash = value
        elif kind == "near":
            phash = flipped(value, draw(st.lists(st.integers(0, 63), max_size=8, unique=True)))
        elif kind == "far":
            phash = flipped(value, draw(st.lists(st.integers(0, 63), min_size=7, max_size=14, unique=True)))
        elif kind == "crop" and windows:
            phash = flipped(draw(st.sampled_from(windows)), draw(st.lists(st.integers(0, 63), max_size=8, unique=True)))
        elif kind == "random":
            phash = draw(st.integers(0, 2**64 - 1))
        else:
            phash = value
        own = windows if kind in ("original", "same") else [
            flipped(phash, draw(st.lists(st.integers(0, 63), min_size=3, max_size=10, unique=True)))
            for _ in range(draw(st.sampled_from([0, 2, 18])))
        ]
        images.append(HashedImage(
            id=f"{draw(st.sampled_from(['a', 'b', 'c', 'ff']))}-{i}",
            phash=f"{phash:016x}",
            windows=[f"{w:016x}" for w in own],
            width=draw(st.sampled_from([100, 200, 400])),
            height=draw(st.sampled_from([100, 300])),
            created_at=_T0 + timedelta(seconds=draw(st.integers(0, 3))),
            sha256=draw(st.sampled_from(["x", "y", f"unique-{i}"])),
        ))
    return images


@settings(max_examples=150, deadline=None)
@given(
    images=planted_jobs(),
    threshold=st.integers(0, 10),
    window_threshold=st.one_of(st.none(), st.integers(0, 10)),
    maps=st.integers(1, 6),
    partitions=st.integers(1, 9),
    buffer=st.sampled_from([1, 3, 1 << 18]),
)
def test_banded_search_finds_the_reference_groups(
    images: list[HashedImage], threshold: int, window_threshold: int | None, maps: int,
    partitions: int, buffer: int,
) -> None:
    reference = find_duplicate_groups(images, threshold, window_threshold)
    banded = banded_duplicate_groups(images, threshold, window_threshold, maps=maps,
                                     partitions=partitions, buffer=buffer)
    assert banded.keeper_of == reference.keeper_of
    assert banded.groups == reference.groups


def test_identical_images_make_work_linear_in_the_job() -> None:
    """A job of one image 3,000 times over (different bytes, same hashes): equal values are
    collapsed before comparing, so the distances and links stay linear."""
    images = [
        HashedImage(id=f"{i:05d}", phash="c3a1f0e01e0f87c3", windows=["c3a1f0e01e0f87c0"] * 18,
                    width=10, height=10, created_at=_T0, sha256=f"s{i}")
        for i in range(3000)
    ]
    spec = SearchSpec(6, 6, partitions=3)
    pieces = [[] for _ in range(3)]
    for p, piece in enumerate(route(spec, MapInput.of(images))):
        pieces[p].append((0, piece.to_bytes()))
    links = distances = edges = 0
    for p in range(3):
        forest, stats = search_partition(spec, pieces[p])
        links, distances, edges = links + stats.links, distances + stats.distances, edges + stats.edges
    assert distances <= 10 * 7  # one distinct whole hash, one distinct window, per band
    assert links <= 3 * 7 * 3000  # whole-hash ties, sha256 and window owners: per entry
    assert edges <= 3 * 3000  # at most one forest edge per record and partition
    result = banded_duplicate_groups(images, 6, maps=4, partitions=3)
    assert result.duplicate_count == 2999 and result.keeper_of["00001"] == "00000"


# --------------------------------------------------------------------------------------------
# Forest and keepers
# --------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    links=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=80),
    buffer=st.integers(1, 10),
)
def test_forest_has_the_components_of_its_links(links: list[tuple[int, int]], buffer: int) -> None:
    forest = Forest(buffer)
    for a, b in links:
        forest.add(np.array([a << 33], np.uint64), np.array([b << 33], np.uint64))
    members, roots = forest.components()
    linked = sorted({x for a, b in links if a != b for x in (a, b)})
    assert (members >> np.uint64(33)).tolist() == linked
    graph = coo_matrix((np.ones(len(links)), ([a for a, _ in links], [b for _, b in links])), shape=(41, 41))
    _, labels = connected_components(graph, directed=False)
    root_of = dict(zip((members >> np.uint64(33)).tolist(), (roots >> np.uint64(33)).tolist()))
    for a in linked:
        for b in linked:
            assert (root_of[a] == root_of[b]) == (labels[a] == labels[b])
        assert root_of[a] == min(x for x in linked if labels[x] == labels[a])
    nodes, _ = forest.edges()
    assert len(nodes) == len(linked) - len(set(root_of.values()))  # a spanning forest


def test_keepers_need_every_map_offered() -> None:
    forest = Forest()
    forest.add(np.array([1], np.uint64), np.array([(1 << 32) + 1], np.uint64))
    keepers = Keepers(forest)
    keepers.offer(0, ["a", "b"], [10, 10], [0, 0])
    with pytest.raises(ValueError, match="never offered"):
        keepers.decisions(0)
    keepers.offer(1 << 32, ["c", "d"], [10, 99], [0, 0])
    assert keepers.decisions(0) == {1: "d"} and keepers.decisions(1) == {1: None}


def test_slices_round_trip_through_bytes() -> None:
    images = [HashedImage(id=f"{i}", phash=f"{i * 7919:016x}", windows=[f"{i:016x}"] * 2,
                          width=1, height=1, created_at=_T0, sha256=f"{i}") for i in range(50)]
    for piece in route(SearchSpec(4, 2, partitions=3), MapInput.of(images), first=100):
        again = Slice.from_bytes(piece.to_bytes())
        assert len(again) == len(piece)
        assert set(again.hashes) == set(piece.hashes) and set(again.windows) == set(piece.windows)
        for tag in piece.hashes:
            assert again.hashes[tag].value.tolist() == piece.hashes[tag].value.tolist()
            assert min(again.hashes[tag].owner.tolist(), default=100) >= 100
        assert again.sha_key.tolist() == piece.sha_key.tolist()
    with pytest.raises(ValueError, match="magic"):
        Slice.from_bytes(b"not a slice")


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------


def synthetic_map(count: int, seed: int) -> MapInput:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, count, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    noise = np.zeros((count, 18), np.uint64)
    for _ in range(10):
        noise |= np.uint64(1) << rng.integers(0, 64, (count, 18)).astype(np.uint64)
    return MapInput(
        ids=[f"{i:064x}" for i in range(count)], hashes=hashes,
        window_owner=np.repeat(np.arange(count, dtype=np.uint32), 18),
        window_value=(hashes[:, None] ^ noise).ravel(), sha_key=np.stack([hashes, hashes], 1),
        area=np.ones(count, np.int64), created=np.zeros(count, np.int64),
    )


def test_a_map_and_a_partition_stay_within_bytes_per_entry() -> None:
    """The unit of the memory budget: routing a map and searching a partition allocate at most
    BYTES_PER_ENTRY bytes per entry (numpy's allocations, as tracemalloc sees them)."""
    spec = SearchSpec(6, 6, partitions=4)
    records = synthetic_map(8000, seed=3)
    entries = len(records) * spec.entries_per_record()
    tracemalloc.start()
    try:
        slices = route(spec, records)
        _, routed_peak = tracemalloc.get_traced_memory()
        pieces = [(0, slices[0].to_bytes())]
        received = len(slices[0])
        del slices
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        search_partition(spec, pieces)
        _, searched_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(1 for _ in pieces) == 0  # the search consumed (freed) its pieces
    assert routed_peak <= entries * BYTES_PER_ENTRY
    assert searched_peak - before <= received * BYTES_PER_ENTRY


@pytest.mark.parametrize("budget_mb", [4, 32, 256])
@pytest.mark.parametrize("thresholds", [(6, 6), (4, 8), (0, 0)])
def test_the_plan_holds_every_activity_to_the_memory_setting(budget_mb: int, thresholds: tuple[int, int]) -> None:
    """A map's chunk and a partition's expected share of the entries fit the budget at every
    job size; maps and partitions grow with the job instead."""
    settings = Settings(
        cosmos_endpoint="https://x", blob_connection_string="UseDevelopmentStorage=true",
        validation_dedupe_memory_mb=budget_mb, validation_phash_threshold=thresholds[0],
        validation_window_threshold=thresholds[1],
    )  # type: ignore[call-arg]
    budget = budget_mb * 2**20
    per_record = SearchSpec(*thresholds, partitions=1).entries_per_record() * BYTES_PER_ENTRY
    for count in (1, 10_000, 100_000, 1_000_000):
        plan = plan_dedupe(count, settings)
        assert plan.chunk_records * per_record <= budget
        assert count * per_record / plan.partitions <= budget
        assert plan.maps * plan.chunk_records >= count
        assert (plan.threshold, plan.window_threshold) == thresholds
    small, large = plan_dedupe(100_000, settings), plan_dedupe(1_000_000, settings)
    assert small.chunk_records == large.chunk_records
    assert 10 * (small.partitions - 1) <= large.partitions <= 10 * small.partitions
