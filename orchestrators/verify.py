"""verify_job: check (and repair) every image record of a job, in batches of shard-key ranges.

plan (activity: count, batches) -> announce the run to job_progress -> waves of ``parallel``
verify_batch activities, each batch's counts signalled to job_progress -> continue_as_new
every ``waves_per_history`` waves, so history stays small whatever the job's size. History
holds batch numbers and counts, never record ids.

Deterministic: no I/O, no clock (context.current_utc_datetime), the run id from
context.new_uuid().
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators import orchestrator
from shared.models import BatchVerification, PlanVerify, VerifyBatch, VerifyJobInput, VerifyPlan, VerifyStart
from shared.workflow import Activity, Orchestration, ProgressEntity, call_activity, dump


def _plan(context: df.DurableOrchestrationContext, job: VerifyJobInput) -> Orchestration:
    """Plan the run and announce it to the job's progress; returns the plan."""
    request = PlanVerify(job_id=job.job_id, run_id=str(context.new_uuid()))
    plan = VerifyPlan.model_validate(
        (yield call_activity(context, Activity.plan_verify, request))
    )
    start = VerifyStart(
        run_id=plan.run_id, deep=job.deep, images=plan.images, batches=plan.batches,
        started_at=context.current_utc_datetime,
    )  # fmt: skip
    yield ProgressEntity(context, job.job_id).start_verify(start)
    return plan


def _run_waves(context: df.DurableOrchestrationContext, job: VerifyJobInput, plan: VerifyPlan) -> Orchestration:
    """Up to ``waves_per_history`` waves of batches; True when every batch is done."""
    progress = ProgressEntity(context, job.job_id)
    for _ in range(plan.waves_per_history):
        if job.next_batch >= plan.batches:
            return True
        wave = range(job.next_batch, min(job.next_batch + plan.parallel, plan.batches))
        tasks = [
            call_activity(context, Activity.verify_batch, VerifyBatch(
                job_id=job.job_id, user_id=job.user_id, run_id=plan.run_id, index=index, batches=plan.batches,
                deep=job.deep, rules=job.rules,
            ))
            for index in wave
        ]  # fmt: skip
        results = [BatchVerification.model_validate(r) for r in (yield context.task_all(tasks))]
        for result in results:
            progress.verify(result)
            job.counts = job.counts.plus(result)
        job.next_batch = wave.stop
    return job.next_batch >= plan.batches


@orchestrator
def verify_job(context: df.DurableOrchestrationContext) -> Orchestration:
    job = VerifyJobInput.model_validate(context.get_input())
    if job.plan is None:
        job.plan = yield from _plan(context, job)
    done = yield from _run_waves(context, job, job.plan)
    if not done:
        context.continue_as_new(dump(job))
        return None
    return {"job_id": job.job_id, "run_id": job.plan.run_id, "deep": job.deep, **job.counts.model_dump()}
