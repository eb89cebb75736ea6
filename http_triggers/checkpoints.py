"""Checkpoints: a job's saved position (live or archived), per chunk and per keyword; admin
deletion and statistics."""

from http_triggers._api import ApiRequest, Auth, api
from shared.checkpoints import reading, stats
from shared.crawl import jobs
from shared.models import CheckpointQuery, CheckpointStats, CheckpointView, ChunkList, Job, KeywordList
from shared.runtime import get_runtime

TAGS = ("checkpoints",)


async def _load(request: ApiRequest) -> tuple[Job, reading.Loaded]:
    """The caller's job (404 / 403) and its checkpoint (404, or 409 while archived)."""
    runtime = await get_runtime()
    caller = request.user
    job = await jobs.get_owned_job(runtime.jobs, caller.user_id, request.params["job_id"], admin=caller.is_admin)
    query = request.query(CheckpointQuery)
    loaded = await reading.load_checkpoint(
        runtime.blobs, request.durable, runtime.settings, job, rehydrate=query.rehydrate
    )
    return job, loaded


@api(
    "v1/jobs/{job_id}/checkpoint", ["GET"], query=CheckpointQuery, response=CheckpointView, tags=TAGS,
    errors=(404, 409), durable=True,
)
async def get_checkpoint(request: ApiRequest) -> CheckpointView:
    """The job's checkpoint summary: chunks by status, images so far (live or archived)."""
    return reading.view(*await _load(request))


@api(
    "v1/jobs/{job_id}/checkpoints/chunks", ["GET"], query=CheckpointQuery, response=ChunkList, tags=TAGS,
    errors=(404, 409), durable=True,
)
async def get_checkpoint_chunks(request: ApiRequest) -> ChunkList:
    """Every chunk's saved position, status and last error."""
    return reading.chunk_list(*await _load(request))


@api(
    "v1/jobs/{job_id}/checkpoints/keywords", ["GET"], query=CheckpointQuery, response=KeywordList, tags=TAGS,
    errors=(404, 409), durable=True,
)
async def get_checkpoint_keywords(request: ApiRequest) -> KeywordList:
    """Progress per keyword: quota, images stored, chunks by status."""
    return reading.keyword_list(*await _load(request))


@api("v1/jobs/{job_id}/checkpoint", ["DELETE"], auth=Auth.admin, status=204, tags=TAGS, errors=(400, 404), durable=True)
async def delete_checkpoint(request: ApiRequest) -> None:
    """Delete a job's checkpoint, live and archived (admin; not while the job runs)."""
    runtime = await get_runtime()
    job = await jobs.get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"], admin=True)
    await reading.delete_checkpoint(runtime.blobs, request.durable, job)


@api("v1/checkpoints/stats", ["GET"], auth=Auth.admin, response=CheckpointStats, tags=TAGS, durable=True)
async def checkpoint_stats(request: ApiRequest) -> CheckpointStats:
    """Checkpoint counts by status, archived snapshots by tier, write latency percentiles."""
    runtime = await get_runtime()
    return await stats.checkpoint_stats(runtime.jobs, runtime.blobs, request.durable, runtime.settings)
