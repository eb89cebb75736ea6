"""Quality checks of the slow validation level: blur, exposure, information, shape, colour, size.

Every measure is taken on the image reduced by a power of two (box filter, or a JPEG draft
decode) to a long side of at most ``QualityThresholds.analysis_side`` pixels, so the cost per image is small and
nearly independent of its resolution:

- ``blur``: variance of the 4-neighbour Laplacian of the grayscale, less the part 8-bit rounding
  explains, scaled as if the 1st-99th percentile range were stretched to 0-255 (at most 16x),
  so that a dark or hazy but sharp photo is not called blurred.
- ``dark`` / ``bright``: mean luma (ITU-R 601, 0-255).
- ``low_information``: Shannon entropy (bits) of the 256-bin grayscale histogram.
- ``aspect_ratio``: long side / short side of the full image.
- ``grayscale``: a colour-mode image whose channels are (nearly) equal; a grayscale-mode image
  passes, it says what it is.
- ``file_size``: bytes of the file as downloaded.

Example::

    from PIL import Image, ImageChops
    from shared.imaging.quality import assess_quality
    from shared.models.validation import QualityThresholds
    with Image.open("cat.jpg") as image:
        report = assess_quality(image, file_bytes=48_213, thresholds=QualityThresholds())
    report.passed, report.checks["blur"], report.scores["sharpness"]
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageChops

from shared.models.validation import QualityCheck, QualityReport, QualityThresholds

__all__ = ["assess_quality", "assess_quality_bytes", "is_colour_mode", "judge_quality"]

#: Modes that declare themselves grayscale (the ``grayscale`` check passes for them).
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
#: Smallest percentile range the blur measure stretches from (avoids amplifying flat noise).
_MIN_STRETCH_RANGE = 16
_LEVELS = np.arange(256, dtype=np.float64)
#: Variance of the Laplacian that rounding to 8 bits alone gives ((4 + 16) / 12): removed before
#: stretching, or a flat, very blurred image would have its rounding noise amplified into detail.
_ROUNDING_NOISE = 20 / 12


def _reduction(size: tuple[int, int], side: int) -> int:
    """Smallest power of two that brings the long side to at most ``side`` (a JPEG draft
    decodes at exactly these scales, so both routes analyse the same pixels)."""
    factor = 1
    while max(size) > side * factor:
        factor *= 2
    return factor


def _analysis_image(image: Image.Image, side: int) -> Image.Image:
    """``image`` as L or RGB, box-reduced by a power of two to at most ``side`` pixels."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode in _GRAY_MODES else "RGB")
    factor = _reduction(image.size, side)
    return image.reduce(factor) if factor > 1 else image


def _histogram_stats(histogram: np.ndarray) -> tuple[float, float, float]:
    """Mean, entropy in bits, and 1st-99th percentile range of a 256-bin histogram."""
    total = float(histogram.sum())
    mean = float(np.dot(histogram, _LEVELS) / total)
    p = histogram[histogram > 0] / total
    entropy = float(-(p * np.log2(p)).sum())
    cumulative = np.cumsum(histogram)
    low = int(np.searchsorted(cumulative, 0.01 * total))
    high = int(np.searchsorted(cumulative, 0.99 * total))
    return mean, entropy, float(high - low)


def _laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of an int16 grayscale array."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    laplacian = gray[:-2, 1:-1] + gray[2:, 1:-1]  # int16 holds -1020..1020 exactly
    laplacian += gray[1:-1, :-2]
    laplacian += gray[1:-1, 2:]
    laplacian -= 4 * gray[1:-1, 1:-1]
    flat = laplacian.ravel().astype(np.float32)
    mean = float(flat.sum(dtype=np.float64)) / flat.size
    variance: float = max(float(np.dot(flat, flat)) / flat.size - mean * mean, 0.0)
    return variance


def _channel_difference(rgb: Image.Image) -> float:
    """Mean absolute difference between the R, G and B channels (the largest of the three),
    on the analysis image reduced 4 times more: averaging keeps equal channels equal."""
    r, g, b = rgb.reduce(4).split()
    pixels = r.width * r.height
    return max(
        float(np.dot(_LEVELS, ImageChops.difference(x, y).histogram())) / pixels
        for x, y in ((r, g), (g, b), (r, b))
    )


