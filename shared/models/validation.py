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

from shared.models.base import DEFAULT_LEVEL, Level, Model

__all__ = [
    "HashedImage", "DuplicateGroup", "DedupeResult",
    "QualityCheck", "QualityThresholds", "QualityReport",
    "ValidationPlan", "ValidateJobInput", "ValidateBatch", "BatchValidation", "DedupeSummary",
    "ValidationStart", "ValidationProgress", "ValidationRequest", "ValidationStarted",
    "CheckCounts", "ValidationStats", "PlanValidation",
    "DedupePlan", "DedupeStage", "DedupeTask", "DedupeStageResult",
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
    windows: list[PHashHex] = Field(
        default_factory=list,
        description="pHashes of sub-windows of the image (shared.validation.dedupe.window_phashes): a "
        "crop of this image matches one of them",
    )

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


# --------------------------------------------------------------------------------------------
# Validating a job: orchestration payloads, progress, API bodies
# --------------------------------------------------------------------------------------------


class DedupeSummary(Model):
    """What a near-duplicate search did: the job's groups, and how many records' flags it
    changed."""

    images: int = 0
    groups: int = 0
    duplicates: int = 0
    changed: int = 0

    def add(self, result: "DedupeStageResult") -> "DedupeSummary":
        """The run's counts after one more stage activity."""
        if result.stage is DedupeStage.map:
            return self.model_copy(update={"images": self.images + result.records})
        if result.stage is DedupeStage.merge:
            return self.model_copy(update={"groups": result.groups, "duplicates": result.duplicates})
        if result.stage is DedupeStage.apply:
            return self.model_copy(update={"changed": self.changed + result.changed})
        return self


class DedupePlan(Model):
    """How one validation run searches the job's near-duplicates (``shared.validation.banding``, stages
    in ``shared.validation.dedupe_stages``): fixed once per run and carried by every stage's task, so a
    change of settings during a run changes nothing in it."""

    maps: int = Field(ge=1, description="id ranges read by the map stage")
    chunk_records: int = Field(
        ge=1, description="records a map routes at once (more in its range: more chunks)"
    )
    partitions: int = Field(ge=1, description="bucket partitions, one search activity each")
    threshold: int = Field(ge=0, le=32, description="whole-hash Hamming threshold")
    window_threshold: int = Field(ge=0, le=32, description="whole hash to window threshold")
    parallel: int = Field(ge=1, description="dedupe activities in flight at once")


class DedupeStage(StrEnum):
    """The stages of the near-duplicate search, in order (activity names)."""

    map = "dedupe_map"
    search = "dedupe_search"
    merge = "dedupe_merge"
    apply = "dedupe_apply"
    cleanup = "dedupe_cleanup"

    def tasks(self, plan: DedupePlan) -> int:
        """How many activities the stage runs."""
        return {"dedupe_map": plan.maps, "dedupe_search": plan.partitions,
                "dedupe_apply": plan.maps}.get(self.value, 1)


class DedupeTask(Model):
    """Input of a dedupe stage activity: map ``index``, partition ``index``, or the map whose
    flags to apply; 0 for the merge and the cleanup."""

    job_id: str
    run_id: str
    plan: DedupePlan
    index: int = Field(default=0, ge=0)


class DedupeStageResult(Model):
    """What one dedupe activity did: counts only (the orchestration's history holds these)."""

    stage: DedupeStage
    index: int = 0
    records: int = Field(default=0, description="records read (map) or offered (merge)")
    entries: int = Field(default=0, description="band entries written (map) or searched")
    distances: int = Field(default=0, description="Hamming distances computed")
    links: int = Field(default=0, description="verified near-duplicate pairs found")
    edges: int = Field(default=0, description="forest edges kept (one per linked record)")
    groups: int = 0
    duplicates: int = 0
    changed: int = Field(default=0, description="records whose flags were written")


class ValidationPlan(Model):
    """What ``plan_validation`` decides once per validation run; the orchestration carries it
    through continue_as_new. Batches are ranges of record ids (sha256 hex), numbered
    ``0 .. batches - 1`` (``shared.validation.levels.id_range``): history holds numbers, never ids."""

    run_id: str = Field(description="one validation run; progress applies each batch once per run")
    images: int = Field(ge=0, description="records of the job when the run was planned")
    batches: int = Field(ge=0)
    parallel: int = Field(ge=1, description="batches in flight at once")
    rate_per_minute: int = Field(ge=1, description="images per minute per job when pacing")
    pacing: bool
    waves_per_history: int = Field(ge=1, description="waves of batches before continue_as_new")
    dedupe: DedupePlan | None = Field(
        default=None, description="the near-duplicate search (levels above fast, jobs with images)"
    )


class ValidateJobInput(Model):
    """Input of the ``validate_job`` orchestration (and of its continue_as_new)."""

    job_id: str
    user_id: str
    level: Level
    standalone: bool = Field(
        default=False, description="started over HTTP: the progress phase ends as 'done'"
    )
    plan: ValidationPlan | None = None
    dedupe_stage: int = Field(default=0, ge=0, description="stages of DedupeStage done")
    dedupe_next: int = Field(default=0, ge=0, description="tasks of the current stage done")
    dedupe: DedupeSummary | None = Field(default=None, description="the search's counts so far")
    next_batch: int = Field(default=0, ge=0)
    processed: int = Field(default=0, ge=0, description="images in the batches done so far")
    started_at: datetime | None = Field(default=None, description="origin of the pacing")


class ValidateBatch(Model):
    """Input of ``validate_batch``: batch ``index`` of ``batches`` id ranges of one job."""

    job_id: str
    level: Level
    run_id: str
    index: int = Field(ge=0)
    batches: int = Field(ge=1)


class BatchValidation(Model):
    """What one validation batch found; applied to the progress entity once per (run, index)."""

    run_id: str
    index: int = Field(ge=0)
    validated: int = 0
    invalid: int = 0
    duplicates: int = 0
    rejected: int = Field(default=0, description="records invalid or near-duplicates: not valid")
    written: int = Field(default=0, description="records whose validation changed")


class ValidationStart(Model):
    """Progress entity operation ``validation_start``: a run begins (a new run_id resets)."""

    run_id: str
    level: Level
    images: int
    batches: int


class ValidationProgress(Model):
    """The validation part of a job's progress (entity state and API body)."""

    run_id: str
    level: Level
    images: int = 0
    batches: int = 0
    batches_done: list[int] = Field(default_factory=list)
    validated: int = 0
    invalid: int = 0
    duplicates: int = 0
    rejected: int = Field(default=0, description="images set aside: invalid or near-duplicates")

    @property
    def finished(self) -> bool:
        """Every batch of the run is counted."""
        return len(self.batches_done) >= self.batches

    def apply(self, result: BatchValidation) -> "ValidationProgress":
        """Count a batch once: another run's or an already counted batch changes nothing."""
        if result.run_id != self.run_id or result.index in self.batches_done:
            return self
        return self.model_copy(update={
            "batches_done": sorted([*self.batches_done, result.index]),
            "validated": self.validated + result.validated,
            "invalid": self.invalid + result.invalid,
            "duplicates": self.duplicates + result.duplicates,
            "rejected": self.rejected + result.rejected,
        })


class ValidationRequest(Model):
    """Body of ``POST /api/v1/validation/job/{job_id}`` (optional: no body, or ``{}``, is
    level ``medium``)."""

    level: Level = Field(default=DEFAULT_LEVEL, description="fast, medium (default) or slow")


class ValidationStarted(Model):
    """Answer to ``POST /api/v1/validation/job/{job_id}``."""

    job_id: str
    images_count: int
    validation_level: Level
    task_ids: list[str]
    message: str


class CheckCounts(Model):
    passed: int = 0
    failed: int = 0


class ValidationStats(Model):
    """``GET /api/v1/validation/stats/{job_id}``: records per level, per check and outcome."""

    job_id: str
    images: int
    valid: int = Field(description="valid and not a duplicate")
    invalid: int
    duplicates: int
    by_level: dict[Level, int]
    checks: dict[str, CheckCounts] = Field(description="records that ran each check")


class PlanValidation(Model):
    """Input of the ``plan_validation`` activity."""

    job_id: str
    level: Level
    run_id: str
