"""The housekeeping timers against the real stores: Blob tiers in Azurite, job records in the
Cosmos emulator, checkpoint entities in the devhost. Ages come from a ``now`` passed to the
timers' logic (and from backdated job records); two timers also run through the devhost's
admin route to prove the wiring."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from azure.storage.blob import StandardBlobTier
from conftest import JOB, Caller, Stage, wait_for

from shared.checkpoints.housekeeping import Housekeeping
from shared.checkpoints.snapshots import SnapshotStore, snapshot_name
from shared.models import ChunkCheckpoint, ChunkStatus, Job, JobStatus, plan_chunks, utcnow
from shared.names import CHECKPOINTS_CONTAINER
from shared.storage import StorageContext
from shared.workflow import CheckpointOp, checkpoint_entity, read_checkpoint

pytestmark = pytest.mark.integration

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


async def seed(
    storage: StorageContext, keeping: Housekeeping, owner: Caller, status: JobStatus, ago: timedelta,
    *, moved_ago: timedelta | None = None,
) -> Job:
    """A job record finished (or, running, started) ``ago``, with a live checkpoint entity whose
    chunks are half done and last moved ``moved_ago`` ago."""
    job_id = uuid.uuid4().hex
    moment = utcnow() - ago
    job = Job(id=job_id, user_id=owner.user_id, run=1, status=status, started_at=moment, total_chunks=6, **JOB)
    if status is not JobStatus.running:
        job.completed_at = moment
    await storage.jobs.create(job)
    touched = utcnow() - (moved_ago or ago)
    chunks = [
        ChunkCheckpoint(
            chunk_id=spec.chunk_id, run=1, label=spec.label, query=spec.query, source="wikimedia",
            next_offset=20, next_seq=2, pages_fetched=2, downloaded=20, valid=15,
            status=ChunkStatus.completed if spec.index % 2 else ChunkStatus.in_progress, updated_at=touched,
        ).model_dump(mode="json")
        for spec in plan_chunks(job_id, job)
    ]  # fmt: skip
    entity = checkpoint_entity(job_id)
    await keeping.client.signal_entity(entity, CheckpointOp.begin, {"job_id": job_id, "run": 1, "chunks": chunks})
    for chunk in chunks:
        await keeping.client.signal_entity(entity, CheckpointOp.save, chunk)
    await wait_live(keeping, job_id, lambda state: state is not None and state.updated_at is not None)
    return job


async def wait_live(keeping: Housekeeping, job_id: str, check: Any) -> None:
    for _ in range(300):
        if check(await read_checkpoint(keeping.client, job_id)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"checkpoint entity of {job_id} did not reach the expected state")


async def archived(storage: StorageContext, job_id: str) -> dict[str, Any]:
    return json.loads(gzip.decompress(await storage.blobs.get(CHECKPOINTS_CONTAINER, snapshot_name(job_id))))


async def test_hourly_run_archives_completed_jobs_after_an_hour_and_reads_stay_the_same(
    storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    old = await seed(storage, keeping, owner, JobStatus.completed, 2 * HOUR)
    recent = await seed(storage, keeping, owner, JobStatus.completed, 10 * timedelta(minutes=1))
    reads = {"checkpoint": "summary", "checkpoints/chunks": "chunks", "checkpoints/keywords": "keywords"}
    live = {path: owner.http.get(f"/jobs/{old.id}/{path}").json() for path in reads}
    assert {body["location"] for body in live.values()} == {"live"}

    report = await keeping.archive_completed(utcnow())
    assert old.id in report.archived and recent.id not in report.archived
    assert (await archived(storage, old.id))["state"]["job_id"] == old.id
    await wait_live(keeping, old.id, lambda state: state is None)
    assert await read_checkpoint(keeping.client, recent.id) is not None

    for path, field in reads.items():
        after = owner.http.get(f"/jobs/{old.id}/{path}").json()
        assert after["location"] == "archive"
        assert after[field] == live[path][field]
    assert (await keeping.archive_completed(utcnow())).archived.keys().isdisjoint({old.id})


async def test_daily_run_archives_failed_and_cancelled_jobs_after_a_week(
    storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    failed_old = await seed(storage, keeping, owner, JobStatus.failed, 8 * DAY)
    cancelled_old = await seed(storage, keeping, owner, JobStatus.cancelled, 8 * DAY)
    failed_recent = await seed(storage, keeping, owner, JobStatus.failed, 2 * DAY)
    completed_old = await seed(storage, keeping, owner, JobStatus.completed, 3 * DAY)
    report = await keeping.archive_failed(utcnow())
    assert {failed_old.id, cancelled_old.id} <= set(report.archived)
    assert set(report.archived).isdisjoint({failed_recent.id, completed_old.id})
    for job in (failed_old, cancelled_old):
        await wait_live(keeping, job.id, lambda state: state is None)
        assert (await archived(storage, job.id))["job_status"] == job.status.value


async def test_snapshots_age_through_the_tiers_read_back_after_rehydration_and_are_deleted(
    stage: Stage, storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    job = await seed(storage, keeping, owner, JobStatus.completed, 2 * HOUR)
    await keeping.archive_completed(utcnow())
    await wait_live(keeping, job.id, lambda state: state is None)
    name = snapshot_name(job.id)
    now = utcnow()

    assert job.id not in (await keeping.tier_snapshots(now + 29 * DAY)).moved
    assert (await keeping.tier_snapshots(now + 31 * DAY)).moved[job.id] == "Cool"
    assert (await SnapshotStore(storage.blobs).info(job.id)).tier == StandardBlobTier.COOL.value
    assert job.id not in (await keeping.tier_snapshots(now + 31 * DAY)).moved

    colder = Housekeeping(keeping.jobs, keeping.blobs, keeping.client, stage.settings.model_copy(
        update={"checkpoint_cold_after_days": 40, "checkpoint_archive_tier_after_days": 60}))
    assert (await colder.tier_snapshots(now + 45 * DAY)).moved[job.id] == "Cold"
    assert (await colder.tier_snapshots(now + 61 * DAY)).moved[job.id] == "Archive"
    refused = owner.http.get(f"/jobs/{job.id}/checkpoint")
    assert refused.status_code == 409
    assert refused.json()["details"][0]["error_code"] == "checkpoint_archived"
    assert "rehydrate=true" in refused.json()["message"]
    back = owner.http.get(f"/jobs/{job.id}/checkpoint", params={"rehydrate": "true"})  # instant on Azurite
    assert back.status_code == 200, back.text
    assert (back.json()["location"], back.json()["tier"]) == ("archive", "Cool")

    assert job.id not in (await keeping.delete_expired(now + 89 * DAY)).deleted
    assert job.id in (await keeping.delete_expired(now + 91 * DAY)).deleted
    assert not await storage.blobs.exists(CHECKPOINTS_CONTAINER, name)
    assert owner.http.get(f"/jobs/{job.id}/checkpoint").status_code == 404
    assert job.id not in (await keeping.delete_expired(now + 91 * DAY)).deleted


async def test_stale_running_jobs_are_marked_failed_and_resume(
    stage: Stage, storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    stale = await seed(storage, keeping, owner, JobStatus.running, 2 * HOUR, moved_ago=HOUR)
    moving = await seed(storage, keeping, owner, JobStatus.running, 2 * HOUR, moved_ago=5 * timedelta(minutes=1))
    stage.source("/_demo/search-failures", {"owl": 0})
    alive = owner.create(keywords=["owl"], variations=["{kw}"], max_images_per_keyword=10)
    owner.http.post(f"/jobs/{alive}/start")
    try:
        report = await keeping.mark_stale(utcnow() + 2 * HOUR)  # alive's checkpoint is old by then
    finally:
        owner.http.post(f"/jobs/{alive}/cancel")
        stage.source("/_demo/search-failures", {})
    assert stale.id in report.failed and moving.id in report.failed  # both old at now + 2 h
    assert alive not in report.failed  # its orchestration is still running
    assert (await keeping.mark_stale(utcnow())).failed.keys().isdisjoint({stale.id, moving.id})

    record = owner.job(stale.id)
    assert record["status"] == "failed" and record["error"].startswith("stale:")
    resumed = owner.http.post(f"/jobs/{stale.id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["chunks_skipped"] == 3 and resumed.json()["images_so_far"] == 6 * 15
    assert owner.wait_finished(stale.id)["status"] == "completed"


async def test_a_running_job_with_a_recent_checkpoint_is_not_stale(
    storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    moving = await seed(storage, keeping, owner, JobStatus.running, 2 * HOUR, moved_ago=5 * timedelta(minutes=1))
    assert moving.id not in (await keeping.mark_stale(utcnow())).failed
    assert owner.job(moving.id)["status"] == "running"


async def test_the_timers_run_through_the_devhost(
    stage: Stage, storage: StorageContext, keeping: Housekeeping, owner: Caller
) -> None:
    stale = await seed(storage, keeping, owner, JobStatus.running, 2 * HOUR)
    done = await seed(storage, keeping, owner, JobStatus.completed, 2 * HOUR)
    stage.run_timer("stale_job_detection")
    stage.run_timer("checkpoint_archive_completed")
    wait_for(lambda: owner.job(stale.id)["status"] == "failed", what="the stale job to be marked failed")
    wait_for(lambda: owner.http.get(f"/jobs/{done.id}/checkpoint").json().get("location") == "archive",
             what="the completed job's checkpoint to be archived")
    for name in ("checkpoint_archive_failed", "checkpoint_tiering", "checkpoint_cleanup"):
        stage.run_timer(name)
