"""The jobs domain: create, start, cancel, retry, resume and report a crawl job.

HTTP handlers call these functions with the caller's id and a durable client; every rule
about job states lives here, in one place.

Example::

    job = await create_job(jobs_repo, blobs, settings, "alice", JobCreate(...))
    started = await start_job(repos, settings, client, "alice", job.id)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

import azure.durable_functions as df
from pydantic import Field

from shared.errors import BadRequest, Conflict, NotFound, Unprocessable
from shared.models import (
    ActiveJobs,
    CheckpointState,
    ChunkCount,
    ChunkRun,
    ChunkSpec,
    ChunkStatus,
    CrawlJobInput,
    FinishJob,
    Job,
    JobCreate,
    JobLogs,
    JobPage,
    JobProgress,
    JobQuery,
    JobStats,
    NotificationKind,
    JobStatus,
    Model,
    ProgressState,
    ValidationRules,
    chunk_instance_id,
    job_instance_id,
    plan_chunks,
    resume_plan,
    utcnow,
)
from shared.checkpoints import load_checkpoint
from shared.durable import read_entity
from shared.notifications import NotificationRepo, notify
from shared.ratelimit import claim_running_slot
from shared.settings import Settings
from shared.sources import missing_settings
from shared.sources.urls import store_url_lists
from shared.storage import BlobStore, ImagesRepo, JobsRepo, Repo
from shared.storage.cosmos import NOT_MISSING, find_owned, owned_page

IMAGES_CONTAINER = "images"

CRAWL_ORCHESTRATOR = "crawl_job"
FINISHED = (JobStatus.completed, JobStatus.failed, JobStatus.cancelled)


class JobsStore(Protocol):
    """What the jobs domain needs from the jobs repository."""

    async def create(self, item: Job) -> Job: ...

    async def find(self, job_id: str) -> Job | None: ...

    async def update(self, job: Job, mutate: Callable[[Job], None]) -> Job: ...

    #: The users' running-job slots.
    slots: Repo[ActiveJobs]

    async def run_states(self, user_id: str, job_ids: Iterable[str]) -> dict[str, tuple[int, JobStatus]]: ...


class StartResponse(Model):
    job_id: str
    status: JobStatus
    task_ids: list[str]
    total_chunks: int
    message: str


class CancelResponse(Model):
    job_id: str
    status: JobStatus
    revoked_tasks: int = Field(description="chunk tasks (task_ids) that had not finished: running, or not started yet")
    message: str


class ResumeResponse(Model):
    job_id: str
    status: JobStatus
    chunks_to_resume: int
    chunks_skipped: int
    images_so_far: int
    message: str


async def create_job(
    store: JobsStore, blobs: BlobStore, settings: Settings, user_id: str, body: JobCreate
) -> Job:
    """Create a pending job; 400 naming the settings a source needs that are not configured.
    A ``urls`` source's list goes to Blob Storage in parts of ``url_chunk_size`` (one chunk
    each); the job keeps where it is (``url_list``)."""
    for source in body.sources:
        if source.url_list is not None:
            raise Unprocessable(
                "'url_list' is set by the service: give a 'urls' source its 'urls'.",
                error_code="read_only_field", field="sources",
            )  # fmt: skip
        missing = missing_settings(source, settings)
        if missing:
            raise BadRequest(
                f"Source '{source.name}' is not configured: set {', '.join(missing)}.",
                error_code="source_not_configured",
                field="sources",
            )
    job = Job(id=uuid.uuid4().hex, user_id=user_id, **body.model_dump())
    job = await store_url_lists(blobs, job, settings.url_chunk_size)
    job.total_chunks = len(plan_chunks(job.id, job))
    return await store.create(job)


async def get_owned_job(store: JobsStore, user_id: str, job_id: str, *, admin: bool = False) -> Job:
    """The job, if it exists (404) and belongs to the caller (403) or the caller is an admin."""
    job: Job = await find_owned(store, job_id, user_id, kind="job", admin=admin)
    return job


def rules_of(job: Job, settings: Settings) -> ValidationRules:
    """The fast checks every image of the job passes: when crawled, and when a verify fetches
    it again."""
    return ValidationRules(
        min_width=job.min_width,
        min_height=job.min_height,
        formats=job.formats,
        max_pixels=settings.max_pixels,
        max_decoded_bytes=settings.max_decoded_bytes,
    )


def _chunk_runs(job: Job, settings: Settings, chunks: list[ChunkSpec], run: int) -> list[ChunkRun]:
    rules = rules_of(job, settings)
    return [
        ChunkRun(
            job_id=job.id,
            user_id=job.user_id,
            run=run,
            chunk=chunk,
            rules=rules,
            batch_size=settings.batch_size,
            history_limit=settings.chunk_history_limit,
            batches_in_flight=settings.chunk_batches_in_flight,
        )
        for chunk in chunks
    ]


async def _launch(
    store: JobsStore,
    client: df.DurableOrchestrationClient,
    job: Job,
    runs: list[ChunkRun],
    done_ids: list[str],
    *,
    reset: bool,
    settings: Settings,
    allowed: tuple[JobStatus, ...],
    baseline: dict[str, ChunkCount] | None = None,
) -> Job:
    """Claim a running-job slot for the new run (429 when the user has
    ``max_active_jobs_per_user`` running), move the job to running (etag-guarded) and start its
    orchestration."""
    run = job.run + 1
    for chunk_run in runs:
        chunk_run.run = run
    task_ids = [chunk_instance_id(job.id, run, r.chunk.chunk_id) for r in runs]

    def mutate(current: Job) -> None:
        if current.status not in allowed or current.run != job.run:
            raise Conflict(
                f"Job {job.id} changed while starting (now '{current.status}').",
                error_code="job_changed",
            )
        current.status = JobStatus.running
        current.run = run
        current.started_at = utcnow()
        current.completed_at = None
        current.error = None
        current.task_ids = task_ids
        current.total_chunks = len(runs) + len(done_ids)

    await claim_running_slot(
        store.slots, store, job.user_id, job.id, run, cap=settings.max_active_jobs_per_user
    )
    updated = await store.update(job, mutate)
    payload = CrawlJobInput(
        job_id=job.id,
        user_id=job.user_id,
        run=run,
        chunks=runs,
        done_chunk_ids=done_ids,
        reset=reset,
        baseline=baseline,
        max_parallel=settings.max_parallel_chunks,
        validation_level=job.validation_level.value,
    )
    try:
        await client.start_new(
            CRAWL_ORCHESTRATOR, job_instance_id(job.id, run), payload.model_dump(mode="json")
        )
    except Exception as exc:
        reason = f"could not start the orchestration: {exc}"
        await store.update(updated, lambda j: _fail(j, reason))
        raise
    return updated


def _fail(job: Job, reason: str) -> None:
    job.status = JobStatus.failed
    job.error = reason
    job.completed_at = utcnow()


async def start_job(
    store: JobsStore, settings: Settings, client: df.DurableOrchestrationClient, user_id: str, job_id: str
) -> StartResponse:
    """Start a pending job. A running job answers with its existing task ids (idempotent)."""
    job = await get_owned_job(store, user_id, job_id)
    if job.status is JobStatus.pending:
        runs = _chunk_runs(job, settings, plan_chunks(job.id, job), job.run + 1)
        try:
            job = await _launch(
                store, client, job, runs, [], reset=True, settings=settings, allowed=(JobStatus.pending,)
            )
            message = f"Job started: {job.total_chunks} chunks."
        except Conflict:
            job = await get_owned_job(store, user_id, job_id)
            message = "Job is already running."
        if job.status is JobStatus.running:
            return StartResponse(
                job_id=job.id,
                status=job.status,
                task_ids=job.task_ids,
                total_chunks=job.total_chunks,
                message=message,
            )
    if job.status is JobStatus.running:
        return StartResponse(
            job_id=job.id,
            status=job.status,
            task_ids=job.task_ids,
            total_chunks=job.total_chunks,
            message="Job is already running.",
        )
    raise BadRequest(
        f"Cannot start job with status '{job.status.value}'. Only pending jobs can be started.",
        error_code="invalid_job_status",
    )


async def _terminate(
    client: df.DurableOrchestrationClient, instance_ids: list[str], reason: str, *, count_unstarted: bool = False
) -> int:
    """Terminate the instances still running; count them (and, with ``count_unstarted``, those
    not created yet: their parent is stopped, so they never will be)."""
    revoked = 0
    for instance_id in instance_ids:
        status = await client.get_status(instance_id)
        runtime = getattr(status, "runtime_status", None)
        if runtime is not None and runtime.name in ("Running", "Pending", "Suspended", "ContinuedAsNew"):
            await client.terminate(instance_id, reason)
            revoked += 1
        elif runtime is None and count_unstarted:
            revoked += 1
    return revoked


async def cancel_job(
    store: JobsStore,
    notices: NotificationRepo,
    client: df.DurableOrchestrationClient,
    user_id: str,
    job_id: str,
) -> CancelResponse:
    """Terminate every orchestration of the job's current run and mark it cancelled."""
    job = await get_owned_job(store, user_id, job_id)
    if job.status in FINISHED:
        raise BadRequest(
            f"Cannot cancel job with status: {job.status.value}", error_code="invalid_job_status"
        )

    def mutate(current: Job) -> None:
        if current.status in FINISHED:
            raise BadRequest(
                f"Cannot cancel job with status: {current.status.value}",
                error_code="invalid_job_status",
            )
        current.status = JobStatus.cancelled
        current.completed_at = utcnow()

    job = await store.update(job, mutate)
    # The run's crawl_job is stopped first (it starts no more chunks), but what is revoked is
    # the work: the chunk tasks that had not finished, running or not started yet.
    await _terminate(client, [job_instance_id(job.id, job.run)], "cancelled by the user")
    revoked = await _terminate(client, job.task_ids, "cancelled by the user", count_unstarted=True)
    await notify(
        notices, job.user_id, NotificationKind.job_cancelled, job.id,
        f"Job '{job.name}' was cancelled.", key=f"run-{job.run}",
    )
    return CancelResponse(
        job_id=job.id,
        status=job.status,
        revoked_tasks=revoked,
        message=f"Job cancelled: {revoked} unfinished chunk tasks revoked.",
    )


