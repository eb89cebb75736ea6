"""validate_job: validate every image of a job at one level, in batches of id ranges.

plan (activity: count, batches) -> announce the run to job_progress -> at medium and slow,
dedupe the whole job (activity) -> waves of ``parallel`` validate_batch activities, each
batch's counts signalled to job_progress, paced with durable timers to the level's rate ->
continue_as_new every ``waves_per_history`` waves, so history stays small whatever the job's
size. History holds batch numbers and counts, never record ids.

Deterministic: no I/O, no clock (context.current_utc_datetime), the run id from
context.new_uuid().
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import blueprint
from shared.models import (
    BatchValidation,
    Level,
    PlanValidation,
    ValidateBatch,
    ValidateJobInput,
    ValidationPlan,
    ValidationStart,
)

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

Orchestration = Generator[Any, Any, Any]


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _begin(context: df.DurableOrchestrationContext, job: ValidateJobInput) -> Orchestration:
    """Plan the run, announce it, group the job's near-duplicates; returns the plan."""
    progress = df.EntityId("job_progress", job.job_id)
    yield context.call_entity(progress, "phase", "validating")
    request = PlanValidation(job_id=job.job_id, level=job.level, run_id=str(context.new_uuid()))
    plan = ValidationPlan.model_validate(
        (yield context.call_activity_with_retry("plan_validation", ACTIVITY_RETRY, _dump(request)))
    )
    start = ValidationStart(run_id=plan.run_id, level=job.level, images=plan.images, batches=plan.batches)
    yield context.call_entity(progress, "validation_start", _dump(start))
    if job.level is not Level.fast and plan.images:
        yield context.call_activity_with_retry("dedupe_job", ACTIVITY_RETRY, _dump(request))
    return plan


def _run_waves(context: df.DurableOrchestrationContext, job: ValidateJobInput, plan: ValidationPlan) -> Orchestration:
    """Up to ``waves_per_history`` waves of batches; True when every batch is done."""
    progress = df.EntityId("job_progress", job.job_id)
    assert job.started_at is not None
    for _ in range(plan.waves_per_history):
        if job.next_batch >= plan.batches:
            return True
        wave = range(job.next_batch, min(job.next_batch + plan.parallel, plan.batches))
        tasks = [
            context.call_activity_with_retry("validate_batch", ACTIVITY_RETRY, _dump(ValidateBatch(
                job_id=job.job_id, level=job.level, run_id=plan.run_id, index=index, batches=plan.batches,
            )))
            for index in wave
        ]
        results = [BatchValidation.model_validate(r) for r in (yield context.task_all(tasks))]
        for result in results:
            context.signal_entity(progress, "validation", _dump(result))
        job.next_batch = wave.stop
        job.processed += sum(result.validated for result in results)
        due = job.started_at + timedelta(minutes=job.processed / plan.rate_per_minute)
        if plan.pacing and job.next_batch < plan.batches and due > context.current_utc_datetime:
            yield context.create_timer(due)
    return job.next_batch >= plan.batches


@blueprint.orchestration_trigger(context_name="context")
def validate_job(context: df.DurableOrchestrationContext) -> Orchestration:
    job = ValidateJobInput.model_validate(context.get_input())
    progress = df.EntityId("job_progress", job.job_id)
    try:
        if job.plan is None:
            job.plan = yield from _begin(context, job)
            job.started_at = context.current_utc_datetime
        done = yield from _run_waves(context, job, job.plan)
    except Exception:
        if job.standalone:  # a crawl run closes its own phase; a validation over HTTP does here
            yield context.call_entity(progress, "phase", "done")
        raise
    if not done:
        context.continue_as_new(_dump(job))
        return None
    if job.standalone:
        yield context.call_entity(progress, "phase", "done")
    return {"job_id": job.job_id, "level": job.level.value, "images": job.plan.images, "batches": job.plan.batches}
