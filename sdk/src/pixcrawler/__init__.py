"""PixCrawler: keywords in, a clean labelled image dataset out.

Example::

    import pixcrawler

    pixcrawler.auth(api_key="pk_...")            # or PIXCRAWLER_API_KEY, or `pixcrawler login`
    for info in pixcrawler.list_datasets():
        print(info.id, info.name, info.status, info.counts.total)

    ds = pixcrawler.load_dataset("ds_123")        # cached in ~/.cache/pixcrawler
    for item in ds.split("train"):
        print(item.label, item.metadata["url"])
        image = item.image()                      # PIL image, pip install 'pixcrawler[images]'

Crawl jobs live in :mod:`pixcrawler.jobs`; reviewing a job's images (exclude, relabel) in
:mod:`pixcrawler.review`.
"""

from __future__ import annotations

from pathlib import Path

from pixcrawler import jobs, review
from pixcrawler._default import get_client, set_client
from pixcrawler._version import __version__
from pixcrawler.client import Client
from pixcrawler.dataset import DEFAULT_MAX_MEMORY_BYTES, Dataset, DatasetItem
from pixcrawler.exceptions import (
    APIConnectionError, APIError, AuthenticationError, DatasetTooLargeError, IntegrityError,
    NotFoundError, PixCrawlerError, RateLimitError, ValidationError, WaitTimeoutError,
)
from pixcrawler.models import DatasetCounts, DatasetInfo, DownloadInfo

__all__ = [
    "__version__",
    "APIConnectionError", "APIError", "AuthenticationError", "Client", "Dataset",
    "DatasetCounts", "DatasetInfo", "DatasetItem", "DatasetTooLargeError", "DownloadInfo",
    "IntegrityError", "NotFoundError", "PixCrawlerError", "RateLimitError", "ValidationError",
    "WaitTimeoutError",
    "auth", "download_dataset", "get_client", "get_dataset_info", "jobs", "list_datasets",
    "load_dataset", "review", "set_client",
]


def auth(
    token: str | None = None, api_key: str | None = None, base_url: str | None = None
) -> Client:
    """Set the credentials (and URL) the module-level functions use; return that client.

    Anything not given falls back to ``PIXCRAWLER_TOKEN`` / ``PIXCRAWLER_API_KEY`` /
    ``PIXCRAWLER_BASE_URL``, then to what ``pixcrawler login`` saved.

    Example::

        pixcrawler.auth(api_key="pk_...", base_url="https://pixcrawler.example/api/v1")
    """
    return set_client(Client(api_key=api_key, token=token, base_url=base_url))


def list_datasets(page: int = 1, size: int = 20) -> list[DatasetInfo]:
    """Page ``page`` (counting from 1) of your datasets, ``size`` per page.

    Example::

        first = pixcrawler.list_datasets()               # the 20 most recent
        more = pixcrawler.list_datasets(page=2, size=50)
    """
    return get_client().list_datasets(page=page, size=size)


def get_dataset_info(dataset_id: str) -> DatasetInfo:
    """A dataset's status, counts per label and split, size and sha256.

    Raises :class:`NotFoundError` for an unknown id.
    """
    return get_client().get_dataset(dataset_id)


def download_dataset(dataset_id: str, output_path: str | Path, progress: bool = True) -> Path:
    """Download a dataset's zip to ``output_path`` (a file, or a folder for ``<id>.zip``).

    Resumes a partial download, shows a progress bar, and verifies size and sha256
    (:class:`IntegrityError` on a mismatch).

    Example::

        path = pixcrawler.download_dataset("ds_123", "data/")     # data/ds_123.zip
    """
    return get_client().download_dataset(dataset_id, output_path, progress=progress)


def load_dataset(
    dataset_id: str,
    *,
    progress: bool = True,
    in_memory: bool = False,
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
) -> Dataset:
    """A dataset ready to iterate, downloaded into the local cache on first use.

    Images are read lazily from the archive on disk. ``in_memory=True`` reads them all at
    once and raises :class:`DatasetTooLargeError` for archives over ``max_memory_bytes``.

    Example::

        ds = pixcrawler.load_dataset("ds_123")
        len(ds), ds.labels, ds.metadata["counts"]
        train = ds.split("train")
    """
    return get_client().load_dataset(
        dataset_id, progress=progress, in_memory=in_memory, max_memory_bytes=max_memory_bytes
    )
