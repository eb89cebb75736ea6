"""The one rule of what goes into a dataset, review included: every layout packs exactly the
records :func:`admit` lets in, under the label it gives them.

A record stays out when a verify found its bytes lost and could not fetch them again
(``missing``), when a reviewer excluded it (``excluded``), when it failed a check
(``invalid``), when it is a near-duplicate of a kept image and the dataset leaves those out
(``duplicate``), or when it was validated below the dataset's level (``below_min_level``).
A record that goes in carries its label after review: the one a reviewer moved it to, else
its own (:attr:`~shared.models.ImageRecord.effective_label`), so folders, manifests, label
tables and the data card's counts all follow the review.

Example::

    record, reason = admit(record, meta)
    if record is None:
        tally.skipped[reason] += 1       # "missing", "excluded", "invalid", "duplicate", "below_min_level"
    else:
        pack(record)                     # record.label is the label after review
"""

from __future__ import annotations

from shared.models.datasets import DatasetMeta
from shared.models.images import ImageRecord

__all__ = ["EXCLUDED", "MISSING", "admit", "curated", "is_relabelled"]

#: The reason a record a reviewer excluded is left out (``skipped`` in dataset.json).
EXCLUDED = "excluded"
#: The reason a record whose bytes a verify found lost is left out.
MISSING = "missing"


def curated(record: ImageRecord) -> ImageRecord | None:
    """The record as a dataset sees it after review: None when excluded, else the record under
    its label after review (a copy when a reviewer moved it, with ``curated_label`` kept)."""
    if record.excluded:
        return None
    label = record.effective_label
    return record if label == record.label else record.model_copy(update={"label": label})


def is_relabelled(packed: ImageRecord) -> bool:
    """True for a record :func:`curated` moved to another label."""
    return packed.curated_label is not None and packed.curated_label == packed.label


def admit(record: ImageRecord, meta: DatasetMeta) -> tuple[ImageRecord | None, str | None]:
    """``(record to pack, None)``, or ``(None, why it stays out)``.

    Example::

        admit(record.model_copy(update={"excluded": True}), meta)   # (None, "excluded")
    """
    if record.missing:
        return None, MISSING
    packed = curated(record)
    if packed is None:
        return None, EXCLUDED
    if not record.is_valid:
        return None, "invalid"
    if record.is_duplicate and not meta.include_duplicates:
        return None, "duplicate"
    if record.validation.level.rank < meta.min_level.rank:
        return None, "below_min_level"
    return packed, None
