"""Review: a job's images by label and state, curation, thumbnails, near-duplicate groups and
stored failures (what the review page at /api/ui calls, and the SDK)."""

import azure.functions as func

from http_triggers._api import ApiRequest, api
from shared.review import images
from shared.crawl.failures import failure_page
from shared.crawl.jobs import get_owned_job
from shared.models import (
    CurationChange, CurationSummary, DuplicateGroupPage, DuplicateGroupQuery, FailurePage, FailureQuery,
    THUMBNAIL_EDGE, ImagePage, ImageQuery, ReviewImage, Thumbnail,
)
from shared.runtime import get_runtime
from shared.review.thumbnails import THUMBNAIL_CONTENT_TYPE, thumbnail

TAGS = ("review",)
IMAGE = "v1/jobs/{job_id}/images/{image_id}"
#: Thumbnails are named by content (sha256): a browser may keep them as long as it likes.
THUMBNAIL_CACHE = "private, max-age=31536000, immutable"


@api("v1/jobs/{job_id}/images", ["GET"], query=ImageQuery, response=ImagePage, tags=TAGS, errors=(400, 404))
async def list_images(request: ApiRequest) -> ImagePage:
    """A page of the job's images (`?label=` after review, `?state=kept|excluded|duplicate|invalid|relabelled`)."""
    query = request.query(ImageQuery)
    runtime = await get_runtime()
    return await images.list_images(runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"], query)


@api(IMAGE, ["GET"], response=ReviewImage, tags=TAGS, errors=(404,))
async def get_image(request: ApiRequest) -> ReviewImage:
    """One image: source, license, size, validation flags and curation."""
    runtime = await get_runtime()
    return await images.get_image(
        runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"], request.params["image_id"]
    )


@api(IMAGE, ["PATCH"], body=CurationChange, response=ReviewImage, tags=TAGS, errors=(400, 404))
async def curate_image(request: ApiRequest) -> ReviewImage:
    """Exclude an image from datasets (or take it back), or move it to another of the job's labels."""
    runtime = await get_runtime()
    job = await get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])  # 404/403 first
    change = request.json(CurationChange)
    return await images.curate(runtime.jobs, runtime.images, request.user.user_id, job.id, request.params["image_id"], change)


@api(f"{IMAGE}/thumbnail", ["GET"], response=Thumbnail, tags=TAGS, errors=(404, 409))
async def image_thumbnail(request: ApiRequest) -> func.HttpResponse:
    """The image as a JPEG of at most 256 x 256 pixels (made once, then read from Blob Storage)."""
    runtime = await get_runtime()
    job = await get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])
    image_id = request.params["image_id"]
    data = None
    if images.is_image_id(image_id) and request.http.headers.get("If-None-Match") == _etag(image_id):
        await images.find_image(runtime.images, job.id, image_id)  # still the job's
    else:
        data = await thumbnail(runtime.images, runtime.blobs, runtime.settings, job.id, image_id, runtime.decode_gate)
    headers = {"Cache-Control": THUMBNAIL_CACHE, "ETag": _etag(image_id)}
    if data is None:
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(data, mimetype=THUMBNAIL_CONTENT_TYPE, headers=headers)


def _etag(image_id: str) -> str:
    """The thumbnail's entity tag (only ever made for a valid image id: hex)."""
    return f'"{image_id}-{THUMBNAIL_EDGE}"'


@api(
    "v1/jobs/{job_id}/duplicates", ["GET"], query=DuplicateGroupQuery, response=DuplicateGroupPage,
    tags=TAGS, errors=(404,),
)
async def duplicate_groups(request: ApiRequest) -> DuplicateGroupPage:
    """A page of near-duplicate groups: each kept image with the duplicates it stands for."""
    query = request.query(DuplicateGroupQuery)
    runtime = await get_runtime()
    return await images.duplicate_groups(runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"], query)


@api("v1/jobs/{job_id}/failures", ["GET"], query=FailureQuery, response=FailurePage, tags=TAGS, errors=(400, 404))
async def job_failures(request: ApiRequest) -> FailurePage:
    """A page of the job's download failures with their URLs (`?reason=` filters)."""
    query = request.query(FailureQuery)
    runtime = await get_runtime()
    job = await get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])
    return await failure_page(runtime.blobs, job.id, query)


@api("v1/jobs/{job_id}/curation", ["GET"], response=CurationSummary, tags=TAGS, errors=(404,))
async def curation_summary(request: ApiRequest) -> CurationSummary:
    """What a default dataset build would pack per label now, and what review excluded or moved."""
    runtime = await get_runtime()
    return await images.curation_summary(runtime.jobs, runtime.images, request.user.user_id, request.params["job_id"])
