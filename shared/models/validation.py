"""Models of the medium (near-duplicate) and slow (quality) validation levels.

Example::

    from datetime import datetime, timezone
    from shared.models.validation import HashedImage, QualityThresholds
    item = HashedImage(id="a", phash="c3a1f0e01e0f87c3", width=640, height=480,
                       created_at=datetime(2024, 1, 1, tzinfo=timezone.utc), sha256="ab" * 32)
    QualityThresholds(min_sharpness=80).max_aspect_ratio   # 3.0
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models.base import Model

__all__ = [
    "HashedImage", "DuplicateGroup", "DedupeResult",
    "QualityCheck", "QualityThresholds", "QualityReport",
]

PHashHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{16}$")]


# --------------------------------------------------------------------------------------------
# Medium: near-duplicates
# --------------------------------------------------------------------------------------------


class HashedImage(Model):
    """What near-duplicate detection needs to know of one image: a projection of ImageRecord,
    ``HashedImage.model_validate(record, from_attributes=True)``."""

    id: str
    phash: PHashHex = Field(description="64-bit perceptual hash, 16 hex characters")
    width: int = Field(ge=0)
    height: int = Field(ge=0)
    created_at: datetime
    sha256: str

    @property
    def area(self) -> int:
        return self.width * self.height


class DuplicateGroup(Model):
    """Images that are (transitively) within the threshold of each other, and the one kept."""

    keeper: str
    members: list[str] = Field(description="all ids of the group, keeper included, sorted")


class DedupeResult(Model):
    """Outcome of near-duplicate detection over a whole job.

    ``keeper_of`` has every input id: the id of the image kept in its group, or None for a
    kept image and for an image without duplicates. ``groups`` lists only groups of two or more.
    """

    threshold: int
    keeper_of: dict[str, str | None]
    groups: list[DuplicateGroup]
    distance_computations: int = Field(
        description="Hamming distances computed (the index keeps this far below n*(n-1)/2)"
    )

    def is_duplicate(self, image_id: str) -> bool:
        """True when the image is not the kept one of its group."""
        return self.keeper_of[image_id] is not None

    @property
    def duplicate_count(self) -> int:
        return sum(1 for keeper in self.keeper_of.values() if keeper is not None)


# --------------------------------------------------------------------------------------------
# Slow: quality
# --------------------------------------------------------------------------------------------


class QualityCheck(StrEnum):
    """Names of the quality checks (keys of ``QualityReport.checks``)."""

    blur = "blur"
    dark = "dark"
    bright = "bright"
    low_information = "low_information"
    aspect_ratio = "aspect_ratio"
    grayscale = "grayscale"
    file_size = "file_size"


class QualityThresholds(Model):
    """Configurable limits of the slow level's quality checks.

    The defaults were chosen on the generated ground-truth corpus (``scripts/corpus.py``, 1,000
    bases): each sits between the scores of the images that must fail and of those that must
    pass (dark means 18-30 vs clean >= 80; defective entropies <= 2.1 bits vs >= 3.0; tiny files
    <= 1.1 KB vs >= 4.3 KB); ``bench/validation_quality.py`` prints the confusion per check.
    """

    analysis_side: int = Field(
        default=512, ge=64, description="images are reduced to at most this side before analysis"
    )
    min_sharpness: float = Field(
        default=50.0, ge=0,
        description="blur: minimum variance of the Laplacian (grey levels^2) of the "
        "contrast-stretched grayscale; the corpus' blurred images score <= 7, clean ones >= 130",
    )
    min_brightness: float = Field(default=40.0, ge=0, le=255, description="dark below this mean luma")
    max_brightness: float = Field(
        default=215.0, ge=0, le=255, description="too bright above this mean luma"
    )
    min_entropy: float = Field(
        default=2.5, ge=0, le=8, description="bits of the 256-bin grayscale histogram"
    )
    max_aspect_ratio: float = Field(default=3.0, ge=1, description="long side / short side")
    grayscale_tolerance: float = Field(
        default=1.0, ge=0,
        description="a colour image whose mean channel difference is at most this is grayscale",
    )
    min_bytes: int = Field(default=2048, ge=0, description="files smaller than this are tiny")


class QualityReport(Model):
    """Result of the quality checks of one image: ``checks`` True means passed."""

    checks: dict[str, bool]
    scores: dict[str, float]
    passed: bool

    @property
    def failed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]
