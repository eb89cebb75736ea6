"""Decoding, format sniffing, hashes and the fast checks of downloaded images.

Example::

    from shared.imaging import inspect_image, Rejection
    from shared.models import ValidationRules
    result = inspect_image(body, ValidationRules(min_width=128, min_height=128))
    if isinstance(result, Rejection):
        print(result.reason, result.message)
    else:
        print(result.format, result.width, result.height, result.sha256, result.phash)
"""

from shared.imaging.decode import (
    DecodeGate,
    ImageInfo,
    Rejection,
    decode_pool,
    decoded_bytes,
    inspect_async,
    inspect_image,
    sniff_format,
)
from shared.imaging.hashes import hamming, phash_hex, phash_input, sha256_hex, window_phashes

__all__ = [
    "DecodeGate",
    "ImageInfo",
    "Rejection",
    "decode_pool",
    "decoded_bytes",
    "hamming",
    "inspect_async",
    "inspect_image",
    "phash_hex",
    "phash_input",
    "sha256_hex",
    "sniff_format",
    "window_phashes",
]
