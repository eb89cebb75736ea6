"""Candidates from sources, download batches and their results, stored image records."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.models.api import PageQuery
from shared.models.base import Document, ImageFormat, Level, Model, utcnow
from shared.models.jobs import DEFAULT_FORMATS


# --------------------------------------------------------------------------------------------
# Sources and downloading
# --------------------------------------------------------------------------------------------


class Candidate(Model):
    """An image URL found by a source, with what the source says about it."""

    url: str
    page_url: str | None = None
    title: str | None = None
    width: int | None = None
    height: int | None = None
    license: str | None = None
    attribution: str | None = None
    source: str


class SearchPage(Model):
    """One page of a source's results. ``next_offset`` is None when the source is exhausted."""

    candidates: list[Candidate]
    next_offset: int | None


class ValidationRules(Model):
    """What the fast level checks inside the download activity."""

    min_width: int = 0
    min_height: int = 0
    formats: list[ImageFormat] = Field(default_factory=lambda: list(DEFAULT_FORMATS))
    max_pixels: int = 89_478_485
    max_decoded_bytes: int = 128 * 1024 * 1024


class DownloadBatch(Model):
    """Input of the download activity: small (URLs and ids, never bytes)."""

    job_id: str
    user_id: str
    chunk_id: str
    batch_id: str
    seq: int = Field(ge=0)
    run: int = 0
    label: str
    rules: ValidationRules
    candidates: list[Candidate]
    offset: int = Field(default=0, ge=0, description="the page's offset: candidate i is at offset + i")


class FailureReason(StrEnum):
    """Why a candidate did not become a stored image (keys of ``failed_downloads``)."""

    http_error = "http_error"
    timeout = "timeout"
    connection = "connection"
    too_large = "too_large"
    blocked_address = "blocked_address"
    not_an_image = "not_an_image"
    corrupt = "corrupt"
    format_not_allowed = "format_not_allowed"
    too_small = "too_small"
    too_many_pixels = "too_many_pixels"
    decoded_too_large = "decoded_too_large"
    robots_noai = "robots_noai"
    rate_limited = "rate_limited"


class BatchResult(Model):
    """What one download batch achieved. Applied to the progress entity once per batch_id."""

    batch_id: str
    chunk_id: str
    seq: int = Field(ge=0, description="position of the batch in its chunk: applied once")
    run: int = Field(default=0, description="the job run that produced it")
    attempted: int = 0
    downloaded: int = 0
    valid: int = 0
    duplicates: int = 0
    failed: dict[str, int] = Field(default_factory=dict)
    bytes: int = 0
    stored: list[str] = Field(default_factory=list, description="sha256 of newly stored images")


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


class ValidationSummary(Model):
    level: Level
    checks: dict[str, bool] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)
    validated_at: datetime = Field(default_factory=utcnow)


class Origin(Model):
    """Which batch first stored an image, and from which place in its chunk's results: a
    batch that comes to the same place again (a retried activity, or a resumed run whose
    batches are cut at other offsets) recognises the write as its own and counts it; the same
    URL found at another place, or by another chunk, is a duplicate."""

    batch_id: str
    url: str
    position: int | None = Field(
        default=None, description="index of the URL in its chunk's result list (the source's offset)"
    )

    def same_place(self, other: "Origin", chunk_id: str, other_chunk_id: str) -> bool:
        """True when both stored the same URL from the same place of the same chunk (records
        written before positions existed compare by batch)."""
        if self.position is None or other.position is None:
            return self == other
        return (chunk_id, self.position, self.url) == (other_chunk_id, other.position, other.url)