def is_colour_mode(mode: str | None) -> bool:
    """True for a Pillow mode that can hold colour (the ``grayscale`` check applies to it).

    >>> is_colour_mode("RGB"), is_colour_mode("L")
    (True, False)
    """
    return mode not in _GRAY_MODES


def judge_quality(
    scores: Mapping[str, float], colour_mode: bool, thresholds: QualityThresholds | None = None
) -> QualityReport:
    """The checks of :func:`assess_quality`, from its ``scores``: thresholds changed after an
    image was measured are applied again without decoding it.

    >>> judge_quality({"sharpness": 90, "brightness": 30, "entropy": 6, "aspect_ratio": 1.5,
    ...                "channel_difference": 9, "bytes": 50_000}, colour_mode=True).failed
    ['dark']
    """
    limits = thresholds or QualityThresholds()
    mean = scores["brightness"]
    checks = {
        QualityCheck.blur: scores["sharpness"] >= limits.min_sharpness,
        QualityCheck.dark: mean >= limits.min_brightness,
        QualityCheck.bright: mean <= limits.max_brightness,
        QualityCheck.low_information: scores["entropy"] >= limits.min_entropy,
        QualityCheck.aspect_ratio: scores["aspect_ratio"] <= limits.max_aspect_ratio,
        QualityCheck.grayscale: not (
            colour_mode and scores["channel_difference"] <= limits.grayscale_tolerance
        ),
        QualityCheck.file_size: scores["bytes"] >= limits.min_bytes,
    }
    return QualityReport(
        checks={check.value: ok for check, ok in checks.items()},
        scores=dict(scores),
        passed=all(checks.values()),
    )


def assess_quality(
    image: Image.Image, file_bytes: int, thresholds: QualityThresholds | None = None
) -> QualityReport:
    """Run every quality check on a decoded image; ``checks[name]`` is True when it passed.

    >>> report = assess_quality(Image.new("RGB", (900, 200), (10, 10, 10)), file_bytes=700)
    >>> sorted(report.failed)
    ['aspect_ratio', 'blur', 'dark', 'file_size', 'grayscale', 'low_information']
    """
    limits = thresholds or QualityThresholds()
    width, height = image.size
    small = _analysis_image(image, limits.analysis_side)
    gray_image = small if small.mode == "L" else small.convert("L")
    mean, entropy, spread = _histogram_stats(np.asarray(gray_image.histogram(), np.float64))
    stretch = 255.0 / max(spread, _MIN_STRETCH_RANGE)
    detail = _laplacian_variance(np.asarray(gray_image, np.int16)) - _ROUNDING_NOISE
    sharpness = max(detail, 0.0) * stretch**2
    colour_mode = is_colour_mode(image.mode)
    channel_difference = _channel_difference(small) if colour_mode else 0.0
    aspect = max(width, height) / max(min(width, height), 1)
    scores = {
        "sharpness": sharpness,
        "brightness": mean,
        "entropy": entropy,
        "aspect_ratio": aspect,
        "channel_difference": channel_difference,
        "bytes": float(file_bytes),
    }
    return judge_quality(scores, colour_mode, limits)


def assess_quality_bytes(data: bytes, thresholds: QualityThresholds | None = None) -> QualityReport:
    """Decode image bytes just large enough for the analysis, then :func:`assess_quality`.

    A JPEG is decoded with ``draft`` at the DCT scale (1/2, 1/4, 1/8) closest to the reduction
    that :func:`assess_quality` would apply, several times cheaper than a full decode.

    Example::

        report = assess_quality_bytes(blob_bytes, QualityThresholds(min_sharpness=80))
    """
    limits = thresholds or QualityThresholds()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        factor = _reduction(image.size, limits.analysis_side)
        if factor > 1:
            image.draft(image.mode, (max(1, width // factor), max(1, height // factor)))
        return assess_quality(image, len(data), limits)
