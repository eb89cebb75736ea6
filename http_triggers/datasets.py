"""Datasets: build one from a completed job in a layout (zip, imagefolder, webdataset), list,
get, delete, download."""

from http_triggers._api import ApiRequest, ApiResponse, api
from shared.datasets import build
from shared.models import Dataset, DatasetCreate, DatasetDownload, DatasetPage, DatasetQuery
from http_triggers._ratelimit import DATASET_CREATES
from shared.runtime import get_runtime

TAGS = ("datasets",)


@api(
    "v1/datasets", ["POST"], body=DatasetCreate, response=Dataset, status=202, tags=TAGS,
    errors=(400, 404), durable=True, limit=DATASET_CREATES,
)
async def create_dataset(request: ApiRequest) -> ApiResponse:
    """Build a dataset from a completed job in a `layout`: `zip` (default), `imagefolder` or
    `webdataset` (202: status pending, built in the background)."""
    body = request.json(DatasetCreate)
    runtime = await get_runtime()
    dataset = await build.create_dataset(
        runtime.jobs, runtime.datasets, request.durable, runtime.settings,
        request.user.user_id, body,
    )  # fmt: skip
    return ApiResponse(dataset, status=202, headers={"Location": f"/api/v1/datasets/{dataset.id}"})


@api("v1/datasets", ["GET"], query=DatasetQuery, response=DatasetPage, tags=TAGS, errors=(400,))
async def list_datasets(request: ApiRequest) -> DatasetPage:
    """List the caller's datasets, newest first (`?status=` filters, `?continuation=` pages)."""
    query = request.query(DatasetQuery)
    runtime = await get_runtime()
    return await build.list_datasets(runtime.datasets, request.user.user_id, query)


@api("v1/datasets/{dataset_id}", ["GET"], response=Dataset, tags=TAGS, errors=(404,))
async def get_dataset(request: ApiRequest) -> Dataset:
    """Get a dataset: status, counts per label and split, size and sha256 of its archive."""
    runtime = await get_runtime()
    caller = request.user
    return await build.get_owned_dataset(
        runtime.datasets, caller.user_id, request.params["dataset_id"], admin=caller.is_admin
    )


@api("v1/datasets/{dataset_id}", ["DELETE"], status=204, tags=TAGS, errors=(404, 409))
async def delete_dataset(request: ApiRequest) -> None:
    """Delete a ready or failed dataset with its files (409 while it is being built)."""
    runtime = await get_runtime()
    await build.delete_dataset(
        runtime.datasets, runtime.blobs, request.user.user_id, request.params["dataset_id"]
    )


@api("v1/datasets/{dataset_id}/download", ["GET"], response=DatasetDownload, tags=TAGS, errors=(404, 409))
async def download_dataset(request: ApiRequest) -> DatasetDownload:
    """Time-limited, read-only URLs to the dataset's files, each with its size and sha256: `url`
    is the zip (or a webdataset's `dataset.json`), `files` lists every file, a webdataset's
    shards included (409 unless ready)."""
    runtime = await get_runtime()
    return await build.download_link(
        runtime.datasets, runtime.blobs, runtime.settings, request.user.user_id,
        request.params["dataset_id"],
    )  # fmt: skip
