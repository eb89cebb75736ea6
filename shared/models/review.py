"""Models of reviewing a job before its dataset is built: its images as the review page and
the SDK list them, curation (exclude an image, move it to another label), near-duplicate
groups, stored download failures, and thumbnails.

Example::

    from shared.models.review import CurationChange, ImageQuery
    CurationChange.model_validate({"excluded": True})
    ImageQuery.model_validate({"label": "cat", "state": "kept"})
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from shared.models.api import PageQuery
from shared.models.base import ImageFormat, Model
from shared.models.images import FailureReason, ImageRecord, ValidationSummary

__all__ = [
    "THUMBNAIL_EDGE",
    "BinaryBody",
    "CurationChange",
    "CurationSummary",
    "DuplicateGroupPage",
    "DuplicateGroupQuery",
    "FailureEntry",
    "FailurePage",
    "FailureQuery",
    "ImagePage",
    "ImageQuery",
    "ImageState",
    "NearDuplicateGroup",
    "ReviewImage",
    "Thumbnail",
]

#: A thumbnail's longest side in pixels (the other side keeps the aspect ratio): JPEG.
THUMBNAIL_EDGE = 256

LabelText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

#: Which of a job's images to list: ``kept`` are those a dataset build packs by default
#: (valid, not near-duplicates, not excluded, bytes not lost); ``missing`` those whose bytes a
#: verify found lost and could not fetch again.
ImageState = Literal["all", "kept", "excluded", "duplicate", "invalid", "relabelled", "missing"]


class ReviewImage(Model):
    """One image as the review page shows it: where it came from, its size, its validation
    flags and its curation (a projection of :class:`~shared.models.ImageRecord`)."""

    id: str = Field(description="the sha256 of the image's bytes")
    job_id: str
    label: str = Field(description="the label after review (what a dataset build uses)")
    original_label: str = Field(description="the label the crawl gave it")
    source: str
    url: str
    page_url: str | None = None
    title: str | None = None
    license: str | None = None
    attribution: str | None = None
    width: int
    height: int
    format: ImageFormat
    bytes: int
    is_valid: bool
    is_duplicate: bool
    duplicate_of: str | None = None
    validation: ValidationSummary
    flags: list[str] = Field(
        default_factory=list, description="the validation checks the image failed (quality flags)"
    )
    excluded: bool = False
    curated_label: str | None = None
    curated_by: str | None = None
    curated_at: datetime | None = None
    missing: bool = Field(default=False, description="a verify found the bytes lost and could not fetch them again")
    missing_reason: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, record: ImageRecord) -> "ReviewImage":
        fields = set(cls.model_fields) - {"label", "original_label", "flags"}
        return cls(
            **record.model_dump(include=fields),
            label=record.effective_label,
            original_label=record.label,
            flags=sorted(name for name, ok in record.validation.checks.items() if not ok),
        )


class ImageQuery(PageQuery):
    """``GET /api/v1/jobs/{job_id}/images?label=&state=&limit=&continuation=``."""

    label: LabelText | None = Field(default=None, description="only images with this label after review")
    state: ImageState = Field(
        default="all",
        description="kept: what a default dataset build packs (valid, not near-duplicates, not "
        "excluded, bytes not lost); excluded; duplicate; invalid (failed a check); relabelled "
        "(moved by a reviewer); missing (bytes lost, marked by a verify)",
    )


class ImagePage(Model):
    items: list[ReviewImage]
    continuation: str | None = None


class CurationChange(Model):
    """Body of ``PATCH /api/v1/jobs/{job_id}/images/{image_id}``: the fields to change.

    ``{"excluded": true}`` leaves the image out of every dataset (``false`` takes it back);
    ``{"label": "dog"}`` moves it to another label of the job (``null`` or its own label moves
    it back). Fields not sent stay as they are."""

    excluded: bool | None = Field(default=None, description="leave the image out of datasets")
    label: LabelText | None = Field(
        default=None, description="one of the job's labels; null: the image's own label"
    )

    @model_validator(mode="after")
    def _something(self) -> "CurationChange":
        if not self.model_fields_set:
            raise ValueError('send "excluded", "label" or both')
        if "excluded" in self.model_fields_set and self.excluded is None:
            raise ValueError('"excluded" is true or false')
        return self


class CurationSummary(Model):
    """Body of ``GET /api/v1/jobs/{job_id}/curation``: what a default dataset build of the job
    would pack per label now, and what review changed."""

    job_id: str
    images: int = Field(description="stored images")
    kept: dict[str, int] = Field(
        default_factory=dict,
        description="per label after review: valid, not near-duplicates, not excluded",
    )
    excluded: int = 0
    relabelled: int = 0
    duplicates: int = 0
    invalid: int = 0


class NearDuplicateGroup(Model):
    """An image kept by near-duplicate detection and the images flagged as its duplicates."""

    kept: ReviewImage
    duplicates: list[ReviewImage] = Field(description="at most the first 24 duplicates")
    size: int = Field(description="how many duplicates the kept image has in all")


class DuplicateGroupQuery(Model):
    """``GET /api/v1/jobs/{job_id}/duplicates?limit=&continuation=``."""

    limit: int = Field(default=10, ge=1, le=50, description="groups per page")
    continuation: Sha256Hex | None = Field(
        default=None, description="the `continuation` of the previous page"
    )


class DuplicateGroupPage(Model):
    items: list[NearDuplicateGroup]
    continuation: str | None = None


class FailureEntry(Model):
    """A candidate URL that did not become an image, and why (stored by its download batch)."""

    url: str = Field(description="the candidate's URL (at most 2,048 characters kept)")
    reason: FailureReason
    message: str = Field(default="", description="what went wrong, in words (at most 300 characters)")
    label: str
    source: str
    chunk_id: str
    position: int = Field(description="the candidate's place in its chunk's results")
    run: int = Field(default=0, description="the job run that tried it")


class FailureQuery(PageQuery):
    """``GET /api/v1/jobs/{job_id}/failures?reason=&limit=&continuation=``."""

    reason: FailureReason | None = Field(default=None, description="only failures of this reason")


class FailurePage(Model):
    """A page of failures. A page may hold fewer than ``limit`` items while ``continuation``
    is set (each request reads a bounded number of stored batches): follow it to the end."""

    items: list[FailureEntry]
    continuation: str | None = None


class BinaryBody(Model):
    """Marks a route whose success body is bytes of ``media_type``, not JSON (the OpenAPI
    document says so)."""

    media_type: ClassVar[str] = "application/octet-stream"


class Thumbnail(BinaryBody):
    """A JPEG of at most 256 x 256 pixels (longest side 256, aspect ratio kept)."""

    media_type: ClassVar[str] = "image/jpeg"
