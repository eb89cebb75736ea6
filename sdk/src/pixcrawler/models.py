"""Typed views of the service's answers. Unknown fields are kept (``model_extra``) so a newer
service never breaks an older SDK.

Example::

    info = pixcrawler.get_dataset_info("ds_123")
    info.status, info.counts.per_label, info.size_bytes
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKey",
    "ChunkLog",
    "DatasetCounts",
    "DatasetInfo",
    "DownloadInfo",
    "Job",
    "JobCancelled",
    "JobProgress",
    "JobResumed",
    "JobStarted",
    "Page",
    "DATASET_FINISHED",
    "JOB_FINISHED",
]

#: Job statuses after which nothing changes any more.
JOB_FINISHED = frozenset({"completed", "failed", "cancelled"})
#: Dataset statuses after which nothing changes any more.
DATASET_FINISHED = frozenset({"ready", "failed"})


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class DatasetCounts(_Response):
    total: int = 0
    per_label: dict[str, int] = Field(default_factory=dict)
    per_split: dict[str, int] = Field(default_factory=dict)


class DatasetInfo(_Response):
    """A dataset as the service describes it (``GET /datasets/{id}``)."""

    id: str
    name: str
    job_id: str
    status: str
    splits: dict[str, float] = Field(default_factory=dict)
    include_duplicates: bool = False
    min_level: str = "fast"
    counts: DatasetCounts = Field(default_factory=DatasetCounts)
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.status == "ready"


class DownloadInfo(_Response):
    """Where to fetch a dataset's archive: a time-limited URL, and what to expect from it."""

    url: str
    expires_at: datetime
    size_bytes: int
    sha256: str


class Job(_Response):
    """A crawl job (``GET /jobs/{id}``)."""

    id: str
    name: str
    status: str
    keywords: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    max_images_per_keyword: int | None = None
    validation_level: str | None = None
    total_chunks: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


class JobProgress(_Response):
    """Counters of a running job (``GET /jobs/{id}/progress``)."""

    job_id: str
    status: str
    phase: str = "crawling"
    progress: float = 0.0
    total_chunks: int = 0
    active_chunks: int = 0
    completed_chunks: int = 0
    failed_chunks: int = 0
    downloaded_images: int = 0
    valid_images: int = 0
    duplicate_images: int = 0
    failed_downloads: int = 0
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    started_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in JOB_FINISHED

    @property
    def finished_chunks(self) -> int:
        return self.completed_chunks + self.failed_chunks


class JobStarted(_Response):
    job_id: str
    status: str
    task_ids: list[str] = Field(default_factory=list)
    total_chunks: int = 0
    message: str = ""


class JobCancelled(_Response):
    job_id: str
    status: str
    revoked_tasks: int = 0
    message: str = ""


class JobResumed(_Response):
    job_id: str
    status: str
    chunks_to_resume: int = 0
    chunks_skipped: int = 0
    images_so_far: int = 0
    message: str = ""


class ChunkLog(_Response):
    """One chunk of a job (one expanded keyword from one source) and how far it got."""

    chunk_id: str
    label: str
    query: str
    source: str
    status: str
    downloaded: int = 0
    valid: int = 0
    next_offset: int | None = None
    last_error: str | None = None


class ApiKey(_Response):
    """A new API key. ``key`` is shown only in the answer to its creation: keep it."""

    id: str
    name: str
    key: str
    created_at: datetime | None = None


class Page(_Response):
    """One page of a list route."""

    items: list[dict[str, Any]]
    continuation: str | None = None