async def _stop_for_new_run(
    store: JobsStore,
    client: df.DurableOrchestrationClient,
    user_id: str,
    job_id: str,
    verb: tuple[str, str],
    allowed: str,
) -> Job:
    """The job, once it is sure to be failed or cancelled (400 otherwise) and whatever is left
    of its last run's orchestrations is terminated."""
    job = await get_owned_job(store, user_id, job_id)
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise BadRequest(
            f"Cannot {verb[0]} job with status '{job.status.value}'. Only {allowed} jobs can be {verb[1]}.",
            error_code="invalid_job_status",
        )
    await _terminate(client, [job_instance_id(job.id, job.run), *job.task_ids], verb[1])
    return job


async def retry_job(
    store: JobsStore, settings: Settings, client: df.DurableOrchestrationClient, user_id: str, job_id: str
) -> StartResponse:
    """Start a failed or cancelled job again from scratch (counters reset)."""
    job = await _stop_for_new_run(store, client, user_id, job_id, ("retry", "retried"), "failed or cancelled")
    # From scratch means from offset 0: the run's begin sets every chunk of the job back to
    # offset 0 in the checkpoint (a resume after it skips no page it never crawled).
    runs = _chunk_runs(job, settings, plan_chunks(job.id, job), job.run + 1)
    job = await _launch(
        store, client, job, runs, [], reset=True, settings=settings, allowed=(JobStatus.failed, JobStatus.cancelled)
    )
    return StartResponse(
        job_id=job.id,
        status=job.status,
        task_ids=job.task_ids,
        total_chunks=job.total_chunks,
        message=f"Job restarted from scratch: {job.total_chunks} chunks.",
    )


