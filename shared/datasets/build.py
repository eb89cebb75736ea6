"""The datasets domain: ask for a dataset, build it in parts, list, read, delete, download.

HTTP handlers and activities call these functions; every rule about datasets lives here.

Example::

    dataset = await create_dataset(jobs, datasets, client, settings, "alice", body)
    # build_dataset orchestration: build_part ... build_part, finish_build (or fail_build)
    link = await download_link(datasets, blobs, settings, "alice", dataset.id)

Every layout is built in parts the same way: layouts ``zip`` and ``imagefolder`` into one zip
(:mod:`shared.datasets.parts`), ``webdataset`` into tar shards (:mod:`shared.datasets.webdataset`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.datasets.archive import FetchBytes
from shared.datasets.labels import safe_label
from shared.datasets.layout import DATASET_JSON
from shared.datasets.parts import DATASETS_CONTAINER, finish_parts, remove_parts, write_part
from shared.datasets.webdataset import dataset_files, finish_shards, remove_files, write_shards_part
from shared.errors import BadRequest, Conflict, NotFound
from shared.jobs import JobsStore, get_owned_job
from shared.models import (
    ArchiveSummary, Dataset, DatasetBuild, DatasetBuildFailure, DatasetBuildState, DatasetCreate,
    DatasetDownload, DatasetFile, DatasetMeta, DatasetPage, DatasetQuery, DatasetStatus,
    ImageRecord, JobCreate, JobStatus, dataset_blob_name, utcnow,
)
from shared.settings import Settings
from shared.shards import read_image
from shared.storage import BlobStore, ImagesRepo, Repo
from shared.storage.cosmos import find_owned, owned_page

__all__ = [
    "BUILD_ORCHESTRATOR", "RecordPages", "build_part", "create_dataset", "delete_dataset",
    "download_link", "fail_build", "finish_build", "finish_pack", "get_owned_dataset",
    "list_datasets", "pack_part",
]

BUILD_ORCHESTRATOR = "build_dataset"
ZIP_CONTENT_TYPE = "application/zip"
#: Records read from Cosmos per query page while building.
_PAGE = 200
_UNFINISHED = (DatasetStatus.pending, DatasetStatus.building)


async def create_dataset(
    jobs: JobsStore, datasets: Repo[Dataset], client: df.DurableOrchestrationClient,
    settings: Settings, user_id: str, body: DatasetCreate,
) -> Dataset:  # fmt: skip
    """Record a pending dataset of the caller's completed job and start its build (instance
    id = dataset id). 404/403 for someone else's or an unknown job, 400 unless completed."""
    job = await get_owned_job(jobs, user_id, body.job_id)
    if job.status is not JobStatus.completed:
        raise BadRequest(
            f"Cannot build a dataset from job {job.id} with status '{job.status.value}'. "
            "Only completed jobs can be built into datasets: wait until it completes, or "
            "resume it if it failed or was cancelled.",
            error_code="invalid_job_status", field="job_id",
        )  # fmt: skip
    dataset = await datasets.create(Dataset(id=uuid.uuid4().hex, user_id=user_id, **body.model_dump()))
    meta = DatasetMeta(
        dataset_id=dataset.id, name=dataset.name, job_id=job.id, created=dataset.created_at,
        splits=dataset.splits, include_duplicates=dataset.include_duplicates,
        min_level=dataset.min_level, layout=dataset.layout,
    )  # fmt: skip
    build = DatasetBuild(
        meta=meta, user_id=user_id, part_images=settings.dataset_part_images,
        parts_per_history=settings.dataset_parts_per_history,
        shard_images=settings.dataset_shard_images, shard_bytes=settings.dataset_shard_bytes,
    )  # fmt: skip
    try:
        await client.start_new(BUILD_ORCHESTRATOR, dataset.id, build.model_dump(mode="json"))
    except Exception as exc:
        await _mark(datasets, dataset.id, user_id, DatasetStatus.failed, error=f"could not start the build: {exc}")
        raise
    return dataset


async def get_owned_dataset(
    datasets: Repo[Dataset], user_id: str, dataset_id: str, *, admin: bool = False
) -> Dataset:
    """The dataset, if it exists (404) and belongs to the caller (403) or the caller is an admin."""
    dataset: Dataset = await find_owned(datasets, dataset_id, user_id, kind="dataset", admin=admin)
    return dataset


