"""Typed views of the service's answers. Unknown fields are kept (``model_extra``) so a newer
service never breaks an older SDK.

Example::

    info = pixcrawler.get_dataset_info("ds_123")
    info.status, info.counts.per_label, info.size_bytes
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKey",
    "ChunkLog",
    "DatasetCounts",
    "DatasetInfo",
    "DownloadFile",
    "DownloadInfo",
    "Job",
    "JobCancelled",
    "JobProgress",
    "JobResumed",
    "JobStarted",
    "Page",
    "ValidationStarted",
    "DATASET_FINISHED",
    "JOB_FINISHED",
    "LAYOUTS",
    "SignedFile",
]

#: Job statuses after which nothing changes any more.
JOB_FINISHED = frozenset({"completed", "failed", "cancelled"})
#: Dataset statuses after which nothing changes any more.
DATASET_FINISHED = frozenset({"ready", "failed"})
#: The layouts a dataset can be built in.
LAYOUTS = ("zip", "imagefolder", "webdataset")


class _Response(BaseModel):
    """An answer of the service: attributes, and mapping access as the first PixCrawler
    documents use it (``info["name"]``, ``info.get("size_mb")``, ``"labels" in info``).

    Mapping keys are the fields, the extra fields a newer service sent, and the names in
    ``_computed`` (properties such as ``image_count``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _computed: ClassVar[tuple[str, ...]] = ()

    def keys(self) -> list[str]:
        return [*type(self).model_fields, *(self.model_extra or {}), *self._computed]

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(f"{key!r}; {type(self).__name__} has {', '.join(self.keys())}")
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def to_dict(self) -> dict[str, Any]:
        """Every key with its value (datetimes as ISO text), as plain data."""
        data = self.model_dump(mode="json")
        return {**data, **{name: getattr(self, name) for name in self._computed}}


class DatasetCounts(_Response):
    total: int = 0
    per_label: dict[str, int] = Field(default_factory=dict)
    per_split: dict[str, int] = Field(default_factory=dict)


class DatasetInfo(_Response):
    """A dataset as the service describes it (``GET /datasets/{id}``).

    Besides its fields: ``image_count`` (images in the archive), ``size_mb`` (the archive's
    size in MiB, 2**20 bytes, two decimals; None until built) and ``labels``, also as
    ``info["image_count"]``.
    """

    _computed: ClassVar[tuple[str, ...]] = ("image_count", "size_mb", "labels")

    id: str
    name: str
    job_id: str
    status: str
    splits: dict[str, float] = Field(default_factory=dict)
    include_duplicates: bool = False
    min_level: str = "fast"
    layout: str = "zip"
    counts: DatasetCounts = Field(default_factory=DatasetCounts)
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.status == "ready"

    @property
    def image_count(self) -> int:
        return self.counts.total

    @property
    def size_mb(self) -> float | None:
        return None if self.size_bytes is None else round(self.size_bytes / 2**20, 2)

    @property
    def labels(self) -> list[str]:
        return list(self.counts.per_label)


class SignedFile(_Response):
    """A file behind a time-limited URL, and what to expect of its bytes."""

    url: str
    size_bytes: int
    sha256: str


class DownloadFile(SignedFile):
    """One file of a dataset: its name (``pets.zip``, ``train-000000.tar``, ``dataset.json``),
    URL, size and sha256; a webdataset shard's split and image count."""

    name: str
    split: str | None = None
    images: int | None = None


class DownloadInfo(SignedFile):
    """Where to fetch a dataset: ``url`` (with ``size_bytes`` and ``sha256``) is its zip, or a
    webdataset's ``dataset.json``; ``files`` are all its files, each with its own URL."""

    expires_at: datetime
    layout: str = "zip"
    files: list[DownloadFile] = Field(default_factory=list)

    @property
    def is_zip(self) -> bool:
        """True when the dataset is one zip (layouts ``zip`` and ``imagefolder``)."""
        return self.layout != "webdataset"

    @property
    def total_bytes(self) -> int:
        """The size of all its files."""
        return sum(f.size_bytes for f in self.all_files())

    def all_files(self) -> list[DownloadFile]:
        """Every file to fetch (a service that lists none serves one zip: ``url``)."""
        if self.files:
            return list(self.files)
        return [DownloadFile(name="dataset.zip", url=self.url, size_bytes=self.size_bytes, sha256=self.sha256)]


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
    progress: int = Field(default=0, description="percent of the run's work done")
    estimated_completion: datetime | None = None
    total_chunks: int = 0
    active_chunks: int = 0
    completed_chunks: int = 0
    failed_chunks: int = 0
    downloaded_images: int = 0
    stored_images: int = 0
    valid_images: int = Field(default=0, description="stored images that passed validation")
    duplicate_images: int = 0
    failed_downloads: int = 0
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    validation: dict[str, Any] | None = Field(
        default=None, description="the latest validation run: level, images, validated, rejected"
    )
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


class ValidationStarted(_Response):
    """Answer to a validation request (``POST /validation/job/{id}``)."""

    job_id: str
    images_count: int = 0
    validation_level: str
    task_ids: list[str] = Field(default_factory=list)
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
