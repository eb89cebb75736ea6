"""validate_job: validate every image of a job at one level, in batches of id ranges.

plan (activity: count, batches, the near-duplicate search's maps and partitions) -> announce
the run to job_progress -> at medium and slow, the near-duplicate search as waves of
activities, stage after stage (``DedupeStage``: map x maps, search x partitions, merge, apply x
maps, cleanup) -> waves of ``parallel`` validate_batch activities, each batch's counts
signalled to job_progress, paced with durable timers to the level's rate. Every
``waves_per_history`` waves (of either kind) the orchestration continues as new, so history
stays small whatever the job's size. History holds stage, map, partition and batch numbers and
counts, never record ids.

Deterministic: no I/O, no clock (context.current_utc_datetime), the run id from
context.new_uuid().
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from orchestrators import orchestrator
from shared.models import (
    BatchValidation,
    DedupeStage,
    DedupeStageResult,
    DedupeSummary,
    DedupeTask,
    Phase,
    PlanValidation,
    ValidateBatch,
    ValidateJobInput,
    ValidationPlan,
    ValidationStart,
)
from shared.workflow import Activity, Orchestration, ProgressEntity, call_activity, dedupe_activity, dump

STAGES = list(DedupeStage)


def _begin(context: df.DurableOrchestrationContext, job: ValidateJobInput) -> Orchestration:
    """Enter the validating phase (the one place that sets it), plan the run and announce it;
    returns the plan."""
    progress = ProgressEntity(context, job.job_id)
    yield progress.set_phase(Phase.validating)
    request = PlanValidation(job_id=job.job_id, level=job.level, run_id=str(context.new_uuid()))
    plan = ValidationPlan.model_validate(
        (yield call_activity(context, Activity.plan_validation, request))
    )
    start = ValidationStart(run_id=plan.run_id, level=job.level, images=plan.images, batches=plan.batches)
    yield progress.start_validation(start)
    return plan


def _run_dedupe(context: df.DurableOrchestrationContext, job: ValidateJobInput, plan: ValidationPlan,
                waves: list[int]) -> Orchestration:
    """Waves of the search's stages while the history's wave budget lasts; True when done
    (at once when the plan has no search: the fast level, or a job without images)."""
    while plan.dedupe is not None and job.dedupe_stage < len(STAGES):
        stage = STAGES[job.dedupe_stage]
        count = stage.tasks(plan.dedupe)
        while job.dedupe_next < count:
            if not waves[0]:
                return False
            waves[0] -= 1
            wave = range(job.dedupe_next, min(job.dedupe_next + plan.dedupe.parallel, count))
            tasks = [
                call_activity(context, dedupe_activity(stage), DedupeTask(
                    job_id=job.job_id, run_id=plan.run_id, plan=plan.dedupe, index=index,
                ))
                for index in wave
            ]
            for result in (yield context.task_all(tasks)):
                job.dedupe = (job.dedupe or DedupeSummary()).add(DedupeStageResult.model_validate(result))
            job.dedupe_next = wave.stop
        job.dedupe_stage, job.dedupe_next = job.dedupe_stage + 1, 0
    return True


def _run_waves(context: df.DurableOrchestrationContext, job: ValidateJobInput, plan: ValidationPlan,
               waves: list[int]) -> Orchestration:
    """Waves of batches while the history's wave budget lasts; True when every batch is done."""
    progress = ProgressEntity(context, job.job_id)
    assert job.started_at is not None
    while waves[0]:
        if job.next_batch >= plan.batches:
            return True
        waves[0] -= 1
        wave = range(job.next_batch, min(job.next_batch + plan.parallel, plan.batches))
        tasks = [
            call_activity(context, Activity.validate_batch, ValidateBatch(
                job_id=job.job_id, level=job.level, run_id=plan.run_id, index=index, batches=plan.batches,
            ))
            for index in wave
        ]
        results = [BatchValidation.model_validate(r) for r in (yield context.task_all(tasks))]
        for result in results:
            progress.validation(result)
        job.next_batch = wave.stop
        job.processed += sum(result.validated for result in results)
        due = job.started_at + timedelta(minutes=job.processed / plan.rate_per_minute)
        if plan.pacing and job.next_batch < plan.batches and due > context.current_utc_datetime:
            yield context.create_timer(due)
    return job.next_batch >= plan.batches


@orchestrator
def validate_job(context: df.DurableOrchestrationContext) -> Orchestration:
    job = ValidateJobInput.model_validate(context.get_input())
    progress = ProgressEntity(context, job.job_id)
    try:
        if job.plan is None:
            job.plan = yield from _begin(context, job)
        waves = [job.plan.waves_per_history]
        done = yield from _run_dedupe(context, job, job.plan, waves)
        if done and job.started_at is None:
            job.started_at = context.current_utc_datetime  # pacing starts with the batches
        done = done and (yield from _run_waves(context, job, job.plan, waves))
    except Exception:
        if job.standalone:  # a crawl run closes its own phase; a validation over HTTP does here
            yield progress.set_phase(Phase.done)
        raise
    if not done:
        context.continue_as_new(dump(job))
        return None
    if job.standalone:
        yield progress.set_phase(Phase.done)
    summary = job.dedupe or DedupeSummary()
    return {"job_id": job.job_id, "level": job.level.value, "images": job.plan.images,
            "batches": job.plan.batches, "duplicates": summary.duplicates, "changed": summary.changed}
