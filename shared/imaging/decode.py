"""Recognise and check downloaded image bytes: the "fast" validation level.

:func:`sniff_format` names the format from the magic bytes (a server's Content-Type is never
trusted). :func:`inspect_image` runs every fast check on the bytes and returns either an
:class:`ImageInfo` (what the image record stores) or a :class:`Rejection` with the
:class:`~shared.models.FailureReason` that the batch counts. It never raises for bad input.

The checks, cheapest first: magic bytes, format allow-list, the pixel limit, the minimum
size and the decoded-size limit (all from the header, before any pixel is decoded), an
integrity decode that fails on truncated or broken data (for JPEG at 1/8 scale via ``draft``,
so it costs a fraction of a full decode), then the hashes (whole-image pHash and the window
pHashes of crop detection, from that one decode) and metadata.

Memory: a check holds the encoded bytes, the decoded pixels (at most
``rules.max_decoded_bytes``; :func:`decoded_bytes`) and a greyscale copy of at most a quarter
of that; a :class:`DecodeGate` lets only a few large decodes run at once.

The pixel limit is ``rules.max_pixels``, checked per call. Pillow's own, process-wide
``Image.MAX_IMAGE_PIXELS`` (same default) stays on as a backstop: its DecompressionBombError,
or its warning when a caller has made warnings errors, also becomes ``too_many_pixels``. The
process-wide value and warning filters are not changed per call, because decoding runs in
worker threads where such changes would race.

Example::

    info = inspect_image(body, ValidationRules(min_width=256, min_height=256))
    if isinstance(info, Rejection):
        failed[info.reason] += 1
    else:
        info.sha256, info.phash, info.width, info.height
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image, ImageFile

from shared.imaging.hashes import phash_hex, phash_input, sha256_hex, window_phashes
from shared.models import FailureReason, ImageFormat, ValidationRules

# Truncated files must fail the integrity decode, never be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

#: Pillow's plugin name for each format we accept.
PIL_FORMAT: dict[ImageFormat, str] = {
    ImageFormat.jpeg: "JPEG",
    ImageFormat.png: "PNG",
    ImageFormat.webp: "WEBP",
    ImageFormat.gif: "GIF",
    ImageFormat.bmp: "BMP",
    ImageFormat.tiff: "TIFF",
}

#: Sizes of the BMP info headers Pillow reads (OS/2 1.x, Windows 3.x ... v5).
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_EXIF_ORIENTATION = 0x0112


def sniff_format(data: bytes | bytearray) -> ImageFormat | None:
    """The image format the bytes start with, or None. Reads at most the first 32 bytes.

    >>> sniff_format(bytes.fromhex("89504e470d0a1a0a") + bytes(24))
    <ImageFormat.png: 'png'>
    >>> sniff_format(b"<!doctype html><html>") is None
    True
    """
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.jpeg
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.png
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.gif
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.webp
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return ImageFormat.tiff
    if head[:2] == b"BM" and len(head) >= 18:
        if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
            return ImageFormat.bmp
    return None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the fast checks learned about an accepted image.

    ``width``/``height`` are the real (full) dimensions even when the check decoded a
    reduced draft; ``mode`` is Pillow's colour mode of the file (``RGB``, ``L``, ``P`` ...);
    ``exif_orientation`` is the EXIF tag 0x0112 (1-8) or None; ``bytes`` is the file size;
    ``windows`` are the 18 sub-window pHashes of crop detection
    (:func:`shared.imaging.hashes.window_phashes`), computed from the same decode as ``phash``.
    """

    format: ImageFormat
    width: int
    height: int
    mode: str
    exif_orientation: int | None
    sha256: str
    phash: str
    bytes: int
    windows: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        return self.format.content_type


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why bytes are not an acceptable image: a reason to count and a message to log.

    Example::

        Rejection(FailureReason.too_small, "120x80 is below the minimum 256x256")
    """

    reason: FailureReason
    message: str


class BufferFile(io.RawIOBase, BinaryIO):
    """A read-only, seekable file over bytes in memory that, unlike ``io.BytesIO`` of a
    bytearray, does not copy them: Pillow reads the download's own buffer piece by piece.

    >>> BufferFile(bytearray(b"abcdef")).read(3)
    b'abc'
    """

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._position : self._position + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._position + size
        chunk = bytes(self._view[self._position : end])
        self._position += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _draft(image: ImageFile.ImageFile, fmt: ImageFormat) -> None:
    """Ask for a JPEG at 1/8 scale: its pixels are 8 x 8 block means, all the hashes need,
    and decoding it still reads (and checks) the whole entropy-coded stream."""
    if fmt is ImageFormat.jpeg:
        width, height = image.size
        image.draft("RGB", (max(1, width // 8), max(1, height // 8)))


#: Bytes per pixel of Pillow's image memory by mode (RGB is stored in 4 bytes, as RGBA).
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def decoded_bytes(image: Image.Image) -> int:
    """What decoding ``image`` (at its current, possibly draft, size) allocates: width x
    height x Pillow's bytes per pixel for its mode.

    >>> decoded_bytes(Image.new("RGB", (100, 50)))
    20000
    """
    width, height = image.size
    return width * height * _PIXEL_BYTES.get(image.mode, 4)


class DecodeGate:
    """Lets at most ``parallel`` large decodes (over ``threshold`` bytes of pixels) run at once
    in the process's decode threads; small ones never wait. Together with the
    ``max_decoded_bytes`` cap it bounds the memory that decoding takes whatever the images.

    Example::

        gate = DecodeGate(threshold=16 * 2**20, parallel=1)
        inspect_image(data, rules, gate)
    """

    def __init__(self, threshold: int, parallel: int) -> None:
        self.threshold = threshold
        self.parallel = parallel
        self._slots = threading.BoundedSemaphore(parallel)

    @contextmanager
    def admit(self, size: int) -> Iterator[None]:
        if size <= self.threshold:
            yield
            return
        with self._slots:
            yield


def _exif_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a broken EXIF block is not a broken image
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def inspect_image(
    data: bytes | bytearray, rules: ValidationRules, gate: DecodeGate | None = None
) -> ImageInfo | Rejection:
    """Run the fast checks on image bytes; never raises for bad input. An image whose pixels
    would take more than ``rules.max_decoded_bytes`` is refused (``decoded_too_large``)
    before it is decoded; ``gate`` holds back large decodes while others run.

    Example::

        inspect_image(open("cat.jpg", "rb").read(), ValidationRules(formats=[ImageFormat.png]))
        # Rejection(reason=<FailureReason.format_not_allowed ...>, message='jpeg is not ...')
    """
    fmt = sniff_format(data)
    if fmt is None:
        return Rejection(FailureReason.not_an_image, "the bytes are not a known image format")
    if fmt not in rules.formats:
        allowed = ", ".join(f.value for f in rules.formats)
        return Rejection(FailureReason.format_not_allowed, f"{fmt.value} is not in [{allowed}]")
    try:
        with Image.open(BufferFile(data), formats=[PIL_FORMAT[fmt]]) as image:
            width, height = image.size
            if width * height > rules.max_pixels:
                return Rejection(
                    FailureReason.too_many_pixels,
                    f"{width}x{height} = {width * height} pixels is over the limit "
                    f"{rules.max_pixels}",
                )
            if width < rules.min_width or height < rules.min_height:
                return Rejection(
                    FailureReason.too_small,
                    f"{width}x{height} is below the minimum {rules.min_width}x{rules.min_height}",
                )
            mode = image.mode
            _draft(image, fmt)
            size = decoded_bytes(image)
            if size > rules.max_decoded_bytes:
                return Rejection(
                    FailureReason.decoded_too_large,
                    f"{width}x{height} {mode} decodes to {size} bytes, over the limit "
                    f"{rules.max_decoded_bytes}",
                )
            with gate.admit(size) if gate is not None else nullcontext():
                image.load()  # the integrity check: truncated or broken data raises here
                orientation = _exif_orientation(image)
                gray = phash_input(image)
            phash = phash_hex(gray)  # gray is reduced already: phash_hex reduces no further
            windows = tuple(window_phashes(gray))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Rejection(FailureReason.too_many_pixels, str(exc))
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error ...
        return Rejection(FailureReason.corrupt, f"{fmt.value} does not decode: {exc}")
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        exif_orientation=orientation,
        sha256=sha256_hex(data),
        phash=phash,
        bytes=len(data),
        windows=windows,
    )


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide thread pool of CPU work (:func:`inspect_async`, the near-duplicate
    search's routing and partition searches): one thread per CPU. Pillow's decoders, hashlib
    and numpy release the GIL, so these threads compute in parallel while the event loop keeps
    downloading; work beyond one thread per CPU waits here, holding its input only."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2,
                                       thread_name_prefix="pixcrawler-decode")
        return _pool


async def inspect_async(
    data: bytes | bytearray, rules: ValidationRules, executor: Executor | None = None,
    gate: DecodeGate | None = None,
) -> ImageInfo | Rejection:
    """:func:`inspect_image` in a worker thread (``executor``, or :func:`decode_pool`), so that
    decoding does not stall the event loop's downloads.

    Example::

        result = await downloader.fetch(url)
        if result.ok:
            info = await inspect_async(result.body, rules)
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor or decode_pool(), inspect_image, data, rules, gate)