async def _saved_checkpoint(
    blobs: BlobStore, client: df.DurableOrchestrationClient, settings: Settings, job: Job
) -> CheckpointState:
    """Where the job stopped: the live checkpoint entity, else its archived snapshot (409 while
    the snapshot is in the Archive tier), else nothing (every chunk starts at its beginning)."""
    try:
        return (await load_checkpoint(blobs, client, settings, job)).state
    except NotFound:
        return CheckpointState()


async def resume_job(
    store: JobsStore,
    notices: NotificationRepo,
    blobs: BlobStore,
    settings: Settings,
    client: df.DurableOrchestrationClient,
    user_id: str,
    job_id: str,
) -> ResumeResponse:
    """Start a new run that skips completed chunks and continues open ones at their offsets."""
    job = await _stop_for_new_run(store, client, user_id, job_id, ("resume", "resumed"), "failed, cancelled or stale")
    saved = await _saved_checkpoint(blobs, client, settings, job)
    plan = resume_plan(saved, _chunk_runs(job, settings, plan_chunks(job.id, job), job.run + 1))
    runs, done, images = plan.runs, plan.done_chunk_ids, plan.images_so_far
    job = await _launch(
        store, client, job, runs, done, reset=False, settings=settings, allowed=(JobStatus.failed, JobStatus.cancelled),
        baseline=plan.baseline,
    )
    await notify(
        notices, job.user_id, NotificationKind.job_resumed, job.id,
        f"Job '{job.name}' resumed: {len(runs)} chunks to go, {images} images so far.", key=f"run-{job.run}",
    )
    return ResumeResponse(
        job_id=job.id,
        status=job.status,
        chunks_to_resume=len(runs),
        chunks_skipped=len(done),
        images_so_far=images,
        message=f"Job resumed: {len(runs)} chunks to go, {len(done)} already complete.",
    )


