"""Jobs: create, get, start, cancel (alias stop), retry, resume, progress, verify."""

from http_triggers._api import ApiRequest, ApiResponse, api
from shared import jobs, verify
from shared.ratelimit import JOB_CREATES, JOB_RUNS, VERIFIES
from shared.models import (
    Job, JobCreate, JobLogs, JobPage, JobProgress, JobQuery, JobStats, VerifyReport, VerifyRequest, VerifyStarted,
)
from shared.runtime import get_runtime

TAGS = ("jobs",)
#: Job starts, retries and resumes per user per minute (PIXCRAWLER_RATE_LIMIT_START_PER_MINUTE),
#: one budget for the three, across instances.
START_LIMIT = JOB_RUNS


@api("v1/jobs", ["POST"], body=JobCreate, response=Job, status=201, tags=TAGS, errors=(400,), limit=JOB_CREATES)
async def create_job(request: ApiRequest) -> ApiResponse:
    """Create a crawl job (pending until started)."""
    body = request.json(JobCreate)
    runtime = await get_runtime()
    job = await jobs.create_job(runtime.jobs, runtime.blobs, runtime.settings, request.user.user_id, body)
    return ApiResponse(job, status=201, headers={"Location": f"/api/v1/jobs/{job.id}"})


@api("v1/jobs/{job_id}", ["GET"], response=Job, tags=TAGS, errors=(404,))
async def get_job(request: ApiRequest) -> Job:
    """Get a job."""
    runtime = await get_runtime()
    caller = request.user
    return await jobs.get_owned_job(runtime.jobs, caller.user_id, request.params["job_id"], admin=caller.is_admin)


@api(
    "v1/jobs/{job_id}/start", ["POST"], response=jobs.StartResponse, tags=TAGS, errors=(400, 404, 409),
    durable=True, limit=START_LIMIT,
)
async def start_job(request: ApiRequest) -> jobs.StartResponse:
    """Start a pending job; starting a running job again returns its task ids."""
    runtime = await get_runtime()
    return await jobs.start_job(
        runtime.jobs, runtime.settings, request.client, request.user.user_id, request.params["job_id"]
    )


@api(
    "v1/jobs/{job_id}/stop", ["POST"], response=jobs.CancelResponse, tags=TAGS, errors=(400, 404), durable=True,
    summary="Stop a job: the same as POST /jobs/{job_id}/cancel.",
)
@api("v1/jobs/{job_id}/cancel", ["POST"], response=jobs.CancelResponse, tags=TAGS, errors=(400, 404), durable=True)
async def cancel_job(request: ApiRequest) -> jobs.CancelResponse:
    """Cancel a pending or running job: terminates every orchestration of its run."""
    runtime = await get_runtime()
    return await jobs.cancel_job(
        runtime.jobs, runtime.notifications, request.client, request.user.user_id, request.params["job_id"]
    )


@api(
    "v1/jobs/{job_id}/retry", ["POST"], response=jobs.StartResponse, tags=TAGS, errors=(400, 404, 409), durable=True,
    limit=START_LIMIT,
)
async def retry_job(request: ApiRequest) -> jobs.StartResponse:
    """Run a failed or cancelled job again from scratch."""
    runtime = await get_runtime()
    return await jobs.retry_job(
        runtime.jobs, runtime.settings, request.client, request.user.user_id, request.params["job_id"]
    )


@api(
    "v1/jobs/{job_id}/resume", ["POST"], response=jobs.ResumeResponse, tags=TAGS, errors=(400, 404, 409),
    durable=True, limit=START_LIMIT,
)
async def resume_job(request: ApiRequest) -> jobs.ResumeResponse:
    """Resume a failed or cancelled job where it stopped (409 while its archived checkpoint
    is in the Archive tier)."""
    runtime = await get_runtime()
    return await jobs.resume_job(
        runtime.jobs, runtime.notifications, runtime.blobs, runtime.settings, request.client, request.user.user_id,
        request.params["job_id"],
    )


@api("v1/jobs/{job_id}/progress", ["GET"], response=JobProgress, tags=TAGS, errors=(404,), durable=True)
async def job_progress(request: ApiRequest) -> JobProgress:
    """Chunk and image counters of the job's current run."""
    runtime = await get_runtime()
    return await jobs.job_progress(runtime.jobs, request.client, request.user.user_id, request.params["job_id"])


@api("v1/jobs", ["GET"], query=JobQuery, response=JobPage, tags=TAGS, errors=(400,))
async def list_jobs(request: ApiRequest) -> JobPage:
    """List the caller's jobs, newest first (`?status=` filters)."""
    query = request.query(JobQuery)
    runtime = await get_runtime()
    return await jobs.list_jobs(runtime.jobs, request.user.user_id, query)


@api("v1/jobs/{job_id}", ["DELETE"], status=204, tags=TAGS, errors=(400, 404))
async def delete_job(request: ApiRequest) -> None:
    """Delete a job that is not running, with its images."""
    runtime = await get_runtime()
    await jobs.delete_job(runtime.jobs, runtime.images, runtime.blobs, request.user.user_id, request.params["job_id"])


@api("v1/jobs/{job_id}/logs", ["GET"], response=JobLogs, tags=TAGS, errors=(404,), durable=True)
async def job_logs(request: ApiRequest) -> JobLogs:
    """Per-chunk status, position and last error."""
    runtime = await get_runtime()
    return await jobs.job_logs(runtime.jobs, request.client, request.user.user_id, request.params["job_id"])


@api("v1/jobs/{job_id}/stats", ["GET"], response=JobStats, tags=TAGS, errors=(404,))
async def job_stats(request: ApiRequest) -> JobStats:
    """Stored images per label (valid, not duplicates)."""
    runtime = await get_runtime()
    return await jobs.job_stats(runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"])


@api(
    "v1/jobs/{job_id}/verify", ["POST"], body=VerifyRequest, response=VerifyStarted, status=202, tags=TAGS,
    errors=(404,), durable=True, limit=VERIFIES,
)
async def verify_job(request: ApiRequest) -> ApiResponse:
    """Verify every image of a job: its bytes are there (and, with `{"deep": true}`, intact);
    lost ones are fetched again from their URL or marked missing, and the counts follow.

    Any job, completed ones included; a verify already running is returned."""
    runtime = await get_runtime()
    job = await jobs.get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])  # 404/403 first
    body = request.json(VerifyRequest)
    started = await verify.start_verify(runtime.images, request.client, runtime.settings, job, body.deep)
    return ApiResponse(started, status=202)


@api("v1/jobs/{job_id}/verify", ["GET"], response=VerifyReport, tags=TAGS, errors=(404,), durable=True)
async def verify_status(request: ApiRequest) -> VerifyReport:
    """The job's latest verify: running, completed or failed, with what it found."""
    runtime = await get_runtime()
    return await verify.verify_report(runtime.jobs, request.client, request.user.user_id, request.params["job_id"])
