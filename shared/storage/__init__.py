"""Storage of PixCrawler: Cosmos DB records and Blob bytes, behind typed async classes.

Example::

    from shared.storage import StorageContext, ensure_storage
    await ensure_storage(settings)
    async with StorageContext(settings) as storage:
        stored, created = await storage.images.create_if_absent(record)
        await storage.blobs.put("images", record.blob_name, data, record.content_type)
"""

from typing import Any

from shared.storage.blob import BlobInfo, BlobStore, StagedBlob
from shared.storage.clients import (
    StorageContext,
    azure_credential,
    blob_service_client,
    cosmos_client,
)
from shared.storage.cosmos import ImagesRepo, JobsRepo, Repo
from shared.storage.errors import azure_errors, map_azure_error

__all__ = [
    "BlobInfo",
    "BlobStore",
    "ImagesRepo",
    "JobsRepo",
    "Repo",
    "StagedBlob",
    "StorageContext",
    "azure_credential",
    "azure_errors",
    "blob_service_client",
    "cosmos_client",
    "ensure_storage",
    "map_azure_error",
]


def __getattr__(name: str) -> Any:
    """``ensure_storage`` is imported on first use, so that ``python -m
    shared.storage.bootstrap`` does not find its own module already imported."""
    if name == "ensure_storage":
        from shared.storage.bootstrap import ensure_storage

        return ensure_storage
    raise AttributeError(f"module 'shared.storage' has no attribute {name!r}")
