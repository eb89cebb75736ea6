"""Checkpoints: reading a job's checkpoint (live from the ``checkpoint`` entity, or archived in
Blob), and the housekeeping the timers run.

A live checkpoint is the durable entity's state. Once a job is finished its checkpoint is
snapshotted to Blob as ``checkpoints/{job_id}.json.gz`` (gzip'd JSON of :class:`Snapshot`,
with ``archived_at`` in the blob's metadata) and the entity is removed; snapshots then age
through Cool (and Cold / Archive when configured) and are deleted. Reads fall back to the
snapshot transparently; a snapshot in the Archive tier answers 409 until it is rehydrated.

Every housekeeping method takes ``now`` (tests age things by passing a later one), logs what
it moved and returns a report; running it twice does nothing more the second time.

Example::

    keeping = Housekeeping(runtime.jobs, runtime.blobs, client, runtime.settings)
    report = await keeping.archive_completed(utcnow())
    loaded = await load_checkpoint(runtime.blobs, client, runtime.settings, job)   # live or archived
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import azure.durable_functions as df
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobType, ContentSettings, StandardBlobTier
from pydantic import Field, TypeAdapter

from shared.errors import BadRequest, Conflict, NotFound
from shared.models import (
    CheckpointState,
    CheckpointSummary,
    ChunkCheckpoint,
    ChunkStatus,
    Job,
    JobStatus,
    Model,
    json_datetime,
    plan_chunks,
)
from shared.names import CHECKPOINTS_CONTAINER
from shared.settings import Settings
from shared.storage import BlobStore, JobsRepo
from shared.storage.errors import azure_errors
from shared.workflow import (
    archive_checkpoint, delete_checkpoint as delete_live_checkpoint, is_alive, job_instance_id, read_checkpoint,
    runtime_name,
)

log = logging.getLogger("pixcrawler.checkpoints")

SNAPSHOT_CONTENT_TYPE = "application/gzip"
#: Blob tiers from warm to cold: snapshots only ever move right.
TIER_ORDER = (StandardBlobTier.HOT, StandardBlobTier.COOL, StandardBlobTier.COLD, StandardBlobTier.ARCHIVE)

_DATETIME = TypeAdapter(datetime)


def snapshot_name(job_id: str) -> str:
    """Blob name of a job's snapshot inside the ``checkpoints`` container."""
    return f"{job_id}.json.gz"


_iso = json_datetime


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class Snapshot(Model):
    """What an archived checkpoint blob holds."""

    job_id: str
    user_id: str
    job_status: JobStatus
    archived_at: datetime
    state: CheckpointState


class SnapshotInfo(Model):
    """A snapshot blob as a listing sees it."""

    job_id: str
    name: str
    size: int
    tier: str
    archived_at: datetime
    rehydrating: bool = False


class CheckpointView(Model):
    """``GET /api/v1/jobs/{id}/checkpoint``: where the job stands, live or archived."""

    job_id: str
    run: int
    job_status: JobStatus
    location: Literal["live", "archive"]
    tier: str | None = Field(default=None, description="Blob tier of an archived checkpoint")
    archived_at: datetime | None = None
    summary: CheckpointSummary


class ChunkList(Model):
    """``GET /api/v1/jobs/{id}/checkpoints/chunks``: every chunk's saved position."""

    job_id: str
    run: int
    location: Literal["live", "archive"]
    chunks: list[ChunkCheckpoint]


class KeywordProgress(Model):
    """Progress of one keyword (label) over its chunks (variations x sources)."""

    label: str
    quota: int
    valid: int
    downloaded: int
    progress: float = Field(description="percent of the quota stored")
    chunks: int
    chunks_by_status: dict[ChunkStatus, int]


class KeywordList(Model):
    """``GET /api/v1/jobs/{id}/checkpoints/keywords``."""

    job_id: str
    run: int
    location: Literal["live", "archive"]
    keywords: list[KeywordProgress]


class CheckpointQuery(Model):
    """Query of the checkpoint read routes."""

    rehydrate: bool = Field(
        default=False, description="bring an archived snapshot out of the Archive tier"
    )


class Percentiles(Model):
    samples: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class TierUsage(Model):
    count: int = 0
    bytes: int = 0


class CheckpointStats(Model):
    """``GET /api/v1/checkpoints/stats`` (admin)."""

    jobs_by_status: dict[JobStatus, int]
    live_checkpoints_sampled: int = Field(description="live checkpoints read (newest jobs)")
    chunks_by_status: dict[ChunkStatus, int] = Field(description="over the sampled checkpoints")
    archived: TierUsage
    archived_by_tier: dict[str, TierUsage]
    write_latency_ms: Percentiles = Field(
        description="checkpoint write latency over the sampled checkpoints' rolling samples"
    )


class ArchiveReport(Model):
    examined: int = 0
    archived: dict[str, int] = Field(default_factory=dict, description="job id -> snapshot bytes")


class TierReport(Model):
    examined: int = 0
    moved: dict[str, str] = Field(default_factory=dict, description="job id -> new tier")


class DeleteReport(Model):
    examined: int = 0
    deleted: list[str] = Field(default_factory=list)


