"""verify_job: check (and repair) every image record of a job, in batches of shard-key ranges.

plan (activity: count, batches) -> announce the run to job_progress -> waves of ``parallel``
verify_batch activities, each batch's counts signalled to job_progress -> continue_as_new
every ``waves_per_history`` waves, so history stays small whatever the job's size. History
holds batch numbers and counts, never record ids.

Deterministic: no I/O, no clock (context.current_utc_datetime), the run id from
context.new_uuid().
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import blueprint
from shared.models import BatchVerification, PlanVerify, VerifyBatch, VerifyJobInput, VerifyPlan, VerifyStart

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

Orchestration = Generator[Any, Any, Any]


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _plan(context: df.DurableOrchestrationContext, job: VerifyJobInput) -> Orchestration:
    """Plan the run and announce it to the job's progress; returns the plan."""
    request = PlanVerify(job_id=job.job_id, run_id=str(context.new_uuid()))
    plan = VerifyPlan.model_validate(
        (yield context.call_activity_with_retry("plan_verify", ACTIVITY_RETRY, _dump(request)))
    )
    start = VerifyStart(
        run_id=plan.run_id, deep=job.deep, images=plan.images, batches=plan.batches,
        started_at=context.current_utc_datetime,
    )  # fmt: skip
    yield context.call_entity(df.EntityId("job_progress", job.job_id), "verify_start", _dump(start))
    return plan


def _run_waves(context: df.DurableOrchestrationContext, job: VerifyJobInput, plan: VerifyPlan) -> Orchestration:
    """Up to ``waves_per_history`` waves of batches; True when every batch is done."""
    progress = df.EntityId("job_progress", job.job_id)
    for _ in range(plan.waves_per_history):
        if job.next_batch >= plan.batches:
            return True
        wave = range(job.next_batch, min(job.next_batch + plan.parallel, plan.batches))
        tasks = [
            context.call_activity_with_retry("verify_batch", ACTIVITY_RETRY, _dump(VerifyBatch(
                job_id=job.job_id, user_id=job.user_id, run_id=plan.run_id, index=index, batches=plan.batches,
                deep=job.deep, rules=job.rules,
            )))
            for index in wave
        ]  # fmt: skip
        results = [BatchVerification.model_validate(r) for r in (yield context.task_all(tasks))]
        for result in results:
            context.signal_entity(progress, "verify", _dump(result))
            job.counts = job.counts.plus(result)
        job.next_batch = wave.stop
    return job.next_batch >= plan.batches


@blueprint.orchestration_trigger(context_name="context")
def verify_job(context: df.DurableOrchestrationContext) -> Orchestration:
    job = VerifyJobInput.model_validate(context.get_input())
    if job.plan is None:
        job.plan = yield from _plan(context, job)
    done = yield from _run_waves(context, job, job.plan)
    if not done:
        context.continue_as_new(_dump(job))
        return None
    return {"job_id": job.job_id, "run_id": job.plan.run_id, "deep": job.deep, **job.counts.model_dump()}
