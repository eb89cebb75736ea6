"""Images generated with Pillow for the imaging tests: a picture with structure (so that the
perceptual hash has something to see), saved in any format."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw


def picture(size: tuple[int, int] = (320, 240), mode: str = "RGB") -> Image.Image:
    """A gradient with a few shapes: distinct enough for phash, smooth enough to compress."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.1, height * 0.2, width * 0.45, height * 0.8), fill=(220, 40, 40))
    draw.rectangle((width * 0.55, height * 0.1, width * 0.9, height * 0.5), fill=(30, 60, 200))
    draw.line((0, height - 1, width - 1, 0), fill=(250, 250, 20), width=max(1, width // 40))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_with_orientation(orientation: int, size: tuple[int, int] = (200, 100)) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(picture(size), "JPEG", exif=exif.tobytes())
