"""The generic Cosmos repository against the emulator: CRUD, etags, errors, queries, paging."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import Conflict, NotFound
from shared.models import ImageRecord, JobStatus
from shared.storage import Repo, StorageContext

from .factories import make_image, make_job, new_id

pytestmark = pytest.mark.integration


async def test_create_then_get_round_trips_the_model(storage: StorageContext) -> None:
    job = make_job(keywords=["cat", "dog"], max_images_per_keyword=7)

    created = await storage.jobs.create(job)
    read = await storage.jobs.get(job.id, job.user_id)

    assert read == created
    assert read.model_dump(exclude={"etag"}) == job.model_dump(exclude={"etag"})
    assert read.etag and read.etag == created.etag


async def test_create_of_an_existing_id_is_a_conflict(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())

    with pytest.raises(Conflict) as caught:
        await storage.jobs.create(job)

    assert caught.value.error_code == "job_exists"


async def test_reading_a_missing_document_is_not_found(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())

    with pytest.raises(NotFound) as missing:
        await storage.jobs.get("no-such-job", job.user_id)
    with pytest.raises(NotFound):
        await storage.jobs.get(job.id, "someone-else")  # right id, wrong partition

    assert missing.value.error_code == "job_not_found"
    assert "no-such-job" in missing.value.message
    assert await storage.jobs.find("no-such-job", job.user_id) is None


async def test_find_without_partition_key_searches_every_partition(
    storage: StorageContext,
) -> None:
    job = await storage.jobs.create(make_job())

    found = await storage.jobs.find(job.id)

    assert found is not None and found.user_id == job.user_id
    assert await storage.jobs.find(new_id("job")) is None


async def test_replace_with_a_stale_etag_is_a_conflict(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())
    first = await storage.jobs.replace(job.model_copy(update={"status": JobStatus.running}))

    with pytest.raises(Conflict) as stale:
        await storage.jobs.replace(job.model_copy(update={"status": JobStatus.failed}))

    assert "changed concurrently, retry" in stale.value.message
    assert stale.value.error_code == "job_changed"
    assert (await storage.jobs.get(job.id, job.user_id)).status is JobStatus.running
    assert first.etag != job.etag


async def test_upsert_creates_then_overwrites(storage: StorageContext) -> None:
    job = make_job()

    await storage.jobs.upsert(job)
    await storage.jobs.upsert(job.model_copy(update={"name": "renamed"}))

    assert (await storage.jobs.get(job.id, job.user_id)).name == "renamed"


async def test_patch_changes_only_the_named_fields(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())

    patched = await storage.jobs.patch(
        job.id, job.user_id,
        [{"op": "set", "path": "/status", "value": "running"},
         {"op": "incr", "path": "/run", "value": 1}],
    )  # fmt: skip

    assert (patched.status, patched.run, patched.name) == (JobStatus.running, 1, job.name)
    with pytest.raises(Conflict):
        await storage.jobs.patch(
            job.id, job.user_id, [{"op": "set", "path": "/status", "value": "failed"}],
            filter_predicate="FROM c WHERE c.status = 'pending'",
        )  # fmt: skip
    assert (await storage.jobs.get(job.id, job.user_id)).status is JobStatus.running


async def test_delete_removes_and_a_second_delete_is_not_found(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())

    await storage.jobs.delete(job.id, job.user_id)

    with pytest.raises(NotFound):
        await storage.jobs.get(job.id, job.user_id)
    with pytest.raises(NotFound):
        await storage.jobs.delete(job.id, job.user_id)


async def test_partition_queries_see_only_their_partition(storage: StorageContext) -> None:
    mine, other = new_id("user"), new_id("user")
    for user in (mine, mine, other):
        await storage.jobs.create(make_job(user, name="same"))

    found = await storage.jobs.query(
        "SELECT * FROM c WHERE c.user_id = @pk AND c.name = @name", {"@name": "same"}, pk=mine
    )

    assert [job.user_id for job in found] == [mine, mine]
    with pytest.raises(ValueError, match="c.user_id = @pk"):
        await storage.jobs.query("SELECT * FROM c", pk=mine)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(count=st.integers(min_value=0, max_value=23), limit=st.integers(min_value=1, max_value=9))
async def test_paging_returns_every_item_exactly_once(
    storage: StorageContext, count: int, limit: int
) -> None:
    images = Repo(storage.database, "images", ImageRecord)
    job_id = new_id("job")
    stored = {(await images.create(make_image(job_id, n))).id for n in range(count)}
    await images.create(make_image(new_id("job"), 0))  # another partition: never listed

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = await images.page(
            "SELECT * FROM c WHERE c.job_id = @pk", pk=job_id, limit=limit, continuation=token
        )
        pages += 1
        assert len(page) <= limit
        seen += [image.id for image in page]
        if token is None:
            break

    assert sorted(seen) == sorted(stored)
    assert pages <= count // limit + 1
