"""The running-jobs cap holds under concurrency: of any number of launches at once, exactly as
many as there are free slots get one (the claims document is replaced with its etag); a claim
holds while its run is running and lapses when the run ends, the job is deleted, or a launch
never made its job running within the grace period."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest

from shared.errors import RateLimited
from shared.models import Job, JobStatus, utcnow
from shared.crawl.slots import CLAIM_GRACE, claim_running_slot
from shared.storage import StorageContext

pytestmark = pytest.mark.integration


async def jobs_of(storage: StorageContext, user: str, count: int) -> list[Job]:
    made = [Job(id=uuid.uuid4().hex, user_id=user, name="j", keywords=["cat"], sources=["wikimedia"])
            for _ in range(count)]  # fmt: skip
    return [await storage.jobs.create(job) for job in made]


async def claim(storage: StorageContext, job: Job, run: int = 1, cap: int = 3, **kw: object) -> bool:
    try:
        await claim_running_slot(storage.jobs.slots, storage.jobs, job.user_id, job.id, run, cap=cap, **kw)  # type: ignore[arg-type]
    except RateLimited as exc:
        assert exc.error_code == "too_many_active_jobs"
        return False
    return True


@pytest.mark.parametrize("launches, cap", [(12, 3), (8, 1), (5, 5)])
async def test_concurrent_launches_get_exactly_the_free_slots(storage: StorageContext, launches: int,
                                                              cap: int) -> None:  # fmt: skip
    jobs = await jobs_of(storage, f"u-{uuid.uuid4().hex[:8]}", launches)
    granted = await asyncio.gather(*(claim(storage, job, cap=cap) for job in jobs))
    assert sum(granted) == min(cap, launches)


async def test_a_claim_holds_while_its_run_runs_and_lapses_when_it_ends(storage: StorageContext) -> None:
    first, second, third = await jobs_of(storage, f"u-{uuid.uuid4().hex[:8]}", 3)
    assert await claim(storage, first, cap=1)
    await storage.jobs.update(first, lambda j: j.model_copy(update={"status": JobStatus.running, "run": 1}))

    def later() -> datetime:
        return utcnow() + timedelta(seconds=CLAIM_GRACE + 1)

    assert not await claim(storage, second, cap=1, clock=later), "a running run keeps its slot"
    await storage.jobs.update(first, lambda j: j.model_copy(update={"status": JobStatus.cancelled}))
    assert await claim(storage, second, cap=1), "a cancelled run frees it at once"
    assert not await claim(storage, third, cap=1), "a launch in progress holds its slot"
    assert await claim(storage, third, cap=1, clock=later), "a launch that never ran lapses"
    await storage.jobs.delete(third.id, third.user_id)
    assert await claim(storage, first, run=2, cap=1), "a deleted job holds nothing"


async def test_a_job_holds_one_slot_whatever_its_runs(storage: StorageContext) -> None:
    (job,) = await jobs_of(storage, f"u-{uuid.uuid4().hex[:8]}", 1)
    for run in (1, 2, 3):
        assert await claim(storage, job, run=run, cap=1)
