"""Image records: content-addressed creation, per-job listing and counts, validation writes."""

from __future__ import annotations

import pytest

from shared.storage import StorageContext

from .factories import make_image, new_id

pytestmark = pytest.mark.integration


async def test_create_if_absent_keeps_the_first_writer(storage: StorageContext) -> None:
    job_id = new_id("job")
    first = make_image(job_id, 1, batch_id="batch-1")
    replay = make_image(job_id, 1, batch_id="batch-2")  # same bytes found again

    stored, created = await storage.images.create_if_absent(first)
    again, created_again = await storage.images.create_if_absent(replay)

    assert (created, created_again) == (True, False)
    assert again.origin.batch_id == "batch-1"
    assert again == stored
    assert await storage.images.count_by_job(job_id) == 1


async def test_counts_and_lists_only_valid_images_when_asked(storage: StorageContext) -> None:
    job_id = new_id("job")
    for n in range(5):
        await storage.images.create(make_image(job_id, n, is_valid=n != 0, is_duplicate=n == 1))
    await storage.images.create(make_image(new_id("job"), 9))  # another job

    page, token = await storage.images.list_by_job(job_id, limit=10, valid_only=True)

    assert await storage.images.count_by_job(job_id) == 5
    assert await storage.images.count_by_job(job_id, valid_only=True) == 3
    assert sorted(image.bytes for image in page) == [1002, 1003, 1004]
    assert token is None


async def test_create_many_writes_the_new_records_in_batches_and_returns_the_existing(
    storage: StorageContext,
) -> None:
    job_id = new_id("job")
    earlier = await storage.images.create(make_image(job_id, 3, batch_id="batch-earlier"))
    records = [make_image(job_id, n, batch_id="batch-now") for n in range(250)]  # 3 transactional batches

    stored = await storage.images.create_many(job_id, records)

    assert [created for _, created in stored] == [n != 3 for n in range(250)]
    assert stored[3][0].origin.batch_id == "batch-earlier" == earlier.origin.batch_id
    assert await storage.images.count_by_job(job_id) == 250
    again = await storage.images.create_many(job_id, records)  # a replayed batch
    assert not any(created for _, created in again)
    assert {r.origin.batch_id for r, _ in again} == {"batch-now", "batch-earlier"}


async def test_create_many_falls_back_to_one_by_one_when_a_batch_conflicts(
    storage: StorageContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent writer creates one of the ids between the existence query and the
    transactional batch: the batch fails with 409 and every record still ends stored once."""
    job_id = new_id("job")
    records = [make_image(job_id, n) for n in range(5)]
    rival = make_image(job_id, 2, batch_id="batch-rival")
    real_existing = storage.images.existing

    async def existing_then_rival(job: str, ids: list[str]) -> dict:
        found = await real_existing(job, ids)
        await storage.images.create(rival)  # lands after the query, before the batch
        return found

    monkeypatch.setattr(storage.images, "existing", existing_then_rival)
    stored = await storage.images.create_many(job_id, records)

    assert [created for _, created in stored] == [True, True, False, True, True]
    assert stored[2][0].origin.batch_id == "batch-rival"
    assert await storage.images.count_by_job(job_id) == 5


async def test_count_in_blob_counts_the_records_of_one_shard(storage: StorageContext) -> None:
    job_id = new_id("job")
    for n in range(4):
        await storage.images.create(make_image(job_id, n, blob_name=f"images/{job_id}/shards/c/{n % 2}.tar", offset=512))
    assert await storage.images.count_in_blob(job_id, f"images/{job_id}/shards/c/0.tar") == 2
    assert await storage.images.count_in_blob(job_id, f"images/{job_id}/shards/c/9.tar") == 0
