"""Activities of the crawl: discover a page, download a batch, close a run.

Registered under their Python function names (the SDK's call_activity sends ``__name__``).
Each takes and returns the JSON of a shared.models model: small, never image bytes.
"""

from typing import Any

from activities import activity
from shared.crawl import jobs
from shared.crawl.batches import BatchProcessor, discover as discover_page
from shared.fetch import Downloader
from shared.models import DiscoverRequest, DownloadBatch, FinishJob
from shared.runtime import get_runtime


@activity
async def discover(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    request = DiscoverRequest.model_validate(payload)
    result = await discover_page(request, runtime.settings, runtime.http_session(), runtime.blobs)
    return result.model_dump(mode="json")


@activity
async def download_batch(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    batch = DownloadBatch.model_validate(payload)
    async with Downloader(runtime.settings, budget=runtime.download_budget()) as downloader:
        processor = BatchProcessor(
            downloader, runtime.images, runtime.blobs, runtime.settings, gate=runtime.decode_gate
        )
        result = await processor.run(batch)
    return result.model_dump(mode="json")


@activity
async def finish_job(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    job = await jobs.finish_run(runtime.jobs, runtime.notifications, FinishJob.model_validate(payload))
    return {"job_id": job.id, "status": job.status.value, "run": job.run, "error": job.error}
