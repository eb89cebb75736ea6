"""Durable state of a job: the progress counters and the per-chunk checkpoints, with the pure
reducers the entities apply, and the payloads the crawl orchestrations pass around.

Idempotency: batches of one chunk run one after another, numbered by ``seq``. An entity keeps,
per chunk, the highest ``seq`` it has applied and ignores anything at or below it, so a batch
result delivered twice (a replay, a retried signal, a resumed run re-sending it) changes nothing.
The state stays O(chunks), never O(batches) or O(images).

Example::

    state = ProgressState().start_run(StartRun(run=1, chunk_ids=["c1"], reset=True))
    state = state.apply_batch(BatchResult(batch_id="c1:0", chunk_id="c1", seq=0, valid=3))
    state.valid  # 3, and applying the same result again keeps it 3
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import Field

from shared.models.api import PageQuery
from shared.models.base import ChunkStatus, JobStatus, Model, utcnow
from shared.models.images import BatchResult, Candidate, ValidationRules
from shared.models.jobs import ChunkSpec, Job, JobProgress, estimate_completion, work_done
from shared.models.validation import BatchValidation, ValidationProgress, ValidationStart
from shared.models.verify import BatchVerification, VerifyProgress, VerifyStart

_OPEN = (ChunkStatus.pending, ChunkStatus.in_progress)
#: How many checkpoint write latencies the checkpoint entity keeps (the newest ones).
LATENCY_SAMPLE = 64


class ChunkCount(Model):
    """What one chunk had gathered where a resumed run picks it up (from the checkpoint)."""

    valid: int = 0
    downloaded: int = 0
    next_seq: int = 0


class StartRun(Model):
    """Begin a run (start, retry or resume): which chunks belong to it, which are already done."""

    run: int
    chunk_ids: list[str]
    done_chunk_ids: list[str] = Field(default_factory=list, description="skipped on resume")
    reset: bool = Field(default=False, description="start and retry reset every counter")
    baseline: dict[str, ChunkCount] | None = Field(
        default=None,
        description="resume: the counts of the checkpoint the run starts from; the image "
        "counters are rebuilt from them, never kept from a progress entity that got ahead",
    )


class ChunkUpdate(Model):
    chunk_id: str
    run: int = 0
    status: ChunkStatus
    error: str | None = None


class ProgressState(Model):
    """State of the ``job_progress`` entity (key: job id)."""

    run: int = 0
    phase: str = "crawling"
    chunks: dict[str, ChunkStatus] = Field(default_factory=dict)
    applied: dict[str, int] = Field(default_factory=dict, description="chunk -> last seq applied")
    downloaded: int = 0
    valid: int = 0
    duplicates: int = 0
    failed: dict[str, int] = Field(default_factory=dict)
    validation: ValidationProgress | None = None
    updated_at: datetime | None = None
    run_start_completed: int = Field(default=0, description="chunks already done when the run began")
    run_start_valid: int = Field(default=0, description="images already stored when the run began")
    settled_rejected: int = Field(
        default=0, description="images the latest finished validation run set aside"
    )
    verification: VerifyProgress | None = Field(default=None, description="the job's latest verify run")
    settled_missing: int = Field(
        default=0, description="records the latest finished verify left marked missing (bytes lost)"
    )
    settled_missing_kept: int = Field(
        default=0, description="of those, the ones that were valid and not near-duplicates"
    )

    def start_run(self, op: StartRun) -> "ProgressState":
        """A run begins. Start and retry reset every counter. A resume rebuilds the image
        counters from ``op.baseline`` -- the checkpoint it read -- so that they match where its
        chunks continue: batches the previous run applied here but whose positions the
        checkpoint had not saved yet are crawled again, and counted again, once. The failure
        and duplicate counters (not in the checkpoint) are kept as they were."""
        if op.run < self.run:
            return self  # a terminated run's start that arrived late
        base = ProgressState() if op.reset else self.model_copy(deep=True)
        # Marks of missing bytes live on the records, which a new run keeps: so do their counts.
        base.verification = self.verification
        base.settled_missing, base.settled_missing_kept = self.settled_missing, self.settled_missing_kept
        if op.baseline is not None and not op.reset:
            base.valid = sum(count.valid for count in op.baseline.values())
            base.downloaded = sum(count.downloaded for count in op.baseline.values())
            base.applied = {chunk_id: count.next_seq - 1 for chunk_id, count in op.baseline.items()}
        done = set(op.done_chunk_ids)
        for chunk_id in op.chunk_ids:
            previous = base.chunks.get(chunk_id)
            if chunk_id in done:
                base.chunks[chunk_id] = ChunkStatus.completed
            elif previous is not ChunkStatus.completed:
                base.chunks[chunk_id] = ChunkStatus.pending
        base.run = op.run
        base.phase = "crawling"
        base.updated_at = utcnow()
        base.run_start_completed = base.count(ChunkStatus.completed)
        base.run_start_valid = base.valid
        return base

    def update_chunk(self, op: ChunkUpdate) -> "ProgressState":
        current = self.chunks.get(op.chunk_id)
        if op.run != self.run or current is None or current is ChunkStatus.completed:
            return self  # another run's late message, an unknown chunk, or a finished one
        new = self.model_copy(deep=True)
        new.chunks[op.chunk_id] = op.status
        new.updated_at = utcnow()
        return new

    def apply_batch(self, result: BatchResult) -> "ProgressState":
        if result.run != self.run or self.applied.get(result.chunk_id, -1) >= result.seq:
            return self
        new = self.model_copy(deep=True)
        new.applied[result.chunk_id] = result.seq
        new.downloaded += result.downloaded
        new.valid += result.valid
        new.duplicates += result.duplicates
        for reason, count in result.failed.items():
            new.failed[reason] = new.failed.get(reason, 0) + count
        new.updated_at = utcnow()
        return new

    def set_phase(self, phase: str) -> "ProgressState":
        new = self.model_copy(deep=True)
        new.phase = phase
        new.updated_at = utcnow()
        return new

    def start_validation(self, op: ValidationStart) -> "ProgressState":
        """A validation run begins; the same run announced again keeps its counts."""
        if self.validation is not None and self.validation.run_id == op.run_id:
            return self
        new = self.model_copy(deep=True)
        new.validation = ValidationProgress(**op.model_dump())
        new.updated_at = utcnow()
        return new

    def apply_validation(self, result: BatchValidation) -> "ProgressState":
        """Count one validation batch (once per run and batch index)."""
        if self.validation is None:
            return self
        applied = self.validation.apply(result)
        if applied is self.validation:
            return self
        update: dict[str, object] = {"validation": applied, "updated_at": utcnow()}
        if applied.finished:
            update["settled_rejected"] = applied.rejected
        return self.model_copy(update=update)

    def start_verify(self, op: VerifyStart) -> "ProgressState":
        """A verify run begins; the same run announced again keeps its counts."""
        if self.verification is not None and self.verification.run_id == op.run_id:
            return self
        new = self.model_copy(deep=True)
        new.verification = VerifyProgress(**op.model_dump())
        if new.verification.finished:  # a job without records: nothing to count
            new.verification.finished_at = op.started_at
        new.updated_at = utcnow()
        return new

    def apply_verify(self, result: BatchVerification) -> "ProgressState":
        """Count one verify batch (once per run and batch index). When the run's last batch is
        counted, its marked records become the job's missing ones: the counts it reports are
        then what the records say, whatever earlier runs found (a verify run twice settles the
        same numbers)."""
        if self.verification is None:
            return self
        now = utcnow()
        applied = self.verification.apply(result, now)
        if applied is self.verification:
            return self
        update: dict[str, object] = {"verification": applied, "updated_at": now}
        if applied.finished:
            update["settled_missing"] = applied.marked
            update["settled_missing_kept"] = applied.marked_kept
        return self.model_copy(update=update)

    def count(self, *statuses: ChunkStatus) -> int:
        return sum(1 for s in self.chunks.values() if s in statuses)

    def report(
        self,
        job_id: str,
        status: JobStatus,
        started_at: datetime | None,
        *,
        image_target: int = 0,
        completed_at: datetime | None = None,
        now: datetime | None = None,
    ) -> JobProgress:
        """The progress body the API returns. ``image_target`` (the job's
        ``JobCreate.image_target``) lets progress and its estimate follow the images as they
        arrive, not only the chunks as they finish. The job's status (its record) has the last
        word: once it is finished no chunk is active, whatever chunk messages were still on
        their way when its orchestrations were stopped, and a cancelled job is in phase
        ``cancelled``.

        Records a finished verify marked missing (bytes lost, not fetched again) are not
        counted: ``stored_images`` leaves them all out, ``valid_images`` those that were valid
        and not near-duplicates (the others are among what validation set aside)."""
        total = len(self.chunks)
        completed = self.count(ChunkStatus.completed)
        failed = self.count(ChunkStatus.failed)
        finished = status in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled)
        done = work_done(completed, total, self.valid, image_target)
        percent = math.floor(100 * done)
        estimate = None
        if status is JobStatus.completed:
            percent, estimate = 100, completed_at
        elif status is JobStatus.running:
            percent = min(percent, 99)
            if self.phase == "crawling":
                at_start = work_done(self.run_start_completed, total, self.run_start_valid, image_target)
                estimate = estimate_completion(done, at_start, started_at, now or utcnow())
        # What the latest finished validation set aside: a run under way counts once it ends.
        run = self.validation
        rejected = run.rejected if run is not None and run.finished else self.settled_rejected
        stored = max(0, self.valid - self.settled_missing)
        kept = max(0, self.valid - rejected - self.settled_missing_kept)
        return JobProgress(
            job_id=job_id,
            status=status,
            phase="cancelled" if status is JobStatus.cancelled else self.phase,
            progress=percent,
            estimated_completion=estimate,
            total_chunks=total,
            active_chunks=0 if finished else self.count(ChunkStatus.in_progress),
            completed_chunks=completed,
            failed_chunks=failed,
            downloaded_images=self.downloaded,
            stored_images=stored,
            valid_images=min(stored, kept),
            missing_images=self.settled_missing,
            duplicate_images=self.duplicates,
            failed_downloads=sum(self.failed.values()),
            failed_by_reason=dict(self.failed),
            validation=self.validation,
            started_at=started_at,
            updated_at=self.updated_at,
        )


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


class ChunkCheckpoint(Model):
    """Where one chunk stands: enough to continue it at its saved offset."""

    chunk_id: str
    run: int = 0
    label: str
    query: str
    source: str
    next_offset: int = 0
    next_seq: int = 0
    pages_fetched: int = 0
    downloaded: int = 0
    valid: int = 0
    status: ChunkStatus = ChunkStatus.pending
    attempts: int = 0
    last_error: str | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN


class CheckpointSummary(Model):
    """A job's checkpoint in numbers: its chunks by status and what they have gathered."""

    total_chunks: int = 0
    chunks_by_status: dict[ChunkStatus, int] = Field(default_factory=dict)
    images_so_far: int = Field(default=0, description="valid images the chunks have stored")
    downloaded: int = 0
    pages_fetched: int = 0
    updated_at: datetime | None = None


