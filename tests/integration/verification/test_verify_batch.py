"""A verify batch against Azurite, the Cosmos emulator and a local image server, with images
stored by the crawl's own download batches: lost bytes fetched again into a new shard, or
marked when their URL is gone or serves other bytes; a second run changes nothing; one shard
size request per shard; two verifies racing leave every record pointing at its bytes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from shared.crawl import BatchProcessor
from shared.fetch import Downloader
from shared.fetch.budget import ByteBudget
from shared.models import (
    BatchVerification, Candidate, DownloadBatch, ImageRecord, ValidationRules, VerifyBatch, VerifyCounts,
)
from shared.settings import Settings
from shared.shards import RECORDS_KEY, WRITTEN, split_blob_name
from shared.storage import StorageContext
from shared.verify import CHANGED, BatchVerifier
from tests.integration.datasets._datasettest import ImageServer
from tests.stored_images import read_stored

pytestmark = pytest.mark.integration

PER_SHARD = 4


async def crawl(storage: StorageContext, settings: Settings, server: ImageServer, seeds: list[int]) -> str:
    """A job whose images (noise of ``seeds``) the crawl's download batches stored, four to a
    shard; its id."""
    job_id = f"verify-{uuid.uuid4().hex[:10]}"
    async with Downloader(settings, budget=ByteBudget(settings.memory_activity_bytes)) as downloader:
        processor = BatchProcessor(downloader, storage.images, storage.blobs, settings)
        for seq, start in enumerate(range(0, len(seeds), PER_SHARD)):
            urls = server.urls(seeds[start : start + PER_SHARD])
            await processor.run(DownloadBatch(
                job_id=job_id, user_id="u", chunk_id="c0", batch_id=f"c0:{seq}", seq=seq, label="noise",
                rules=ValidationRules(), candidates=[Candidate(url=u, source="urls") for u in urls], offset=start,
            ))  # fmt: skip
    return job_id


async def records(storage: StorageContext, job_id: str) -> list[ImageRecord]:
    return await storage.images.query("SELECT * FROM c WHERE c.job_id = @pk", pk=job_id)


async def etags(storage: StorageContext, job_id: str) -> dict[str, str]:
    rows = await storage.images.query_values("SELECT c.id, c._etag FROM c WHERE c.job_id = @pk", pk=job_id)
    return {row["id"]: row["_etag"] for row in rows}


async def lose_shard(storage: StorageContext, record: ImageRecord) -> set[str]:
    """Delete the shard holding ``record``; the ids of the records it held."""
    held = {r.id for r in await records(storage, record.job_id) if r.blob_name == record.blob_name}
    assert await storage.blobs.delete(*split_blob_name(record.blob_name))
    return held


def verifier(storage: StorageContext, settings: Settings, downloader: Downloader, budget: ByteBudget,
             job_id: str, index: int = 0, batches: int = 1, *, deep: bool = False, run_id: str = "run-1") -> BatchVerifier:  # fmt: skip
    batch = VerifyBatch(
        job_id=job_id, user_id="u", run_id=run_id, index=index, batches=batches, deep=deep, rules=ValidationRules()
    )
    return BatchVerifier(storage.images, storage.blobs, downloader, settings, batch, budget=budget)


async def verify(storage: StorageContext, settings: Settings, job_id: str, batches: int = 1, **options: Any) -> VerifyCounts:
    """Every batch of a verify run; the run's counts."""
    budget = ByteBudget(settings.memory_activity_bytes)
    total = VerifyCounts()
    async with Downloader(settings, budget=budget) as downloader:
        for index in range(batches):
            result: BatchVerification = await verifier(
                storage, settings, downloader, budget, job_id, index, batches, **options
            ).run()
            total = total.plus(result)
    return total


