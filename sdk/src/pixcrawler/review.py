"""Review a job's images before building its dataset, with the shared client: what the review
page at ``/api/ui`` does, from Python.

Example::

    from pixcrawler import review
    for image in review.images(job_id, label="jaguar"):
        if "car" in (image.title or "").lower():
            review.exclude(job_id, image.id)
    review.relabel(job_id, some_id, "cat")
    review.summary(job_id).kept          # per label, what a default build packs now
"""

from __future__ import annotations

from collections.abc import Iterator

from pixcrawler._default import get_client
from pixcrawler._review import CurationSummary, DuplicateGroup, FailureEntry, ReviewImage

__all__ = [
    "CurationSummary", "DuplicateGroup", "FailureEntry", "ReviewImage",
    "duplicate_groups", "exclude", "failures", "image", "images", "include", "relabel", "summary",
    "thumbnail",
]


def images(job_id: str, label: str | None = None, state: str = "all") -> Iterator[ReviewImage]:
    """A job's images (of one label after review; ``state`` ``all``, ``kept``, ``excluded``,
    ``duplicate``, ``invalid`` or ``relabelled``)."""
    return get_client().iter_images(job_id, label=label, state=state)


def image(job_id: str, image_id: str) -> ReviewImage:
    """One image of a job."""
    return get_client().get_image(job_id, image_id)


def exclude(job_id: str, image_id: str) -> ReviewImage:
    """Leave an image out of every dataset built from now on."""
    return get_client().exclude_image(job_id, image_id)


def include(job_id: str, image_id: str) -> ReviewImage:
    """Take an excluded image back."""
    return get_client().include_image(job_id, image_id)


def relabel(job_id: str, image_id: str, label: str | None) -> ReviewImage:
    """Move an image to another of the job's labels (``None``: back to its own)."""
    return get_client().relabel_image(job_id, image_id, label)


def thumbnail(job_id: str, image_id: str) -> bytes:
    """The image as a JPEG of at most 256 x 256 pixels."""
    return get_client().image_thumbnail(job_id, image_id)


def duplicate_groups(job_id: str) -> Iterator[DuplicateGroup]:
    """The job's near-duplicate groups, each kept image with its duplicates."""
    return get_client().iter_duplicate_groups(job_id)


def failures(job_id: str, reason: str | None = None) -> Iterator[FailureEntry]:
    """The job's download failures with their URLs."""
    return get_client().iter_failures(job_id, reason=reason)


def summary(job_id: str) -> CurationSummary:
    """What a default dataset build of the job packs per label now, and what review changed."""
    return get_client().curation_summary(job_id)
