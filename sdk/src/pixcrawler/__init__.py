"""PixCrawler: keywords in, a clean labelled image dataset out.

Example::

    import pixcrawler

    pixcrawler.auth(token="pxc_...")             # or PIXCRAWLER_API_KEY, or `pixcrawler login`
    for info in pixcrawler.list_datasets():
        print(info["id"], info["name"], info["image_count"], info.size_mb)

    ds = pixcrawler.load_dataset("ds_123")        # cached in ~/.cache/pixcrawler
    for item in ds["train"]:
        print(item["label"], item["url"])
        image = item.image()                      # PIL image, pip install 'pixcrawler[images]'

Crawl jobs live in :mod:`pixcrawler.jobs`; reviewing a job's images (exclude, relabel) in
:mod:`pixcrawler.review`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pixcrawler import jobs, review
from pixcrawler._default import get_client, set_client
from pixcrawler._version import __version__
from pixcrawler.client import Client, PixCrawlerClient
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
    "IntegrityError", "NotFoundError", "PixCrawlerClient", "PixCrawlerError", "RateLimitError",
    "ValidationError", "WaitTimeoutError",
    "auth", "download_dataset", "get_client", "get_dataset_info", "jobs", "list_datasets",
    "load_dataset", "review", "set_client",
]

#: What a per-call ``config`` may hold: the connection settings of that one call.
CONFIG_KEYS = ("api_key", "token", "base_url")


@contextmanager
def _client(config: Mapping[str, Any] | None) -> Iterator[Client]:
    """The shared client, or for a per-call ``config`` a client of its own (closed after the
    call) with the shared client's URL unless the config names one."""
    if config is None:
        yield get_client()
        return
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"config accepts {', '.join(CONFIG_KEYS)}; not {', '.join(unknown)}")
    shared = get_client().settings
    credentials = (
        {"api_key": config.get("api_key"), "token": config.get("token")}
        if config.get("api_key") or config.get("token")
        else {"api_key": shared.api_key, "token": shared.token}
    )
    with Client(**credentials, base_url=config.get("base_url") or shared.base_url) as client:
        yield client


def auth(
    token: str | None = None, api_key: str | None = None, base_url: str | None = None
) -> Client:
    """Set the credentials (and URL) the module-level functions use; return that client.

    ``token`` is a bearer token (JWT) or an API key: a key (``pxc_...``) is recognised by its
    prefix and sent as ``X-API-Key``. Anything not given falls back to ``PIXCRAWLER_TOKEN`` /
    ``PIXCRAWLER_API_KEY`` / ``PIXCRAWLER_BASE_URL``, then ``SERVICE_API_KEY`` /
    ``SERVICE_API_TOKEN``, then to what ``pixcrawler login`` saved.

    Example::

        pixcrawler.auth(token="pxc_...", base_url="https://pixcrawler.example/api/v1")
    """
    return set_client(Client(api_key=api_key, token=token, base_url=base_url))


def list_datasets(page: int = 1, size: int = 20, config: Mapping[str, Any] | None = None) -> list[DatasetInfo]:
    """Page ``page`` (counting from 1) of your datasets, ``size`` per page. ``config``
    (``{"api_key", "token", "base_url"}``) overrides the connection for this call.

    Example::

        first = pixcrawler.list_datasets()               # the 20 most recent
        more = pixcrawler.list_datasets(page=2, size=50)
        [(d["name"], d["image_count"]) for d in first]
    """
    with _client(config) as client:
        return client.list_datasets(page=page, size=size)


def get_dataset_info(dataset_id: str, config: Mapping[str, Any] | None = None) -> DatasetInfo:
    """A dataset's status, counts per label and split, size and sha256; also ``image_count``,
    ``size_mb`` and ``labels``, as attributes or ``info["image_count"]``.

    Raises :class:`NotFoundError` for an unknown id.
    """
    with _client(config) as client:
        return client.get_dataset(dataset_id)


def download_dataset(
    dataset_id: str, output_path: str | Path, config: Mapping[str, Any] | None = None,
    *, progress: bool = True,
) -> Path:
    """Save a dataset at ``output_path``: ``NAME.zip`` gets its zip (layouts ``zip`` and
    ``imagefolder``); any other path is a folder that gets the zip's content unpacked (for
    ``imagefolder`` the ``{split}/{label}/`` tree), or a webdataset's tar shards and files.

    Resumes a partial download, shows a progress bar, and verifies size and sha256
    (:class:`IntegrityError` on a mismatch).

    Example::

        path = pixcrawler.download_dataset("ds_123", "pets.zip")  # the zip
        folder = pixcrawler.download_dataset("ds_123", "data/pets")  # unpacked, or the shards
    """
    with _client(config) as client:
        return client.download_dataset(dataset_id, output_path, progress=progress)


def load_dataset(
    dataset_id: str,
    config: Mapping[str, Any] | None = None,
    *,
    progress: bool = True,
    in_memory: bool = False,
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
) -> Dataset:
    """A dataset ready to iterate, downloaded into the local cache on first use.

    ``config`` (``{"api_key", "token", "base_url"}``) overrides the connection for this call.
    Every layout loads the same way (a zip, or a webdataset's shards). Images are read lazily
    from the files on disk. ``in_memory=True`` reads them all at once and raises
    :class:`DatasetTooLargeError` for datasets over ``max_memory_bytes``.

    Example::

        ds = pixcrawler.load_dataset("ds_123")
        len(ds), ds.labels, ds.metadata["image_count"]
        train = ds["train"]
    """
    with _client(config) as client:
        return client.load_dataset(
            dataset_id, progress=progress, in_memory=in_memory, max_memory_bytes=max_memory_bytes
        )