async def list_datasets(datasets: Repo[Dataset], user_id: str, query: DatasetQuery) -> DatasetPage:
    """The caller's datasets, newest first, one page at a time (optionally one status only)."""
    status = query.status.value if query.status is not None else None
    items, token = await owned_page(datasets, user_id, status, query.limit, query.continuation)
    return DatasetPage(items=items, continuation=token)


async def delete_dataset(datasets: Repo[Dataset], blobs: BlobStore, user_id: str, dataset_id: str) -> None:
    """Delete a ready or failed dataset: its files (the zip, or every shard and file of a
    webdataset), then its record. 409 while it builds."""
    dataset = await get_owned_dataset(datasets, user_id, dataset_id)
    if dataset.status in _UNFINISHED:
        raise Conflict(
            f"Dataset {dataset.id} is {dataset.status.value}: delete it once it is ready or failed.",
            error_code="dataset_building",
        )
    if dataset.layout.is_zip:
        await blobs.delete(DATASETS_CONTAINER, dataset.blob_name)
    else:
        await remove_files(blobs, dataset.id)
    await datasets.delete(dataset.id, dataset.user_id)


async def download_link(
    datasets: Repo[Dataset], blobs: BlobStore, settings: Settings, user_id: str, dataset_id: str
) -> DatasetDownload:
    """Read-only URLs to the dataset's files, valid ``dataset_download_minutes``: the zip, or
    ``dataset.json`` and every file of a webdataset (shards in name order). 409 unless ready."""
    dataset = await get_owned_dataset(datasets, user_id, dataset_id)
    if dataset.status is not DatasetStatus.ready or dataset.size_bytes is None or dataset.sha256 is None:
        raise Conflict(
            f"Dataset {dataset.id} is {dataset.status.value}, not ready: "
            + ("try again once it is built." if dataset.status in _UNFINISHED else f"{dataset.error}"),
            error_code="dataset_not_ready",
        )
    expires_in = timedelta(minutes=settings.dataset_download_minutes)
    if dataset.layout.is_zip:
        zipped = DatasetFile(
            name=f"{safe_label(dataset.name)}.zip", url="", size_bytes=dataset.size_bytes, sha256=dataset.sha256
        )
        listed = [(dataset.blob_name, zipped)]
    else:  # dataset.json first (it lists every shard with its sha256), then the files, the shards
        listed = [(f.blob_name, f.file()) async for f in dataset_files(blobs, dataset.id)]
        listed.sort(key=lambda item: (item[1].name != DATASET_JSON, item[1].split is not None, item[1].name))
    urls = await blobs.sas_urls(DATASETS_CONTAINER, [(blob, file.name) for blob, file in listed], expires_in)
    files = [file.model_copy(update={"url": url}) for (_, file), url in zip(listed, urls, strict=True)]
    main = files[0]
    return DatasetDownload(
        url=main.url, expires_at=utcnow() + expires_in, size_bytes=main.size_bytes, sha256=main.sha256,
        layout=dataset.layout, files=files,
    )  # fmt: skip


# --- the build (activities) ----------------------------------------------------------------


class RecordPages:
    """A job's image records from ``continuation`` on, whole Cosmos pages until at least
    ``limit`` were read; ``continuation`` then says where the next part starts (None: the end)."""

    def __init__(self, images: ImagesRepo, job_id: str, continuation: str | None, limit: int) -> None:
        self.images = images
        self.job_id = job_id
        self.continuation = continuation
        self.limit = limit

    async def __aiter__(self) -> AsyncIterator[ImageRecord]:
        taken = 0
        while taken < self.limit:
            page_size = min(self.limit, _PAGE)
            items, self.continuation = await self.images.list_by_job(self.job_id, page_size, self.continuation)
            for record in items:
                yield record
            taken += len(items)
            if self.continuation is None:
                return


async def _mark(datasets: Repo[Dataset], dataset_id: str, user_id: str, status: DatasetStatus, **fields: Any) -> Dataset:
    values = {"status": status.value, "updated_at": utcnow().isoformat(), **fields}
    return await datasets.patch(dataset_id, user_id, [{"op": "set", "path": f"/{k}", "value": v} for k, v in values.items()])