class CheckpointState(Model):
    """State of the ``checkpoint`` entity (key: job id).

    ``write_latency_ms`` is a rolling sample of the newest :data:`LATENCY_SAMPLE` checkpoint
    writes: for each applied save, the time from the orchestration episode that decided it
    (``ChunkCheckpoint.updated_at``, the episode's replay clock) to the entity applying it.
    It covers replay, commit and the entity queue: what a crash could lose.
    """

    job_id: str = ""
    run: int = 0
    chunks: dict[str, ChunkCheckpoint] = Field(default_factory=dict)
    updated_at: datetime | None = None
    write_latency_ms: list[float] = Field(default_factory=list)

    def save(self, chunk: ChunkCheckpoint, applied_at: datetime | None = None) -> "CheckpointState":
        """Record a chunk's position; a stale write (lower seq) never moves it back.
        ``applied_at`` (the entity's clock) adds the write's latency to the sample."""
        current = self.chunks.get(chunk.chunk_id)
        if chunk.run < self.run or (current is not None and current.next_seq > chunk.next_seq):
            return self
        new = self.model_copy(deep=True)
        new.chunks[chunk.chunk_id] = chunk
        new.updated_at = chunk.updated_at or utcnow()
        if applied_at is not None and chunk.updated_at is not None:
            latency = max(0.0, (applied_at - chunk.updated_at).total_seconds() * 1000.0)
            new.write_latency_ms = [*new.write_latency_ms, round(latency, 3)][-LATENCY_SAMPLE:]
        return new

    def begin(self, job_id: str, run: int, chunks: list[ChunkCheckpoint]) -> "CheckpointState":
        """Register a run's chunks at the positions the run starts them from (pending until
        they save): where a resume read them, even if saves of the previous run arrived since
        (those batches are crawled again by this run, and the progress entity's counters were
        rebuilt from the same positions). Chunks the run skips are left as they are; saves of
        older runs (and a late begin of an older run) are ignored from now on. A chunk keeps its
        last error until it saves."""
        if run < self.run:
            return self  # a terminated run's begin that arrived late
        new = self.model_copy(deep=True)
        new.job_id = job_id
        new.run = run
        for chunk in chunks:
            saved = new.chunks.get(chunk.chunk_id)
            last_error = chunk.last_error or (saved.last_error if saved is not None else None)
            new.chunks[chunk.chunk_id] = chunk.model_copy(
                update={"run": run, "status": ChunkStatus.pending, "attempts": 0, "last_error": last_error}
            )
        new.updated_at = utcnow()
        return new

    def summary(self) -> CheckpointSummary:
        """Counts by chunk status and the chunks' totals."""
        by_status: dict[ChunkStatus, int] = {}
        for chunk in self.chunks.values():
            by_status[chunk.status] = by_status.get(chunk.status, 0) + 1
        points = self.chunks.values()
        return CheckpointSummary(
            total_chunks=len(self.chunks),
            chunks_by_status=by_status,
            images_so_far=sum(c.valid for c in points),
            downloaded=sum(c.downloaded for c in points),
            pages_fetched=sum(c.pages_fetched for c in points),
            updated_at=self.updated_at,
        )


