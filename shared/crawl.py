"""The work of one crawl step: discover a page of candidates; download, check and store a batch.

The download activity is this module's :class:`BatchProcessor`; the discover activity is
:func:`discover`. Both return small summaries; bytes go to Blob Storage and records to Cosmos.

Idempotency: blob names are content-addressed and records are keyed by sha256 and created only
if absent; a record remembers the batch and URL that first stored it (``origin``), so a batch
that runs again recognises its own earlier writes and reports the same counts.

Example::

    async with Downloader(settings) as downloader:
        result = await BatchProcessor(downloader, images, blobs).run(batch)
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from shared.dedupe import window_phashes_bytes
from shared.errors import SourceError, SourceRateLimited
from shared.imaging import ImageInfo, Rejection, decode_pool, inspect_image
from shared.models import (
    BatchResult,
    Candidate,
    DiscoverRequest,
    DiscoverResult,
    DownloadBatch,
    FailureReason,
    ImageRecord,
    Level,
    Origin,
    ValidationRules,
    ValidationSummary,
    image_blob_name,
)
from shared.settings import Settings
from shared.sources import make_source

log = logging.getLogger("pixcrawler.crawl")

IMAGES_CONTAINER = "images"


class ImageStore(Protocol):
    async def create_if_absent(self, record: ImageRecord) -> tuple[ImageRecord, bool]: ...


class BlobWriter(Protocol):
    async def put(
        self, container: str, name: str, data: bytes, content_type: str, overwrite: bool = False
    ) -> bool: ...


class Fetcher(Protocol):
    async def fetch(self, url: str) -> "FetchOutcome": ...


class FetchOutcome(Protocol):
    """What the downloader answers per URL (see shared.fetch.FetchResult)."""

    @property
    def ok(self) -> bool: ...

    @property
    def body(self) -> bytes: ...

    @property
    def reason(self) -> FailureReason | None: ...


async def discover(request: DiscoverRequest, settings: Settings, session: aiohttp.ClientSession) -> DiscoverResult:
    """One page of candidates from the chunk's source; refusals become a result, not a crash."""
    source = make_source(request.chunk.source, settings, session)
    try:
        page = await source.search(request.chunk.query, request.offset, request.count)
    except SourceRateLimited as exc:
        return DiscoverResult(rate_limited=True, retry_after=exc.retry_after, error=exc.message)
    except SourceError as exc:
        return DiscoverResult(error=exc.message)
    return DiscoverResult(candidates=page.candidates, next_offset=page.next_offset)


def _check(body: bytes, rules: ValidationRules) -> tuple[ImageInfo, list[str]] | Rejection:
    """The fast checks, and for an accepted image its window hashes (crop detection)."""
    info = inspect_image(body, rules)
    if isinstance(info, Rejection):
        return info
    try:
        windows = window_phashes_bytes(body)
    except Exception:  # the image passed the checks; it is only found by its whole hash
        windows = []
    return info, windows


@dataclass
class _Accepted:
    candidate: Candidate
    info: ImageInfo
    body: bytes
    windows: list[str]


class BatchProcessor:
    """Download + fast validation + storage of one batch."""

    def __init__(self, fetcher: Fetcher, images: ImageStore, blobs: BlobWriter, *, writers: int = 16) -> None:
        self._fetcher = fetcher
        self._images = images
        self._blobs = blobs
        self._writers = asyncio.Semaphore(writers)

    async def run(self, batch: DownloadBatch) -> BatchResult:
        # Each image is checked (in the decode threads) as soon as it arrives, while the rest
        # of the batch is still downloading.
        checked = await asyncio.gather(*(self._fetch_and_check(c.url, batch.rules) for c in batch.candidates))
        failed: Counter[str] = Counter()
        downloaded = 0
        accepted: dict[str, _Accepted] = {}
        duplicates = 0
        for candidate, (outcome, info) in zip(batch.candidates, checked):
            if not outcome.ok:
                failed[(outcome.reason or FailureReason.connection).value] += 1
                continue
            downloaded += 1
            if isinstance(info, Rejection):
                failed[info.reason.value] += 1
            elif info is None:
                continue
            elif info[0].sha256 in accepted:
                duplicates += 1  # the same bytes twice in one batch
            else:
                accepted[info[0].sha256] = _Accepted(candidate, info[0], outcome.body, info[1])
        stored = await asyncio.gather(*(self._store(batch, item) for item in accepted.values()))
        new = [sha for sha, created in zip(accepted, stored) if created]
        duplicates += len(accepted) - len(new)
        return BatchResult(
            batch_id=batch.batch_id,
            chunk_id=batch.chunk_id,
            seq=batch.seq,
            run=batch.run,
            attempted=len(batch.candidates),
            downloaded=downloaded,
            valid=len(new),
            duplicates=duplicates,
            failed=dict(failed),
            bytes=sum(accepted[sha].info.bytes for sha in new),
            stored=new,
        )

    async def _fetch_and_check(
        self, url: str, rules: ValidationRules
    ) -> tuple[FetchOutcome, tuple[ImageInfo, list[str]] | Rejection | None]:
        outcome = await self._fetcher.fetch(url)
        if not outcome.ok:
            return outcome, None
        loop = asyncio.get_running_loop()
        return outcome, await loop.run_in_executor(decode_pool(), _check, outcome.body, rules)

    async def _store(self, batch: DownloadBatch, item: _Accepted) -> bool:
        """Store one image; True when this batch owns its record (first seen in the job)."""
        info, candidate = item.info, item.candidate
        blob_name = image_blob_name(batch.job_id, info.sha256, info.format)
        record = ImageRecord(
            id=info.sha256,
            job_id=batch.job_id,
            user_id=batch.user_id,
            label=batch.label,
            source=candidate.source,
            url=candidate.url,
            page_url=candidate.page_url,
            title=candidate.title,
            license=candidate.license,
            attribution=candidate.attribution,
            width=info.width,
            height=info.height,
            format=info.format,
            content_type=info.content_type,
            bytes=info.bytes,
            blob_name=blob_name,
            sha256=info.sha256,
            phash=info.phash,
            windows=item.windows,
            mode=info.mode,
            exif_orientation=info.exif_orientation,
            chunk_id=batch.chunk_id,
            origin=Origin(batch_id=batch.batch_id, url=candidate.url),
            validation=ValidationSummary(
                level=Level.fast,
                checks={"decode": True, "format": True, "dimensions": True, "pixels": True},
            ),
        )
        async with self._writers:
            # The blob first: a record never points at bytes that are not there.
            container, _, name = blob_name.partition("/")
            await self._blobs.put(container, name, item.body, info.content_type)
            existing, created = await self._images.create_if_absent(record)
        return created or existing.origin == record.origin