async def build_part(
    images: ImagesRepo, blobs: BlobStore, datasets: Repo[Dataset], settings: Settings, build: DatasetBuild
) -> DatasetBuildState:
    """Pack the next ``part_images`` records (the first part marks the dataset building)."""
    meta = build.meta
    if build.state.part == 0:
        await _mark(datasets, meta.dataset_id, build.user_id, DatasetStatus.building)
    pages = RecordPages(images, meta.job_id, build.state.continuation, build.part_images)

    async def fetch(record: ImageRecord) -> bytes | None:
        try:
            return await read_image(blobs, record)  # one ranged read of the image's shard
        except NotFound:  # its shard, or the range, is gone: left out and named, not fatal
            return None

    state = await pack_part(
        pages, fetch, blobs, build, prefetch=settings.dataset_prefetch, block_size=settings.dataset_block_size
    )
    return state.model_copy(update={"continuation": pages.continuation, "done": pages.continuation is None})


async def pack_part(
    records: AsyncIterable[ImageRecord], fetch_bytes: FetchBytes, blobs: BlobStore, build: DatasetBuild,
    *, prefetch: int, block_size: int,
) -> DatasetBuildState:  # fmt: skip
    """Pack ``records`` as the next part of a build of any layout: into the zip's blob
    (``zip``, ``imagefolder``) or the open shards (``webdataset``), as staged blocks."""
    if build.meta.layout.is_zip:
        staged = blobs.staged(DATASETS_CONTAINER, dataset_blob_name(build.meta.dataset_id), ZIP_CONTENT_TYPE)
        return await write_part(records, fetch_bytes, staged, blobs, build, prefetch=prefetch, block_size=block_size)
    return await write_shards_part(records, fetch_bytes, blobs, build, prefetch=prefetch, block_size=block_size)


async def finish_pack(blobs: BlobStore, build: DatasetBuild, meta: DatasetMeta, *, block_size: int) -> ArchiveSummary:
    """Write the last bytes of a build of any layout and commit them (``meta``: the build's,
    with the job's settings for the card)."""
    if meta.layout.is_zip:
        staged = blobs.staged(DATASETS_CONTAINER, dataset_blob_name(meta.dataset_id), ZIP_CONTENT_TYPE)
        return await finish_parts(staged, blobs, build, meta, block_size=block_size)
    return await finish_shards(blobs, build, meta, block_size=block_size)


async def finish_build(
    jobs: JobsStore, blobs: BlobStore, datasets: Repo[Dataset], settings: Settings, build: DatasetBuild
) -> Dataset:
    """Write the dataset's last bytes (the zip's tail, or a webdataset's last shards and
    files), commit them, and mark the dataset ready with its counts."""
    meta = build.meta
    job = await jobs.find(meta.job_id)
    if job is not None:
        settings_of_job = JobCreate.model_validate(job.model_dump(include=set(JobCreate.model_fields)))
        meta = meta.model_copy(update={"job": settings_of_job})
    summary = await finish_pack(blobs, build, meta, block_size=settings.dataset_block_size)
    dataset = await _mark(
        datasets, meta.dataset_id, build.user_id, DatasetStatus.ready, error=None,
        counts=summary.counts.model_dump(mode="json"), size_bytes=summary.size_bytes,
        sha256=summary.sha256, skipped=summary.skipped, left_out=summary.left_out,
    )  # fmt: skip
    if meta.layout.is_zip:  # a retried finish reads them again until the dataset is ready
        await remove_parts(blobs, meta.dataset_id, build.state.part)
    return dataset


async def fail_build(datasets: Repo[Dataset], blobs: BlobStore, failure: DatasetBuildFailure) -> Dataset | None:
    """Mark the dataset failed with the error and drop its parts' blobs and the shards a
    webdataset committed (a zip's uncommitted blocks are never visible). None when the record
    is gone."""
    if failure.layout.is_zip:
        await remove_parts(blobs, failure.dataset_id, failure.parts)
    else:
        await remove_files(blobs, failure.dataset_id)
    try:
        return await _mark(datasets, failure.dataset_id, failure.user_id, DatasetStatus.failed, error=failure.error)
    except NotFound:
        return None
