"""Checkpoint housekeeping, what the timers run: snapshot finished jobs' checkpoints to Blob
and remove the entities, move snapshots to colder tiers as they age, delete them past their
retention, and mark stale running jobs failed (resumable).

Every method takes ``now`` (tests age things by passing a later one), logs what it moved and
returns a report; running it twice does nothing more the second time.

Example::

    keeping = Housekeeping(runtime.jobs, runtime.blobs, client, runtime.settings)
    report = await keeping.archive_completed(utcnow())
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df
from azure.storage.blob import StandardBlobTier

from shared.checkpoints.snapshots import TIER_ORDER, SnapshotStore
from shared.models import CheckpointState, Job, JobStatus, json_datetime
from shared.models.checkpoints import ArchiveReport, DeleteReport, Snapshot, StaleReport, TierReport
from shared.settings import Settings
from shared.storage import BlobStore, JobsRepo
from shared.workflow import archive_checkpoint, is_alive, job_instance_id, read_checkpoint, runtime_name

log = logging.getLogger("pixcrawler.checkpoints")

_iso = json_datetime


def _target_tier(settings: Settings, age: timedelta) -> StandardBlobTier | None:
    """The coldest tier a snapshot of this age belongs in (None: it stays where it is)."""
    steps = (
        (settings.checkpoint_archive_tier_after_days, StandardBlobTier.ARCHIVE),
        (settings.checkpoint_cold_after_days, StandardBlobTier.COLD),
        (settings.checkpoint_cool_after_days, StandardBlobTier.COOL),
    )
    for days, tier in steps:
        if days > 0 and age >= timedelta(days=days):
            return tier
    return None


@dataclass
class Housekeeping:
    """What the checkpoint timers do, over the real stores."""

    jobs: JobsRepo
    blobs: BlobStore
    client: df.DurableOrchestrationClient
    settings: Settings

    async def _jobs(self, sql: str, params: dict[str, Any]) -> AsyncIterator[Job]:
        """Jobs of a cross-partition query, page by page, at most ``checkpoint_timer_max_jobs``."""
        token: str | None = None
        seen = 0
        while seen < self.settings.checkpoint_timer_max_jobs:
            page, token = await self.jobs.page(
                sql, params, limit=self.settings.checkpoint_timer_page_size, continuation=token
            )
            for job in page[: self.settings.checkpoint_timer_max_jobs - seen]:
                seen += 1
                yield job
            if token is None or not page:
                return

    async def archive_completed(self, now: datetime) -> ArchiveReport:
        """The hourly run: checkpoints of jobs completed ``checkpoint_archive_after_hours`` ago."""
        age = timedelta(hours=self.settings.checkpoint_archive_after_hours)
        return await self._archive((JobStatus.completed,), now - age, now)

    async def archive_failed(self, now: datetime) -> ArchiveReport:
        """The daily run: checkpoints of jobs failed or cancelled
        ``checkpoint_failed_archive_after_days`` ago (resumable until then from the entity)."""
        age = timedelta(days=self.settings.checkpoint_failed_archive_after_days)
        return await self._archive((JobStatus.failed, JobStatus.cancelled), now - age, now)

    async def _archive(self, statuses: tuple[JobStatus, ...], before: datetime, now: datetime) -> ArchiveReport:
        """Snapshot to Blob, then remove, the live checkpoints of jobs that finished with one of
        ``statuses`` before ``before``; jobs finished before the look-back window were handled
        by earlier runs."""
        which = "/".join(s.value for s in statuses)
        after = before - timedelta(days=self.settings.checkpoint_lookback_days)
        names = ", ".join(f"@s{i}" for i in range(len(statuses)))
        sql = f"SELECT * FROM c WHERE c.status IN ({names}) AND c.completed_at < @before AND c.completed_at >= @after"
        params: dict[str, Any] = {f"@s{i}": s.value for i, s in enumerate(statuses)}
        params.update({"@before": _iso(before), "@after": _iso(after)})
        report = ArchiveReport()
        store = SnapshotStore(self.blobs)
        async for job in self._jobs(sql, params):
            report.examined += 1
            state = await read_checkpoint(self.client, job.id)
            if state is None:
                continue
            snapshot = Snapshot(job_id=job.id, user_id=job.user_id, job_status=job.status, archived_at=now, state=state)
            report.archived[job.id] = await store.write(snapshot)
            await archive_checkpoint(self.client, job.id, state.run)
            log.info("archived the checkpoint of %s job %s (%d bytes)", job.status.value, job.id, report.archived[job.id])
        log.info("checkpoint archive (%s): %d jobs examined, %d archived", which, report.examined, len(report.archived))
        return report

    async def tier_snapshots(self, now: datetime) -> TierReport:
        """Move snapshots to the coldest tier their age calls for (never back to a warmer one)."""
        report = TierReport()
        store = SnapshotStore(self.blobs)
        async for info in store.list():
            report.examined += 1
            target = _target_tier(self.settings, now - info.archived_at)
            if target is None or TIER_ORDER.index(target) <= TIER_ORDER.index(StandardBlobTier(info.tier)):
                continue
            await store.set_tier(info, target)
            report.moved[info.job_id] = target.value
            log.info("moved checkpoint snapshot %s from %s to %s", info.name, info.tier, target.value)
        log.info("checkpoint tiering: %d snapshots examined, %d moved", report.examined, len(report.moved))
        return report

    async def delete_expired(self, now: datetime) -> DeleteReport:
        """Delete snapshots older than ``checkpoint_delete_after_days``."""
        report = DeleteReport()
        store = SnapshotStore(self.blobs)
        limit = timedelta(days=self.settings.checkpoint_delete_after_days)
        expired = [info async for info in store.list() if now - info.archived_at >= limit]
        report.examined = len(expired)
        for info in expired:
            if await store.delete(info.job_id):
                report.deleted.append(info.job_id)
                log.info("deleted checkpoint snapshot %s (archived %s)", info.name, _iso(info.archived_at))
        log.info("checkpoint cleanup: %d snapshots deleted", len(report.deleted))
        return report

    async def mark_stale(self, now: datetime) -> StaleReport:
        """Mark failed (resumable) the running jobs whose checkpoint has not moved for
        ``stale_after_minutes`` and whose run's orchestration is no longer running."""
        cutoff = now - timedelta(minutes=self.settings.stale_after_minutes)
        sql = "SELECT * FROM c WHERE c.status = @status AND c.started_at < @cutoff"
        report = StaleReport()
        async for job in self._jobs(sql, {"@status": JobStatus.running.value, "@cutoff": _iso(cutoff)}):
            report.examined += 1
            reason = await self._stale_reason(job, cutoff)
            if reason is None:
                continue
            await self.jobs.update(job, lambda current: _fail_stale(current, job.run, reason, now))
            report.failed[job.id] = reason
            log.warning("job %s is stale and was marked failed: %s", job.id, reason)
        log.info("stale jobs: %d running jobs examined, %d marked failed", report.examined, len(report.failed))
        return report

    async def _stale_reason(self, job: Job, cutoff: datetime) -> str | None:
        state = await read_checkpoint(self.client, job.id) or CheckpointState()
        moments = [m for m in (job.started_at, state.updated_at if state.run == job.run else None) if m]
        last = max(moments) if moments else job.updated_at
        if last >= cutoff:
            return None
        instance = job_instance_id(job.id, job.run)
        status = await self.client.get_status(instance)
        if is_alive(status):
            return None
        runtime = runtime_name(status)
        return (
            f"stale: the checkpoint has not moved since {_iso(last)} and orchestration {instance} "
            f"is {runtime or 'gone'}; resume the job to continue where it stopped"
        )


def _fail_stale(job: Job, run: int, reason: str, now: datetime) -> None:
    """Mark a still-running job of the same run failed (a job that moved on is left alone)."""
    if job.status is not JobStatus.running or job.run != run:
        return
    job.status = JobStatus.failed
    job.error = reason
    job.completed_at = now
