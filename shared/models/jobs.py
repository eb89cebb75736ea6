"""Jobs, their sources, their chunks and their progress."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    ConfigDict, Field, GetJsonSchemaHandler, StringConstraints, field_validator, model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

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


#: Field names the first PixCrawler documents used, accepted in a job body: alias -> field.
JOB_ALIASES = {"engines": "sources", "max_images": "max_images_per_keyword"}


class JobCreate(Model):
    """Body of ``POST /api/v1/jobs``.

    ``max_images_per_keyword`` is a quota per keyword *and source*: 30 images for 2 keywords
    from 2 sources asks for up to 120. ``engines`` and ``max_images`` are accepted as aliases
    of ``sources`` and ``max_images_per_keyword`` (a body giving a field and its alias is a 422).
    """

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    sources: list[SourceSpec] = Field(
        min_length=1, max_length=20,
        description="source names or objects; alias `engines`. Each keyword is crawled from "
        "every source",
    )
    max_images_per_keyword: int = Field(
        default=100, ge=1, le=100_000,
        description="images per keyword AND source (a keyword crawled from 2 sources may bring "
        "twice this), split across its variations; alias `max_images`",
    )
    variations: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]] = (
        Field(default_factory=lambda: ["{kw}"], min_length=1, max_length=20)
    )
    min_width: int = Field(default=0, ge=0, le=20_000)
    min_height: int = Field(default=0, ge=0, le=20_000)
    formats: list[ImageFormat] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS), min_length=1, max_length=len(ImageFormat)
    )
    validation_level: Level = Level.medium

    @model_validator(mode="before")
    @classmethod
    def _accept_aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(alias in data for alias in JOB_ALIASES):
            return data
        data = dict(data)
        for alias, name in JOB_ALIASES.items():
            if alias in data:
                if name in data:
                    raise PydanticCustomError(
                        "alias_conflict",
                        "'{alias}' is an alias of '{name}': give one of them, not both",
                        {"alias": alias, "name": name, "field": alias},
                    )
                data[name] = data.pop(alias)
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """In a request body (validation mode) the aliases are documented properties too."""
        schema = handler(core)
        if handler.mode == "validation":
            target = handler.resolve_ref_schema(schema)
            required = target.get("required", [])
            for alias, name in JOB_ALIASES.items():
                target["properties"][alias] = {
                    **target["properties"][name],
                    "description": f"alias of `{name}` (give one of them, not both)",
                }
                if name in required:  # either name satisfies it
                    required.remove(name)
                    target.setdefault("anyOf", []).extend([{"required": [name]}, {"required": [alias]}])
        return schema

    @property
    def image_target(self) -> int:
        """Images the job asks for: the quota per keyword and searched source, plus every URL
        of its ``urls`` sources (inline, or stored as a ``url_list``)."""
        searched = sum(1 for s in self.sources if s.type is not SourceType.urls)
        listed = sum(
            s.url_list.count if s.url_list is not None else len(s.urls or [])
            for s in self.sources if s.type is SourceType.urls
        )
        return searched * len(self.keywords) * self.max_images_per_keyword + listed

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
    """Body of ``GET /api/v1/jobs/{id}/progress``.

    ``progress`` is the run's work done in whole percent (:func:`work_done`); it reaches 100
    when the job completes. ``estimated_completion`` extrapolates the rate observed since the
    run started (:func:`estimate_completion`). ``stored_images`` counts what the crawl stored;
    ``valid_images`` what of it passed validation (all of it until a validation runs).
    """

    job_id: str
    status: JobStatus
    phase: str = "crawling"
    progress: int = Field(
        default=0, ge=0, le=100,
        description="percent of the run's work done: chunks finished, or images stored of those "
        "asked for, whichever is further; 100 only once the job completed",
    )
    estimated_completion: datetime | None = Field(
        default=None,
        description="when the run should finish at the rate observed since it started; null "
        "until the run has made progress, while validating, and for failed or cancelled jobs; "
        "the completion time of a completed job",
    )
    total_chunks: int = 0
    active_chunks: int = 0
    completed_chunks: int = 0
    failed_chunks: int = 0
    downloaded_images: int = 0
    stored_images: int = Field(
        default=0,
        description="images the crawl stored (an exact duplicate is stored once), less those a "
        "verify found lost and could not fetch again",
    )
    valid_images: int = Field(
        default=0,
        description="stored images that passed validation: near-duplicates and images the "
        "latest finished validation rejected are not counted; before one, equal to stored_images",
    )
    missing_images: int = Field(
        default=0,
        description="images whose bytes the latest finished verify found lost and could not fetch "
        "again (marked missing): counted in neither stored_images nor valid_images",
    )
    duplicate_images: int = 0
    failed_downloads: int = 0
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    validation: ValidationProgress | None = Field(
        default=None, description="the job's latest validation run (phase 'validating')"
    )
    started_at: datetime | None = None
    updated_at: datetime | None = None


def work_done(completed_chunks: int, total_chunks: int, stored_images: int, image_target: int) -> float:
    """Fraction of a run's work done: chunks completed, or images stored of the target,
    whichever is further (chunks run in parallel and mostly finish together; images arrive all
    along). 0 when nothing is known.

    >>> work_done(1, 4, 30, 120), work_done(0, 4, 90, 120), work_done(0, 0, 0, 0)
    (0.25, 0.75, 0.0)
    """
    chunks = completed_chunks / total_chunks if total_chunks else 0.0
    images = min(stored_images / image_target, 1.0) if image_target else 0.0
    return max(chunks, images)


def estimate_completion(
    done: float, done_at_start: float, started_at: datetime | None, now: datetime
) -> datetime | None:
    """When a run reaches all its work at the rate observed since ``started_at``: ``done`` is
    the fraction done now, ``done_at_start`` when the run began (a resumed run starts part-way).
    None until this run has done some work, and once it has done it all.

    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> estimate_completion(0.25, 0.0, t0, t0 + timedelta(minutes=1)).minute
    4
    """
    if started_at is None or done >= 1.0 or done <= done_at_start:
        return None
    elapsed = (now - started_at).total_seconds()
    if elapsed <= 0:
        return None
    rate = (done - done_at_start) / elapsed
    return now + timedelta(seconds=(1.0 - done) / rate)
