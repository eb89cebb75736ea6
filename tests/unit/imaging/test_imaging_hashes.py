"""The perceptual hash: the same picture stays close whatever its encoding, others are far."""

from __future__ import annotations

import io

import pytest
from imaging_samples import encode, picture
from PIL import Image, ImageOps

from shared.imaging import ImageInfo, hamming, inspect_image, phash_hex
from shared.models import ImageFormat, ValidationRules

RULES = ValidationRules(formats=list(ImageFormat))


def info_of(data: bytes) -> ImageInfo:
    result = inspect_image(data, RULES)
    assert isinstance(result, ImageInfo), result
    return result


def test_same_picture_reencoded_has_a_close_phash_and_another_sha256() -> None:
    original = picture((800, 600))
    encodings = [
        encode(original, "JPEG", quality=95),
        encode(original, "JPEG", quality=60),
        encode(original, "PNG"),
        encode(original, "WEBP", quality=80),
        encode(original.resize((400, 300)), "JPEG", quality=85),
    ]
    infos = [info_of(data) for data in encodings]

    assert len({info.sha256 for info in infos}) == len(encodings)
    for info in infos[1:]:
        assert hamming(infos[0].phash, info.phash) <= 4, info


def test_different_pictures_are_far_apart() -> None:
    a = info_of(encode(picture((640, 480)), "JPEG"))
    b = info_of(encode(ImageOps.mirror(picture((640, 480))), "JPEG"))
    c = info_of(encode(Image.effect_noise((640, 480), 60).convert("RGB"), "JPEG"))
    assert hamming(a.phash, b.phash) > 12
    assert hamming(a.phash, c.phash) > 12


def test_draft_decoded_hash_agrees_with_a_full_decode() -> None:
    data = encode(picture((1600, 1200)), "JPEG", quality=90)
    full = Image.open(io.BytesIO(data))
    full.load()
    assert hamming(info_of(data).phash, phash_hex(full)) <= 2


def test_phash_is_16_hex_digits_for_any_mode() -> None:
    for mode in ("RGB", "RGBA", "L", "P", "1", "CMYK", "I;16"):
        value = phash_hex(picture((90, 70)).convert(mode if mode != "I;16" else "I"))
        assert len(value) == 16 and set(value) <= set("0123456789abcdef"), mode


def test_hamming_counts_differing_bits() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError, match="differ in length"):
        hamming("ff", "ffff")