class StaleReport(Model):
    examined: int = 0
    failed: dict[str, str] = Field(default_factory=dict, description="job id -> reason")


# --------------------------------------------------------------------------------------------
# Snapshots in Blob
# --------------------------------------------------------------------------------------------


def _tier_name(value: object) -> str:
    return str(value) if value else StandardBlobTier.HOT.value


class SnapshotStore:
    """Checkpoint snapshots in the ``checkpoints`` container, with ``archived_at`` metadata."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.container = blobs.client.get_container_client(CHECKPOINTS_CONTAINER)

    async def write(self, snapshot: Snapshot) -> int:
        """Write (or rewrite) a job's snapshot; returns its compressed size."""
        data = gzip.compress(snapshot.model_dump_json().encode(), mtime=0)
        metadata = {"archived_at": _iso(snapshot.archived_at), "job_id": snapshot.job_id}
        name = snapshot_name(snapshot.job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            await self.container.get_blob_client(name).upload_blob(
                data, blob_type=BlobType.BLOCKBLOB, overwrite=True, metadata=metadata,
                content_settings=ContentSettings(content_type=SNAPSHOT_CONTENT_TYPE),
            )  # fmt: skip
        return len(data)

    async def info(self, job_id: str) -> SnapshotInfo | None:
        """The snapshot's tier, size and age, or None when the job has none."""
        name = snapshot_name(job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            try:
                props = await self.container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        return self._info(name, props.size, props.blob_tier, props.metadata, props.last_modified, props.archive_status)

    async def read(self, job_id: str) -> Snapshot:
        """The snapshot's content (NotFound; Conflict ``blob_archived`` in the Archive tier)."""
        data = await self.blobs.get(CHECKPOINTS_CONTAINER, snapshot_name(job_id))
        return Snapshot.model_validate_json(gzip.decompress(data))

    async def rehydrate(self, job_id: str, tier: str, priority: str) -> None:
        """Ask for an archived snapshot to move back to ``tier`` (instant on Azurite)."""
        name = snapshot_name(job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            await self.container.get_blob_client(name).set_standard_blob_tier(
                StandardBlobTier(tier), rehydrate_priority=priority
            )

    async def list(self) -> AsyncIterator[SnapshotInfo]:
        """Every snapshot, with its metadata, in name order."""
        with azure_errors(f"container {CHECKPOINTS_CONTAINER}", "container"):
            async for blob in self.container.list_blobs(include=["metadata"]):
                yield self._info(
                    blob.name, blob.size, blob.blob_tier, blob.metadata, blob.last_modified, blob.archive_status
                )

    async def set_tier(self, info: SnapshotInfo, tier: StandardBlobTier) -> None:
        await self.blobs.set_tier(CHECKPOINTS_CONTAINER, info.name, tier)

    async def delete(self, job_id: str) -> bool:
        return await self.blobs.delete(CHECKPOINTS_CONTAINER, snapshot_name(job_id))

    @staticmethod
    def _info(
        name: str, size: int, tier: object, metadata: dict[str, str] | None, modified: datetime, status: object
    ) -> SnapshotInfo:
        stamp = (metadata or {}).get("archived_at")
        return SnapshotInfo(
            job_id=name.removesuffix(".json.gz"),
            name=name,
            size=size,
            tier=_tier_name(tier),
            archived_at=_DATETIME.validate_python(stamp) if stamp else modified,
            rehydrating=bool(status),
        )


# --------------------------------------------------------------------------------------------
# Reading a job's checkpoint
# --------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """A job's checkpoint state and where it came from."""

    state: CheckpointState
    location: Literal["live", "archive"]
    tier: str | None = None
    archived_at: datetime | None = None


async def load_checkpoint(
    blobs: BlobStore, client: df.DurableOrchestrationClient, settings: Settings, job: Job, *, rehydrate: bool = False
) -> Loaded:
    """The job's checkpoint: the live entity, else its snapshot in Blob.

    NotFound when there is neither; Conflict (409) while the snapshot is in the Archive tier,
    after asking for its rehydration when ``rehydrate`` is set.
    """
    live = await read_checkpoint(client, job.id)
    if live is not None:
        return Loaded(live, "live")
    store = SnapshotStore(blobs)
    info = await store.info(job.id)
    if info is None:
        raise NotFound(
            f"Job {job.id} has no checkpoint: it has not started, or its checkpoint was deleted.",
            error_code="checkpoint_not_found",
        )
    if info.tier == StandardBlobTier.ARCHIVE.value:
        if rehydrate and not info.rehydrating:
            await store.rehydrate(job.id, settings.checkpoint_rehydrate_tier, settings.checkpoint_rehydrate_priority)
            info = await store.info(job.id) or info
        if info.tier == StandardBlobTier.ARCHIVE.value:
            raise _archived(job.id, info, settings)
    snapshot = await store.read(job.id)
    return Loaded(snapshot.state, "archive", info.tier, info.archived_at)


def _archived(job_id: str, info: SnapshotInfo, settings: Settings) -> Conflict:
    if info.rehydrating:
        return Conflict(
            f"The checkpoint of job {job_id} is being rehydrated from the Archive tier to "
            f"{settings.checkpoint_rehydrate_tier}; try again later (up to 15 hours on Azure).",
            error_code="checkpoint_rehydrating",
        )
    return Conflict(
        f"The checkpoint of job {job_id} is in the Archive tier. Call again with "
        "?rehydrate=true to bring it back; it can be read once the rehydration is done.",
        error_code="checkpoint_archived",
    )


def view(job: Job, loaded: Loaded) -> CheckpointView:
    return CheckpointView(
        job_id=job.id,
        run=loaded.state.run,
        job_status=job.status,
        location=loaded.location,
        tier=loaded.tier,
        archived_at=loaded.archived_at,
        summary=loaded.state.summary(),
    )


def chunk_list(job: Job, loaded: Loaded) -> ChunkList:
    chunks = sorted(loaded.state.chunks.values(), key=lambda c: (c.label, c.query, c.source))
    return ChunkList(job_id=job.id, run=loaded.state.run, location=loaded.location, chunks=chunks)


def keyword_list(job: Job, loaded: Loaded) -> KeywordList:
    """Per keyword: the quota of its planned chunks and what its chunks have stored."""
    groups: dict[str, list[tuple[int, ChunkCheckpoint | None]]] = {}
    for spec in plan_chunks(job.id, job):
        groups.setdefault(spec.label, []).append((spec.quota, loaded.state.chunks.get(spec.chunk_id)))
    keywords = []
    for label, members in groups.items():
        points = [p for _, p in members if p is not None]
        by_status: dict[ChunkStatus, int] = {}
        for _, point in members:
            status = point.status if point is not None else ChunkStatus.pending
            by_status[status] = by_status.get(status, 0) + 1
        quota = sum(q for q, _ in members)
        valid = sum(p.valid for p in points)
        keywords.append(
            KeywordProgress(
                label=label,
                quota=quota,
                valid=valid,
                downloaded=sum(p.downloaded for p in points),
                progress=round(100.0 * min(valid, quota) / quota, 2) if quota else 100.0,
                chunks=len(members),
                chunks_by_status=by_status,
            )
        )
    return KeywordList(job_id=job.id, run=loaded.state.run, location=loaded.location, keywords=keywords)


async def delete_checkpoint(blobs: BlobStore, client: df.DurableOrchestrationClient, job: Job) -> None:
    """Remove a job's checkpoint, live and archived (admin). A running job keeps its own."""
    if job.status is JobStatus.running:
        raise BadRequest(
            f"Job {job.id} is running: cancel it before deleting its checkpoint.",
            error_code="invalid_job_status",
        )
    await delete_live_checkpoint(client, job.id)
    await SnapshotStore(blobs).delete(job.id)
    log.info("deleted the checkpoint of job %s", job.id)


# --------------------------------------------------------------------------------------------
# Housekeeping (the timers) and statistics
# --------------------------------------------------------------------------------------------

def percentiles(values: Iterable[float]) -> Percentiles:
    """Nearest-rank p50/p95/p99 of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles(samples=0)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]

    return Percentiles(samples=len(ordered), p50=rank(50), p95=rank(95), p99=rank(99))


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
    """What the checkpoint timers and the stats route do, over the real stores."""

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

    async def stats(self) -> CheckpointStats:
        """Counts by job and chunk status, archived snapshots by tier, write latencies."""
        count_sql = "SELECT VALUE COUNT(1) FROM c WHERE c.status = @status"
        counts = await asyncio.gather(
            *(self.jobs.query_values(count_sql, {"@status": s.value}) for s in JobStatus)
        )
        by_tier: dict[str, TierUsage] = {}
        async for info in SnapshotStore(self.blobs).list():
            usage = by_tier.setdefault(info.tier, TierUsage())
            usage.count += 1
            usage.bytes += info.size
        recent, _ = await self.jobs.page(
            "SELECT * FROM c ORDER BY c.updated_at DESC", limit=self.settings.checkpoint_stats_sample_jobs
        )
        states = [
            s for s in await asyncio.gather(*(read_checkpoint(self.client, j.id) for j in recent)) if s is not None
        ]
        chunks: dict[ChunkStatus, int] = {}
        for state in states:
            for status, n in state.summary().chunks_by_status.items():
                chunks[status] = chunks.get(status, 0) + n
        return CheckpointStats(
            jobs_by_status={s: int(c[0]) for s, c in zip(JobStatus, counts)},
            live_checkpoints_sampled=len(states),
            chunks_by_status=chunks,
            archived=TierUsage(
                count=sum(u.count for u in by_tier.values()), bytes=sum(u.bytes for u in by_tier.values())
            ),
            archived_by_tier=by_tier,
            write_latency_ms=percentiles(v for s in states for v in s.write_latency_ms),
        )


def _fail_stale(job: Job, run: int, reason: str, now: datetime) -> None:
    """Mark a still-running job of the same run failed (a job that moved on is left alone)."""
    if job.status is not JobStatus.running or job.run != run:
        return
    job.status = JobStatus.failed
    job.error = reason
    job.completed_at = now
