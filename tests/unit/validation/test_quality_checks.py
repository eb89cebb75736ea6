"""Quality checks on hand-made images: modes, sizes and configurable thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from shared.imaging.quality import assess_quality
from shared.models.validation import QualityCheck, QualityThresholds


def textured(width: int = 600, height: int = 400, seed: int = 0) -> Image.Image:
    """A sharp, colourful, mid-grey image that passes every check."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(40, 216, size=(height // 16, width // 16, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize((width, height), Image.NEAREST)


def test_a_clean_image_passes_every_check_and_reports_every_score() -> None:
    report = assess_quality(textured(), file_bytes=50_000)
    assert report.passed
    assert set(report.checks) == {check.value for check in QualityCheck}
    assert set(report.scores) == {"sharpness", "brightness", "entropy", "aspect_ratio",
                                  "channel_difference", "bytes"}


@pytest.mark.parametrize("radius", [8, 12, 20, 40])
def test_blurring_a_sharp_image_trips_only_the_blur_check(radius: int) -> None:
    blurred = textured().filter(ImageFilter.GaussianBlur(radius))
    assert assess_quality(blurred, file_bytes=50_000).failed == ["blur"]


def test_a_dark_but_sharp_image_is_dark_not_blurred() -> None:
    dark = Image.fromarray((np.asarray(textured()) * 0.12).astype(np.uint8))
    assert assess_quality(dark, file_bytes=50_000).failed == ["dark"]


def test_thresholds_are_configurable() -> None:
    image = textured()
    default = assess_quality(image, file_bytes=1_000)
    assert default.failed == ["file_size"]
    strict = QualityThresholds(min_bytes=0, min_sharpness=default.scores["sharpness"] + 1,
                               max_aspect_ratio=1.2)
    assert sorted(assess_quality(image, 1_000, strict).failed) == ["aspect_ratio", "blur"]


def test_declared_grayscale_is_expected_but_grey_rgb_is_not() -> None:
    gray = textured().convert("L")
    assert assess_quality(gray, file_bytes=50_000).checks["grayscale"]
    rgb_of_gray = gray.convert("RGB")
    assert assess_quality(rgb_of_gray, file_bytes=50_000).failed == ["grayscale"]


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "LA", "1"])
def test_other_modes_are_assessed(mode: str) -> None:
    report = assess_quality(textured().convert(mode), file_bytes=50_000)
    assert report.checks["aspect_ratio"] and report.checks["file_size"]
    assert report.checks["grayscale"]


def test_a_two_pixel_image_is_assessed_without_error() -> None:
    report = assess_quality(Image.new("RGB", (2, 1), (200, 30, 30)), file_bytes=80)
    assert report.scores["sharpness"] == 0.0
    assert {"blur", "file_size", "low_information"} <= set(report.failed)


def test_large_images_are_reduced_before_analysis() -> None:
    small, large = textured(600, 400, seed=3), textured(600, 400, seed=3).resize((2400, 1600))
    a, b = assess_quality(small, 50_000), assess_quality(large, 50_000)
    assert a.failed == b.failed == []
    assert a.scores["brightness"] == pytest.approx(b.scores["brightness"], abs=1.0)
