"""Shard blobs: a download batch's images, stored together as one WebDataset tar.

Every download batch writes the images it accepts into one block blob, ``images/{job_id}/
shards/{chunk_id}/{seq:06d}-{attempt}.tar``, as they pass their checks: per image a member
``{sha256}.{ext}`` with the bytes and a member ``{sha256}.json`` with what the record says of
it (label, source, URL, licence, size, hashes). Each shard is a plain POSIX tar, so
``tar -tf``, Python's ``tarfile`` and WebDataset read it as it is; an image record keeps the
shard's name (``blob_name``) and where its bytes start (``offset``, a multiple of 512) and
their length (``bytes``), so one ranged read gets an image back.

Invariants (the shard is committed before any record points at it):

- a record never points at bytes that are absent or different: blocks are staged while
  images arrive, the block list is committed once, and records are created after that;
- a retried batch writes a fresh name (``attempt``), never the bytes an earlier attempt's
  records point at;
- a shard is committed with metadata ``records=pending`` and marked ``records=written`` once
  its records exist; a batch whose images were all stored before deletes its own shard, and
  :class:`ShardJanitor` (the ``shard_cleanup`` timer) deletes pending shards older than
  ``shard_orphan_minutes`` that no record points at (an attempt that died in between).

Memory: the writer holds at most ``block_size`` bytes of members plus the images being
staged; each image's :class:`~shared.fetch.budget.Hold` is released once its block is staged.
Small members are joined into blocks; an image of 1 MiB or more is staged as a block of its
own, from the download's own buffer, so no image is ever held twice.

Example::

    writer = ShardWriter(blobs.staged(IMAGES_CONTAINER, name, TAR_CONTENT_TYPE), block_size=4 << 20)
    offset = await writer.add(sha256, "jpg", body, {"label": "cat"}, release=hold.release)
    size = await writer.commit()
    data = await read_image(blobs, record)   # one ranged GET
"""

from __future__ import annotations

import asyncio
import json
import logging
import tarfile
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.models import ImageRecord, json_datetime, shard_prefix
from shared.names import IMAGES_CONTAINER
from shared.storage.blob import BlobInfo, StagedBlob

log = logging.getLogger("pixcrawler.shards")

__all__ = [
    "PENDING", "RECORDS_KEY", "TAR_CONTENT_TYPE", "TAR_END", "WRITTEN", "ShardJanitor",
    "ShardWriter", "read_image", "split_blob_name", "tar_header", "tar_padding",
]

TAR_CONTENT_TYPE = "application/x-tar"
#: Blob metadata saying whether a shard's records exist yet.
RECORDS_KEY = "records"
PENDING = "pending"
WRITTEN = "written"

_BLOCK = 512
#: The end of a tar: two zero blocks.
TAR_END = bytes(2 * _BLOCK)
#: Staged blocks uploading at once per shard.
_STAGING = 2
#: An image this large is staged as a block of its own, so its bytes are never copied.
_OWN_BLOCK = 1024 * 1024


def tar_header(name: str, size: int, mtime: int) -> bytes:
    """The USTAR header of a member ``name`` of ``size`` bytes (a dataset's shards use it too)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def tar_padding(size: int) -> bytes:
    """The zeros that round a member of ``size`` bytes up to the next 512-byte block."""
    return bytes(-size % _BLOCK)


class ShardWriter:
    """Appends image members to a tar staged as blocks of one block blob.

    ``add`` may be called from many tasks; members are appended in call order. Staging runs in
    the background (two blocks at a time); :meth:`commit` waits for it, then commits.
    """

    def __init__(self, staged: StagedBlob, *, block_size: int, mtime: datetime | None = None) -> None:
        self._staged = staged
        self._block_size = block_size
        self._mtime = int(mtime.timestamp()) if mtime else 0
        self._pieces: list[bytes | bytearray] = []
        self._releases: list[Callable[[], None]] = []
        self._buffered = 0
        self._blocks: list[str] = []
        self._uploads: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        #: Bytes written so far: the tar's size, and where the next member's header starts.
        self.size = 0
        self.members = 0

    @property
    def name(self) -> str:
        """The blob's name in its container."""
        return self._staged.name

    async def add(
        self,
        key: str,
        extension: str,
        data: bytes | bytearray,
        metadata: Mapping[str, Any],
        *,
        release: Callable[[], None] | None = None,
    ) -> int:
        """Append ``{key}.{extension}`` (the image) and ``{key}.json``; returns where the
        image's bytes start in the tar. ``release`` is called once they are staged."""
        meta = json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str).encode()
        async with self._lock:
            offset = self.size + _BLOCK
            for piece in (
                tar_header(f"{key}.{extension}", len(data), self._mtime), data, tar_padding(len(data)),
                tar_header(f"{key}.json", len(meta), self._mtime), meta, tar_padding(len(meta)),
            ):
                self._pieces.append(piece)
                self._buffered += len(piece)
                self.size += len(piece)
            self.members += 1
            if release is not None:
                self._releases.append(release)
            if self._buffered >= self._block_size:
                await self._flush()
        return offset

    async def _flush(self) -> None:
        if not self._buffered:
            return
        while len([task for task in self._uploads if not task.done()]) >= _STAGING:
            await asyncio.wait(self._uploads, return_when=asyncio.FIRST_COMPLETED)
        blocks: list[tuple[str, bytes | bytearray]] = []
        small: list[bytes | bytearray] = []
        for piece in [*self._pieces, b""]:  # the empty piece ends the last run of small ones
            if len(piece) >= _OWN_BLOCK or not piece:
                if small:
                    blocks.append((self._next_block(), b"".join(small)))
                    small = []
                if piece:
                    blocks.append((self._next_block(), piece))  # staged as it is: no copy
            else:
                small.append(piece)
        releases = self._releases
        self._pieces, self._releases, self._buffered = [], [], 0
        self._uploads.append(asyncio.create_task(self._stage(blocks, releases)))

    def _next_block(self) -> str:
        block_id = StagedBlob.block_id(len(self._blocks))
        self._blocks.append(block_id)
        return block_id

    async def _stage(self, blocks: list[tuple[str, bytes | bytearray]], releases: list[Callable[[], None]]) -> None:
        try:
            for block_id, data in blocks:
                await self._staged.stage_block(block_id, data)
        finally:
            for release in releases:
                release()

    async def commit(self) -> int:
        """Stage what is left and the tar's end, then commit the blob with
        ``records=pending``; returns the tar's size. Raises if any block failed to stage."""
        async with self._lock:
            self._pieces.append(TAR_END)
            self._buffered += len(TAR_END)
            self.size += len(TAR_END)
            await self._flush()
            await asyncio.gather(*self._uploads)
            await self._staged.commit_block_list(self._blocks, {RECORDS_KEY: PENDING})
        return self.size

    async def abort(self) -> None:
        """Stop staging and give back every byte still held (nothing is committed: staged
        blocks of a blob that is never committed are discarded by the service)."""
        for task in self._uploads:
            task.cancel()
        await asyncio.gather(*self._uploads, return_exceptions=True)
        for release in self._releases:
            release()
        self._pieces, self._releases, self._buffered = [], [], 0


