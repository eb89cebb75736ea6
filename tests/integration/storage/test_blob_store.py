"""BlobStore against Azurite: content-addressed puts, tiers, staged uploads, SAS downloads."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from azure.storage.blob import StandardBlobTier

from shared.errors import Conflict, NotFound
from shared.storage import StagedBlob, StorageContext

from .factories import new_id

pytestmark = pytest.mark.integration


async def test_put_is_idempotent_and_keeps_the_content_type(storage: StorageContext) -> None:
    name = f"images/{new_id('job')}/abc.png"

    created = await storage.blobs.put("images", name, b"first", "image/png")
    again = await storage.blobs.put("images", name, b"second", "image/jpeg")

    assert (created, again) == (True, False)
    assert await storage.blobs.get("images", name) == b"first"
    assert await storage.blobs.content_type("images", name) == "image/png"
    assert await storage.blobs.put("images", name, b"third", "image/webp", overwrite=True)
    assert await storage.blobs.get("images", name) == b"third"


async def test_missing_blobs_and_delete(storage: StorageContext) -> None:
    name = f"images/{new_id('job')}/gone.jpg"
    await storage.blobs.put("images", name, b"x", "image/jpeg")

    assert await storage.blobs.exists("images", name)
    assert await storage.blobs.delete("images", name) is True
    assert await storage.blobs.delete("images", name) is False
    assert not await storage.blobs.exists("images", name)
    with pytest.raises(NotFound) as missing:
        await storage.blobs.get("images", name)
    assert missing.value.error_code == "blob_not_found"


async def test_list_by_prefix(storage: StorageContext) -> None:
    prefix = f"images/{new_id('job')}/"
    for n in (2, 1, 3):
        await storage.blobs.put("images", f"{prefix}{n}.jpg", b"x" * n, "image/jpeg")
    await storage.blobs.put("images", f"images/{new_id('job')}/1.jpg", b"x", "image/jpeg")

    listed = [blob async for blob in storage.blobs.list("images", prefix)]

    assert [(b.name, b.size, b.content_type) for b in listed] == [
        (f"{prefix}{n}.jpg", n, "image/jpeg") for n in (1, 2, 3)
    ]
    assert {b.tier for b in listed} == {StandardBlobTier.HOT}


async def test_tiers_down_to_archive_and_archived_reads_are_refused(
    storage: StorageContext,
) -> None:
    name = f"{new_id('ckpt')}.json.gz"
    await storage.blobs.put("checkpoints", name, b"snapshot", "application/gzip")

    async def tier() -> StandardBlobTier | None:
        return next(iter([blob.tier async for blob in storage.blobs.list("checkpoints", name)]))

    tiers = [await tier()]
    for target in (StandardBlobTier.COOL, StandardBlobTier.COLD, "Archive"):
        await storage.blobs.set_tier("checkpoints", name, target)
        tiers.append(await tier())

    assert tiers == [StandardBlobTier.HOT, StandardBlobTier.COOL, StandardBlobTier.COLD,
                     StandardBlobTier.ARCHIVE]  # fmt: skip
    with pytest.raises(Conflict) as archived:
        await storage.blobs.get("checkpoints", name)
    assert archived.value.error_code == "blob_archived"
    assert "rehydrat" in archived.value.message
    await storage.blobs.set_tier("checkpoints", name, StandardBlobTier.HOT)
    assert await storage.blobs.get("checkpoints", name) == b"snapshot"


async def test_staged_blocks_become_visible_only_on_commit(storage: StorageContext) -> None:
    name = f"datasets/{new_id('ds')}.zip"
    await storage.blobs.put("datasets", name, b"old archive", "application/zip")
    staged = storage.blobs.staged("datasets", name, "application/zip")
    parts = [b"PK" + bytes([n]) * 1000 for n in range(3)]

    for index, part in enumerate(parts):
        await staged.stage_block(StagedBlob.block_id(index), part)
    assert await storage.blobs.get("datasets", name) == b"old archive"
    await staged.commit_block_list([StagedBlob.block_id(i) for i in range(3)])

    assert await storage.blobs.get("datasets", name) == b"".join(parts)
    assert await storage.blobs.content_type("datasets", name) == "application/zip"


async def test_sas_url_downloads_the_bytes_and_only_that_blob(storage: StorageContext) -> None:
    name = f"datasets/{new_id('ds')}.zip"
    await storage.blobs.put("datasets", name, b"zip bytes", "application/zip")

    url = await storage.blobs.sas_url("datasets", name, timedelta(minutes=5), filename="pets.zip")

    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert await response.read() == b"zip bytes"
            assert response.headers["Content-Disposition"] == 'attachment; filename="pets.zip"'
        other = url.replace(name, f"datasets/{new_id('ds')}.zip")
        async with http.get(other) as refused:
            assert refused.status == 403
        async with http.get(url.split("?")[0]) as anonymous:
            assert anonymous.status in (401, 403, 404)
