"""The :class:`Client`: every call of the PixCrawler API, typed. The module-level functions
of :mod:`pixcrawler` and :mod:`pixcrawler.jobs` use one shared instance of it.

Example::

    from pixcrawler import Client
    with Client(api_key="pxc_...") as client:
        for info in client.iter_datasets():
            print(info.id, info.name, info.status)
        ds = client.load_dataset("ds_123")
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from urllib.parse import quote
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from pixcrawler._http import RetryPolicy, Transport
from pixcrawler._review import ReviewMixin
from pixcrawler.config import Settings, cache_dir, resolve_settings
from pixcrawler.dataset import DEFAULT_MAX_MEMORY_BYTES, Dataset
from pixcrawler.download import download_file, download_files, save_dataset
from pixcrawler.exceptions import DatasetTooLargeError, WaitTimeoutError
from pixcrawler.models import (
    DATASET_FINISHED, ApiKey, ChunkLog, DatasetInfo, DownloadInfo, Job, JobCancelled,
    JobProgress, JobResumed, JobStarted, Page, ValidationStarted,
)

__all__ = ["Client", "PixCrawlerClient"]

M = TypeVar("M", bound=BaseModel)
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class Client(ReviewMixin):
    """A connection to the PixCrawler API.

    Credentials and URL default to the environment (``PIXCRAWLER_API_KEY``,
    ``PIXCRAWLER_TOKEN``, ``PIXCRAWLER_BASE_URL``, then ``SERVICE_API_KEY``,
    ``SERVICE_API_TOKEN``), then to what ``pixcrawler login`` saved. A ``token`` that starts
    with ``pxc_`` is an API key. ``PixCrawlerClient`` is the same class.
    Failed requests are retried on 429, 5xx and connection errors, up to ``max_retries``
    times with exponential backoff (a 429's ``Retry-After`` is honoured).

    Example::

        client = Client(api_key="pxc_...", base_url="https://pixcrawler.example/api/v1")
        info = client.get_dataset("ds_123")
    """

    def __init__(
        self,
        api_key: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        cache_dir: str | Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings: Settings = resolve_settings(api_key, token, base_url)
        self._retry = RetryPolicy(max_retries=max_retries, backoff=backoff)
        self._sleep = sleep
        self._transport = Transport(self.settings, timeout=timeout, retry=self._retry, sleep=sleep)
        self._timeout = timeout
        self._blob_client: httpx.Client | None = None
        self._cache_dir = Path(cache_dir).expanduser() if cache_dir else None

    # -- plumbing --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def _blob_http(self) -> httpx.Client:
        """A bare client for signed Blob URLs (they must not receive our credentials), made
        on first use."""
        if self._blob_client is None:
            timeout = httpx.Timeout(self._timeout, read=max(self._timeout, 60.0))
            self._blob_client = httpx.Client(timeout=timeout)
        return self._blob_client

    def close(self) -> None:
        """Close the connection pools."""
        self._transport.close()
        if self._blob_client is not None:
            self._blob_client.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        return model.model_validate(self._transport.request("GET", path, params=params).json())

    def _post(self, model: type[M], path: str, body: Any = None) -> M:
        return model.model_validate(self._transport.request("POST", path, json=body).json())

    def _pages(self, path: str, limit: int, **params: Any) -> Iterator[Page]:
        continuation: str | None = None
        while True:
            page = self._get(Page, path, limit=limit, continuation=continuation, **params)
            yield page
            continuation = page.continuation
            if not continuation:
                return

    # -- datasets --------------------------------------------------------------------------

    def list_datasets(self, page: int = 1, size: int = 20) -> list[DatasetInfo]:
        """Page ``page`` (from 1) of your datasets, ``size`` per page; [] past the last page."""
        if page < 1 or size < 1:
            raise ValueError("page and size start at 1")
        for number, batch in enumerate(self._pages("datasets", size), start=1):
            if number == page:
                return [DatasetInfo.model_validate(item) for item in batch.items]
        return []

    def iter_datasets(self, page_size: int = 100) -> Iterator[DatasetInfo]:
        """All your datasets, fetched a page at a time."""
        for batch in self._pages("datasets", page_size):
            yield from (DatasetInfo.model_validate(item) for item in batch.items)

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        """One dataset's status, counts, size and sha256."""
        return self._get(DatasetInfo, f"datasets/{_quoted(dataset_id)}")

    def create_dataset(
        self,
        job_id: str,
        name: str,
        *,
        splits: dict[str, float] | None = None,
        include_duplicates: bool = False,
        min_level: str = "fast",
        layout: str = "zip",
    ) -> DatasetInfo:
        """Ask for a dataset of a job's images in a ``layout`` (``zip``, ``imagefolder`` or
        ``webdataset``); it is built in the background (status ``pending`` -> ``building`` ->
        ``ready``): see :meth:`wait_for_dataset`."""
        body: dict[str, Any] = {
            "job_id": job_id, "name": name, "include_duplicates": include_duplicates,
            "min_level": min_level, "layout": layout,
        }
        if splits is not None:
            body["splits"] = splits
        return self._post(DatasetInfo, "datasets", body)

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset and its archive."""
        self._transport.request("DELETE", f"datasets/{_quoted(dataset_id)}")

    def wait_for_dataset(
        self, dataset_id: str, *, poll_interval: float = 2.0, timeout: float | None = None
    ) -> DatasetInfo:
        """Poll until the dataset is ``ready`` or ``failed``; return its final state."""
        return self._poll(
            lambda: self.get_dataset(dataset_id),
            lambda info: info.status in DATASET_FINISHED,
            poll_interval, timeout, f"dataset {dataset_id}",
        )

    def get_download_info(self, dataset_id: str) -> DownloadInfo:
        """Fresh signed URLs to the dataset's files, with their sizes and sha256."""
        return self._get(DownloadInfo, f"datasets/{_quoted(dataset_id)}/download")

    def _transfer_options(self, progress: bool) -> dict[str, Any]:
        return {
            "progress": progress, "max_retries": max(self._retry.max_retries, 1) + 2,
            "backoff": self._retry.backoff, "sleep": self._sleep,
        }

    def download_dataset(
        self, dataset_id: str, output_path: str | Path, *, progress: bool = True
    ) -> Path:
        """Save the dataset at ``output_path``: ``NAME.zip`` gets its zip (layouts ``zip`` and
        ``imagefolder``); any other path is a folder that gets the zip's content unpacked (for
        ``imagefolder`` the ``{split}/{label}/`` tree), or a webdataset's tar shards and
        files. Returns the zip or the folder.

        Shows a progress bar, resumes a partial download (``<file>.part``) with HTTP Range,
        and checks size and sha256: :class:`~pixcrawler.IntegrityError` on a mismatch.
        """
        return save_dataset(
            self._blob_http, lambda: self.get_download_info(dataset_id), output_path,
            **self._transfer_options(progress),
        )  # fmt: skip

    def load_dataset(
        self,
        dataset_id: str,
        *,
        progress: bool = True,
        in_memory: bool = False,
        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    ) -> Dataset:
        """The dataset as a :class:`~pixcrawler.Dataset`, downloaded into the cache once.

        The cache (``PIXCRAWLER_CACHE_DIR`` or ``~/.cache/pixcrawler``) keeps one copy per
        dataset id and sha256 (its zip, or a webdataset's folder of shards): a rebuilt dataset
        is fetched again, an unchanged one never. Images are read lazily from the files on
        disk; ``in_memory=True`` reads them all at once and refuses datasets over
        ``max_memory_bytes`` before downloading anything.
        """
        described = self.get_dataset(dataset_id)
        info = self.get_download_info(dataset_id)
        if in_memory and info.total_bytes > max_memory_bytes:
            raise DatasetTooLargeError(
                f"Dataset {dataset_id} is {info.total_bytes:,} bytes, over the in-memory limit "
                f"of {max_memory_bytes:,}. Load it lazily (in_memory=False, the default) or "
                "raise max_memory_bytes."
            )
        folder = (self._cache_dir or cache_dir()) / "datasets" / _cache_key(dataset_id)
        path = self._cached(dataset_id, info, folder, progress)
        dataset = Dataset.open(path, in_memory=in_memory, max_memory_bytes=max_memory_bytes)
        dataset.info = described
        return dataset

    def _cached(self, dataset_id: str, info: DownloadInfo, folder: Path, progress: bool) -> Path:
        """The dataset in the cache, downloaded unless there: ``<sha256>.zip``, or a
        webdataset's ``<sha256>/`` folder (complete once ``.complete`` is written). Other
        copies of the dataset (older builds) are removed."""
        options = self._transfer_options(progress)
        fresh = lambda: self.get_download_info(dataset_id)  # noqa: E731
        if info.is_zip:
            path = folder / f"{info.sha256}.zip"
            if not path.exists():
                download_file(self._blob_http, info, path, refresh=fresh, **options)
        else:
            path = folder / info.sha256
            if not (path / ".complete").exists():
                path.mkdir(parents=True, exist_ok=True)
                download_files(self._blob_http, fresh, info, path, **options)
                (path / ".complete").write_text(info.sha256)
        for stale in folder.iterdir():
            if stale == path:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        return path

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, **body: Any) -> Job:
        """Create a crawl job (``POST /jobs``); the body is the service's JobCreate."""
        return self._post(Job, "jobs", body)

    def list_jobs(self, *, status: str | None = None, limit: int = 20) -> list[Job]:
        """Your most recent jobs (first page), optionally only those with ``status``."""
        page = next(self._pages("jobs", limit, status=status))
        return [Job.model_validate(item) for item in page.items]

    def iter_jobs(self, *, status: str | None = None, page_size: int = 100) -> Iterator[Job]:
        """All your jobs, fetched a page at a time."""
        for batch in self._pages("jobs", page_size, status=status):
            yield from (Job.model_validate(item) for item in batch.items)

    def get_job(self, job_id: str) -> Job:
        return self._get(Job, f"jobs/{_quoted(job_id)}")

    def start_job(self, job_id: str) -> JobStarted:
        return self._post(JobStarted, f"jobs/{_quoted(job_id)}/start")

    def job_progress(self, job_id: str) -> JobProgress:
        return self._get(JobProgress, f"jobs/{_quoted(job_id)}/progress")

    def cancel_job(self, job_id: str) -> JobCancelled:
        """Stop a pending or running job (``POST /jobs/{id}/cancel``, also served as ``/stop``)."""
        return self._post(JobCancelled, f"jobs/{_quoted(job_id)}/cancel")

    def retry_job(self, job_id: str) -> JobStarted:
        """Run a failed or cancelled job again from scratch (its counters start at 0)."""
        return self._post(JobStarted, f"jobs/{_quoted(job_id)}/retry")

    def resume_job(self, job_id: str) -> JobResumed:
        return self._post(JobResumed, f"jobs/{_quoted(job_id)}/resume")

    def validate_job(self, job_id: str, level: str | None = None) -> ValidationStarted:
        """Validate every image of a job at ``level`` (fast, medium or slow; the service's
        default, medium, when None). A validation already running is returned."""
        body = {} if level is None else {"level": level}
        return self._post(ValidationStarted, f"validation/job/{_quoted(job_id)}", body)

    def job_logs(self, job_id: str) -> list[ChunkLog]:
        """Each chunk of the job with its status, counts, offset and last error."""
        body = self._transport.request("GET", f"jobs/{_quoted(job_id)}/logs").json()
        return [ChunkLog.model_validate(chunk) for chunk in body.get("chunks", [])]

    def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        on_update: Callable[[JobProgress], None] | None = None,
    ) -> JobProgress:
        """Poll the job's progress until it is completed, failed or cancelled."""

        def fetch() -> JobProgress:
            current = self.job_progress(job_id)
            if on_update is not None:
                on_update(current)
            return current

        return self._poll(
            fetch, lambda p: p.is_finished, poll_interval, timeout, f"job {job_id}"
        )

    # -- api keys --------------------------------------------------------------------------

    def create_api_key(self, name: str) -> ApiKey:
        """A new API key for your user. The key is shown only now: store it."""
        return self._post(ApiKey, "api-keys", {"name": name})

    # --------------------------------------------------------------------------------------

    def _poll(
        self,
        fetch: Callable[[], M],
        done: Callable[[M], bool],
        poll_interval: float,
        timeout: float | None,
        what: str,
    ) -> M:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = fetch()
            if done(current):
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"{what} is still {getattr(current, 'status', 'running')} after {timeout:g} s; "
                    "wait again, or check it with `pixcrawler jobs show` / `datasets info`"
                )
            self._sleep(poll_interval)


def _quoted(identifier: str) -> str:
    """An id as one path segment: refuses what could change the route."""
    if not identifier or "/" in identifier or identifier in (".", ".."):
        raise ValueError(f"not a valid id: {identifier!r}")
    return quote(identifier, safe="")


def _cache_key(dataset_id: str) -> str:
    if _SAFE_ID.match(dataset_id) and dataset_id not in (".", ".."):
        return dataset_id
    return "id-" + hashlib.sha256(dataset_id.encode()).hexdigest()[:32]


#: The name the first PixCrawler documents use for :class:`Client`.
PixCrawlerClient = Client
