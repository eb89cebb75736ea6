"""Thumbnails: a JPEG at most 256 pixels on its longest side whatever the stored image (format,
mode, size, orientation, transparency), its aspect ratio kept; bad bytes and images over the
decoded-size limit are a clear 409, never a crash."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imaging_samples import encode, jpeg_with_orientation, picture
from shared.errors import Conflict
from shared.imaging import DecodeGate
from shared.models import THUMBNAIL_EDGE
from shared.review.thumbnails import make_thumbnail

LIMIT = 128 * 1024 * 1024
FORMATS = {"JPEG": ("RGB", "L", "CMYK"), "PNG": ("RGB", "RGBA", "L", "P", "LA"), "WEBP": ("RGB", "RGBA"),
           "GIF": ("P",), "BMP": ("RGB",), "TIFF": ("RGB", "RGBA")}


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@given(
    width=st.integers(1, 1400), height=st.integers(1, 1400),
    fmt_mode=st.sampled_from([(f, m) for f, modes in FORMATS.items() for m in modes]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stored_image_becomes_a_small_jpeg_with_its_aspect_ratio(width: int, height: int, fmt_mode: tuple[str, str]) -> None:
    fmt, mode = fmt_mode
    data = encode(picture((width, height), mode), fmt)
    thumb = opened(make_thumbnail(data, LIMIT, DecodeGate(16 * 2**20, 1)))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert max(thumb.size) == min(THUMBNAIL_EDGE, max(width, height))
    if max(width, height) > THUMBNAIL_EDGE:
        scale = THUMBNAIL_EDGE / max(width, height)
        assert abs(thumb.width - width * scale) <= 1.5 and abs(thumb.height - height * scale) <= 1.5
    else:
        assert thumb.size == (width, height)


def test_exif_orientation_turns_the_thumbnail_upright() -> None:
    thumb = opened(make_thumbnail(jpeg_with_orientation(6, (400, 200)), LIMIT))
    assert thumb.size == (128, 256)  # stored 400 x 200, shown rotated a quarter turn


def test_transparency_becomes_white() -> None:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    thumb = opened(make_thumbnail(encode(image, "PNG"), LIMIT))
    assert thumb.getpixel((128, 128)) == (255, 255, 255)


def test_an_image_over_the_decoded_size_limit_is_refused_before_it_is_decoded() -> None:
    data = encode(picture((2000, 1500)), "PNG")  # 2000 x 1500 RGB decodes to 12 MB
    with pytest.raises(Conflict) as refused:
        make_thumbnail(data, 10 * 1024 * 1024)
    assert refused.value.details[0].error_code == "image_undecodable"
    assert "over the limit" in refused.value.message
    assert max(opened(make_thumbnail(data, LIMIT)).size) == THUMBNAIL_EDGE


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_within_a_small_limit() -> None:
    data = encode(picture((4000, 3000)), "JPEG")  # 48 MB of pixels at full scale, 3 MB at 1/8
    assert max(opened(make_thumbnail(data, 4 * 1024 * 1024)).size) == THUMBNAIL_EDGE


@pytest.mark.parametrize("data", [b"", b"not an image", encode(picture(), "PNG")[:200]])
def test_bytes_that_do_not_decode_are_a_conflict(data: bytes) -> None:
    with pytest.raises(Conflict) as refused:
        make_thumbnail(data, LIMIT)
    assert refused.value.details[0].error_code == "image_undecodable"
