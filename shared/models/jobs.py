"""Jobs, their sources, their chunks and their progress."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.models.base import (
    Document, ImageFormat, JobStatus, Keyword, Level, Model, SourceType, utcnow,
)
from shared.models.validation import ValidationProgress


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


class UrlList(Model):
    """Where a ``urls`` source's list is kept once the job is created: in Blob Storage, one
    blob of at most ``chunk_size`` URLs (one per line) per chunk, never in the job document or
    an orchestration's input."""

    prefix: str = Field(description="'images/{job_id}/urls/{n}/': blob name prefix of the parts")
    count: int = Field(ge=1, description="URLs in the list")
    chunk_size: int = Field(ge=1, description="URLs per part (and per chunk)")

    @property
    def parts(self) -> int:
        return -(-self.count // self.chunk_size)

    def part_blob(self, part: int) -> str:
        """``images/...`` name of part ``part``'s blob.

        >>> UrlList(prefix="images/j1/urls/0/", count=5, chunk_size=2).part_blob(2)
        'images/j1/urls/0/00002.txt'
        """
        return f"{self.prefix}{part:05d}.txt"

    def part_size(self, part: int) -> int:
        """How many URLs part ``part`` holds."""
        return min(self.chunk_size, self.count - part * self.chunk_size)


class SourceSpec(Model):
    """A source of a job: a search engine by name, or a user-supplied URL list with its label.

    A request gives a ``urls`` source its ``urls``; the service stores them in Blob Storage
    and keeps only ``url_list`` (where they are, how many) in the job."""

    type: SourceType
    label: Keyword | None = Field(default=None, description="label of a `urls` source")
    urls: list[Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        default=None, max_length=100_000,
        description="a `urls` source's image URLs (at most 100,000; blank entries are dropped)",
    )
    url_list: UrlList | None = Field(
        default=None, description="read-only: where the service stored a `urls` source's list",
    )
    options: dict[
        Annotated[str, StringConstraints(max_length=100)], Annotated[str, StringConstraints(max_length=1000)]
    ] = Field(default_factory=dict, max_length=20, description="source-specific options")

    @field_validator("urls")
    @classmethod
    def _clean_urls(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [url.strip() for url in value]
        for index, url in enumerate(cleaned):
            if any(ch in url for ch in "\r\n\t"):
                raise ValueError(f"urls[{index}] contains a line break or tab")
        return [url for url in cleaned if url]

    @model_validator(mode="after")
    def _urls_need_label(self) -> "SourceSpec":
        if self.type is SourceType.urls:
            if not self.urls and self.url_list is None:
                raise ValueError("a 'urls' source needs a non-empty 'urls' list")
            if not self.label:
                raise ValueError("a 'urls' source needs a 'label'")
        elif self.urls or self.url_list:
            raise ValueError(f"'urls' is only allowed on a 'urls' source, not '{self.type}'")
        return self

    @property
    def name(self) -> str:
        return self.type.value


DEFAULT_FORMATS = [ImageFormat.jpeg, ImageFormat.png, ImageFormat.webp, ImageFormat.gif]


class JobCreate(Model):
    """Body of ``POST /api/v1/jobs``."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    sources: list[SourceSpec] = Field(min_length=1, max_length=20)
    max_images_per_keyword: int = Field(default=100, ge=1, le=100_000)
    variations: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]] = (
        Field(default_factory=lambda: ["{kw}"], min_length=1, max_length=20)
    )
    min_width: int = Field(default=0, ge=0, le=20_000)
    min_height: int = Field(default=0, ge=0, le=20_000)
    formats: list[ImageFormat] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS), min_length=1, max_length=len(ImageFormat)
    )
    validation_level: Level = Level.medium

    @field_validator("sources", mode="before")
    @classmethod
    def _names_to_specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"type": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("sources")
    @classmethod
    def _distinct_sources(cls, value: list[SourceSpec]) -> list[SourceSpec]:
        """The same source twice would plan the same chunks twice (same ids): refuse it."""
        seen: dict[str, int] = {}
        for index, source in enumerate(value):
            first = seen.setdefault(source.model_dump_json(), index)
            if first != index:
                raise ValueError(
                    f"sources[{index}] repeats sources[{first}] ({source.name}): name each source once"
                )
        return value

    @field_validator("keywords")
    @classmethod
    def _dedupe_keywords(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("variations")
    @classmethod
    def _check_variations(cls, value: list[str]) -> list[str]:
        for template in value:
            if "{kw}" not in template:
                raise ValueError(f"variation {template!r} must contain '{{kw}}'")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _need_work(self) -> "JobCreate":
        searched = [s for s in self.sources if s.type is not SourceType.urls]
        if searched and not self.keywords:
            raise ValueError("search sources need at least one keyword")
        if not searched and not any(s.type is SourceType.urls for s in self.sources):
            raise ValueError("a job needs at least one source")
        return self


class Job(Document, JobCreate):
    """A job record (Cosmos container ``jobs``, partition key ``/user_id``)."""

    # Read back from Cosmos it carries system fields (_rid, _ts ...): ignore them, unlike a request.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    user_id: str
    status: JobStatus = JobStatus.pending
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    run: int = Field(default=0, description="increments on every start, retry and resume")
    total_chunks: int = 0
    task_ids: list[str] = Field(default_factory=list)
    etag: str | None = Field(default=None, exclude=True, description="Cosmos _etag on read")


class ChunkSpec(Model):
    """One unit of crawling: one expanded keyword from one source, with its image quota."""

    chunk_id: str
    job_id: str
    index: int
    label: str = Field(description="the original keyword: every image keeps it as its label")
    query: str = Field(description="the expanded keyword sent to the source")
    source: SourceSpec
    quota: int = Field(ge=0)
    start_offset: int = 0
    part: int | None = Field(
        default=None, description="which part of a stored `urls` list this chunk crawls"
    )


def job_instance_id(job_id: str, run: int) -> str:
    """Instance id of a run's crawl_job orchestration: one per run, so a run never has to wait
    for the previous run's termination to settle before it can start."""
    return f"{job_id}:{run}"


def chunk_instance_id(job_id: str, run: int, chunk_id: str) -> str:
    """Instance id of a chunk orchestration (the task ids that start returns)."""
    return f"{job_id}:{run}:{chunk_id}"


def expand_keyword(keyword: str, variations: list[str]) -> list[str]:
    """Apply variation templates to a keyword, de-duplicated, order kept.

    >>> expand_keyword("cat", ["{kw}", "{kw} photo", "{kw}"])
    ['cat', 'cat photo']
    """
    return list(dict.fromkeys(t.replace("{kw}", keyword).strip() for t in variations))


def _split_quota(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def chunk_id_for(job_id: str, label: str, query: str, source: SourceSpec, part: int | None = None) -> str:
    """Deterministic chunk id: stable across runs, retries and resumes of the same job."""
    key = f"{job_id}|{label}|{query}|{source.model_dump_json()}"
    if part is not None:
        key += f"|{part}"
    return "c" + hashlib.sha256(key.encode()).hexdigest()[:16]


def plan_chunks(job_id: str, job: JobCreate) -> list[ChunkSpec]:
    """Chunks = expanded keywords x sources. A keyword's quota per source is split across its
    variations; a stored ``urls`` list is one chunk per part (``url_chunk_size`` URLs), each
    labelled with the source's label (an inline list, before it is stored, is one chunk)."""
    chunks: list[ChunkSpec] = []
    for source in job.sources:
        pairs: list[tuple[str, str, int, int | None]] = []
        if source.type is SourceType.urls:
            assert source.label
            if source.url_list is not None:
                stored = source.url_list
                pairs = [(source.label, source.label, stored.part_size(p), p) for p in range(stored.parts)]
            else:
                pairs = [(source.label, source.label, len(source.urls or []), None)]
        else:
            for keyword in job.keywords:
                queries = expand_keyword(keyword, job.variations)
                for query, quota in zip(queries, _split_quota(job.max_images_per_keyword, len(queries))):
                    pairs.append((keyword, query, quota, None))
        for label, query, quota, part in pairs:
            chunks.append(
                ChunkSpec(
                    chunk_id=chunk_id_for(job_id, label, query, source, part),
                    job_id=job_id,
                    index=len(chunks),
                    label=label,
                    query=query,
                    source=source,
                    quota=quota,
                    part=part,
                )
            )
    return chunks


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


class JobProgress(Model):
    """Body of ``GET /api/v1/jobs/{id}/progress``."""

    job_id: str
    status: JobStatus
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
    validation: ValidationProgress | None = Field(
        default=None, description="the job's latest validation run (phase 'validating')"
    )
    started_at: datetime | None = None
    updated_at: datetime | None = None
