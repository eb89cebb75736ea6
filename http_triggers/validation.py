"""Validation: start a job's validation at a level, list its results, count them."""

from http_triggers._api import ApiRequest, api
from shared.validation import levels
from shared.crawl.jobs import get_owned_job
from shared.models import (
    ValidationRequest, ValidationResultPage, ValidationResultQuery, ValidationStarted, ValidationStats,
)
from http_triggers._ratelimit import VALIDATIONS
from shared.runtime import get_runtime

TAGS = ("validation",)


@api(
    "v1/validation/job/{job_id}", ["POST"], body=ValidationRequest, response=ValidationStarted,
    tags=TAGS, errors=(404,), durable=True, limit=VALIDATIONS,
)
async def validate_job(request: ApiRequest) -> ValidationStarted:
    """Validate every image of a job at level fast, medium (the default) or slow.

    No body, or ``{}``, means medium; a validation already running is returned."""
    runtime = await get_runtime()
    job = await get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])  # 404/403 first
    body = request.json(ValidationRequest)
    return await levels.start_validation(runtime.images, request.durable, job, body.level)


@api(
    "v1/validation/results/{job_id}", ["GET"], query=ValidationResultQuery, response=ValidationResultPage,
    tags=TAGS, errors=(400, 404),
)
async def validation_results(request: ApiRequest) -> ValidationResultPage:
    """A page of the job's images with their validation (`?filter=valid|duplicate|invalid`)."""
    query = request.query(ValidationResultQuery)
    runtime = await get_runtime()
    return await levels.validation_results(
        runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"], query
    )


@api("v1/validation/stats/{job_id}", ["GET"], response=ValidationStats, tags=TAGS, errors=(404,))
async def validation_stats(request: ApiRequest) -> ValidationStats:
    """Images per validation level and per check (passed / failed)."""
    runtime = await get_runtime()
    return await levels.validation_stats(runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"])
