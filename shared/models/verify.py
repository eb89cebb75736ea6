"""Models of a job's verify: the request, the orchestration's and activities' payloads, the
progress entity's part, and the answers of ``POST``/``GET /api/v1/jobs/{job_id}/verify``.

A verify checks that every image record's bytes are where the record says (its shard exists
and holds ``bytes`` bytes at ``offset``; with ``deep``, that they hash to the record's sha256),
fetches the lost ones again from their URL, and marks those it cannot (``missing``).

Example::

    counts = VerifyCounts(checked=10, present=8, missing=2, repaired=1, marked=1)
    counts.plus(counts).checked   # 20
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from shared.models.base import Model
from shared.models.images import ValidationRules

__all__ = [
    "BatchVerification", "PlanVerify", "VerifyBatch", "VerifyCounts", "VerifyJobInput", "VerifyPlan",
    "VerifyProgress", "VerifyReport", "VerifyRequest", "VerifyStart", "VerifyStarted", "VerifyStatus",
]


class VerifyRequest(Model):
    """Body of ``POST /api/v1/jobs/{job_id}/verify`` (optional: no body, or ``{}``, is a cheap
    verify)."""

    deep: bool = Field(
        default=False,
        description="also read every image and check that it hashes to its sha256 (one read per "
        "image; the cheap verify asks each shard's size once)",
    )


class VerifyCounts(Model):
    """What a verify found: ``checked = present + missing`` and ``missing = repaired + marked``."""

    checked: int = Field(default=0, ge=0, description="image records looked at")
    present: int = Field(default=0, ge=0, description="records whose bytes are there (and intact, deep)")
    missing: int = Field(default=0, ge=0, description="records whose bytes were not there (or not intact)")
    repaired: int = Field(default=0, ge=0, description="missing ones fetched again from their URL and stored")
    marked: int = Field(
        default=0, ge=0, description="missing ones that could not be fetched again: marked, left out of datasets"
    )

    def plus(self, other: VerifyCounts) -> VerifyCounts:
        """The sum of both counts."""
        return VerifyCounts(**{name: getattr(self, name) + getattr(other, name) for name in VerifyCounts.model_fields})


class PlanVerify(Model):
    """Input of the ``plan_verify`` activity."""

    job_id: str
    run_id: str


class VerifyPlan(Model):
    """How a verify run is cut: ``batches`` ranges of shard keys, ``parallel`` at a time."""

    run_id: str
    images: int = Field(ge=0, description="records of the job when the run was planned")
    batches: int = Field(ge=0)
    parallel: int = Field(ge=1, description="batches in flight at once")
    waves_per_history: int = Field(ge=1, description="waves of batches before continue_as_new")


class VerifyJobInput(Model):
    """Input of the ``verify_job`` orchestration (and of its continue_as_new)."""

    job_id: str
    user_id: str
    deep: bool = False
    rules: ValidationRules = Field(description="the job's fast checks, which a repaired image passes again")
    plan: VerifyPlan | None = None
    next_batch: int = Field(default=0, ge=0)
    counts: VerifyCounts = Field(default_factory=VerifyCounts, description="the batches done so far")


class VerifyBatch(Model):
    """Input of ``verify_batch``: range ``index`` of ``batches`` ranges of shard keys of one job."""

    job_id: str
    user_id: str
    run_id: str
    index: int = Field(ge=0)
    batches: int = Field(ge=1)
    deep: bool = False
    rules: ValidationRules


class BatchVerification(VerifyCounts):
    """What one verify batch found; applied to the progress entity once per (run, index)."""

    run_id: str
    index: int = Field(ge=0)
    marked_kept: int = Field(
        default=0, ge=0, description="of the marked records, those that were valid and not near-duplicates"
    )
    written: int = Field(default=0, ge=0, description="records this batch changed")


class VerifyStart(Model):
    """Progress entity operation ``verify_start``: a verify run begins (a new run_id resets)."""

    run_id: str
    deep: bool
    images: int
    batches: int
    started_at: datetime


class VerifyProgress(VerifyCounts):
    """The verify part of a job's progress entity: the latest run and what it found so far."""

    run_id: str
    deep: bool = False
    images: int = 0
    batches: int = 0
    batches_done: list[int] = Field(default_factory=list)
    marked_kept: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Every batch of the run is counted."""
        return len(self.batches_done) >= self.batches

    def apply(self, result: BatchVerification, now: datetime) -> VerifyProgress:
        """Count a batch once: another run's or an already counted batch changes nothing.
        ``now`` is when the run finished, if this batch was its last."""
        if result.run_id != self.run_id or result.index in self.batches_done or self.finished:
            return self
        counts = VerifyCounts.model_validate(self.model_dump(include=set(VerifyCounts.model_fields)))
        applied = self.model_copy(update={
            **counts.plus(result).model_dump(),
            "batches_done": sorted([*self.batches_done, result.index]),
            "marked_kept": self.marked_kept + result.marked_kept,
        })  # fmt: skip
        if applied.finished:
            applied.finished_at = now
        return applied


class VerifyStatus(StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"


class VerifyStarted(Model):
    """Answer to ``POST /api/v1/jobs/{job_id}/verify``."""

    job_id: str
    images_count: int = Field(description="image records of the job when the verify started")
    deep: bool
    task_ids: list[str]
    message: str


class VerifyReport(VerifyCounts):
    """Answer to ``GET /api/v1/jobs/{job_id}/verify``: the job's latest verify."""

    job_id: str
    status: VerifyStatus
    deep: bool = False
    images: int = Field(default=0, description="image records of the job when the run was planned")
    batches: int = 0
    batches_done: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = Field(default=None, description="when the last batch was counted")
    error: str | None = None
    task_ids: list[str] = Field(default_factory=list)
