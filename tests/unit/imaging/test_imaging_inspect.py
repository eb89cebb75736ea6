"""inspect_image: what a downloaded image is accepted as, and why others are rejected."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from imaging_samples import encode, jpeg_with_orientation, picture
from PIL import Image

from shared.imaging import DecodeGate, ImageInfo, Rejection, inspect_async, inspect_image, sniff_format
from shared.models import FailureReason, ImageFormat, ValidationRules

ALL_FORMATS = ValidationRules(formats=list(ImageFormat))

SAMPLES = {
    ImageFormat.jpeg: ("JPEG", {"quality": 90}),
    ImageFormat.png: ("PNG", {}),
    ImageFormat.webp: ("WEBP", {"quality": 90}),
    ImageFormat.gif: ("GIF", {}),
    ImageFormat.bmp: ("BMP", {}),
    ImageFormat.tiff: ("TIFF", {}),
}


def accepted(data: bytes, rules: ValidationRules = ALL_FORMATS) -> ImageInfo:
    result = inspect_image(data, rules)
    assert isinstance(result, ImageInfo), result
    return result


def rejected(data: bytes, rules: ValidationRules = ALL_FORMATS) -> Rejection:
    result = inspect_image(data, rules)
    assert isinstance(result, Rejection), result
    return result


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (1-bit grey) with almost no pixel data: what a
    decompression bomb looks like before anyone decodes it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", list(SAMPLES), ids=lambda f: f.value)
def test_each_format_is_sniffed_and_accepted_with_its_facts(fmt: ImageFormat) -> None:
    name, options = SAMPLES[fmt]
    data = encode(picture((320, 240)), name, **options)

    info = accepted(data)

    assert sniff_format(data) is fmt
    assert (info.format, info.width, info.height, info.bytes) == (fmt, 320, 240, len(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert len(info.phash) == 16 and int(info.phash, 16) >= 0
    assert info.content_type == f"image/{fmt.value}"


def test_large_jpeg_reports_its_full_size_although_checked_at_a_fraction() -> None:
    info = accepted(encode(picture((2000, 1500)), "JPEG"))
    assert (info.width, info.height, info.mode) == (2000, 1500, "RGB")


@pytest.mark.parametrize("name", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_files_are_corrupt(name: str) -> None:
    data = encode(picture((400, 300)), name)
    for keep in (len(data) // 2, len(data) * 9 // 10):
        result = rejected(data[:keep])
        assert result.reason is FailureReason.corrupt, (keep, result)


def test_truncated_progressive_jpeg_is_corrupt() -> None:
    data = encode(picture((640, 480)), "JPEG", progressive=True)
    assert rejected(data[: len(data) * 2 // 3]).reason is FailureReason.corrupt


def test_bytes_that_are_not_an_image_say_so() -> None:
    for data in (b"<!DOCTYPE html><html><head><title>404</title></head></html>", b"", b"BM"):
        assert rejected(data).reason is FailureReason.not_an_image


def test_formats_outside_the_allow_list_are_refused_by_name() -> None:
    result = rejected(encode(picture(), "BMP"), ValidationRules())
    assert result.reason is FailureReason.format_not_allowed
    assert "bmp" in result.message and "jpeg" in result.message


def test_decompression_bomb_is_refused_before_decoding() -> None:
    result = rejected(png_header_only(30_000, 30_000))
    assert result.reason is FailureReason.too_many_pixels


def test_pixel_limit_comes_from_the_rules() -> None:
    data = encode(picture((300, 200)), "PNG")
    tight = ValidationRules(formats=list(ImageFormat), max_pixels=300 * 200 - 1)

    result = rejected(data, tight)

    assert result.reason is FailureReason.too_many_pixels
    assert "300x200" in result.message
    assert accepted(data, ValidationRules(max_pixels=300 * 200)).width == 300


def test_minimum_width_and_height() -> None:
    data = encode(picture((300, 200)), "JPEG")

    assert accepted(data, ValidationRules(min_width=300, min_height=200)).height == 200
    for rules in (ValidationRules(min_width=301), ValidationRules(min_height=201)):
        result = rejected(data, rules)
        assert result.reason is FailureReason.too_small
        assert "300x200" in result.message


def test_exif_orientation_is_read() -> None:
    assert accepted(jpeg_with_orientation(6)).exif_orientation == 6
    assert accepted(jpeg_with_orientation(1)).exif_orientation == 1
    assert accepted(encode(picture(), "JPEG")).exif_orientation is None


def test_colour_modes_are_reported() -> None:
    assert accepted(encode(picture(mode="L"), "JPEG")).mode == "L"
    assert accepted(encode(picture(mode="RGBA"), "PNG")).mode == "RGBA"
    assert accepted(encode(picture(), "GIF")).mode == "P"
    assert accepted(encode(picture(mode="CMYK"), "JPEG")).mode == "CMYK"


def test_truncated_images_stay_refused_whatever_was_imported() -> None:
    from PIL import ImageFile

    data = encode(picture((400, 300)), "JPEG")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert rejected(data[: len(data) // 2]).reason is FailureReason.corrupt


def test_animated_gif_is_accepted_with_its_canvas_size() -> None:
    frames = [picture((120, 90)), picture((120, 90)).rotate(180)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    info = accepted(data)
    assert (info.format, info.width, info.height) == (ImageFormat.gif, 120, 90)


def test_large_png_decodes_fully() -> None:
    image = Image.effect_noise((700, 500), 40).convert("RGB")
    info = accepted(encode(image, "PNG"))
    assert (info.width, info.height) == (700, 500)


async def test_inspect_async_gives_the_same_answers_off_the_event_loop() -> None:
    import asyncio

    samples = [encode(picture((200 + i, 150)), "JPEG") for i in range(6)] + [b"<html>"]
    expected = [inspect_image(data, ALL_FORMATS) for data in samples]

    results = await asyncio.gather(*(inspect_async(data, ALL_FORMATS) for data in samples))

    assert results == expected


def test_an_image_whose_pixels_would_take_more_than_the_cap_is_refused_before_decoding() -> None:
    data = encode(picture((1000, 800), "RGBA"), "PNG")  # 3.2 MB of pixels once decoded
    rules = ValidationRules(max_decoded_bytes=3_000_000)
    result = inspect_image(data, rules)
    assert isinstance(result, Rejection) and result.reason is FailureReason.decoded_too_large
    assert "3200000" in result.message
    assert isinstance(inspect_image(data, ValidationRules(max_decoded_bytes=3_200_000)), ImageInfo)


def test_a_jpeg_is_measured_at_its_draft_size() -> None:
    data = encode(picture((1600, 1200)), "JPEG")  # 7.7 MB in full, 120 KB at 1/8
    info = inspect_image(data, ValidationRules(max_decoded_bytes=200_000))
    assert isinstance(info, ImageInfo) and (info.width, info.height) == (1600, 1200)


def test_the_gate_lets_one_large_decode_run_at_a_time() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = DecodeGate(threshold=100_000, parallel=1)
    inside, peak, lock = [0], [0], threading.Lock()
    real_admit = gate.admit

    from contextlib import contextmanager

    @contextmanager
    def counting(size: int):  # type: ignore[no-untyped-def]
        with real_admit(size):
            with lock:
                inside[0] += size > gate.threshold
                peak[0] = max(peak[0], inside[0])
            try:
                yield
            finally:
                with lock:
                    inside[0] -= size > gate.threshold

    gate.admit = counting  # type: ignore[method-assign]
    large = encode(picture((600, 400)), "PNG")  # 960,000 bytes of pixels
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: inspect_image(large, ValidationRules(), gate), range(8)))
    assert all(isinstance(r, ImageInfo) for r in results)
    assert peak[0] == 1


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 7), (3, 3)])
def test_tiny_images_get_a_full_set_of_window_hashes(size: tuple[int, int]) -> None:
    info = inspect_image(encode(picture(size), "PNG"), ValidationRules())
    assert isinstance(info, ImageInfo)
    assert len(info.windows) == 18 and all(len(w) == 16 for w in info.windows)
