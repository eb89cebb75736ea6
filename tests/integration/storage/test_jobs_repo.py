"""Job state changes under concurrency: etags make a stale writer fail, the retrying updater
keeps every writer's change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from shared.errors import Conflict, NotFound
from shared.models import Job, JobStatus
from shared.storage import StorageContext
from shared.storage.cosmos import owned_page

from .factories import make_job

pytestmark = pytest.mark.integration


async def test_two_writers_one_conflicts_and_the_updater_keeps_both_changes(
    storage: StorageContext,
) -> None:
    job = await storage.jobs.create(make_job())
    writer_a = await storage.jobs.get(job.id, job.user_id)
    writer_b = await storage.jobs.get(job.id, job.user_id)

    await storage.jobs.replace(writer_a.model_copy(update={"status": JobStatus.running}))
    with pytest.raises(Conflict):
        await storage.jobs.replace(writer_b.model_copy(update={"task_ids": ["t-b"]}))

    def add_task(current: Job) -> None:
        current.task_ids.append("t-b")

    updated = await storage.jobs.update_status(writer_b, add_task)  # stale copy: retried

    stored = await storage.jobs.get(job.id, job.user_id)
    assert (stored.status, stored.task_ids) == (JobStatus.running, ["t-b"])
    assert updated == stored
    assert stored.updated_at > job.updated_at


async def test_concurrent_updaters_all_land(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())

    def bump(tag: str) -> Callable[[Job], Job]:
        def mutate(current: Job) -> Job:
            return current.model_copy(
                update={"task_ids": [*current.task_ids, tag], "run": current.run + 1}
            )

        return mutate

    await asyncio.gather(*(storage.jobs.update(job, bump(f"t{i}")) for i in range(4)))

    stored = await storage.jobs.get(job.id, job.user_id)
    assert sorted(stored.task_ids) == ["t0", "t1", "t2", "t3"]
    assert stored.run == 4


async def test_updating_a_deleted_job_is_not_found(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())
    await storage.jobs.delete(job.id, job.user_id)

    with pytest.raises(NotFound):
        await storage.jobs.update(job, lambda current: None)


async def test_owned_page_lists_a_users_jobs_newest_first(storage: StorageContext) -> None:
    user = make_job().user_id
    created = [(await storage.jobs.create(make_job(user, name=f"job {i}"))).id for i in range(5)]

    first, token = await owned_page(storage.jobs, user, None, limit=3, continuation=None)
    second, end = await owned_page(storage.jobs, user, None, limit=3, continuation=token)

    assert [j.id for j in first + second] == created[::-1]
    assert token is not None and end is None
