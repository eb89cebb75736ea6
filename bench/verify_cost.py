"""Benchmark: what a verify costs per image, cheap and deep.

Starts Azurite and the Cosmos emulator on free ports, stores a job of N images (random bytes of
``--image-kb``, 50 to a shard as download batches store them, with their records), then runs
every batch of a verify run at the default batch and page sizes, in this process, and prints for
the cheap check (shard sizes) and the deep one (every image read and hashed): the blob requests
per image, the Cosmos pages read, and images/s. Nothing is lost, so nothing is fetched again:
this is the cost of a verify that finds a job whole.

Run::

    .venv/bin/python bench/verify_cost.py                  # N=5000
    .venv/bin/python bench/verify_cost.py -n 20000 --image-kb 100
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.localservices import LocalServices  # noqa: E402
from shared.crawl import FAST_CHECKS  # noqa: E402
from shared.fetch import Downloader  # noqa: E402
from shared.fetch.budget import ByteBudget  # noqa: E402
from shared.models import (  # noqa: E402
    ImageFormat, ImageRecord, Level, Origin, ValidationRules, ValidationSummary, VerifyBatch, shard_blob_name,
)
from shared.settings import Settings  # noqa: E402
from shared.shards import TAR_CONTENT_TYPE, ShardWriter, split_blob_name  # noqa: E402
from shared.storage import StorageContext  # noqa: E402
from shared.storage.bootstrap import ensure_storage  # noqa: E402
from shared.verify import BatchVerifier  # noqa: E402

PER_SHARD = 50


async def store(storage: StorageContext, settings: Settings, job_id: str, images: int, size: int) -> None:
    """``images`` records of random bytes, 50 to a shard."""
    for seq in range(math.ceil(images / PER_SHARD)):
        shard = shard_blob_name(job_id, "c0", seq, uuid.uuid4().hex[:12])
        writer = ShardWriter(storage.blobs.staged(*split_blob_name(shard), TAR_CONTENT_TYPE), block_size=settings.shard_block_bytes)
        records = []
        for _ in range(min(PER_SHARD, images - seq * PER_SHARD)):
            data = os.urandom(size)
            sha = hashlib.sha256(data).hexdigest()
            offset = await writer.add(sha, "png", data, {"sha256": sha})
            records.append(ImageRecord(
                id=sha, job_id=job_id, user_id="bench", label="noise", source="urls", url=f"http://127.0.0.1:9/{sha}.png",
                width=1, height=1, format=ImageFormat.png, content_type="image/png", bytes=size, blob_name=shard,
                offset=offset, sha256=sha, phash="0" * 16, chunk_id="c0", origin=Origin(batch_id=f"c0:{seq}", url="u"),
                validation=ValidationSummary(level=Level.fast, checks=dict(FAST_CHECKS)),
            ))  # fmt: skip
        await writer.commit()
        await storage.images.create_many(job_id, records)


async def run(storage: StorageContext, settings: Settings, job_id: str, images: int, deep: bool) -> None:
    batches = math.ceil(images / settings.verify_batch_size)
    budget = ByteBudget(settings.memory_activity_bytes)
    checked = requests = 0
    started = time.perf_counter()
    async with Downloader(settings, budget=budget) as downloader:
        for index in range(batches):
            batch = VerifyBatch(job_id=job_id, user_id="bench", run_id="bench", index=index, batches=batches, deep=deep,
                                rules=ValidationRules())  # fmt: skip
            verifier = BatchVerifier(storage.images, storage.blobs, downloader, settings, batch, budget=budget)
            result = await verifier.run()
            assert result.missing == 0, result
            checked += result.checked
            requests += verifier.size_requests + (result.checked if deep else 0)
    seconds = time.perf_counter() - started
    pages = sum(math.ceil(n / settings.verify_page_size) for n in [images / batches] * batches)
    print(f"{'deep ' if deep else 'cheap'}: {checked} images in {batches} batches, {seconds:.2f} s "
          f"({checked / seconds:,.0f} images/s); blob requests {requests} ({requests / checked:.3f} per image); "
          f"Cosmos pages ~{pages:.0f}")  # fmt: skip


async def main(images: int, image_kb: int) -> None:
    with tempfile.TemporaryDirectory() as directory, LocalServices(Path(directory)) as services:
        settings = Settings(**{k.removeprefix("PIXCRAWLER_").lower(): v for k, v in services.env.items()
                               if k.startswith("PIXCRAWLER_")})  # fmt: skip
        await ensure_storage(settings)
        async with StorageContext(settings) as storage:
            job_id = f"bench-{uuid.uuid4().hex[:8]}"
            began = time.perf_counter()
            await store(storage, settings, job_id, images, image_kb * 1024)
            print(f"stored {images} images of {image_kb} KiB in {math.ceil(images / PER_SHARD)} shards "
                  f"({time.perf_counter() - began:.1f} s)")  # fmt: skip
            for deep in (False, True):
                await run(storage, settings, job_id, images, deep)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--images", type=int, default=5000)
    parser.add_argument("--image-kb", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.images, args.image_kb))
