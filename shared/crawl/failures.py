"""Download failures with their URLs: stored by each download batch, listed page by page.

The progress entity counts failures by reason; this module keeps what they were. A download
batch that had failures writes one small JSON-lines blob, ``images/{job_id}/failures/
{chunk_id}/{seq:06d}.jsonl`` (one :class:`~shared.models.FailureEntry` per line, in the
order of the chunk's results), with the reasons it holds in the blob's metadata, so listing
one reason reads only the blobs that have it. A retried batch writes the same name again, so
the stored failures are those of the attempt that counted. Deleting the job deletes them with
everything else under ``{job_id}/``.

Bounds: a blob holds at most one entry per candidate of its batch (``BATCH_SIZE``), each URL
cut to 2,048 characters and each message to 300. A page request makes at most
:data:`MAX_LISTINGS` listing requests of :data:`LIST_PAGE` blobs and reads at most
:data:`MAX_READS` blobs, whatever the job's size; when it stops at a bound before ``limit``
items it answers what it has with a continuation.

Example::

    log = FailureLog()
    log.add(17, candidate, FailureReason.timeout, "no answer within 30 s")
    await log.save(blobs, batch)
    page = await failure_page(blobs, "job-1", FailureQuery(reason="timeout"))
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError

from shared.errors import BadRequest, NotFound
from shared.models import Candidate, DownloadBatch, FailureEntry, FailurePage, FailureQuery, FailureReason
from shared.names import IMAGES_CONTAINER, NDJSON_CONTENT_TYPE
from shared.storage.blob import BlobInfo

__all__ = [
    "LIST_PAGE", "MAX_LISTINGS", "MAX_MESSAGE", "MAX_READS", "MAX_URL",
    "FailureLog", "failure_blob_name", "failure_page", "failures_prefix",
]

REASONS_KEY = "reasons"
MAX_URL = 2048
MAX_MESSAGE = 300
#: Blobs per listing request.
LIST_PAGE = 50
#: Listing requests per page request.
MAX_LISTINGS = 10
#: Failure blobs read per page request.
MAX_READS = 50


def failures_prefix(job_id: str) -> str:
    """Prefix (in the ``images`` container) of a job's failure blobs."""
    return f"{job_id}/failures/"


def failure_blob_name(job_id: str, chunk_id: str, seq: int) -> str:
    """The failures of download batch ``seq`` of a chunk.

    >>> failure_blob_name("j1", "c2", 7)
    'j1/failures/c2/000007.jsonl'
    """
    return f"{failures_prefix(job_id)}{chunk_id}/{seq:06d}.jsonl"


