"""The SDK's downloader against a real SAS URL from Azurite (the Blob emulator): Range
resume and sha256 verification work with Blob storage's own answers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from pixcrawler import DownloadInfo, IntegrityError
from pixcrawler.download import download_file
from shared.storage import StorageContext

pytestmark = pytest.mark.integration


async def upload(storage: StorageContext, data: bytes) -> DownloadInfo:
    name = f"datasets/ds-{uuid.uuid4().hex[:10]}.zip"
    await storage.blobs.put("datasets", name, data, "application/zip")
    url = await storage.blobs.sas_url("datasets", name, timedelta(minutes=5))
    return DownloadInfo(url=url, expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
                        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


async def test_a_partial_file_is_completed_from_blob_storage_by_range(
    storage: StorageContext, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    info = await upload(storage, data)
    (tmp_path / "pets.zip.part").write_bytes(data[:1_000_000])
    with httpx.Client() as http:
        path = await asyncio.to_thread(download_file, http, info, tmp_path / "pets.zip",
                                       progress=False)
    assert path.read_bytes() == data
    assert not (tmp_path / "pets.zip.part").exists()


async def test_a_wrong_announced_hash_is_caught(storage: StorageContext, tmp_path: Path) -> None:
    info = await upload(storage, os.urandom(100_000))
    wrong = info.model_copy(update={"sha256": "0" * 64})
    with httpx.Client() as http, pytest.raises(IntegrityError):
        await asyncio.to_thread(download_file, http, wrong, tmp_path / "x.zip", progress=False)
    assert list(tmp_path.iterdir()) == []
