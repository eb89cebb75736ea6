"""Deterministic train/val/test assignment from an image's sha256.

The same image lands in the same split in every build of every dataset with the same split
fractions, whatever the order of the records: a model evaluated on ``test`` never saw those
images in ``train`` of a rebuilt archive.

Example::

    >>> split_for("00000000" + "0" * 56, {"train": 0.8, "val": 0.1, "test": 0.1})
    'train'
    >>> split_for("f" * 64, {"train": 0.8, "val": 0.1, "test": 0.1})
    'test'
"""

from __future__ import annotations

import string

from shared.models.datasets import check_splits

__all__ = ["split_for", "split_position"]

_PREFIX = 8
_SCALE = float(16**_PREFIX)


def split_position(sha256: str) -> float:
    """Where an image sits in [0, 1): its first 8 hex digits as a fraction of 2**32."""
    prefix = sha256[:_PREFIX]
    if len(prefix) < _PREFIX or any(c not in string.hexdigits for c in prefix):
        raise ValueError(f"expected a hex sha256 digest, got {sha256!r}")
    return int(prefix, 16) / _SCALE


def split_for(sha256: str, splits: dict[str, float]) -> str:
    """The split an image belongs to: its :func:`split_position` against the cumulative
    fractions of ``splits``, in the order given.

    ``splits`` is validated by :func:`~shared.models.datasets.check_splits` (fractions >= 0
    adding up to 1); a ``ValueError`` says what to fix.
    """
    check_splits(splits)
    position = split_position(sha256)
    cumulative = 0.0
    last_open = None
    for name, fraction in splits.items():
        if fraction <= 0:
            continue
        last_open = name
        cumulative += fraction
        if position < cumulative:
            return name
    # Rounding can leave the fractions a hair under 1: the rest belongs to the last open split.
    assert last_open is not None
    return last_open
