"""Invariants of find_duplicate_groups: one kept image per group, whatever the input order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.validation.dedupe import find_duplicate_groups
from shared.models.validation import HashedImage

_T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@st.composite
def jobs(draw: st.DrawFn) -> list[HashedImage]:
    """A job's images: clustered hashes, tied sizes and times, some byte-identical copies."""
    bases = draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=6))
    images = []
    for i in range(draw(st.integers(1, 40))):
        value = draw(st.sampled_from(bases))
        for bit in draw(st.lists(st.integers(0, 63), max_size=5)):
            value ^= 1 << bit
        sha = draw(st.sampled_from(["a", "b", "c", f"unique-{i}"]))
        images.append(HashedImage(
            id=f"img-{draw(st.integers(0, 10_000))}-{i}",
            phash=f"{value:016x}",
            width=draw(st.sampled_from([100, 200, 400])),
            height=draw(st.sampled_from([100, 300])),
            created_at=_T0 + timedelta(seconds=draw(st.integers(0, 3))),
            sha256=sha,
        ))
    return images


@settings(max_examples=100, deadline=None)
@given(images=jobs(), threshold=st.integers(0, 10), data=st.data())
def test_kept_image_is_unique_and_independent_of_arrival_order(
    images: list[HashedImage], threshold: int, data: st.DataObject
) -> None:
    result = find_duplicate_groups(images, threshold)
    shuffled = data.draw(st.permutations(images))
    again = find_duplicate_groups(shuffled, threshold)
    assert again == result

    by_id = {image.id: image for image in images}
    for group in result.groups:
        kept = [m for m in group.members if result.keeper_of[m] is None]
        assert kept == [group.keeper]
        assert all(result.keeper_of[m] == group.keeper for m in group.members if m != group.keeper)
        best = min((by_id[m] for m in group.members),
                   key=lambda im: (-im.width * im.height, im.created_at, im.id))
        assert group.keeper == best.id


@settings(max_examples=60, deadline=None)
@given(images=jobs())
def test_byte_identical_images_are_always_one_group(images: list[HashedImage]) -> None:
    result = find_duplicate_groups(images, threshold=0)
    group_of = {m: g.keeper for g in result.groups for m in g.members}
    for a in images:
        for b in images:
            if a.id != b.id and a.sha256 == b.sha256:
                assert group_of[a.id] == group_of[b.id]


def test_the_largest_then_earliest_image_is_kept() -> None:
    def image(image_id: str, size: int, minute: int, phash: str) -> HashedImage:
        return HashedImage(id=image_id, phash=phash, width=size, height=size,
                           created_at=_T0 + timedelta(minutes=minute), sha256=image_id)

    result = find_duplicate_groups([
        image("small-first", 100, 0, "00000000000000ff"),
        image("large-late", 400, 9, "00000000000000fe"),
        image("large-early", 400, 5, "00000000000000fc"),
        image("elsewhere", 400, 0, "ffffffffffffff00"),
    ], threshold=4)
    assert result.keeper_of == {"elsewhere": None, "large-early": None,
                                "large-late": "large-early", "small-first": "large-early"}
    assert result.duplicate_count == 2


def test_repeated_ids_are_refused() -> None:
    twin = HashedImage(id="x", phash="0" * 16, width=1, height=1, created_at=_T0, sha256="s")
    with pytest.raises(ValueError, match="appears twice"):
        find_duplicate_groups([twin, twin], threshold=4)


def test_an_empty_job_has_no_groups() -> None:
    result = find_duplicate_groups([], threshold=6)
    assert result.keeper_of == {} and result.groups == [] and result.duplicate_count == 0
