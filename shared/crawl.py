"""The work of one crawl step: discover a page of candidates; download, check and store a batch.

The download activity is this module's :class:`BatchProcessor`; the discover activity is
:func:`discover`. Both return small summaries; bytes go to Blob Storage and records to Cosmos.

A batch streams the images that pass their checks into one shard blob (a WebDataset tar, see
:mod:`shared.shards`) while the rest of the batch is still downloading, commits it, then
writes the records of the images that are new to the job: one query for those that exist,
one transactional batch per 100 new records. A batch with failures writes them, with their
URLs, as one small blob (:mod:`shared.failures`).

Idempotency: records are keyed by sha256 and created only if absent; a record remembers the
batch and URL that first stored it (``origin``), so a batch that runs again recognises its own
earlier writes and reports the same counts. Every attempt writes a shard of its own, so a
record never points at bytes that an attempt could still change.

Memory: the downloader's budget bounds the bodies held (being read, checked, or waiting in
the shard's current block); a body is released once its block is staged or it is rejected.

Example::

    async with Downloader(settings, budget=budget) as downloader:
        result = await BatchProcessor(downloader, images, blobs, settings).run(batch)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from shared.errors import SourceError, SourceRateLimited
from shared.failures import FailureBlobs, FailureLog
from shared.imaging import DecodeGate, ImageInfo, Rejection, decode_pool, inspect_image
from shared.logs import log_event
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
    shard_blob_name,
    utcnow,
)
from shared.settings import Settings
from shared.shards import RECORDS_KEY, TAR_CONTENT_TYPE, WRITTEN, ShardWriter, split_blob_name
from shared.sources import Source, make_source
from shared.sources.urls import PartStore, UrlListSource, read_url_part
from shared.storage.blob import StagedBlob

log = logging.getLogger("pixcrawler.crawl")

#: The fast level's checks, as every record written by a download batch carries them.
FAST_CHECKS = {"decode": True, "format": True, "dimensions": True, "pixels": True}


class ImageStore(Protocol):
    async def create_many(self, job_id: str, records: list[ImageRecord]) -> list[tuple[ImageRecord, bool]]: ...


class ShardBlobs(FailureBlobs, Protocol):
    def staged(self, container: str, name: str, content_type: str) -> StagedBlob: ...

    async def set_metadata(self, container: str, name: str, metadata: dict[str, str]) -> None: ...

    async def delete(self, container: str, name: str) -> bool: ...


class Fetcher(Protocol):
    async def fetch(self, url: str) -> "FetchOutcome": ...


class FetchOutcome(Protocol):
    """What the downloader answers per URL (see shared.fetch.FetchResult)."""

    @property
    def ok(self) -> bool: ...

    @property
    def body(self) -> bytes | bytearray: ...

    @property
    def reason(self) -> FailureReason | None: ...

    def release(self) -> None: ...


async def discover(
    request: DiscoverRequest, settings: Settings, session: aiohttp.ClientSession, blobs: PartStore
) -> DiscoverResult:
    """One page of candidates from the chunk's source (a stored URL list's part is read from
    ``blobs``); refusals become a result, not a crash."""
    source: Source
    if request.chunk.source.url_list is not None:
        source = UrlListSource(await read_url_part(blobs, request.chunk))
    else:
        source = make_source(request.chunk.source, settings, session)
    try:
        page = await source.search(request.chunk.query, request.offset, request.count)
    except SourceRateLimited as exc:
        return DiscoverResult(rate_limited=True, retry_after=exc.retry_after, error=exc.message)
    except SourceError as exc:
        return DiscoverResult(error=exc.message)
    return DiscoverResult(candidates=page.candidates, next_offset=page.next_offset)


@dataclass
class Checked:
    """A download that passed the fast checks: its bytes (held in the downloader's memory budget
    until ``outcome.release()``) and what the checks learned of them."""

    outcome: FetchOutcome
    info: ImageInfo
    downloaded: bool = True


@dataclass
class Refused:
    """A URL that gave no acceptable image: why, in words, and whether a body was downloaded."""

    reason: FailureReason
    message: str | None
    downloaded: bool


async def fetch_checked(
    fetcher: Fetcher, url: str, rules: ValidationRules, gate: DecodeGate | None = None
) -> Checked | Refused:
    """Download ``url`` and run the fast checks on it (in the decode threads), as a crawl does
    for every candidate and a verify for every image it fetches again. A refused body is
    released here; an accepted one is the caller's to release."""
    outcome = await fetcher.fetch(url)
    if not outcome.ok:
        reason = outcome.reason or FailureReason.connection
        return Refused(reason, getattr(outcome, "message", None), downloaded=False)
    try:
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(decode_pool(), inspect_image, outcome.body, rules, gate)
    except BaseException:
        outcome.release()
        raise
    if isinstance(info, Rejection):
        outcome.release()
        return Refused(info.reason, info.message, downloaded=True)
    return Checked(outcome, info)


@dataclass
class _Accepted:
    info: ImageInfo
    offset: int


@dataclass
class _Tally:
    downloaded: int = 0
    duplicates: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, _Accepted | None] = field(default_factory=dict)
    #: What failed, with URLs: saved as the batch's failure blob (shared.failures).
    log: FailureLog = field(default_factory=FailureLog)
    #: sha256 -> the smallest position it was found at in the batch (whichever copy arrived
    #: first): the record's origin, the same however the downloads interleave.
    first: dict[str, tuple[int, Candidate]] = field(default_factory=dict)


