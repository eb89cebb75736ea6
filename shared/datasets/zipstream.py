"""A zip written forward only, handed out in parts: the archive never sits whole in memory.

``zipfile.ZipFile`` on a writer that cannot seek writes each member's sizes and CRC in a data
descriptor after its bytes, so nothing written needs to be revisited. :class:`ZipStream` is
that writer: it collects what ``zipfile`` writes, hashes it, and gives it out in parts that
the caller forwards to an async sink.

Example::

    stream = ZipStream(date_time=(2025, 1, 1, 0, 0, 0))
    for part in stream.add("hello.txt", [b"hi"], size=2, compress=True):
        sink_parts.append(part)
    for part in stream.finish():
        sink_parts.append(part)
    stream.sha256, stream.size
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Protocol

from shared.datasets.zipdir import ZipEntry

__all__ = ["PART_SIZE", "Hasher", "MemberWriter", "ZipStream"]

#: Parts are handed out once this many bytes are pending (and at the end of every member).
PART_SIZE = 1024 * 1024

_FILE_MODE = 0o644 << 16


class Hasher(Protocol):
    """What the stream hashes its bytes with: ``hashlib.sha256()`` or a resumable one."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class _ForwardWriter:
    """The file object zipfile writes into: tells its position, refuses to seek."""

    def __init__(self, start: int = 0, digest: Hasher | None = None) -> None:
        self.pending = bytearray()
        self.position = start
        self.digest: Hasher = digest or hashlib.sha256()
        self.detached = False

    def write(self, data: bytes) -> int:
        if self.detached:
            return len(data)
        self.pending += data
        self.digest.update(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, *_: object) -> int:
        raise OSError("a streamed zip cannot seek")

    def flush(self) -> None:
        """Nothing to flush: parts leave through :meth:`take`."""

    def close(self) -> None:
        """Nothing to close: the sink is closed by the archive writer."""

    def take(self) -> bytes:
        part = bytes(self.pending)
        self.pending.clear()
        return part


class ZipStream:
    """Builds a zip member by member; every call yields the parts ready to be sent on.

    Members are STORED (``compress=False``, for images: already compressed) or DEFLATEd.
    All members carry ``date_time`` so the same input gives the same bytes.

    A part of an archive built in several processes starts at ``start`` (the bytes before it)
    with ``hasher`` holding the hash of those bytes; it ends with :meth:`entries` instead of
    :meth:`finish`, and the last part writes the directory of every part's entries
    (:class:`shared.datasets.zipdir.CentralDirectory`).
    """

    def __init__(
        self,
        date_time: tuple[int, int, int, int, int, int],
        part_size: int = PART_SIZE,
        *,
        start: int = 0,
        hasher: Hasher | None = None,
    ) -> None:
        self.date_time = date_time
        self.part_size = part_size
        self.names: set[str] = set()
        self._out = _ForwardWriter(start, hasher)
        self._zip = zipfile.ZipFile(self._out, mode="w", allowZip64=True)

    @property
    def size(self) -> int:
        """Offset reached: ``start`` plus the bytes produced (the archive's size once finished)."""
        return self._out.position

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes produced so far (the archive's once finished)."""
        return self._out.digest.hexdigest()

    @property
    def hasher(self) -> Hasher:
        """The running hash (a resumable one hands its state to the next part)."""
        return self._out.digest

    def entries(self) -> list[ZipEntry]:
        """The central directory entries of the members written so far."""
        return [ZipEntry.of(info) for info in self._zip.filelist]

    def open_member(self, name: str, *, size: int, compress: bool) -> MemberWriter:
        """Write member ``name`` of ``size`` bytes piece by piece (from an async source)."""
        info = self._info(name, compress)
        info.file_size = size
        return MemberWriter(self, self._zip.open(info, mode="w"))

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        if name in self.names:
            raise ValueError(f"zip member {name!r} written twice")
        self.names.add(name)
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = _FILE_MODE
        return info

    def add(self, name: str, chunks: Iterable[bytes], *, size: int, compress: bool) -> Iterator[bytes]:
        """Write member ``name`` of ``size`` bytes from ``chunks``; yield parts as they fill."""
        info = self._info(name, compress)
        info.file_size = size
        with self._zip.open(info, mode="w") as member:
            for chunk in chunks:
                member.write(chunk)
                if len(self._out.pending) >= self.part_size:
                    yield self._out.take()
        yield self._out.take()

    def add_bytes(self, name: str, data: bytes, *, compress: bool) -> Iterator[bytes]:
        """Write a member held in memory, in ``part_size`` slices."""
        view = memoryview(data)
        slices = (view[i : i + self.part_size] for i in range(0, len(data), self.part_size))
        return self.add(name, slices, size=len(data), compress=compress)  # type: ignore[arg-type]

    def finish(self) -> Iterator[bytes]:
        """Write the central directory; yield the last parts."""
        self._zip.close()
        yield self._out.take()

    def discard(self) -> None:
        """Stop here without finishing: after a failure, or at the end of a part of an archive
        built in parts. Pending bytes are dropped, and nothing written later (the end record
        ``zipfile`` writes when collected) reaches the parts or the hash."""
        self._out.pending.clear()
        self._out.detached = True
        self.names.clear()


class MemberWriter:
    """One member being written: each call returns the bytes ready to send on (maybe none)."""

    def __init__(self, stream: ZipStream, handle: IO[bytes]) -> None:
        self._stream = stream
        self._handle = handle

    def write(self, data: bytes) -> bytes:
        self._handle.write(data)
        out = self._stream._out
        return out.take() if len(out.pending) >= self._stream.part_size else b""

    def close(self) -> bytes:
        self._handle.close()
        return self._stream._out.take()
