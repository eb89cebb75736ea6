"""Validating a whole job at the fast, medium or slow level: the logic of the validation
activities and HTTP routes.

Levels include the ones below them:

- fast: what the download activity checked (decode, format, dimensions, pixels). Never
  recomputed: its checks stay on the record.
- medium: fast + near-duplicates across the whole job (``unique`` check, ``is_duplicate``,
  ``duplicate_of``) + the EXIF orientation and colour mode on the record (read from the blob
  for a record stored without them).
- slow: medium + the quality checks (``shared.imaging.quality``) with the thresholds of the
  settings. Measured once per image: later runs judge the stored scores against the current
  thresholds without reading the image again.

A run: :func:`plan_validation` counts the job's records and cuts the id space (record ids are
sha256 hex) into ``batches`` ranges, so an orchestration passes batch numbers, never ids; above
the fast level it also plans the near-duplicate search (``shared.dedupe_stages``: map id
ranges, search bucket partitions, merge, apply the flags that change, clean up), each stage an
activity of bounded memory; then :func:`validate_batch` validates one id range. Every write
happens only when a record's outcome changes, so running a level again writes nothing, and a
lower level after a higher one keeps the higher results (the level on a record never goes down).

Example::

    plan = await plan_validation(runtime.images, settings, PlanValidation(job_id=j, level=Level.medium, run_id=r))
    await dedupe_job(runtime.images, runtime.blobs, plan.dedupe, j, plan.run_id)  # what the stages do
    for index in range(plan.batches):
        await validate_batch(runtime.images, runtime.blobs, settings, ValidateBatch(..., index=index))
"""

from __future__ import annotations

import asyncio
import io
import math
from functools import partial
from typing import Any, Protocol

import azure.durable_functions as df
from PIL import Image

from shared import dedupe_stages
from shared.dedupe_stages import ScratchBlobs, gather_limited
from shared.errors import NotFound
from shared.imaging import decode_pool
from shared.imaging.quality import assess_quality_bytes, is_colour_mode, judge_quality
from shared.jobs import JobsStore, get_owned_job
from shared.models import (
    BatchValidation,
    CheckCounts,
    DedupePlan,
    DedupeStage,
    DedupeStageResult,
    DedupeSummary,
    DedupeTask,
    ImageRecord,
    Job,
    Level,
    PlanValidation,
    QualityCheck,
    ValidateBatch,
    ValidateJobInput,
    ValidationPlan,
    ValidationResult,
    ValidationResultPage,
    ValidationResultQuery,
    ValidationStarted,
    ValidationStats,
    ValidationSummary,
    job_instance_id,
    utcnow,
)
from shared.settings import Settings
from shared.shards import RangeReader, read_image
from shared.storage import ImagesRepo

VALIDATE_ORCHESTRATOR = "validate_job"
#: The check a medium run adds: False for an image that is a near-duplicate of a kept one.
UNIQUE_CHECK = "unique"
#: What the download activity checks (shared.crawl).
FAST_CHECKS = ("decode", "format", "dimensions", "pixels")
QUALITY_SCORES = ("sharpness", "brightness", "entropy", "aspect_ratio", "channel_difference", "bytes")
#: Width of the id prefixes that bound a batch: 32 bits, far more ranges than any job needs.
_PREFIX_BITS = 32
_RUNNING = ("Running", "Pending", "ContinuedAsNew")
_FILTERS = {
    "valid": " AND c.is_valid = true AND c.is_duplicate = false",
    "duplicate": " AND c.is_duplicate = true",
    "invalid": " AND c.is_valid = false",
}


class BlobReader(RangeReader, Protocol):
    """Reads image bytes (a range of a shard blob)."""


# --------------------------------------------------------------------------------------------
# Planning and batches
# --------------------------------------------------------------------------------------------