async def job_progress(
    store: JobsStore, client: df.DurableOrchestrationClient, user_id: str, job_id: str
) -> JobProgress:
    """Counters from the job_progress entity, status from the job record."""
    job = await get_owned_job(store, user_id, job_id)
    state = ProgressState.model_validate(await read_entity(client, "job_progress", job.id) or {})
    report = state.report(
        job.id, job.status, job.started_at, image_target=job.image_target, completed_at=job.completed_at
    )
    if not state.chunks:
        report.total_chunks = job.total_chunks
    report.updated_at = report.updated_at or job.updated_at
    return report


async def finish_run(store: JobsStore, notices: NotificationRepo, finish: FinishJob) -> Job:
    """Close a run: completed, or failed when every chunk failed or the run itself broke.
    A job cancelled meanwhile, or already on a newer run, is left as it is."""
    job = await store.find(finish.job_id)
    if job is None:
        raise NotFound(f"Job {finish.job_id} not found.", error_code="job_not_found")
    failed_chunks = [o for o in finish.outcomes if o.status is ChunkStatus.failed]
    all_failed = bool(finish.outcomes) and len(failed_chunks) == len(finish.outcomes)
    error = finish.error or (
        f"all {len(failed_chunks)} chunks failed; first error: {failed_chunks[0].error}" if all_failed else None
    )

    def mutate(current: Job) -> None:
        if current.run != finish.run or current.status is not JobStatus.running:
            return
        current.status = JobStatus.failed if error else JobStatus.completed
        current.error = error
        current.completed_at = utcnow()

    job = await store.update(job, mutate)
    if job.run == finish.run and job.status in (JobStatus.completed, JobStatus.failed):
        kind, text = (
            (NotificationKind.job_completed, f"Job '{job.name}' completed.")
            if job.status is JobStatus.completed
            else (NotificationKind.job_failed, f"Job '{job.name}' failed: {job.error}")
        )
        await notify(notices, job.user_id, kind, job.id, text, key=f"run-{job.run}")
    return job


async def list_jobs(store: JobsRepo, user_id: str, query: JobQuery) -> JobPage:
    """The caller's jobs, newest first, one page at a time (optionally one status only)."""
    status = query.status.value if query.status is not None else None
    items, token = await owned_page(store, user_id, status, query.limit, query.continuation)
    return JobPage(items=items, continuation=token)


async def delete_job(store: JobsRepo, images: ImagesRepo, blobs: BlobStore, user_id: str, job_id: str) -> None:
    """Delete a job that is not running, with its image records and blobs."""
    job = await get_owned_job(store, user_id, job_id)
    if job.status is JobStatus.running:
        raise BadRequest(
            "Cannot delete a running job: cancel it first.", error_code="invalid_job_status"
        )
    names = [blob.name async for blob in blobs.list(IMAGES_CONTAINER, f"{job.id}/")]
    ids = await images.query_values("SELECT VALUE c.id FROM c WHERE c.job_id = @pk", pk=job.id)
    for start in range(0, max(len(names), len(ids)), 64):
        await asyncio.gather(
            *(blobs.delete(IMAGES_CONTAINER, name) for name in names[start : start + 64]),
            *(images.delete(image_id, job.id) for image_id in ids[start : start + 64]),
        )
    await store.delete(job.id, job.user_id)


async def job_logs(store: JobsStore, client: df.DurableOrchestrationClient, user_id: str, job_id: str) -> JobLogs:
    """Per-chunk status, position and last error, from the checkpoint entity."""
    job = await get_owned_job(store, user_id, job_id)
    saved = CheckpointState.model_validate(await read_entity(client, "checkpoint", job.id) or {})
    chunks = sorted(saved.chunks.values(), key=lambda c: (c.label, c.query, c.source))
    return JobLogs(job_id=job.id, run=job.run, chunks=chunks)


async def job_stats(store: JobsStore, images: ImagesRepo, user_id: str, job_id: str) -> JobStats:
    """Stored images per label (valid, not duplicates, bytes not lost): one COUNT query per
    label."""
    job = await get_owned_job(store, user_id, job_id)
    labels = list(dict.fromkeys([*job.keywords, *(s.label for s in job.sources if s.label)]))
    sql = (
        "SELECT VALUE COUNT(1) FROM c WHERE c.job_id = @pk AND c.label = @label"
        f" AND c.is_valid = true AND c.is_duplicate = false AND {NOT_MISSING}"
    )
    counts = await asyncio.gather(*(images.query_values(sql, {"@label": label}, pk=job.id) for label in labels))
    per_label = {label: int(found[0]) for label, found in zip(labels, counts)}
    return JobStats(job_id=job.id, images=sum(per_label.values()), per_label=per_label)
