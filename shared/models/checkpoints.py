"""Checkpoint snapshots and the checkpoint routes' bodies: what an archived checkpoint blob
holds, where a job's checkpoint stands (live or archived), its chunks and keywords, the admin
statistics and the housekeeping timers' reports. The entity's own state (``CheckpointState``,
``ChunkCheckpoint``) is in :mod:`shared.models.progress`.

Example::

    from shared.models.checkpoints import CheckpointQuery
    CheckpointQuery.model_validate({"rehydrate": True}).rehydrate   # True
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.models.base import ChunkStatus, JobStatus, Model
from shared.models.progress import CheckpointState, CheckpointSummary, ChunkCheckpoint

__all__ = [
    "ArchiveReport", "CheckpointQuery", "CheckpointStats", "CheckpointView", "ChunkList", "DeleteReport",
    "KeywordList", "KeywordProgress", "Percentiles", "Snapshot", "SnapshotInfo", "StaleReport", "TierReport",
    "TierUsage",
]


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
