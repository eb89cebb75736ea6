"""Azure SDK errors -> PixCrawler errors, in one place for Cosmos and Blob.

| Azure answer                                   | raised as                          |
|------------------------------------------------|------------------------------------|
| connection refused/reset/timeout after retries | ServiceUnavailable                 |
| 500, 502, 503, 504 after the SDK's retries     | ServiceUnavailable                 |
| 404 substatus 1003, 404 ContainerNotFound, 404 to a query or create | StorageMissing (503; STORAGE_MISSING set) |
| 404                                            | NotFound (``<entity>_not_found``)  |
| 409 BlobArchived                               | Conflict (``blob_archived``)       |
| 409                                            | Conflict (``<entity>_exists``)     |
| 412                                            | Conflict (``<entity>_changed``)    |
| 429 after the SDK's retries                    | RateLimited                        |
anything else is a bug of ours (a bad request, a wrong credential) and is not translated.

Example::

    with azure_errors("job 'j1'", "job"):
        await container.read_item("j1", partition_key="alice")   # 404 -> NotFound
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import (
    Conflict, NotFound, PixCrawlerError, RateLimited, ServiceUnavailable, StorageMissing,
)

_UNAVAILABLE = {500, 502, 503, 504}
#: Cosmos' sub-status of a 404 about the database or container a request goes through.
_OWNER_MISSING = "1003"
#: Blob Storage's error codes for a missing container.
_CONTAINER_MISSING = {"ContainerNotFound", "ContainerBeingDeleted"}

#: Set whenever Cosmos or Blob Storage answered that a database or container is missing (an
#: emulator that came back empty; on Azure, a container someone deleted): the next
#: ``shared.runtime.get_runtime()`` runs ``ensure_storage`` again, and clears it.
STORAGE_MISSING = threading.Event()


def _retry_after(exc: HttpResponseError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for name, scale in (("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, TypeError, ValueError):
            continue
    return 1.0


def map_azure_error(
    exc: AzureError, what: str, entity: str, *, about_container: bool = False
) -> PixCrawlerError | None:
    """The PixCrawler error for an Azure SDK error about ``what`` (an ``entity``), or None
    when the error is not one a caller can act on (then it propagates unchanged).

    ``about_container``: the request addresses the container itself (a query, a create, an
    upsert), so a 404 can only mean that the container or its database is missing."""
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return ServiceUnavailable(
            f"storage is unreachable while accessing {what} ({type(exc).__name__}); retry later"
        )
    if not isinstance(exc, HttpResponseError):
        return None
    status, code = exc.status_code, getattr(exc, "error_code", None)
    headers = getattr(exc.response, "headers", None) or {}
    owner_missing = headers.get("x-ms-substatus") == _OWNER_MISSING or code in _CONTAINER_MISSING
    if status == 404 and (owner_missing or about_container):
        STORAGE_MISSING.set()
        return StorageMissing(
            f"the database or container of {what} does not exist; it is being made again, retry"
        )
    if status == 404:
        return NotFound(f"{what} not found", error_code=f"{entity}_not_found")
    if status == 409 and code == "BlobArchived":
        return Conflict(
            f"{what} is in the Archive tier: set it to Hot or Cool and wait for the rehydration "
            "before reading it",
            error_code="blob_archived",
        )
    if status == 409:
        return Conflict(f"{what} already exists", error_code=f"{entity}_exists")
    if status == 412:
        return Conflict(f"{what} changed concurrently, retry", error_code=f"{entity}_changed")
    if status == 429:
        return RateLimited(f"storage is busy while accessing {what}", retry_after=_retry_after(exc))
    if status in _UNAVAILABLE:
        return ServiceUnavailable(f"storage answered {status} while accessing {what}; retry later")
    return None


@contextmanager
def azure_errors(what: str, entity: str, *, about_container: bool = False) -> Iterator[None]:
    """Re-raise Azure SDK errors raised inside the block as PixCrawler errors (see
    :func:`map_azure_error` for ``about_container``)."""
    try:
        yield
    except AzureError as exc:
        mapped = map_azure_error(exc, what, entity, about_container=about_container)
        if mapped is None:
            raise
        raise mapped from exc