# --------------------------------------------------------------------------------------------
# Orchestration payloads
# --------------------------------------------------------------------------------------------


class ChunkRun(Model):
    """Input of ``crawl_chunk``; also what it passes to itself through continue_as_new."""

    job_id: str
    user_id: str
    run: int
    chunk: ChunkSpec
    rules: ValidationRules
    batch_size: int
    history_limit: int
    batches_in_flight: int = 1
    offset: int = 0
    seq: int = 0
    pages: int = 0
    downloaded: int = 0
    valid: int = 0
    attempts: int = 0
    last_error: str | None = None
    announced: bool = Field(default=False, description="in_progress already signalled this run")


class ResumePlan(Model):
    """Where a resumed run starts each chunk, from the checkpoint it read."""

    runs: list[ChunkRun] = Field(description="the chunks to crawl, at their saved positions")
    done_chunk_ids: list[str] = Field(default_factory=list, description="completed: skipped")
    baseline: dict[str, ChunkCount] = Field(
        default_factory=dict, description="the saved counts of every chunk the run starts from"
    )

    @property
    def images_so_far(self) -> int:
        return sum(count.valid for count in self.baseline.values())


def resume_plan(saved: CheckpointState, runs: list[ChunkRun]) -> ResumePlan:
    """The resume arithmetic: completed chunks are skipped, open ones continue at their saved
    offset, seq and counts; the baseline holds the counts of both (what the progress
    entity's counters are rebuilt from).

    Example::

        plan = resume_plan(checkpoint_state, chunk_runs)   # chunk_runs at offset 0
        plan.runs[0].offset                                 # the saved next_offset
    """
    plan = ResumePlan(runs=[])
    for chunk_run in runs:
        point = saved.chunks.get(chunk_run.chunk.chunk_id)
        if point is None:
            plan.runs.append(chunk_run)
            continue
        plan.baseline[point.chunk_id] = ChunkCount(
            valid=point.valid, downloaded=point.downloaded, next_seq=point.next_seq
        )
        if point.status is ChunkStatus.completed:
            plan.done_chunk_ids.append(point.chunk_id)
            continue
        plan.runs.append(
            chunk_run.model_copy(
                update={
                    "offset": point.next_offset, "seq": point.next_seq, "pages": point.pages_fetched,
                    "downloaded": point.downloaded, "valid": point.valid,
                }
            )
        )  # fmt: skip
    return plan