async def test_lost_bytes_are_fetched_again_into_a_new_shard_and_a_second_run_writes_nothing(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    job_id = await crawl(storage, settings, image_server, list(range(100, 112)))
    before = {r.id: r for r in await records(storage, job_id)}
    lost = await lose_shard(storage, next(iter(before.values())))
    assert len(lost) == PER_SHARD and sorted((await read_stored(storage, job_id)).unreadable) == sorted(lost)

    counts = await verify(storage, settings, job_id, batches=2)

    assert counts == VerifyCounts(checked=12, present=8, missing=4, repaired=4, marked=0)
    after = {r.id: r for r in await records(storage, job_id)}
    moved = {r.blob_name for i, r in after.items() if i in lost}
    assert len(moved) <= 2 and all("/shards/verify-" in name for name in moved)  # one shard per batch, at most
    for name in moved:
        [blob] = [b async for b in storage.blobs.list("images", split_blob_name(name)[1], metadata=True)]
        assert blob.metadata == {RECORDS_KEY: WRITTEN}
    assert all(after[i] == before[i] for i in before if i not in lost)  # the others untouched
    assert all(not r.missing and r.shard_key == before[r.id].shard_key for r in after.values())
    stored = await read_stored(storage, job_id)  # every record reads back, hashed, from a tar
    assert stored.unreadable == [] and stored.unreferenced == []

    written = await etags(storage, job_id)
    again = await verify(storage, settings, job_id, batches=3)
    assert again == VerifyCounts(checked=12, present=12)
    assert await etags(storage, job_id) == written


async def test_images_whose_url_is_gone_are_marked_once_and_unmarked_when_found(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    seeds = list(range(200, 208))
    job_id = await crawl(storage, settings, image_server, seeds)
    lost = await lose_shard(storage, (await records(storage, job_id))[0])
    image_server.gone.update(seeds)

    counts = await verify(storage, settings, job_id)

    assert counts == VerifyCounts(checked=8, present=4, missing=4, repaired=0, marked=4)
    marked = {r.id: r for r in await records(storage, job_id) if r.missing}
    assert set(marked) == lost
    assert {r.missing_reason for r in marked.values()} == {"http_error"}
    assert [b async for b in storage.blobs.list("images", f"{job_id}/shards/verify-")] == []  # nothing to store

    written = await etags(storage, job_id)
    assert await verify(storage, settings, job_id, run_id="run-2") == counts
    assert await etags(storage, job_id) == written  # marked already, for the same reason: no write

    image_server.gone.clear()  # the images are back at their URLs
    assert await verify(storage, settings, job_id, run_id="run-3") == VerifyCounts(
        checked=8, present=4, missing=4, repaired=4
    )
    assert not any(r.missing or r.missing_reason for r in await records(storage, job_id))
    assert (await read_stored(storage, job_id)).unreadable == []


async def test_a_url_that_serves_other_bytes_now_is_marked_changed(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    seeds = list(range(300, 304))
    job_id = await crawl(storage, settings, image_server, seeds)
    lost = await lose_shard(storage, (await records(storage, job_id))[0])
    image_server.changed.update(seeds)

    assert await verify(storage, settings, job_id) == VerifyCounts(checked=4, missing=4, marked=4)
    assert {r.id: r.missing_reason for r in await records(storage, job_id)} == dict.fromkeys(lost, CHANGED)


async def test_deep_finds_bytes_that_are_there_but_others(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    job_id = await crawl(storage, settings, image_server, list(range(400, 408)))
    victim = (await records(storage, job_id))[0]
    container, name = split_blob_name(victim.blob_name)
    data = bytearray(await storage.blobs.get(container, name))
    for record in await records(storage, job_id):
        if record.blob_name == victim.blob_name:
            data[record.offset] ^= 0xFF  # one byte of each image flipped; the shard's size unchanged
    await storage.blobs.put(container, name, bytes(data), "application/x-tar", overwrite=True)

    assert await verify(storage, settings, job_id) == VerifyCounts(checked=8, present=8)  # cheap: sizes only
    assert await verify(storage, settings, job_id, deep=True) == VerifyCounts(
        checked=8, present=4, missing=4, repaired=4
    )
    assert (await read_stored(storage, job_id)).unreadable == []
    assert await verify(storage, settings, job_id, deep=True) == VerifyCounts(checked=8, present=8)


async def test_the_cheap_check_asks_each_shard_its_size_once_whatever_the_batches(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    """A batch is a range of shard keys: every record of a shard is in one batch, so a run
    asks about each shard once -- one request per four images here, one per 50 with the
    default batch size -- with pages of 3 records that cut through shards."""
    job_id = await crawl(storage, settings, image_server, list(range(500, 520)))
    shards = {r.blob_name for r in await records(storage, job_id)}
    assert len(shards) == 5
    paged = settings.model_copy(update={"verify_page_size": 3})
    budget = ByteBudget(settings.memory_activity_bytes)
    for batches in (1, 2, 3, 7):
        asked = checked = 0
        async with Downloader(paged, budget=budget) as downloader:
            for index in range(batches):
                batch = verifier(storage, paged, downloader, budget, job_id, index, batches)
                checked += (await batch.run()).checked
                asked += batch.size_requests
        assert (checked, asked) == (20, 5), batches


async def test_two_verifies_racing_leave_every_record_pointing_at_its_bytes(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    job_id = await crawl(storage, settings, image_server, list(range(600, 612)))
    for record in (await records(storage, job_id))[:: PER_SHARD * 2]:
        await lose_shard(storage, record)
    image_server.delay = 0.05  # the repairs overlap

    first, second = await asyncio.gather(
        verify(storage, settings, job_id, run_id="run-a"), verify(storage, settings, job_id, run_id="run-b")
    )

    assert first.checked == second.checked == 12 and first.repaired + first.present == 12
    stored = await read_stored(storage, job_id)
    assert stored.unreadable == [] and stored.unreferenced == []  # the loser's copies left no shard
    assert not any(r.missing for r in stored.records)


async def test_records_stored_before_shard_keys_are_each_verified_once(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    job_id = await crawl(storage, settings, image_server, list(range(700, 712)))
    for record in (await records(storage, job_id))[::2]:  # half of them as an older version wrote them
        await storage.images.patch(record.id, job_id, [{"op": "remove", "path": "/shard_key"}])
    keyless = await storage.images.query_values(
        "SELECT VALUE COUNT(1) FROM c WHERE c.job_id = @pk AND NOT IS_DEFINED(c.shard_key)", pk=job_id
    )
    assert keyless == [6]
    lost = await lose_shard(storage, (await records(storage, job_id))[0])

    for batches in (1, 2, 5):
        counts = await verify(storage, settings, job_id, batches=batches, run_id=f"run-{batches}")
        assert (counts.checked, counts.present + counts.missing) == (12, 12), batches
    assert not any(r.missing for r in await records(storage, job_id)) and len(lost) == PER_SHARD


async def test_what_a_batch_reads_and_fetches_again_stays_within_its_memory_budget(
    storage: StorageContext, settings: Settings, image_server: ImageServer
) -> None:
    """Image bytes a deep check reads and a repair downloads are reserved in the activity's
    budget: with room for two images at a time, a batch still verifies and repairs everything,
    one or two images at a time. (As for a crawl, the budget holds an image more than a
    shard block: the settings refuse less. Blocks of one byte here: an image is staged as
    soon as it is added.)"""
    job_id = await crawl(storage, settings, image_server, list(range(800, 812)))
    stored = await records(storage, job_id)
    await lose_shard(storage, stored[0])
    largest = max(r.bytes for r in stored)
    budget = ByteBudget(2 * largest)
    small = settings.model_copy(update={"shard_block_bytes": 1})
    async with Downloader(small, budget=budget) as downloader:
        result = await verifier(storage, small, downloader, budget, job_id, deep=True).run()
    assert (result.present, result.repaired) == (8, 4)
    assert largest <= budget.peak <= 2 * largest and budget.used == 0
