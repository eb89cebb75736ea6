"""Image records over real bytes, and a store that serves them like the images container.

A plain module (not conftest) so test modules import it by a name no other test folder uses."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable

from shared.models.base import Level
from shared.models.images import ImageRecord


def record_for(data: bytes, label: str, **overrides: object) -> ImageRecord:
    """An image record as the download activity stores it, for ``data``."""
    sha = hashlib.sha256(data).hexdigest()
    fields: dict[str, object] = {
        "id": sha, "job_id": "job-1", "user_id": "user-1", "label": label,
        "source": "wikimedia", "url": f"https://img.example/{sha[:12]}.jpg",
        "page_url": f"https://img.example/page/{sha[:12]}", "license": "CC-BY-4.0",
        "attribution": "Jane Doe", "width": 64, "height": 48, "format": "jpeg",
        "content_type": "image/jpeg", "bytes": len(data), "blob_name": f"images/job-1/{sha}.jpg",
        "sha256": sha, "phash": "8f0f0f0f0f0f0f0f", "chunk_id": "c1",
        "origin": {"batch_id": "b1", "url": "https://img.example/x"},
        "validation": {"level": Level.medium},
    }
    fields.update(overrides)
    return ImageRecord.model_validate(fields)


class BlobLikeStore:
    """Bytes by sha256, served like the images container: the archive writer's fetch_bytes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.fetched = 0

    def add(self, data: bytes, label: str, **overrides: object) -> ImageRecord:
        record = record_for(data, label, **overrides)
        self.blobs[record.sha256] = data
        return record

    async def fetch(self, record: ImageRecord) -> bytes:
        self.fetched += 1
        return self.blobs[record.sha256]


async def aiter_records(records: Iterable[ImageRecord]) -> AsyncIterator[ImageRecord]:
    for record in records:
        yield record
