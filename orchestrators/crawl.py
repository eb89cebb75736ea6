"""crawl_job and crawl_chunk: the fan-out of one job.

crawl_job    -> initialise the progress and checkpoint entities, run one crawl_chunk
                sub-orchestration per chunk (at most ``max_parallel`` at a time), optionally
                validate, then close the run.
crawl_chunk  -> loop: discover a page (activity), download + validate + store it (activity,
                up to ``batches_in_flight`` at once), signal job_progress and save the
                checkpoint in page order; until the quota is met or the source is exhausted;
                continue_as_new every ``history_limit`` pages.

Deterministic: no I/O, no clock (context.current_utc_datetime), inputs and results are the
pydantic models of shared.models, dumped to JSON; names and entity operations are
shared.workflow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import orchestrator
from shared.models import (
    BatchResult,
    CheckpointBegin,
    ChunkCheckpoint,
    ChunkOutcome,
    ChunkRun,
    ChunkStatus,
    ChunkUpdate,
    CrawlJobInput,
    DiscoverRequest,
    DiscoverResult,
    DownloadBatch,
    FinishJob,
    Level,
    Phase,
    StartRun,
    ValidateJobInput,
)
from shared.workflow import (
    Activity,
    CheckpointEntity,
    Orchestration,
    Orchestrator,
    ProgressEntity,
    call_activity,
    call_sub_orchestrator,
    chunk_instance_id,
    crawl_validation_instance_id,
    dump,
)

#: A source that keeps refusing (429/403, errors) fails its chunk after this many tries.
MAX_SOURCE_ATTEMPTS = 5
#: Longest pause between tries of a refusing source.
MAX_BACKOFF_SECONDS = 300.0


def _checkpoint(run: ChunkRun, status: ChunkStatus, now: Any) -> ChunkCheckpoint:
    return ChunkCheckpoint(
            chunk_id=run.chunk.chunk_id,
            run=run.run,
            label=run.chunk.label,
            query=run.chunk.query,
            source=run.chunk.source.name,
            next_offset=run.offset,
            next_seq=run.seq,
            pages_fetched=run.pages,
            downloaded=run.downloaded,
            valid=run.valid,
            status=status,
            attempts=run.attempts,
            last_error=run.last_error,
            updated_at=now,
    )


def _discover(context: df.DurableOrchestrationContext, run: ChunkRun, offset: int, count: int) -> Any:
    request = DiscoverRequest(job_id=run.job_id, chunk=run.chunk, offset=offset, count=count)
    return call_activity(context, Activity.discover, request)


@dataclass
class _InFlight:
    """A download batch of the chunk: its seq, the offset of its page, its candidates, its
    task, and whether the task has finished (it is counted only when it is the oldest)."""

    seq: int
    offset: int
    candidates: int
    task: Any
    finished: bool = False


def _running(inflight: list[_InFlight]) -> list[Any]:
    return [b.task for b in inflight if not b.finished]


def _wait(context: df.DurableOrchestrationContext, inflight: list[_InFlight], first: Any = None) -> Orchestration:
    """Wait, while every batch in flight keeps running, until ``first`` completes (its result
    is returned; its error raised) or, without ``first``, until any batch finishes.

    The Durable SDK schedules a task only when it is yielded, alone or in a ``task_any``: so
    every wait yields ``first`` together with all the running batches, and a batch created
    since the last wait is scheduled by this one."""
    while True:
        running = _running(inflight)
        if first is not None and not running:
            return (yield first)
        yield context.task_any(([first] if first is not None else []) + running)
        for batch in inflight:
            batch.finished = batch.finished or batch.task.is_completed
        if first is None:
            return None
        if first.is_completed:
            return (yield first)  # completed: its value (or its error) at once


def _crawl_pages(context: df.DurableOrchestrationContext, run: ChunkRun) -> Orchestration:
    """Crawl up to ``history_limit`` pages with up to ``batches_in_flight`` download batches
    running at once. Returns the chunk's final status, or None when the chunk must go on in a
    fresh history (continue_as_new).

    A page is discovered while the batches before it download, and asks for no more than the
    quota left if every candidate in flight succeeds, so a chunk never overshoots its quota.
    A batch that finishes makes room for the next at once, but results are counted in page
    order: progress is signalled batch by batch in ``seq`` order, and the checkpoint
    (``run.offset``, ``run.seq``) always names the oldest page whose batch is not counted yet,
    so a resumed chunk redoes what was in flight and nothing else. At most
    ``4 x batches_in_flight`` finished batches wait behind a slow oldest one.
    """
    chunk = run.chunk
    progress = ProgressEntity(context, run.job_id)
    checkpoint = CheckpointEntity(context, run.job_id)
    inflight: list[_InFlight] = []
    next_offset: int | None = run.offset
    next_seq = run.seq
    pages = 0
    while True:
        while (
            next_offset is not None and pages < run.history_limit
            and len(_running(inflight)) < run.batches_in_flight
            and len(inflight) < 4 * run.batches_in_flight
        ):  # fmt: skip
            remaining = chunk.quota - run.valid - sum(_promised(b) for b in inflight)
            if remaining <= 0:
                break
            discovery = _discover(context, run, next_offset, min(run.batch_size, remaining))
            page = DiscoverResult.model_validate((yield from _wait(context, inflight, discovery)))
            if page.rate_limited or page.error:
                while inflight:  # settle what runs, then back off
                    yield from _take(context, run, progress, checkpoint, inflight, next_offset)
                run.attempts += 1
                run.last_error = page.error or "source rate limited"
                if run.attempts >= MAX_SOURCE_ATTEMPTS:
                    return ChunkStatus.failed
                now = context.current_utc_datetime
                checkpoint.save(_checkpoint(run, ChunkStatus.in_progress, now))
                delay = min(page.retry_after or 2.0**run.attempts, MAX_BACKOFF_SECONDS)
                yield context.create_timer(now + timedelta(seconds=delay))
                continue
            run.attempts, run.last_error = 0, None
            run.pages += 1
            pages += 1
            if page.candidates:
                batch = DownloadBatch(
                    job_id=run.job_id, user_id=run.user_id, chunk_id=chunk.chunk_id,
                    batch_id=f"{chunk.chunk_id}:{next_seq}", seq=next_seq, run=run.run,
                    label=chunk.label, rules=run.rules, candidates=page.candidates, offset=next_offset,
                )  # fmt: skip
                task = call_activity(context, Activity.download_batch, batch)
                inflight.append(_InFlight(next_seq, next_offset, len(page.candidates), task))
                next_seq += 1
            next_offset = page.next_offset
            if not inflight:  # an empty page: nothing runs, the checkpoint moves on
                run.offset, run.seq = next_offset or run.offset, next_seq
        if not inflight:
            break
        if not inflight[0].finished:
            yield from _wait(context, inflight)
        while inflight and inflight[0].finished:
            yield from _take(context, run, progress, checkpoint, inflight, next_offset)
    if next_offset is None or chunk.quota - run.valid <= 0:
        return ChunkStatus.completed
    run.offset = next_offset
    return None


def _promised(batch: _InFlight) -> int:
    """Images a batch not counted yet may still add: its stored images once it finished, its
    candidates while it runs."""
    if batch.finished and batch.task.state is df.models.Task.TaskState.SUCCEEDED:
        return int(BatchResult.model_validate(batch.task.result).valid)
    return batch.candidates


def _take(
    context: df.DurableOrchestrationContext, run: ChunkRun, progress: ProgressEntity,
    checkpoint: CheckpointEntity, inflight: list[_InFlight], next_offset: int | None,
) -> Orchestration:
    """Count the oldest batch (waiting for it if it runs; its error is raised), and move the
    checkpoint to the oldest page still in flight, or to the next page to discover."""
    batch = inflight.pop(0)
    result = BatchResult.model_validate((yield from _wait(context, inflight, batch.task)))
    progress.batch(result)
    run.downloaded += result.downloaded
    run.valid += result.valid
    run.seq = inflight[0].seq if inflight else batch.seq + 1
    run.offset = inflight[0].offset if inflight else (next_offset if next_offset is not None else run.offset)
    checkpoint.save(_checkpoint(run, ChunkStatus.in_progress, context.current_utc_datetime))


@orchestrator
def crawl_chunk(context: df.DurableOrchestrationContext) -> Orchestration:
    run = ChunkRun.model_validate(context.get_input())
    progress = ProgressEntity(context, run.job_id)
    chunk_id = run.chunk.chunk_id
    if not run.announced:  # a fresh or resumed chunk, not a continue_as_new of a running one
        progress.chunk(ChunkUpdate(chunk_id=chunk_id, run=run.run, status=ChunkStatus.in_progress))
        run.announced = True
    try:
        status = yield from _crawl_pages(context, run)
    except Exception as exc:  # an activity failed after its retries: the chunk fails, not the job
        run.last_error = str(exc).strip()[:500]
        status = ChunkStatus.failed
    if status is None:
        context.continue_as_new(dump(run))
        return None
    now = context.current_utc_datetime
    # A call, not a signal: the chunk ends once its final position is saved, so a finished
    # job's checkpoint is final too (a signal could still be queued when the job completed).
    yield CheckpointEntity(context, run.job_id).save_final(_checkpoint(run, status, now))
    progress.chunk(ChunkUpdate(chunk_id=chunk_id, run=run.run, status=status, error=run.last_error))
    outcome = ChunkOutcome(
        chunk_id=chunk_id, status=status, valid=run.valid, downloaded=run.downloaded, error=run.last_error
    )
    return dump(outcome)


def _run_chunks(context: df.DurableOrchestrationContext, job: CrawlJobInput) -> Orchestration:
    """Run every chunk as a sub-orchestration, at most ``max_parallel`` at once."""
    outcomes: list[dict[str, Any]] = []
    waiting = list(job.chunks)
    running: list[Any] = []
    while waiting or running:
        while waiting and len(running) < job.max_parallel:
            chunk_run = waiting.pop(0)
            instance = chunk_instance_id(job.job_id, job.run, chunk_run.chunk.chunk_id)
            running.append(call_sub_orchestrator(context, Orchestrator.crawl_chunk, chunk_run, instance))
        if not waiting:
            outcomes.extend((yield context.task_all(running)))
            running = []
        else:
            done = yield context.task_any(running)
            running.remove(done)
            # task_any resumes with the first to end, failed or not: yielding it again gives
            # its outcome or raises its error, as the last wave's task_all does.
            outcomes.append((yield done))
    return outcomes


@orchestrator
def crawl_job(context: df.DurableOrchestrationContext) -> Orchestration:
    job = CrawlJobInput.model_validate(context.get_input())
    progress = ProgressEntity(context, job.job_id)
    all_ids = [c.chunk.chunk_id for c in job.chunks] + job.done_chunk_ids
    start = StartRun(
        run=job.run, chunk_ids=all_ids, done_chunk_ids=job.done_chunk_ids, reset=job.reset, baseline=job.baseline
    )
    now = context.current_utc_datetime
    begin = CheckpointBegin(
        job_id=job.job_id, run=job.run, chunks=[_checkpoint(c, ChunkStatus.pending, now) for c in job.chunks]
    )
    error: str | None = None
    outcomes: list[dict[str, Any]] = []
    try:
        yield progress.start_run(start)
        yield CheckpointEntity(context, job.job_id).begin(begin)
        outcomes = yield from _run_chunks(context, job)
        if job.validation_level is not Level.fast:
            validate = ValidateJobInput(job_id=job.job_id, user_id=job.user_id, level=job.validation_level)
            yield call_sub_orchestrator(
                context, Orchestrator.validate_job, validate, crawl_validation_instance_id(job.job_id, job.run)
            )
    except Exception as exc:  # close the run as failed rather than leave it running
        error = str(exc).strip()[:500]
    finish = FinishJob(
        job_id=job.job_id,
        user_id=job.user_id,
        run=job.run,
        outcomes=[ChunkOutcome.model_validate(o) for o in outcomes],
        error=error,
    )
    summary = yield call_activity(context, Activity.finish_job, finish)
    yield progress.set_phase(Phase.done)
    return summary
