"""Every layout built in parts against Azurite: the same dataset whatever the parts, a part
that died half-way and was retried changes nothing, webdataset shards keep their bounds and
read with the ``webdataset`` package, and memory per part stays within its bound."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tracemalloc
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import webdataset as wds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_records import BlobLikeStore, aiter_records
from shared.datasets import FileSink, safe_label, split_for, write_archive
from shared.datasets.build import finish_pack, pack_part
from shared.datasets.webdataset import dataset_files
from shared.models.datasets import (
    ArchiveSummary, DatasetBuild, DatasetLayout, DatasetMeta, dataset_blob_name,
)
from shared.models.base import Level
from shared.models.images import ImageRecord
from shared.storage import StorageContext

pytestmark = pytest.mark.integration

CREATED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}
LABELS = ["cat", "dog", "a/..", "Ünïcode"]
ZIP_LAYOUTS = [DatasetLayout.zip, DatasetLayout.imagefolder]


def meta(layout: DatasetLayout, dataset_id: str | None = None) -> DatasetMeta:
    return DatasetMeta(
        dataset_id=dataset_id or f"ds-{uuid.uuid4().hex[:10]}", name="pets", job_id="job-1",
        created=CREATED, splits=SPLITS, layout=layout,
    )  # fmt: skip


class Crash(ConnectionError):
    """What a part meets when its activity dies half-way."""


async def build(
    storage: StorageContext, store: BlobLikeStore, records: list[ImageRecord], meta: DatasetMeta, *,
    part_images: int, crash_after: int | None = None, shard_images: int = 1000,
    shard_bytes: int = 1 << 30, block_size: int = 64 * 1024,
) -> ArchiveSummary:  # fmt: skip
    """The build as the orchestration runs it: a part per ``part_images`` records, then the
    finish. With ``crash_after``, the first attempt of every part longer than that dies after
    that many images and is retried, and the finish runs twice."""
    plan = DatasetBuild(
        meta=meta, user_id="u", part_images=part_images, parts_per_history=1000,
        shard_images=shard_images, shard_bytes=shard_bytes,
    )  # fmt: skip
    for start in range(0, len(records), part_images):
        chunk = records[start : start + part_images]
        if crash_after is not None and len(chunk) > crash_after:
            fetched = 0

            async def dying(record: ImageRecord) -> bytes:
                nonlocal fetched
                fetched += 1
                if fetched > crash_after:
                    raise Crash("the activity died")
                return await store.fetch(record)

            with pytest.raises(Crash):
                await pack_part(aiter_records(chunk), dying, storage.blobs, plan, prefetch=1, block_size=block_size)
        state = await pack_part(
            aiter_records(chunk), store.fetch, storage.blobs, plan, prefetch=2, block_size=block_size
        )  # fmt: skip
        plan = plan.model_copy(update={"state": state})
    if crash_after is not None:
        await finish_pack(storage.blobs, plan, meta, block_size=block_size)
    return await finish_pack(storage.blobs, plan, meta, block_size=block_size)


def make_records(store: BlobLikeStore, random_bytes: Callable[[int], bytes], count: int, size: int) -> list[ImageRecord]:
    return [store.add(random_bytes(size + i), LABELS[i % len(LABELS)]) for i in range(count)]


async def shard_files(storage: StorageContext, dataset_id: str) -> dict[str, bytes]:
    return {f.name: await storage.blobs.get("datasets", f.blob_name) async for f in dataset_files(storage.blobs, dataset_id)}


@pytest.mark.parametrize("layout", ZIP_LAYOUTS)
async def test_a_zip_built_in_parts_with_retried_parts_is_the_one_pass_zip(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes],
    tmp_path: Path, layout: DatasetLayout,
) -> None:  # fmt: skip
    records = make_records(store, random_bytes, 13, 20_000)
    described = meta(layout)
    summary = await build(storage, store, records, described, part_images=4, crash_after=2)

    one_pass = await write_archive(aiter_records(records), store.fetch, FileSink(tmp_path / "one.zip"), described)
    committed = await storage.blobs.get("datasets", dataset_blob_name(described.dataset_id))
    assert (summary.sha256, summary.size_bytes) == (one_pass.sha256, one_pass.size_bytes)
    assert committed == (tmp_path / "one.zip").read_bytes()
    names = zipfile.ZipFile(io.BytesIO(committed)).namelist()
    for record in records:
        split = split_for(record.sha256, SPLITS)
        folder = f"{split}/{safe_label(record.label)}" if layout is DatasetLayout.imagefolder else safe_label(record.label)
        assert f"{folder}/{record.sha256}.jpg" in names


async def test_webdataset_shards_are_the_same_whatever_the_parts_and_retries(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    records = make_records(store, random_bytes, 23, 20_000)
    bounds = {"shard_images": 3, "shard_bytes": 70_000}
    whole = meta(DatasetLayout.webdataset)
    in_one = await build(storage, store, records, whole, part_images=1000, **bounds)
    cut = meta(DatasetLayout.webdataset)
    in_parts = await build(storage, store, records, cut, part_images=4, crash_after=3, **bounds)

    one, parts = await shard_files(storage, whole.dataset_id), await shard_files(storage, cut.dataset_id)
    assert set(one) == set(parts)
    shards = sorted(name for name in one if name.endswith(".tar"))
    assert len(shards) > len(SPLITS)  # the bounds cut each split into several shards
    for name in shards:
        assert one[name] == parts[name], name
    assert in_one.counts == in_parts.counts
    assert in_parts.sha256 == hashlib.sha256(parts["dataset.json"]).hexdigest()
    described = json.loads(parts["dataset.json"])
    assert described["layout"] == "webdataset"
    listed = {row["name"]: row for row in described["shards"]}
    assert set(listed) == set(shards)
    for name in shards:
        assert listed[name]["sha256"] == hashlib.sha256(parts[name]).hexdigest()
        assert listed[name]["size_bytes"] == len(parts[name])


async def test_webdataset_shards_keep_their_bounds_and_read_with_the_webdataset_package(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes], tmp_path: Path
) -> None:
    records = make_records(store, random_bytes, 30, 15_000)
    big = store.add(random_bytes(200_000), "cat")  # larger than a shard may be: a shard of its own
    described = meta(DatasetLayout.webdataset)
    await build(storage, store, [*records, big], described, part_images=7, shard_images=4, shard_bytes=50_000)

    files = await shard_files(storage, described.dataset_id)
    shards = sorted(name for name in files if name.endswith(".tar"))
    for name in shards:
        (tmp_path / name).write_bytes(files[name])
        members = tarfile.open(fileobj=io.BytesIO(files[name])).getnames()
        assert len(members) <= 2 * 4
        assert len(files[name]) <= 50_000 or members == [f"{big.sha256}.jpg", f"{big.sha256}.json"]
    by_split: dict[str, list[str]] = {}
    for name in shards:
        split, number = name.removesuffix(".tar").rsplit("-", 1)
        by_split.setdefault(split, []).append(number)
    assert {split: numbers for split, numbers in by_split.items()} == {
        split: [f"{n:06d}" for n in range(len(numbers))] for split, numbers in by_split.items()
    }

    expected = {r.sha256: r for r in [*records, big]}
    seen: Counter[tuple[str, str]] = Counter()
    for split in by_split:
        urls = [str(tmp_path / name) for name in shards if name.startswith(f"{split}-")]
        for sample in wds.WebDataset(urls, shardshuffle=False).decode():
            record = expected[sample["__key__"]]
            row = sample["json"]
            assert hashlib.sha256(sample["jpg"]).hexdigest() == record.sha256
            assert (row["label"], row["split"], row["sha256"]) == (record.label, split, record.sha256)
            assert sample["__url__"].endswith(row["shard"])
            seen[(row["label"], split)] += 1
    assert seen == Counter((r.label, split_for(r.sha256, SPLITS)) for r in expected.values())


async def packed(storage: StorageContext, described: DatasetMeta) -> dict[str, tuple[str, str]]:
    """What a built dataset holds: sha256 -> (label, split), from its manifest or its shards."""
    rows: list[dict[str, str]] = []
    if described.layout.is_zip:
        archive = zipfile.ZipFile(io.BytesIO(await storage.blobs.get("datasets", dataset_blob_name(described.dataset_id))))
        rows = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
        assert all(row["file"] in archive.namelist() for row in rows)
    else:
        for name, data in (await shard_files(storage, described.dataset_id)).items():
            if name.endswith(".tar"):
                tar = tarfile.open(fileobj=io.BytesIO(data))
                rows += [json.load(tar.extractfile(m)) for m in tar if m.name.endswith(".json")]  # type: ignore[arg-type]
    return {row["sha256"]: (row["label"], row["split"]) for row in rows}


async def test_every_layout_admits_the_same_images_under_the_same_label_and_split(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    kept = make_records(store, random_bytes, 9, 3_000)
    kept.append(store.add(random_bytes(3_400), "cat", curated_label="dog"))  # moved by a reviewer
    left_out = [
        store.add(random_bytes(3_100), "cat", is_valid=False),
        store.add(random_bytes(3_200), "dog", is_duplicate=True),
        store.add(random_bytes(3_300), "cat", validation={"level": "fast"}),
        store.add(random_bytes(3_500), "dog", excluded=True),
    ]
    records = [*left_out[:1], *kept[:4], *left_out[1:], *kept[4:]]
    results = {}
    for layout in DatasetLayout:
        described = meta(layout).model_copy(update={"min_level": Level.medium})
        summary = await build(storage, store, records, described, part_images=4, shard_images=2)
        results[layout] = (await packed(storage, described), summary.counts, summary.skipped)
    expected = {r.sha256: (r.effective_label, split_for(r.sha256, SPLITS)) for r in kept}
    assert expected[kept[-1].sha256][0] == "dog"
    for layout, (images, counts, skipped) in results.items():
        assert images == expected, layout
        assert counts.total == len(kept)
        assert skipped == {"below_min_level": 1, "duplicate": 1, "invalid": 1, "excluded": 1}, layout
    assert len({repr(counts) for _, counts, _ in results.values()}) == 1


@pytest.mark.parametrize("layout", list(DatasetLayout))
async def test_memory_per_part_stays_within_its_bound(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes], layout: DatasetLayout
) -> None:
    """A part packing 48 MB holds at most a block (1 MiB), the images read ahead (2) and the
    one being packed (and its copy in a block), whatever the layout: measured ~5.4 MB."""
    image, block, prefetch = 1_500_000, 1 << 20, 2
    records = make_records(store, random_bytes, 32, image)
    plan = DatasetBuild(meta=meta(layout), user_id="u", part_images=100, parts_per_history=10,
                        shard_images=10, shard_bytes=8 << 20)

    async def fetch_once(record: ImageRecord) -> bytes:
        return store.blobs.pop(record.sha256)

    tracemalloc.start()
    try:
        state = await pack_part(
            aiter_records(records), fetch_once, storage.blobs, plan, prefetch=prefetch, block_size=block
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.tally.per_split and sum(state.tally.per_split.values()) == len(records)
    bound = block + (prefetch + 2) * image + (2 << 20)  # 2 MiB for the clients' own buffers
    assert peak < bound, f"peak {peak / 1e6:.1f} MB while packing 48 MB ({layout.value})"



@given(
    sizes=st.lists(st.integers(1, 30_000), min_size=1, max_size=14),
    part_images=st.integers(1, 6),
    shard_images=st.integers(1, 5),
    shard_bytes=st.integers(2_000, 60_000),
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_any_webdataset_build_keeps_every_image_once_within_the_shard_bounds(
    storage: StorageContext, random_bytes: Callable[[int], bytes], sizes: list[int], part_images: int,
    shard_images: int, shard_bytes: int,
) -> None:  # fmt: skip
    store = BlobLikeStore()
    records = [store.add(random_bytes(size), LABELS[i % len(LABELS)]) for i, size in enumerate(sizes)]
    described = meta(DatasetLayout.webdataset)
    summary = await build(storage, store, records, described, part_images=part_images,
                          shard_images=shard_images, shard_bytes=shard_bytes, block_size=16 * 1024)
    files = await shard_files(storage, described.dataset_id)
    seen: list[str] = []
    for name, data in sorted(files.items()):
        if not name.endswith(".tar"):
            continue
        keys = [m.name.rsplit(".", 1)[0] for m in tarfile.open(fileobj=io.BytesIO(data)) if m.name.endswith(".json")]
        assert 1 <= len(keys) <= shard_images
        assert len(data) <= shard_bytes or len(keys) == 1, (name, len(data), len(keys))
        seen += keys
    assert sorted(seen) == sorted(r.sha256 for r in records)
    assert summary.counts.total == len(records)
