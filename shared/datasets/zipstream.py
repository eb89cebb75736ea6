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

__all__ = ["PART_SIZE", "ZipStream"]

#: Parts are handed out once this many bytes are pending (and at the end of every member).
PART_SIZE = 1024 * 1024

_FILE_MODE = 0o644 << 16


class _ForwardWriter:
    """The file object zipfile writes into: tells its position, refuses to seek."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.position = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
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
    """

    def __init__(
        self,
        date_time: tuple[int, int, int, int, int, int],
        part_size: int = PART_SIZE,
    ) -> None:
        self.date_time = date_time
        self.part_size = part_size
        self.names: set[str] = set()
        self._out = _ForwardWriter()
        self._zip = zipfile.ZipFile(self._out, mode="w", allowZip64=True)

    @property
    def size(self) -> int:
        """Bytes produced so far (the archive's size once finished)."""
        return self._out.position

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes produced so far (the archive's once finished)."""
        return self._out.digest.hexdigest()

    def add(self, name: str, chunks: Iterable[bytes], *, size: int, compress: bool) -> Iterator[bytes]:
        """Write member ``name`` of ``size`` bytes from ``chunks``; yield parts as they fill."""
        if name in self.names:
            raise ValueError(f"zip member {name!r} written twice")
        self.names.add(name)
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.file_size = size
        info.external_attr = _FILE_MODE
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
        """Abandon the archive (after a failure): drop pending bytes without finishing."""
        self._out.pending.clear()
        self.names.clear()