def split_blob_name(blob_name: str) -> tuple[str, str]:
    """``"images/j1/shards/c/0-a.tar"`` -> ``("images", "j1/shards/c/0-a.tar")``."""
    container, _, name = blob_name.partition("/")
    return container, name


class RangeReader(Protocol):
    async def get(self, container: str, name: str) -> bytes: ...

    async def get_range(self, container: str, name: str, offset: int, length: int) -> bytes: ...


async def read_image(blobs: RangeReader, record: ImageRecord) -> bytes:
    """The image's bytes: one ranged read of its shard (or the whole blob of a record stored
    as a blob of its own, ``offset`` None)."""
    container, name = split_blob_name(record.blob_name)
    if record.offset is None:
        return await blobs.get(container, name)
    return await blobs.get_range(container, name, record.offset, record.bytes)


class ShardStore(Protocol):
    def list(self, container: str, prefix: str = "", *, metadata: bool = False) -> Any: ...

    async def delete(self, container: str, name: str) -> bool: ...

    async def set_metadata(self, container: str, name: str, metadata: dict[str, str]) -> None: ...


class RecordCounter(Protocol):
    async def count_in_blob(self, job_id: str, blob_name: str) -> int: ...


class JobLister(Protocol):
    def iterate_values(self, sql: str, params: Mapping[str, Any] | None = None) -> Any: ...


class ShardJanitor:
    """Deletes shards no record points at: the leftovers of batch attempts that died after
    committing their shard and before writing its records.

    Example::

        removed = await ShardJanitor(blobs, images, timedelta(hours=1)).sweep_job("j1", now)
    """

    def __init__(self, blobs: ShardStore, images: RecordCounter, orphan_after: timedelta) -> None:
        self.blobs = blobs
        self.images = images
        self.orphan_after = orphan_after

    async def sweep_job(self, job_id: str, now: datetime) -> int:
        """Look at the job's pending shards older than ``orphan_after``: delete those no record
        points at, mark the others written. Returns how many were deleted."""
        removed = 0
        async for blob in self.blobs.list(IMAGES_CONTAINER, shard_prefix(job_id), metadata=True):
            if not self._pending_and_old(blob, now):
                continue
            if await self.images.count_in_blob(job_id, f"images/{blob.name}"):
                await self.blobs.set_metadata(IMAGES_CONTAINER, blob.name, {RECORDS_KEY: WRITTEN})
            elif await self.blobs.delete(IMAGES_CONTAINER, blob.name):
                log.info("deleted orphan shard images/%s", blob.name)
                removed += 1
        return removed

    def _pending_and_old(self, blob: BlobInfo, now: datetime) -> bool:
        return blob.metadata.get(RECORDS_KEY) == PENDING and now - blob.last_modified >= self.orphan_after

    async def sweep(self, jobs: JobLister, now: datetime, lookback: timedelta, max_jobs: int) -> int:
        """Sweep every job changed since ``now - orphan_after - lookback`` (at most
        ``max_jobs``, most recently changed first); returns how many shards were deleted.
        A shard is orphaned by a run of its job, so the jobs that ran lately are the ones to
        look at; ``lookback`` covers a timer outage that long."""
        since = json_datetime(now - self.orphan_after - lookback)
        sql = "SELECT c.id FROM c WHERE c.updated_at >= @since ORDER BY c.updated_at DESC"
        removed = seen = 0
        async for row in jobs.iterate_values(sql, {"@since": since}):
            removed += await self.sweep_job(row["id"], now)
            seen += 1
            if seen >= max_jobs:
                break
        log.info("shard cleanup: %d jobs looked at, %d orphan shards deleted", seen, removed)
        return removed
