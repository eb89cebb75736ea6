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

import imagehash
from PIL import Image

#: Images are box-reduced to a short side of at least this many pixels before the hash.
PHASH_WORKING_SIZE = 128


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
    gray = image if image.mode == "L" else image.convert("L")
    factor = min(gray.size) // PHASH_WORKING_SIZE
    if factor > 1:
        gray = gray.reduce(factor)
    return str(imagehash.phash(gray))


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two hex hashes of the same length.

    >>> hamming("ff00000000000000", "0f00000000000001")
    5
    """
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hashes differ in length: {len(a_hex)} vs {len(b_hex)} hex digits")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def sha256_hex(data: bytes) -> str:
    """SHA-256 of the bytes, lowercase hex: the content address of a stored image.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()
