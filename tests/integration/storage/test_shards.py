"""Shard blobs on Azurite: a tar any tool reads, images read back by range, the commit
invariant, and the janitor that removes shards no record points at."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from datetime import timedelta

import pytest

from shared.errors import NotFound
from shared.fetch.budget import ByteBudget
from shared.models import utcnow
from shared.storage.shards import PENDING, RECORDS_KEY, TAR_CONTENT_TYPE, WRITTEN, ShardJanitor, ShardWriter, read_image
from shared.storage import StorageContext

from .factories import make_image, new_id

pytestmark = pytest.mark.integration


async def write_shard(storage: StorageContext, name: str, images: dict[str, bytes], block_size: int) -> dict[str, int]:
    writer = ShardWriter(storage.blobs.staged("images", name, TAR_CONTENT_TYPE), block_size=block_size)
    offsets = {key: await writer.add(key, "jpg", data, {"sha256": key}) for key, data in images.items()}
    size = await writer.commit()
    assert size % 512 == 0
    return offsets


async def test_a_shard_is_a_tar_of_image_and_json_members_read_back_by_range(storage: StorageContext) -> None:
    job_id = new_id("job")
    images = {hashlib.sha256(bytes([n])).hexdigest(): os.urandom(700 + 2000 * n) for n in range(12)}
    name = f"{job_id}/shards/c0/000000-a.tar"
    offsets = await write_shard(storage, name, images, block_size=64 * 1024)  # several blocks

    data = await storage.blobs.get("images", name)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert set(members) == {f"{k}.{ext}" for k in images for ext in ("jpg", "json")}
    for key, body in images.items():
        assert members[f"{key}.jpg"] == body
        assert json.loads(members[f"{key}.json"]) == {"sha256": key}
        record = make_image(job_id, 0, blob_name=f"images/{name}", offset=offsets[key], bytes=len(body))
        assert await read_image(storage.blobs, record) == body
    blob = [b async for b in storage.blobs.list("images", name, metadata=True)][0]
    assert blob.metadata == {RECORDS_KEY: PENDING}
    assert blob.content_type == TAR_CONTENT_TYPE


async def test_nothing_is_visible_until_the_commit_and_an_abort_gives_the_memory_back(
    storage: StorageContext,
) -> None:
    name = f"{new_id('job')}/shards/c0/000000-b.tar"
    budget = ByteBudget(10 * 1024 * 1024)
    writer = ShardWriter(storage.blobs.staged("images", name, TAR_CONTENT_TYPE), block_size=4096)
    for n in range(3):
        hold = await budget.reserve(5000)
        await writer.add(f"k{n}", "png", os.urandom(5000), {}, release=hold.release)
    assert not await storage.blobs.exists("images", name)  # blocks staged, nothing committed
    await writer.abort()
    assert budget.used == 0
    assert not await storage.blobs.exists("images", name)


async def test_a_range_past_the_end_is_not_found_never_short_bytes(storage: StorageContext) -> None:
    name = f"{new_id('job')}/x.bin"
    await storage.blobs.put("images", name, b"0123456789", "application/octet-stream")
    assert await storage.blobs.get_range("images", name, 2, 3) == b"234"
    with pytest.raises(NotFound):
        await storage.blobs.get_range("images", name, 8, 5)
    with pytest.raises(NotFound):
        await storage.blobs.get_range("images", name, 20, 1)


async def test_the_janitor_deletes_old_pending_shards_that_no_record_points_at(storage: StorageContext) -> None:
    job_id = new_id("job")
    orphan, used, other = (f"{job_id}/shards/c0/00000{n}-z.tar" for n in range(3))
    for name in (orphan, used, other):
        await write_shard(storage, name, {"k": b"bytes"}, block_size=4096)
    await storage.images.create(make_image(job_id, 1, blob_name=f"images/{used}", offset=512, bytes=5))
    janitor = ShardJanitor(storage.blobs, storage.images, timedelta(minutes=60))

    assert await janitor.sweep_job(job_id, utcnow()) == 0  # all younger than an hour
    assert await janitor.sweep_job(job_id, utcnow() + timedelta(minutes=61)) == 2

    left = {b.name: b.metadata for b in [b async for b in storage.blobs.list("images", f"{job_id}/", metadata=True)]}
    assert left == {used: {RECORDS_KEY: WRITTEN}}
    assert await janitor.sweep_job(job_id, utcnow() + timedelta(days=1)) == 0  # written: never looked at again


async def test_a_large_image_is_a_block_of_its_own_and_the_tar_stays_whole(storage: StorageContext) -> None:
    """Images of 1 MiB and more go up from the download's own buffer (no joined copy), between
    blocks of the small members around them; the committed tar reads back member by member."""
    name = f"{new_id('job')}/shards/c0/000000-c.tar"
    images = {"small": os.urandom(3000), "large": bytearray(os.urandom(1_500_000)), "tail": os.urandom(10)}
    offsets = await write_shard(storage, name, images, block_size=4 * 1024 * 1024)
    blocks = await storage.blobs.client.get_blob_client("images", name).get_block_list("committed")
    assert len(blocks[0]) >= 3
    for key, body in images.items():
        record = make_image(new_id("job"), 0, blob_name=f"images/{name}", offset=offsets[key], bytes=len(body))
        assert await read_image(storage.blobs, record) == bytes(body)
