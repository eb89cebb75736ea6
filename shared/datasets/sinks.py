"""Where an archive's bytes go: a small async protocol, a file sink and a Blob block sink.

The archive writer hands a sink the zip in parts, in order, and closes it once. A sink
never sees the whole archive at once.

Example::

    sink = BlobBlockSink(blob_client)          # azure.storage.blob.aio.BlobClient
    summary = await write_archive(records, fetch_bytes, sink, meta)
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_BLOCK_SIZE", "ArchiveSink", "BlobBlockSink", "BlockBlobClient", "FileSink", "abort_sink",
]

#: Size of the blocks a :class:`BlobBlockSink` stages (Blob allows up to 4000 MiB per block
#: and 50,000 blocks per blob: 8 MiB blocks reach 390 GiB).
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024


@runtime_checkable
class ArchiveSink(Protocol):
    """Receives an archive in parts. ``close`` commits it; nothing is visible before."""

    async def write(self, part: bytes) -> None: ...

    async def close(self) -> None: ...


async def abort_sink(sink: ArchiveSink) -> None:
    """Drop what a sink received, if it can (``abort()`` is optional): called when a build
    fails, so a half-written archive is never committed."""
    abort = getattr(sink, "abort", None)
    if abort is not None:
        await abort()


class FileSink:
    """Writes the archive to a local file (opened on the first write, created or truncated).

    Example::

        sink = FileSink(tmp_path / "pets.zip")
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self.closed = False

    async def write(self, part: bytes) -> None:
        if self.closed:
            raise RuntimeError(f"FileSink({self.path}) is closed; open a new sink to write again")
        if self._file is None:
            self._file = await asyncio.to_thread(self.path.open, "wb")
        await asyncio.to_thread(self._file.write, part)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._file is None:
            self.path.write_bytes(b"")
            return
        await asyncio.to_thread(self._file.close)

    async def abort(self) -> None:
        """Close and delete the partial file."""
        self.closed = True
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
        self.path.unlink(missing_ok=True)


class BlockBlobClient(Protocol):
    """What :class:`BlobBlockSink` needs of a blob client: the staged-block calls of
    ``azure.storage.blob.aio.BlobClient`` (or of the app's BlobStore, which has the same)."""

    async def stage_block(self, block_id: str, data: bytes) -> object: ...

    async def commit_block_list(self, block_list: list[str]) -> object: ...


class BlobBlockSink:
    """Stages the archive as blocks of ``block_size`` bytes and commits the list on ``close``.

    Until ``close`` the blob's previous content (if any) stays what readers see: an archive
    whose build fails half-way never replaces a good one. Block ids are the block's index,
    zero-padded and base64-encoded, so all ids have the same length as Blob requires. With
    ``part``, the ids carry the part's number too (:meth:`part_block_id`): one part of an
    archive built in parts, ended with :meth:`flush` and committed by the last step.

    Example::

        from azure.storage.blob.aio import BlobClient
        client = BlobClient.from_connection_string(conn, "datasets", "datasets/d1.zip")
        sink = BlobBlockSink(client, block_size=4 * 1024 * 1024)
    """

    def __init__(
        self,
        client: BlockBlobClient,
        block_size: int = DEFAULT_BLOCK_SIZE,
        *,
        part: int | None = None,
    ) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1 byte, got {block_size}")
        self.client = client
        self.block_size = block_size
        self.part = part
        self.block_ids: list[str] = []
        self._buffer = bytearray()
        self.closed = False

    @staticmethod
    def block_id(index: int) -> str:
        """The id of block number ``index``: base64 of its 6-digit index.

        >>> BlobBlockSink.block_id(0)
        'MDAwMDAw'
        """
        return base64.b64encode(f"{index:06d}".encode()).decode()

    @staticmethod
    def part_block_id(part: int, index: int) -> str:
        """Block ``index`` of part ``part`` of an archive built in parts: all ids have one
        length, and sort in archive order.

        >>> BlobBlockSink.part_block_id(0, 1)
        'MDAwMDAwLTAwMDAwMQ=='
        """
        return base64.b64encode(f"{part:06d}-{index:06d}".encode()).decode()

    async def _stage(self, data: bytes) -> None:
        index = len(self.block_ids)
        block_id = self.block_id(index) if self.part is None else self.part_block_id(self.part, index)
        await self.client.stage_block(block_id, data)
        self.block_ids.append(block_id)

    async def write(self, part: bytes) -> None:
        if self.closed:
            raise RuntimeError("BlobBlockSink is closed; open a new sink to write again")
        self._buffer += part
        while len(self._buffer) >= self.block_size:
            block = bytes(self._buffer[: self.block_size])
            del self._buffer[: self.block_size]
            await self._stage(block)

    async def flush(self) -> None:
        """Stage what is buffered, without committing (the end of one part of an archive)."""
        if self._buffer:
            await self._stage(bytes(self._buffer))
            self._buffer.clear()

    async def close(self) -> None:
        if self.closed:
            return
        await self.flush()
        await self.client.commit_block_list(self.block_ids)
        self.closed = True

    async def abort(self) -> None:
        """Forget the staged blocks: uncommitted blocks never become visible (Blob drops them
        after a week), so the blob keeps its previous content."""
        self.closed = True
        self._buffer.clear()