def _metadata(batch: DownloadBatch, candidate: Candidate, info: ImageInfo) -> dict[str, Any]:
    """The ``{sha256}.json`` member beside each image in its shard."""
    return {
        "sha256": info.sha256, "label": batch.label, "source": candidate.source,
        "url": candidate.url, "page_url": candidate.page_url, "title": candidate.title,
        "license": candidate.license, "attribution": candidate.attribution,
        "width": info.width, "height": info.height, "format": info.format.value,
        "mode": info.mode, "phash": info.phash, "job_id": batch.job_id,
        "chunk_id": batch.chunk_id,
    }  # fmt: skip


class BatchProcessor:
    """Download + fast validation + storage of one batch."""

    def __init__(
        self, fetcher: Fetcher, images: ImageStore, blobs: ShardBlobs, settings: Settings,
        *, gate: DecodeGate | None = None,
    ) -> None:  # fmt: skip
        self._fetcher = fetcher
        self._images = images
        self._blobs = blobs
        self._block_size = settings.shard_block_bytes
        self._gate = gate

    async def run(self, batch: DownloadBatch) -> BatchResult:
        shard = shard_blob_name(batch.job_id, batch.chunk_id, batch.seq, uuid.uuid4().hex[:12])
        container, name = split_blob_name(shard)
        writer = ShardWriter(
            self._blobs.staged(container, name, TAR_CONTENT_TYPE), block_size=self._block_size,
            mtime=utcnow(),
        )  # fmt: skip
        tally = _Tally()
        started = time.monotonic()
        try:
            # Each image is checked (in the decode threads) as soon as it arrives and goes into
            # the shard as soon as it passes, while the rest of the batch still downloads.
            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                for index, candidate in enumerate(batch.candidates):
                    group.create_task(self._one(batch, batch.offset + index, candidate, writer, tally))
            if writer.members:
                await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        fetched = time.monotonic()
        accepted = [item for item in tally.accepted.values() if item is not None]
        records = [self._record(batch, shard, item, *tally.first[item.info.sha256]) for item in accepted]
        stored = await self._images.create_many(batch.job_id, records)
        new = [
            r for r, (existing, created) in zip(records, stored)
            if created or existing.origin.same_place(r.origin, existing.chunk_id, r.chunk_id)
        ]
        if writer.members:
            await self._settle(shard, any(created for _, created in stored))
        await tally.log.save(self._blobs, batch)
        result = BatchResult(
            batch_id=batch.batch_id,
            chunk_id=batch.chunk_id,
            seq=batch.seq,
            run=batch.run,
            attempted=len(batch.candidates),
            downloaded=tally.downloaded,
            valid=len(new),
            duplicates=tally.duplicates + len(records) - len(new),
            failed=dict(tally.failed),
            bytes=sum(r.bytes for r in new),
            stored=[r.id for r in new],
        )
        # The monitoring queries (docs/monitoring.md) count stored images and failure reasons
        # from this event.
        log_event(
            log, "batch_done", "batch %s: %d of %d stored", batch.batch_id, len(new), len(batch.candidates),
            job_id=batch.job_id, chunk_id=batch.chunk_id, batch_id=batch.batch_id, attempted=result.attempted,
            downloaded=result.downloaded, stored=result.valid, duplicates=result.duplicates, bytes=result.bytes,
            failed=result.failed, fetch_seconds=round(fetched - started, 3),
            store_seconds=round(time.monotonic() - fetched, 3),
        )
        return result

    async def _settle(self, shard: str, referenced: bool) -> None:
        """Mark the committed shard as having its records, or delete it when no record points
        at it (every image was in the job already)."""
        container, name = split_blob_name(shard)
        if referenced:
            await self._blobs.set_metadata(container, name, {RECORDS_KEY: WRITTEN})
        else:
            await self._blobs.delete(container, name)

    async def _one(
        self, batch: DownloadBatch, position: int, candidate: Candidate, writer: ShardWriter, tally: _Tally
    ) -> None:
        checked = await fetch_checked(self._fetcher, candidate.url, batch.rules, self._gate)
        tally.downloaded += checked.downloaded
        if isinstance(checked, Refused):
            tally.failed[checked.reason.value] += 1
            tally.log.add(position, candidate, checked.reason, checked.message)
            return
        outcome, info = checked.outcome, checked.info
        handed = False
        try:
            found = tally.first.get(info.sha256)
            if found is None or position < found[0]:
                tally.first[info.sha256] = (position, candidate)
            if info.sha256 in tally.accepted:
                tally.duplicates += 1  # the same bytes twice in one batch
            else:
                tally.accepted[info.sha256] = None  # taken: a copy arriving meanwhile is a duplicate
                offset = await writer.add(
                    info.sha256, info.format.extension, outcome.body,
                    _metadata(batch, candidate, info), release=outcome.release,
                )  # fmt: skip
                handed = True
                tally.accepted[info.sha256] = _Accepted(info, offset)
        finally:
            if not handed:
                outcome.release()

    @staticmethod
    def _record(batch: DownloadBatch, shard: str, item: _Accepted, position: int, candidate: Candidate) -> ImageRecord:
        """The record of an accepted image, from the first place the batch found it at."""
        info = item.info
        return ImageRecord(
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
            blob_name=shard,
            offset=item.offset,
            sha256=info.sha256,
            phash=info.phash,
            windows=list(info.windows),
            mode=info.mode,
            exif_orientation=info.exif_orientation,
            chunk_id=batch.chunk_id,
            origin=Origin(batch_id=batch.batch_id, url=candidate.url, position=position),
            validation=ValidationSummary(level=Level.fast, checks=dict(FAST_CHECKS)),
        )
