"""BlobBlockSink on the app's StagedBlob against Azurite: the committed blob is the archive,
and a failed build leaves the previous archive in place."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable

import pytest

from archive_records import BlobLikeStore, aiter_records
from shared.datasets import BlobBlockSink, write_archive
from shared.models.datasets import DatasetMeta
from shared.models.images import ImageRecord
from shared.storage import StorageContext

pytestmark = pytest.mark.integration

META = DatasetMeta(dataset_id="ds-azurite", name="pets", job_id="job-1")


def blob_name() -> str:
    return f"datasets/ds-{uuid.uuid4().hex[:10]}.zip"


async def test_the_committed_blob_is_the_archive(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    name = blob_name()
    records = [store.add(random_bytes(200_000), label) for label in ["cat", "dog", "a/.."] * 4]
    staged = storage.blobs.staged("datasets", name, "application/zip")
    sink = BlobBlockSink(staged, block_size=512 * 1024)

    summary = await write_archive(aiter_records(records), store.fetch, sink, META)

    committed = await storage.blobs.get("datasets", name)
    assert len(sink.block_ids) > 1
    assert len(committed) == summary.size_bytes
    assert hashlib.sha256(committed).hexdigest() == summary.sha256
    with zipfile.ZipFile(io.BytesIO(committed)) as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == len(records) + 4
    assert await storage.blobs.content_type("datasets", name) == "application/zip"


async def test_a_failed_build_keeps_the_previous_archive(
    storage: StorageContext, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    name = blob_name()
    await storage.blobs.put("datasets", name, b"the good archive", "application/zip")
    records = [store.add(random_bytes(300_000), "cat") for _ in range(4)]

    async def failing() -> AsyncIterator[ImageRecord]:
        async for record in aiter_records(records):
            yield record
        raise ConnectionError("Cosmos went away")

    sink = BlobBlockSink(storage.blobs.staged("datasets", name, "application/zip"), 256 * 1024)
    with pytest.raises(ConnectionError):
        await write_archive(failing(), store.fetch, sink, META)
    assert len(sink.block_ids) > 0
    assert await storage.blobs.get("datasets", name) == b"the good archive"
