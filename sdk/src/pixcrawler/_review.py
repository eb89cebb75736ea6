"""What the review page does, from Python: a job's images with their curation, thumbnails,
near-duplicate groups and stored failures; exclude an image, move it to another label. :class:`ReviewMixin` adds these methods to :class:`~pixcrawler.Client`.

Example::

    client = Client(api_key="pk_...")
    for image in client.iter_images(job_id, label="cat", state="kept"):
        print(image.id, image.source, image.license, image.width, image.height)
    client.exclude_image(job_id, image.id)
    client.relabel_image(job_id, other.id, "dog")
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pixcrawler._http import Transport

__all__ = [
    "CurationSummary", "DuplicateGroup", "FailureEntry", "ReviewImage", "ReviewMixin",
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ReviewImage(_Response):
    """One stored image of a job: where it came from, its size, its flags and its curation.
    ``label`` is the label after review (what datasets use), ``original_label`` the crawl's."""

    id: str
    job_id: str
    label: str
    original_label: str
    source: str
    url: str
    page_url: str | None = None
    title: str | None = None
    license: str | None = None
    attribution: str | None = None
    width: int
    height: int
    format: str
    bytes: int
    is_valid: bool = True
    is_duplicate: bool = False
    duplicate_of: str | None = None
    flags: list[str] = Field(default_factory=list)
    excluded: bool = False
    curated_label: str | None = None
    curated_by: str | None = None
    curated_at: datetime | None = None


class DuplicateGroup(_Response):
    """An image kept by near-duplicate detection and (up to 24 of) its duplicates."""

    kept: ReviewImage
    duplicates: list[ReviewImage] = Field(default_factory=list)
    size: int = 0


class FailureEntry(_Response):
    """A candidate URL that did not become an image, and why."""

    url: str
    reason: str
    message: str = ""
    label: str
    source: str
    chunk_id: str
    position: int
    run: int = 0


class CurationSummary(_Response):
    """What a default dataset build of the job packs per label now, and what review changed."""

    job_id: str
    images: int = 0
    kept: dict[str, int] = Field(default_factory=dict)
    excluded: int = 0
    relabelled: int = 0
    duplicates: int = 0
    invalid: int = 0


def _segment(identifier: str) -> str:
    from pixcrawler.client import _quoted  # the client's own id check

    return _quoted(identifier)


class ReviewMixin:
    """The review methods of :class:`~pixcrawler.Client` (it provides ``_transport``)."""

    _transport: Transport

    def _json(self, method: str, path: str, **options: Any) -> Any:
        return self._transport.request(method, path, **options).json()

    def _image_path(self, job_id: str, image_id: str) -> str:
        return f"jobs/{_segment(job_id)}/images/{_segment(image_id)}"

    def _paged(self, path: str, page_size: int, **params: Any) -> Iterator[dict[str, Any]]:
        continuation: str | None = None
        while True:
            page = self._json("GET", path, params={**params, "limit": page_size, "continuation": continuation})
            yield from page["items"]
            continuation = page.get("continuation")
            if not continuation:
                return

    def iter_images(
        self, job_id: str, *, label: str | None = None, state: str = "all", page_size: int = 100
    ) -> Iterator[ReviewImage]:
        """A job's images, a page at a time: of one ``label`` (after review) and one ``state``
        (``all``, ``kept`` (what a default dataset build packs), ``excluded``, ``duplicate``,
        ``invalid``, ``relabelled``)."""
        for item in self._paged(f"jobs/{_segment(job_id)}/images", page_size, label=label, state=state):
            yield ReviewImage.model_validate(item)

    def list_images(
        self, job_id: str, *, label: str | None = None, state: str = "all", limit: int = 24
    ) -> list[ReviewImage]:
        """The first ``limit`` (at most 100) of a job's images, as :meth:`iter_images` lists them."""
        page = self._json(
            "GET", f"jobs/{_segment(job_id)}/images", params={"label": label, "state": state, "limit": limit}
        )
        return [ReviewImage.model_validate(item) for item in page["items"]]

    def get_image(self, job_id: str, image_id: str) -> ReviewImage:
        """One image of a job (its id is the sha256 of its bytes)."""
        return ReviewImage.model_validate(self._json("GET", self._image_path(job_id, image_id)))

    def exclude_image(self, job_id: str, image_id: str, excluded: bool = True) -> ReviewImage:
        """Leave an image out of every dataset built from now on (``excluded=False`` takes it back)."""
        body = {"excluded": excluded}
        return ReviewImage.model_validate(self._json("PATCH", self._image_path(job_id, image_id), json=body))

    def include_image(self, job_id: str, image_id: str) -> ReviewImage:
        """Undo :meth:`exclude_image`."""
        return self.exclude_image(job_id, image_id, excluded=False)

    def relabel_image(self, job_id: str, image_id: str, label: str | None) -> ReviewImage:
        """Move an image to another of the job's labels (``None``: back to its own label)."""
        body = {"label": label}
        return ReviewImage.model_validate(self._json("PATCH", self._image_path(job_id, image_id), json=body))

    def image_thumbnail(self, job_id: str, image_id: str) -> bytes:
        """The image as a JPEG of at most 256 x 256 pixels."""
        return self._transport.request("GET", f"{self._image_path(job_id, image_id)}/thumbnail").content

    def iter_duplicate_groups(self, job_id: str, *, page_size: int = 10) -> Iterator[DuplicateGroup]:
        """The job's near-duplicate groups (after a medium or slow validation)."""
        for item in self._paged(f"jobs/{_segment(job_id)}/duplicates", page_size):
            yield DuplicateGroup.model_validate(item)

    def iter_failures(
        self, job_id: str, *, reason: str | None = None, page_size: int = 100
    ) -> Iterator[FailureEntry]:
        """The job's download failures with their URLs (of one ``reason``, if given)."""
        for item in self._paged(f"jobs/{_segment(job_id)}/failures", page_size, reason=reason):
            yield FailureEntry.model_validate(item)

    def curation_summary(self, job_id: str) -> CurationSummary:
        """Images a default dataset build packs per label now; how many were excluded or moved."""
        return CurationSummary.model_validate(self._json("GET", f"jobs/{_segment(job_id)}/curation"))
