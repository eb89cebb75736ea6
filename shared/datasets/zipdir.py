"""The zip central directory, written from small per-member entries instead of a live ZipFile.

An archive built in parts writes its members in several processes; only the last one writes
the central directory, from the :class:`ZipEntry` of every member (a few dozen bytes each, kept
in blobs between parts). :class:`CentralDirectory` writes exactly what ``zipfile`` writes for
the same members (ZIP64 records included once offsets, sizes or the count need them), so an
archive built in one part or in many is the same bytes.

Example::

    directory = CentralDirectory(start=stream.size)     # after writing the members
    await sink.write(directory.records(stream.entries()))
    await sink.write(directory.end())
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import astuple, dataclass

__all__ = ["CentralDirectory", "ZipEntry"]

_ZIP64_LIMIT = (1 << 31) - 1
_FILECOUNT_LIMIT = (1 << 16) - 1
_ZIP64_VERSION = 45
_UTF8_FLAG = 0x800
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
_END = struct.Struct("<4s4H2LH")


@dataclass(frozen=True)
class ZipEntry:
    """What the central directory says about one member."""

    name: str
    header_offset: int
    crc: int
    compress_size: int
    file_size: int
    compress_type: int
    flag_bits: int
    date_time: tuple[int, int, int, int, int, int]
    external_attr: int
    create_version: int
    extract_version: int
    create_system: int

    @classmethod
    def of(cls, info: zipfile.ZipInfo) -> ZipEntry:
        return cls(
            info.filename, info.header_offset, info.CRC, info.compress_size, info.file_size,
            info.compress_type, info.flag_bits, info.date_time, info.external_attr,
            info.create_version, info.extract_version, info.create_system,
        )  # fmt: skip

    def to_json(self) -> str:
        """One compact JSON line (a list: the field order of the dataclass)."""
        return json.dumps(astuple(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> ZipEntry:
        values = json.loads(line)
        values[7] = tuple(values[7])
        return cls(*values)

    def record(self) -> bytes:
        """This member's central directory record (as ``zipfile`` writes it)."""
        extra: list[int] = []
        file_size, compress_size, offset = self.file_size, self.compress_size, self.header_offset
        if file_size > _ZIP64_LIMIT or compress_size > _ZIP64_LIMIT:
            extra += [file_size, compress_size]
            file_size = compress_size = 0xFFFFFFFF
        if offset > _ZIP64_LIMIT:
            extra.append(offset)
            offset = 0xFFFFFFFF
        extra_data = struct.pack("<HH" + "Q" * len(extra), 1, 8 * len(extra), *extra) if extra else b""
        minimum = _ZIP64_VERSION if extra else 0
        try:
            name, flags = self.name.encode("ascii"), self.flag_bits
        except UnicodeEncodeError:
            name, flags = self.name.encode("utf-8"), self.flag_bits | _UTF8_FLAG
        year, month, day, hour, minute, second = self.date_time
        header = _CENTRAL.pack(
            b"PK\x01\x02", max(minimum, self.create_version), self.create_system,
            max(minimum, self.extract_version), 0, flags, self.compress_type,
            hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day,
            self.crc, compress_size, file_size, len(name), len(extra_data), 0, 0, 0,
            self.external_attr, offset,
        )  # fmt: skip
        return header + name + extra_data


class CentralDirectory:
    """Writes the central directory placed at offset ``start``: records a batch of entries at
    a time (memory stays that of one batch), then the end records.

    Example::

        directory = CentralDirectory(start=stream.size)
        data = directory.records(stream.entries()) + directory.end()
    """

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0
        self.size = 0

    def records(self, entries: Iterable[ZipEntry]) -> bytes:
        """The records of ``entries``, in order."""
        out = bytearray()
        for entry in entries:
            out += entry.record()
            self.count += 1
        self.size += len(out)
        return bytes(out)

    def end(self) -> bytes:
        """The ZIP64 end record and locator when needed, and the end record."""
        count, size, start = self.count, self.size, self.start
        out = bytearray()
        if count > _FILECOUNT_LIMIT or start > _ZIP64_LIMIT or size > _ZIP64_LIMIT:
            out += _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
            out += _LOCATOR.pack(b"PK\x06\x07", 0, start + size, 1)
            count, size, start = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF)
        out += _END.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0)
        return bytes(out)
