"""Thumbnails of stored images, made on demand and kept in Blob Storage.

A thumbnail is a JPEG whose longest side is :data:`~shared.models.THUMBNAIL_EDGE` pixels
(256; smaller images keep their size), turned upright by its EXIF orientation, on white where
the image was transparent. The first request for an image reads its bytes from the shard (one
ranged read), decodes and scales them, and stores the result at
``images/{job_id}/thumbs/{image_id}-256.jpg``; every later request reads that blob and decodes
nothing. Deleting the job deletes its thumbnails with its shards (everything under
``{job_id}/``).

Memory per thumbnail: the stored image (it passed ``FETCH_MAX_BYTES`` when crawled) and its
decoded pixels, at most ``MAX_DECODED_BYTES``; a JPEG is decoded at the smallest 1/2, 1/4 or
1/8 scale still at least 256 pixels on its longest side. Decodes above ``LARGE_DECODE_BYTES``
wait for one of ``LARGE_DECODES`` slots per process, and every decode runs in the decode
threads, never on the event loop.

Example::

    jpeg = await thumbnail(images, blobs, settings, "job-1", "ab12...", runtime.decode_gate)
"""

from __future__ import annotations

import asyncio
import io
from contextlib import nullcontext
from typing import Protocol

from PIL import Image, ImageOps

from shared.errors import Conflict, NotFound
from shared.imaging import DecodeGate, decode_pool, decoded_bytes
from shared.imaging.decode import BufferFile
from shared.models import THUMBNAIL_EDGE
from shared.names import IMAGES_CONTAINER
from shared.review.images import find_image, is_image_id
from shared.settings import Settings
from shared.storage.shards import RangeReader, read_image
from shared.storage import ImagesRepo

__all__ = [
    "THUMBNAIL_CONTENT_TYPE", "make_thumbnail", "thumbnail",
    "thumbnail_blob_name",
]

THUMBNAIL_CONTENT_TYPE = "image/jpeg"
#: JPEG quality of thumbnails: small files, no visible blocks at 256 px.
_QUALITY = 80

class ThumbnailBlobs(RangeReader, Protocol):
    async def put(
        self, container: str, name: str, data: bytes, content_type: str, overwrite: bool = False
    ) -> bool: ...


def thumbnail_blob_name(job_id: str, image_id: str) -> str:
    """Name of an image's thumbnail in the ``images`` container.

    >>> thumbnail_blob_name("j1", "ab" * 32)[:24]
    'j1/thumbs/abababababab'
    """
    return f"{job_id}/thumbs/{image_id}-{THUMBNAIL_EDGE}.jpg"


def _upright_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def make_thumbnail(data: bytes, max_decoded_bytes: int, gate: DecodeGate | None = None) -> bytes:
    """A JPEG of ``data`` whose longest side is at most :data:`THUMBNAIL_EDGE` pixels.

    Raises :class:`Conflict` (``image_undecodable``) when the bytes do not decode, or decode to
    more than ``max_decoded_bytes`` of pixels.

    Example::

        jpeg = make_thumbnail(open("cat.png", "rb").read(), 128 * 2**20)
    """
    try:
        with Image.open(BufferFile(data)) as image:
            image.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))  # JPEG: decode at a reduced scale
            size = decoded_bytes(image)
            if size > max_decoded_bytes:
                raise Conflict(
                    f"The image decodes to {size} bytes, over the limit {max_decoded_bytes}.",
                    error_code="image_undecodable",
                )
            with gate.admit(size) if gate is not None else nullcontext():
                image.load()
                small = _upright_rgb(image)
            small.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS, reducing_gap=3.0)
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=_QUALITY, optimize=True)
            return out.getvalue()
    except Conflict:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Conflict(f"The image has too many pixels: {exc}", error_code="image_undecodable") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ... for bad data
        raise Conflict(f"The stored image does not decode: {exc}", error_code="image_undecodable") from None


async def thumbnail(
    images: ImagesRepo, blobs: ThumbnailBlobs, settings: Settings, job_id: str, image_id: str,
    gate: DecodeGate | None = None,
) -> bytes:
    """The image's thumbnail: the stored one, else made from the image's bytes (large decodes
    through ``gate``, the process's) and stored.

    NotFound (``image_not_found``) for an image the job does not have."""
    if not is_image_id(image_id):  # never a user string in a blob name
        raise NotFound(f"Image {image_id} not found in job {job_id}.", error_code="image_not_found")
    name = thumbnail_blob_name(job_id, image_id)
    try:
        return await blobs.get(IMAGES_CONTAINER, name)
    except NotFound:
        pass
    record = await find_image(images, job_id, image_id)
    data = await read_image(blobs, record)
    loop = asyncio.get_running_loop()
    jpeg = await loop.run_in_executor(
        decode_pool(), make_thumbnail, data, settings.max_decoded_bytes, gate
    )
    await blobs.put(IMAGES_CONTAINER, name, jpeg, THUMBNAIL_CONTENT_TYPE, overwrite=True)
    return jpeg
