"""Reading a job's checkpoint: live from the ``checkpoint`` entity, else its snapshot in Blob
(transparently; a snapshot in the Archive tier answers 409 until it is rehydrated), and the
views the checkpoint routes return.

Example::

    loaded = await load_checkpoint(runtime.blobs, client, runtime.settings, job)   # live or archived
    body = view(job, loaded)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import azure.durable_functions as df
from azure.storage.blob import StandardBlobTier

from shared.checkpoints.snapshots import SnapshotStore
from shared.errors import BadRequest, Conflict, NotFound
from shared.models import CheckpointState, ChunkCheckpoint, ChunkStatus, Job, JobStatus, plan_chunks
from shared.models.checkpoints import CheckpointView, ChunkList, KeywordList, KeywordProgress, SnapshotInfo
from shared.settings import Settings
from shared.storage import BlobStore
from shared.workflow import delete_checkpoint as delete_live_checkpoint, read_checkpoint

log = logging.getLogger("pixcrawler.checkpoints")


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