class ImageRecord(Document):
    """One stored image (Cosmos container ``images``, partition key ``/job_id``, id = sha256)."""

    id: str
    job_id: str
    user_id: str
    label: str
    source: str
    url: str
    page_url: str | None = None
    title: str | None = None
    license: str | None = None
    attribution: str | None = None
    width: int
    height: int
    format: ImageFormat
    content_type: str
    bytes: int
    blob_name: str = Field(description="'images/...': the shard blob (a tar) holding the bytes")
    offset: int | None = Field(
        default=None, ge=0, description="where the image's ``bytes`` bytes start in the blob "
        "(None: the blob is the image alone)"
    )
    shard_key: int = Field(
        default_factory=lambda data: shard_key(data.get("blob_name", "")), ge=0,
        description="the record's place in its job's verify partition (:func:`shard_key` of the "
        "shard that first stored it; kept when a verify moves the bytes to another shard)",
    )
    sha256: str
    phash: str
    windows: list[str] = Field(
        default_factory=list, description="pHashes of sub-windows, for crop detection"
    )
    mode: str | None = None
    exif_orientation: int | None = None
    chunk_id: str
    origin: Origin
    is_valid: bool = True
    is_duplicate: bool = False
    duplicate_of: str | None = None
    validation: ValidationSummary
    created_at: datetime = Field(default_factory=utcnow)
    # Curation by a reviewer (``PATCH /api/v1/jobs/{job_id}/images/{image_id}``), honoured by
    # every dataset build through ``shared.datasets.curation``.
    excluded: bool = Field(default=False, description="left out of every dataset by a reviewer")
    curated_label: str | None = Field(
        default=None, description="the label a reviewer moved the image to (None: its own label)"
    )
    curated_by: str | None = Field(default=None, description="the user who last curated it")
    curated_at: datetime | None = None
    # Set by a verify (``POST /api/v1/jobs/{job_id}/verify``, ``shared.verify``) that found the
    # bytes lost and could not fetch them again; honoured by every dataset build.
    missing: bool = Field(
        default=False, description="the bytes are lost and could not be fetched again: left out of every dataset"
    )
    missing_reason: str | None = Field(
        default=None, description="why the bytes could not be fetched again (a FailureReason, or 'changed')"
    )
    missing_at: datetime | None = None

    @property
    def effective_label(self) -> str:
        """The label the image has after review: the one a reviewer moved it to, else its own."""
        return self.curated_label or self.label


#: Width of a shard key: 32 bits, as wide as the id prefixes validation cuts its batches at.
SHARD_KEY_BITS = 32


def shard_key(blob_name: str) -> int:
    """A record's place in its job's verify partition: the first 32 bits of the sha256 of the
    shard that first stored it. Every record of a shard has the same key, so a verify batch
    (a range of keys) holds whole shards and asks each shard's size once.

    >>> shard_key("images/j1/shards/c2/000007-a1b2c3d4.tar")
    3254374251
    """
    return int(hashlib.sha256(blob_name.encode()).hexdigest()[: SHARD_KEY_BITS // 4], 16)


class ValidationResult(Model):
    """One image's validation outcome as ``GET /api/v1/validation/results/{job_id}`` lists it
    (a projection of :class:`ImageRecord`)."""

    id: str
    label: str
    url: str
    blob_name: str
    offset: int | None = None
    bytes: int
    width: int
    height: int
    mode: str | None = None
    exif_orientation: int | None = None
    is_valid: bool
    is_duplicate: bool
    duplicate_of: str | None = None
    validation: ValidationSummary

    @classmethod
    def of(cls, record: ImageRecord) -> "ValidationResult":
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class ValidationResultQuery(PageQuery):
    """``?limit=&continuation=&filter=valid|duplicate|invalid``."""

    filter: Literal["valid", "duplicate", "invalid"] | None = Field(
        default=None,
        description="valid: valid and kept; duplicate: near-duplicates of a kept image; "
        "invalid: failed a check",
    )


class ValidationResultPage(Model):
    items: list[ValidationResult]
    continuation: str | None = None


def shard_blob_name(job_id: str, chunk_id: str, seq: int, attempt: str) -> str:
    """The shard blob of one attempt of download batch ``seq`` of a chunk (``images/...``):
    every attempt writes a fresh name, so a retried batch never changes bytes that a record of
    an earlier attempt points at.

    >>> shard_blob_name("j1", "c2", 7, "a1b2c3d4")
    'images/j1/shards/c2/000007-a1b2c3d4.tar'
    """
    return f"images/{shard_prefix(job_id, chunk_id, seq)}{attempt}.tar"


def shard_prefix(job_id: str, chunk_id: str | None = None, seq: int | None = None) -> str:
    """Name prefix (in the ``images`` container) of a job's shards, of one chunk's, or of
    every attempt of one batch.

    >>> shard_prefix("j1"), shard_prefix("j1", "c2"), shard_prefix("j1", "c2", 7)
    ('j1/shards/', 'j1/shards/c2/', 'j1/shards/c2/000007-')
    """
    prefix = f"{job_id}/shards/"
    if chunk_id is not None:
        prefix += f"{chunk_id}/"
        if seq is not None:
            prefix += f"{seq:06d}-"
    return prefix