class FailureBlobs(Protocol):
    async def put(
        self, container: str, name: str, data: bytes, content_type: str, overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> bool: ...

    async def get(self, container: str, name: str) -> bytes: ...

    async def list_page(
        self, container: str, prefix: str, *, size: int, marker: str | None = None, metadata: bool = False
    ) -> tuple[list[BlobInfo], str | None]: ...


class _Failure(NamedTuple):
    position: int
    url: str
    source: str
    reason: FailureReason
    message: str


class FailureLog:
    """The failures of one download batch, saved as one blob (nothing when there were none)."""

    def __init__(self) -> None:
        self.failures: list[_Failure] = []

    def add(self, position: int, candidate: Candidate, reason: FailureReason, message: str | None) -> None:
        self.failures.append(_Failure(position, candidate.url, candidate.source, reason, message or ""))

    def entries(self, batch: DownloadBatch) -> list[FailureEntry]:
        """The entries as stored: in the order of the chunk's results, URLs and messages cut."""
        return [
            FailureEntry(
                url=f.url[:MAX_URL], reason=f.reason, message=f.message[:MAX_MESSAGE], label=batch.label,
                source=f.source, chunk_id=batch.chunk_id, position=f.position, run=batch.run,
            )  # fmt: skip
            for f in sorted(self.failures)
        ]

    async def save(self, blobs: FailureBlobs, batch: DownloadBatch) -> None:
        """Write the batch's failures (replacing what an earlier attempt wrote)."""
        if not self.failures:
            return
        entries = self.entries(batch)
        data = "".join(entry.model_dump_json() + "\n" for entry in entries).encode()
        reasons = ",".join(sorted({entry.reason.value for entry in entries}))
        await blobs.put(
            IMAGES_CONTAINER, failure_blob_name(batch.job_id, batch.chunk_id, batch.seq), data, NDJSON_CONTENT_TYPE,
            overwrite=True, metadata={REASONS_KEY: reasons, "run": str(batch.run)},
        )  # fmt: skip


class _Cursor(NamedTuple):
    """Where a page starts: the listing page (its marker), a blob in it, a line of that blob."""

    marker: str | None = None
    blob: int = 0
    line: int = 0

    def encode(self) -> str:
        raw = json.dumps({"m": self.marker, "b": self.blob, "l": self.line}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> "_Cursor":
        if token is None:
            return cls()
        try:
            data: Any = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            cursor = cls(data["m"], int(data["b"]), int(data["l"]))
            if (cursor.marker is not None and not isinstance(cursor.marker, str)) or min(cursor.blob, cursor.line) < 0:
                raise ValueError("out of range")
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise BadRequest(
                "The continuation token is not one this list gave: start again without it.",
                error_code="invalid_continuation", field="continuation",
            ) from None  # fmt: skip
        return cursor


def _holds(blob: BlobInfo, reason: FailureReason | None) -> bool:
    return reason is None or reason.value in blob.metadata.get(REASONS_KEY, "").split(",")


async def _read(blobs: FailureBlobs, name: str, reason: FailureReason | None) -> list[FailureEntry]:
    try:
        data = await blobs.get(IMAGES_CONTAINER, name)
    except NotFound:  # the job is being deleted
        return []
    entries: list[FailureEntry] = []
    for line in data.decode().splitlines():
        try:
            entry = FailureEntry.model_validate_json(line)
        except ValidationError:
            continue  # a line from another version of this format: not this page's business
        if reason is None or entry.reason is reason:
            entries.append(entry)
    return entries


async def failure_page(
    blobs: FailureBlobs, job_id: str, query: FailureQuery, *, list_page: int = LIST_PAGE,
    max_reads: int = MAX_READS, max_listings: int = MAX_LISTINGS,
) -> FailurePage:
    """One page of the job's stored failures (of one reason, with ``query.reason``), in the
    order of chunk ids and batches; 400 for a continuation this list did not give. The bounds
    default to the module's."""
    cursor = _Cursor.decode(query.continuation)
    items: list[FailureEntry] = []
    reads = 0
    for _ in range(max_listings):
        listing, next_marker = await blobs.list_page(
            IMAGES_CONTAINER, failures_prefix(job_id), size=list_page, marker=cursor.marker, metadata=True
        )
        for index in range(cursor.blob, len(listing)):
            if not _holds(listing[index], query.reason):
                continue
            if reads == max_reads:
                return FailurePage(items=items, continuation=_Cursor(cursor.marker, index).encode())
            reads += 1
            entries = await _read(blobs, listing[index].name, query.reason)
            start = cursor.line if index == cursor.blob else 0
            taken = entries[start : start + query.limit - len(items)]
            items += taken
            if len(items) < query.limit:
                continue
            if start + len(taken) < len(entries):
                after = _Cursor(cursor.marker, index, start + len(taken))
            elif index + 1 < len(listing):
                after = _Cursor(cursor.marker, index + 1)
            elif next_marker is not None:
                after = _Cursor(next_marker)
            else:
                return FailurePage(items=items)
            return FailurePage(items=items, continuation=after.encode())
        if next_marker is None:
            return FailurePage(items=items)
        cursor = _Cursor(next_marker)
    return FailurePage(items=items, continuation=cursor.encode())