def id_range(index: int, batches: int) -> tuple[str, str | None]:
    """Lower (inclusive) and upper (exclusive, None for the last) id bound of batch ``index``.

    >>> id_range(0, 2), id_range(1, 2)
    (('00000000', '80000000'), ('80000000', None))
    """
    if not 0 <= index < batches:
        raise ValueError(f"batch {index} is not one of {batches}")
    low = f"{index * 2**_PREFIX_BITS // batches:08x}"
    high = None if index == batches - 1 else f"{(index + 1) * 2**_PREFIX_BITS // batches:08x}"
    return low, high


def rate_of(settings: Settings, level: Level) -> int:
    """Images per minute per job at ``level`` (PIXCRAWLER_VALIDATION_RATE_*)."""
    return {
        Level.fast: settings.validation_rate_fast,
        Level.medium: settings.validation_rate_medium,
        Level.slow: settings.validation_rate_slow,
    }[level]


async def plan_validation(images: ImagesRepo, settings: Settings, request: PlanValidation) -> ValidationPlan:
    """Count the job's records and choose the batches; with pacing on, no more batches run at
    once than the level's rate allows in a minute."""
    count = await images.count_by_job(request.job_id)
    size = settings.validation_batch_size
    rate = rate_of(settings, request.level)
    parallel = settings.validation_parallel
    if settings.validation_pacing:
        parallel = max(1, min(parallel, rate // size))
    return ValidationPlan(
        run_id=request.run_id,
        images=count,
        batches=math.ceil(count / size),
        parallel=parallel,
        rate_per_minute=rate,
        pacing=settings.validation_pacing,
        waves_per_history=settings.validation_waves_per_history,
        dedupe=(dedupe_stages.plan_dedupe(count, settings)
                if request.level is not Level.fast and count else None),
    )


async def dedupe_stage(images: ImagesRepo, blobs: ScratchBlobs, stage: DedupeStage,
                       task: DedupeTask) -> DedupeStageResult:
    """Run one activity of the near-duplicate search (``shared.dedupe_stages``)."""
    if stage is DedupeStage.map:
        low, high = id_range(task.index, task.plan.maps)
        return await dedupe_stages.map_range(images, blobs, task, low, high)
    if stage is DedupeStage.search:
        return await dedupe_stages.search(blobs, task)
    if stage is DedupeStage.merge:
        return await dedupe_stages.merge(blobs, task)
    if stage is DedupeStage.apply:
        return await dedupe_stages.apply(images, blobs, task)
    return await dedupe_stages.cleanup(blobs, task)


async def dedupe_job(images: ImagesRepo, blobs: ScratchBlobs, plan: DedupePlan, job_id: str,
                     run_id: str) -> DedupeSummary:
    """The whole near-duplicate search in this process, stage after stage with
    ``plan.parallel`` activities at once (what ``validate_job`` runs as activities); writes
    ``is_duplicate``/``duplicate_of`` on the records whose flags change."""
    summary = DedupeSummary()
    for stage in DedupeStage:
        tasks = [DedupeTask(job_id=job_id, run_id=run_id, plan=plan, index=i)
                 for i in range(stage.tasks(plan))]
        results = await gather_limited(
            [partial(dedupe_stage, images, blobs, stage, task) for task in tasks], plan.parallel
        )
        for result in results:
            summary = summary.add(result)
    return summary


# --------------------------------------------------------------------------------------------
# One record
# --------------------------------------------------------------------------------------------


def _header(data: bytes) -> tuple[str, int | None]:
    """Colour mode and EXIF orientation (1-8 or None) from an image's header."""
    with Image.open(io.BytesIO(data)) as image:
        orientation = image.getexif().get(0x0112)
        return image.mode, orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None


class RecordValidator:
    """Decides one record's validation at a level, reading its blob only when it must."""

    def __init__(self, blobs: BlobReader, settings: Settings, level: Level) -> None:
        self._blobs = blobs
        self._thresholds = settings.validation_quality
        self._level = level

    async def _bytes(self, record: ImageRecord) -> bytes:
        return await read_image(self._blobs, record)

    async def outcome(self, record: ImageRecord) -> ImageRecord:
        """The record as it should be after validation at the level (validated_at unchanged).
        A record whose bytes a verify found lost keeps what it has: there is nothing to read."""
        if record.missing:
            return record
        stored = record.validation
        level = max(stored.level, self._level, key=lambda lvl: lvl.rank)
        checks = {name: ok for name, ok in stored.checks.items()}
        scores = dict(stored.scores)
        mode, orientation = record.mode, record.exif_orientation
        data: bytes | None = None
        if level.rank >= Level.medium.rank:
            checks[UNIQUE_CHECK] = not record.is_duplicate
            if mode is None:
                data = await self._bytes(record)
                mode, orientation = _header(data)
        if level is Level.slow:
            if all(name in scores for name in QUALITY_SCORES):
                report = judge_quality(scores, is_colour_mode(mode), self._thresholds)
            else:
                data = data if data is not None else await self._bytes(record)
                loop = asyncio.get_running_loop()
                report = await loop.run_in_executor(decode_pool(), assess_quality_bytes, data, self._thresholds)
            checks.update(report.checks)
            scores.update(report.scores)
        summary = ValidationSummary(level=level, checks=checks, scores=scores, validated_at=stored.validated_at)
        is_valid = all(ok for name, ok in checks.items() if name != UNIQUE_CHECK)
        return record.model_copy(
            update={"validation": summary, "is_valid": is_valid, "mode": mode, "exif_orientation": orientation}
        )


def _changed(before: ImageRecord, after: ImageRecord) -> bool:
    fields = ("is_valid", "mode", "exif_orientation")
    old, new = before.validation, after.validation
    return any(getattr(before, f) != getattr(after, f) for f in fields) or (
        (old.level, old.checks, old.scores) != (new.level, new.checks, new.scores)
    )


async def _write(images: ImagesRepo, record: ImageRecord) -> None:
    summary = record.validation.model_copy(update={"validated_at": utcnow()})
    operations = [
        {"op": "set", "path": "/validation", "value": summary.model_dump(mode="json")},
        {"op": "set", "path": "/is_valid", "value": record.is_valid},
        {"op": "set", "path": "/mode", "value": record.mode},
        {"op": "set", "path": "/exif_orientation", "value": record.exif_orientation},
    ]
    try:
        await images.patch(record.id, record.job_id, operations)
    except NotFound:
        return  # deleted meanwhile (the job was deleted): nothing to validate


async def validate_batch(images: ImagesRepo, blobs: BlobReader, settings: Settings, batch: ValidateBatch) -> BatchValidation:
    """Validate the records of one id range; write those whose outcome changed."""
    low, high = id_range(batch.index, batch.batches)
    sql = "SELECT * FROM c WHERE c.job_id = @pk AND c.id >= @low"
    params = {"@low": low}
    if high is not None:
        sql += " AND c.id < @high"
        params["@high"] = high
    records = await images.query(sql, params, pk=batch.job_id)
    validator = RecordValidator(blobs, settings, batch.level)
    outcomes: list[ImageRecord] = await gather_limited([partial(validator.outcome, r) for r in records])
    changed = [after for before, after in zip(records, outcomes) if _changed(before, after)]
    await gather_limited([partial(_write, images, r) for r in changed])
    return BatchValidation(
        run_id=batch.run_id,
        index=batch.index,
        validated=len(outcomes),
        invalid=sum(not r.is_valid for r in outcomes),
        duplicates=sum(r.is_duplicate for r in outcomes),
        rejected=sum(not r.is_valid or r.is_duplicate for r in outcomes),
        written=len(changed),
    )


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def validation_instance_id(job_id: str) -> str:
    """Instance id of a validation started over HTTP (one at a time per job)."""
    return f"{job_id}:validate"


def crawl_validation_instance_id(job_id: str, run: int) -> str:
    """Instance id of the validation a crawl run starts when its downloads are done."""
    return f"{job_instance_id(job_id, run)}:validate"


async def _running(client: df.DurableOrchestrationClient, instance_ids: list[str]) -> tuple[str, Level] | None:
    """The first of the instances that is running, with its level."""
    for instance_id in instance_ids:
        status = await client.get_status(instance_id, show_input=True)
        runtime = getattr(status, "runtime_status", None)
        if runtime is not None and runtime.name in _RUNNING and status.input_:
            started = ValidateJobInput.model_validate_json(status.input_) if isinstance(
                status.input_, str) else ValidateJobInput.model_validate(status.input_)
            return instance_id, started.level
    return None


async def start_validation(
    images: ImagesRepo, client: df.DurableOrchestrationClient, job: Job, level: Level
) -> ValidationStarted:
    """Start validating a job's images at ``level`` (the caller has checked that ``job`` is
    theirs); while a validation of the job runs, answer with that one instead."""
    count = await images.count_by_job(job.id)
    if count == 0:
        raise NotFound(f"No images found for job {job.id}", error_code="no_images")
    candidates = [crawl_validation_instance_id(job.id, job.run), validation_instance_id(job.id)]
    running = await _running(client, candidates)
    if running is None:
        payload = ValidateJobInput(job_id=job.id, user_id=job.user_id, level=level, standalone=True)
        try:
            instance_id = await client.start_new(
                VALIDATE_ORCHESTRATOR, validation_instance_id(job.id), payload.model_dump(mode="json")
            )
        except Exception:
            running = await _running(client, candidates)  # a concurrent request started it
            if running is None:
                raise
        else:
            return ValidationStarted(
                job_id=job.id, images_count=count, validation_level=level, task_ids=[instance_id],
                message=f"Validation of {count} images at level {level.value} started.",
            )
    instance_id, running_level = running
    return ValidationStarted(
        job_id=job.id, images_count=count, validation_level=running_level, task_ids=[instance_id],
        message=f"Validation at level {running_level.value} is already running.",
    )


async def validation_results(
    jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str, query: ValidationResultQuery
) -> ValidationResultPage:
    """One page of a job's validation outcomes, optionally only valid, duplicate or invalid."""
    job = await get_owned_job(jobs, user_id, job_id)
    sql = "SELECT * FROM c WHERE c.job_id = @pk" + (_FILTERS[query.filter] if query.filter else "")
    records, token = await images.page(sql, pk=job.id, limit=query.limit, continuation=query.continuation)
    return ValidationResultPage(items=[ValidationResult.of(r) for r in records], continuation=token)


async def validation_stats(jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str) -> ValidationStats:
    """Records per level and per check (passed / failed): one COUNT query each, in parallel."""
    job = await get_owned_job(jobs, user_id, job_id)

    async def count(where: str, params: dict[str, Any] | None = None) -> int:
        sql = f"SELECT VALUE COUNT(1) FROM c WHERE c.job_id = @pk{where}"
        return int((await images.query_values(sql, params, pk=job.id))[0])

    checks = [*FAST_CHECKS, UNIQUE_CHECK, *(check.value for check in QualityCheck)]
    levels = list(Level)
    queries = [count(""), *(count(_FILTERS[name]) for name in ("valid", "invalid", "duplicate"))]
    queries += [count(" AND c.validation.level = @level", {"@level": lvl.value}) for lvl in levels]
    queries += [
        count(f" AND c.validation.checks.{name} = {'true' if ok else 'false'}")
        for name in checks
        for ok in (True, False)
    ]
    total, valid, invalid, duplicates, *rest = await asyncio.gather(*queries)
    by_level, by_check = rest[: len(levels)], rest[len(levels) :]
    check_counts = {
        name: CheckCounts(passed=by_check[2 * i], failed=by_check[2 * i + 1])
        for i, name in enumerate(checks)
        if by_check[2 * i] or by_check[2 * i + 1]
    }
    return ValidationStats(
        job_id=job.id, images=total, valid=valid, invalid=invalid, duplicates=duplicates,
        by_level=dict(zip(levels, by_level)), checks=check_counts,
    )
