"""Checkpoint snapshots in Blob: once a job is finished its checkpoint is written to the
``checkpoints`` container as ``{job_id}.json.gz`` (gzip'd JSON of :class:`~shared.models.Snapshot`,
with ``archived_at`` in the blob's metadata); snapshots then age through Cool (and Cold /
Archive when configured) and are deleted (:mod:`shared.checkpoints.housekeeping`).

Example::

    store = SnapshotStore(runtime.blobs)
    size = await store.write(snapshot)
    info = await store.info(job_id)        # tier, size, archived_at; None without a snapshot
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobType, ContentSettings, RehydratePriority, StandardBlobTier
from pydantic import TypeAdapter

from shared.models import json_datetime
from shared.models.checkpoints import Snapshot, SnapshotInfo
from shared.names import CHECKPOINTS_CONTAINER
from shared.storage import BlobStore
from shared.storage.errors import azure_errors

SNAPSHOT_CONTENT_TYPE = "application/gzip"
#: Blob tiers from warm to cold: snapshots only ever move right.
TIER_ORDER = (StandardBlobTier.HOT, StandardBlobTier.COOL, StandardBlobTier.COLD, StandardBlobTier.ARCHIVE)

_DATETIME = TypeAdapter(datetime)
_iso = json_datetime


def snapshot_name(job_id: str) -> str:
    """Blob name of a job's snapshot inside the ``checkpoints`` container."""
    return f"{job_id}.json.gz"


def _tier_name(value: object) -> str:
    return str(value) if value else StandardBlobTier.HOT.value


class SnapshotStore:
    """Checkpoint snapshots in the ``checkpoints`` container, with ``archived_at`` metadata."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.container = blobs.client.get_container_client(CHECKPOINTS_CONTAINER)

    async def write(self, snapshot: Snapshot) -> int:
        """Write (or rewrite) a job's snapshot; returns its compressed size."""
        data = gzip.compress(snapshot.model_dump_json().encode(), mtime=0)
        metadata = {"archived_at": _iso(snapshot.archived_at), "job_id": snapshot.job_id}
        name = snapshot_name(snapshot.job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            await self.container.get_blob_client(name).upload_blob(
                data, blob_type=BlobType.BLOCKBLOB, overwrite=True, metadata=metadata,
                content_settings=ContentSettings(content_type=SNAPSHOT_CONTENT_TYPE),
            )  # fmt: skip
        return len(data)

    async def info(self, job_id: str) -> SnapshotInfo | None:
        """The snapshot's tier, size and age, or None when the job has none."""
        name = snapshot_name(job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            try:
                props = await self.container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        return self._info(name, props.size, props.blob_tier, props.metadata, props.last_modified, props.archive_status)

    async def read(self, job_id: str) -> Snapshot:
        """The snapshot's content (NotFound; Conflict ``blob_archived`` in the Archive tier)."""
        data = await self.blobs.get(CHECKPOINTS_CONTAINER, snapshot_name(job_id))
        return Snapshot.model_validate_json(gzip.decompress(data))

    async def rehydrate(self, job_id: str, tier: str, priority: str) -> None:
        """Ask for an archived snapshot to move back to ``tier`` (instant on Azurite)."""
        name = snapshot_name(job_id)
        with azure_errors(f"checkpoint snapshot {name}", "checkpoint"):
            await self.container.get_blob_client(name).set_standard_blob_tier(
                StandardBlobTier(tier), rehydrate_priority=RehydratePriority(priority)
            )

    async def list(self) -> AsyncIterator[SnapshotInfo]:
        """Every snapshot, with its metadata, in name order."""
        with azure_errors(f"container {CHECKPOINTS_CONTAINER}", "container"):
            async for blob in self.container.list_blobs(include=["metadata"]):
                yield self._info(
                    blob.name, blob.size, blob.blob_tier, blob.metadata, blob.last_modified, blob.archive_status
                )

    async def set_tier(self, info: SnapshotInfo, tier: StandardBlobTier) -> None:
        await self.blobs.set_tier(CHECKPOINTS_CONTAINER, info.name, tier)

    async def delete(self, job_id: str) -> bool:
        return await self.blobs.delete(CHECKPOINTS_CONTAINER, snapshot_name(job_id))

    @staticmethod
    def _info(
        name: str, size: int, tier: object, metadata: dict[str, str] | None, modified: datetime, status: object
    ) -> SnapshotInfo:
        stamp = (metadata or {}).get("archived_at")
        return SnapshotInfo(
            job_id=name.removesuffix(".json.gz"),
            name=name,
            size=size,
            tier=_tier_name(tier),
            archived_at=_DATETIME.validate_python(stamp) if stamp else modified,
            rehydrating=bool(status),
        )