class CrawlJobInput(Model):
    """Input of ``crawl_job``: the chunks this run crawls (completed ones are left out)."""

    job_id: str
    user_id: str
    run: int
    chunks: list[ChunkRun]
    done_chunk_ids: list[str] = Field(default_factory=list)
    reset: bool = True
    baseline: dict[str, ChunkCount] | None = Field(
        default=None, description="resume: the checkpoint's counts (StartRun.baseline)"
    )
    max_parallel: int = 16
    validation_level: str = "fast"


class DiscoverRequest(Model):
    job_id: str
    chunk: ChunkSpec
    offset: int
    count: int


class DiscoverResult(Model):
    """What a discover activity found: candidates, or why it found none."""

    candidates: list[Candidate] = Field(default_factory=list)
    next_offset: int | None = None
    rate_limited: bool = False
    retry_after: float | None = None
    error: str | None = None


class ChunkOutcome(Model):
    chunk_id: str
    status: ChunkStatus
    valid: int = 0
    downloaded: int = 0
    error: str | None = None


class FinishJob(Model):
    """Input of the activity that closes a run: final status and counts."""

    job_id: str
    user_id: str
    run: int
    outcomes: list[ChunkOutcome]
    error: str | None = None


# --------------------------------------------------------------------------------------------
# Reading jobs back
# --------------------------------------------------------------------------------------------


class JobQuery(PageQuery):
    """``GET /api/v1/jobs?limit=&continuation=&status=``."""

    status: JobStatus | None = Field(default=None, description="only jobs with this status")


class JobPage(Model):
    items: list[Job]
    continuation: str | None = None


class JobLogs(Model):
    """``GET /api/v1/jobs/{id}/logs``: where every chunk of the job stands, with its errors."""

    job_id: str
    run: int
    chunks: list[ChunkCheckpoint]


class JobStats(Model):
    """``GET /api/v1/jobs/{id}/stats``: stored images per label (valid, not duplicates)."""

    job_id: str
    images: int
    per_label: dict[str, int]
