"""The image hashes of PixCrawler: one definition of the perceptual hash, and its distance.

Every stored image carries ``phash`` (64 bits as 16 hex characters) computed by
:func:`phash_hex`; de-duplication compares them with :func:`hamming`. Keep both here so that a
hash computed at download time and one computed later are comparable.

Example::

    from PIL import Image
    a = phash_hex(Image.open("cat.jpg"))          # 'c3d1b0f0e8e0f0f0'
    hamming(a, phash_hex(Image.open("cat.png")))  # small (0-6) for the same picture
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import imagehash
import numpy as np
from PIL import Image

#: Images are box-reduced to a short side of at least this many pixels before the hash.
PHASH_WORKING_SIZE = 128

#: Sub-windows hashed per image for crop detection: each side scaled by one of
#: ``WINDOW_SCALES`` and the window placed at each of ``WINDOW_POSITIONS`` (fractions of the
#: free margin) horizontally and vertically, 18 windows. A crop of 3-10 % per side with the cut
#: anywhere lies within a few percent of one of them (bench/validation_quality.py measures it).
WINDOW_SCALES = (0.95, 0.90)
WINDOW_POSITIONS = (0.0, 0.5, 1.0)

_DCT_SIDE = 32
_LANCZOS_SUPPORT = 3.0
#: The 8 lowest rows of the unnormalised DCT-II matrix of 32 samples (scipy.fftpack.dct's
#: convention, which ``imagehash.phash`` uses): ``_DCT8 @ pixels @ _DCT8.T`` is the 8 x 8
#: low-frequency block whose median the hash thresholds.
_DCT8 = 2 * np.cos(
    np.pi * np.arange(8)[:, None] * (2 * np.arange(_DCT_SIDE)[None, :] + 1) / (2 * _DCT_SIDE)
)
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))


def phash_hex(image: Image.Image) -> str:
    """The 64-bit DCT perceptual hash (``imagehash.phash``, hash_size 8) as 16 hex characters.

    The image is first turned to greyscale and box-reduced by an integer factor to a short side
    of 128-255 px. The hash only looks at a 32x32 resampling, so this loses nothing, costs
    little on large images, and makes a full decode agree with a JPEG draft decode at 1/8
    scale (whose pixels are 8x8 block means, the same thing a box reduction computes).

    >>> from PIL import Image
    >>> phash_hex(Image.new("L", (64, 64), 128))
    '8000000000000000'
    """
    return str(imagehash.phash(phash_input(image)))


def phash_input(image: Image.Image) -> Image.Image:
    """The greyscale, box-reduced image that :func:`phash_hex` and :func:`window_phashes`
    hash: compute it once and pass it to both (one decode, one reduction per image)."""
    gray = image if image.mode == "L" else image.convert("L")
    factor = min(gray.size) // PHASH_WORKING_SIZE
    return gray.reduce(factor) if factor > 1 else gray


def _lanczos(x: np.ndarray) -> np.ndarray:
    inside = np.abs(x) < _LANCZOS_SUPPORT
    return np.where(inside, np.sinc(x) * np.sinc(x / _LANCZOS_SUPPORT), 0.0)


@lru_cache(maxsize=1024)
def _resample_dct(size: int, start: float, stop: float) -> np.ndarray:
    """``_DCT8 @ R`` where ``R`` (32 x ``size``) resamples the span [start, stop) of a line of
    ``size`` pixels to 32 samples with a Lanczos-3 filter, the way Pillow's ``resize`` with a
    ``box`` does (filter widened by the scale, taps clipped to the image, rows normalised).
    Only the taps are computed; the (8 x size) result is cached per line geometry."""
    scale = (stop - start) / _DCT_SIDE
    filter_scale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filter_scale
    centers = start + (np.arange(_DCT_SIDE) + 0.5) * scale
    low = np.maximum(np.floor(centers - support + 0.5), 0).astype(np.int64)
    high = np.minimum(np.floor(centers + support + 0.5), size).astype(np.int64)
    taps = low[:, None] + np.arange(2 * int(np.ceil(support)) + 1)[None, :]
    weights = _lanczos((taps - centers[:, None] + 0.5) / filter_scale) * (taps < high[:, None])
    weights /= weights.sum(axis=1, keepdims=True)
    resample = np.zeros((_DCT_SIDE, size + taps.shape[1]))
    np.put_along_axis(resample, taps, weights, axis=1)  # taps of a row are distinct
    return _DCT8 @ resample[:, :size]


def _spans(size: int, scale: float) -> list[tuple[float, float]]:
    length = size * scale
    return [((size - length) * at, (size - length) * at + length) for at in WINDOW_POSITIONS]


def window_phashes(gray: Image.Image) -> list[str]:
    """pHashes (16 hex characters each) of the 18 sub-windows ``WINDOW_SCALES`` x
    ``WINDOW_POSITIONS``^2 of ``gray`` (the output of :func:`phash_input`): for each window,
    the hash ``imagehash.phash`` computes after a Lanczos resize of that window to 32 x 32,
    done as matrix products over the one reduced image (no crop, no per-window resize).

    A crop of an image hashes (whole, :func:`phash_hex`) within a few bits of the nearest
    window of the original, which is how near-duplicate search finds crops.

    >>> len(window_phashes(Image.new("L", (300, 200), 90)))
    18
    """
    pixels = np.asarray(gray if gray.mode == "L" else gray.convert("L"), dtype=np.float64)
    height, width = pixels.shape
    lows: list[np.ndarray] = []
    for scale in WINDOW_SCALES:
        columns = [_resample_dct(width, *span) for span in _spans(width, scale)]
        for rows in (_resample_dct(height, *span) for span in _spans(height, scale)):
            partial = rows @ pixels  # 8 x width
            lows.extend(partial @ cols.T for cols in columns)
    low = np.stack(lows).reshape(len(lows), 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    values = (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)
    return [f"{int(value):016x}" for value in values]


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two hex hashes of the same length.

    >>> hamming("ff00000000000000", "0f00000000000001")
    5
    """
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hashes differ in length: {len(a_hex)} vs {len(b_hex)} hex digits")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def sha256_hex(data: bytes | bytearray) -> str:
    """SHA-256 of the bytes, lowercase hex: the content address of a stored image.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()
