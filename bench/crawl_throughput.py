"""Crawl throughput: a whole job through the HTTP API, and the download activity alone.

A local corpus (the demo source: unique JPEG/PNG of 20-300 KB, 256-1024 px, with a few per
cent duplicates and broken files) serves N labels x M images. Two measurements:

1. whole job -- POST /jobs + /start on a devhost against Azurite and the Cosmos emulator, until
   the job is completed: images/s, MB/s, and CPU seconds per 1,000 images (devhost, emulators
   and all, measured from /proc);
2. activity alone -- the download activity's code run in this process over the same
   candidates, batch after batch with the same parallelism as the job's chunks: download +
   fast checks alone, then with the Blob and Cosmos writes as well;
3. validation -- validate_job over the whole job at medium (near-duplicates across the job from
   the hashes stored at download) and slow (quality checks, reading every image from Blob).

    .venv/bin/python bench/crawl_throughput.py [--labels 6] [--per-label 550]

Target on the 2-core machine: whole job >= 180 images/s (issue 11).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench._local import RequestCounter, call, cpu_seconds, name_requests, rss_kb  # noqa: E402
from scripts.devtoken import LOCAL_SECRET  # noqa: E402
from scripts.stack import ROOT, DemoSourceProcess, Stack  # noqa: E402
from http_triggers._tokens import issue_dev_token  # noqa: E402

LABELS = ["cat", "dog", "bird", "fish", "horse", "tree", "car", "boat"]
FAULTS = ["--duplicate", "0.03", "--truncated", "0.01", "--html", "0.005", "--not-found", "0.005"]






def report(name: str, images: int, megabytes: float, seconds: float, cpu: float, extra: str = "") -> None:
    print(
        f"{name:<22} {images:6d} images in {seconds:6.1f} s: {images / seconds:7.1f} images/s, "
        f"{megabytes / seconds:6.1f} MB/s, {1000 * cpu / max(images, 1):5.2f} CPU s per 1,000 images{extra}",
        flush=True,
    )


def whole_job(stack: Stack, labels: list[str], per_label: int, counter: RequestCounter) -> dict[str, Any]:
    token = issue_dev_token("bench", secret=LOCAL_SECRET)
    assert stack.devhost and stack.devhost.process
    pids = [stack.devhost.process.pid, *(p for p in stack.services.status().values() if p)]
    job = call("POST", f"{stack.base_url}/jobs", token, {
        "name": "bench", "keywords": labels, "sources": ["wikimedia"],
        "max_images_per_keyword": per_label, "validation_level": "fast",
    })
    requests0 = counter.snapshot()
    cpu0, devhost0, t0 = cpu_seconds(pids), cpu_seconds(pids[:1]), time.perf_counter()
    call("POST", f"{stack.base_url}/jobs/{job['id']}/start", token)
    peak_kb = 0
    while True:
        progress = call("GET", f"{stack.base_url}/jobs/{job['id']}/progress", token)
        peak_kb = max(peak_kb, rss_kb(pids[0]))
        if progress["status"] != "running" and progress["phase"] == "done":
            break
        time.sleep(0.25)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds(pids) - cpu0
    return {"job_id": job["id"], "pids": pids, "progress": progress, "seconds": seconds, "cpu": cpu,
            "devhost_cpu": cpu_seconds(pids[:1]) - devhost0, "peak_mb": peak_kb / 1024,
            "requests": name_requests(counter.snapshot() - requests0, stack.env)}


async def record_sizes(env: dict[str, str], job_id: str, sample: int = 200) -> tuple[int, int]:
    """(median, largest) size in bytes of the job's image records as the Cosmos emulator
    stores them: the JSON it returns, system properties (_rid, _etag, _ts...) included."""
    from azure.cosmos.aio import CosmosClient

    async with CosmosClient(env["PIXCRAWLER_COSMOS_ENDPOINT"], env["PIXCRAWLER_COSMOS_KEY"],
                            connection_verify=False) as client:
        container = client.get_database_client("pixcrawler").get_container_client("images")
        rows = container.query_items("SELECT * FROM c WHERE c.job_id = @j", partition_key=job_id,
                                     parameters=[{"name": "@j", "value": job_id}], max_item_count=sample)
        sizes = []
        async for row in rows:
            sizes.append(len(json.dumps(row, separators=(",", ":")).encode()))
            if len(sizes) >= sample:
                break
    sizes.sort()
    return sizes[len(sizes) // 2], sizes[-1]


def report_requests(requests: dict[str, int], images: int) -> None:
    """Blob and Cosmos requests of the job, per stored image."""
    for service in ("blob", "cosmos"):
        mine = {k.split(":", 1)[1]: v for k, v in requests.items() if k.startswith(service + ":")}
        total = sum(v for k, v in mine.items() if not k.endswith("documents read"))
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(mine.items(), key=lambda kv: -kv[1]))
        print(f"  {service} requests: {total / max(images, 1):.3f} per stored image ({total:,}: {shown})")
    others = {k: v for k, v in requests.items() if not k.startswith(("blob:", "cosmos:"))}
    if others:
        print(f"  other requests: {others}")


def validation(stack: Stack, job_id: str, level: str, pids: list[int]) -> dict[str, Any]:
    """A validation run of the whole job at ``level`` through the API, until it is done."""
    token = issue_dev_token("bench", secret=LOCAL_SECRET)
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    started = call("POST", f"{stack.base_url}/validation/job/{job_id}", token, {"level": level})
    while True:
        progress = call("GET", f"{stack.base_url}/jobs/{job_id}/progress", token)
        run = progress.get("validation") or {}
        if progress["phase"] == "done" and run.get("level") == level and len(run.get("batches_done", [])) == run.get("batches"):
            break
        time.sleep(0.1)
    return {"images": started["images_count"], "seconds": time.perf_counter() - t0, "cpu": cpu_seconds(pids) - cpu0}


async def activity_alone(
    env: dict[str, str], labels: list[str], per_label: int, batch: int, *, store: bool
) -> dict[str, Any]:
    """The download activity's code over every label, one batch at a time per label (as one
    chunk each), all labels in parallel -- the job's shape without the orchestration. With
    ``store`` false: download + fast checks only (what the issue compares with a plain aiohttp
    + sha256 + decode loop); with it, the whole activity including the Blob and Cosmos writes."""
    os.environ.update(env)
    from shared.crawl.batches import BatchProcessor
    from shared.fetch import Downloader
    from shared.fetch.budget import ByteBudget
    from shared.imaging import Rejection, inspect_async
    from shared.models import DownloadBatch, SourceSpec, ValidationRules
    from shared.settings import get_settings
    from shared.crawl.sources import make_source
    from shared.storage import StorageContext

    get_settings.cache_clear()
    settings = get_settings()
    job_id = f"bench-activity-{int(time.time())}"
    async with aiohttp.ClientSession() as session, StorageContext(settings) as storage:
        source = make_source(SourceSpec(type="wikimedia"), settings, session)
        pages: dict[str, list[Any]] = {}
        for label in labels:
            candidates, offset = [], 0
            while offset is not None:
                page = await source.search(label, offset, 50)
                candidates += page.candidates
                offset = page.next_offset
            pages[label] = candidates[:per_label]
        rules = ValidationRules()
        stats = {"valid": 0, "bytes": 0}

        async def check(downloader: Downloader, url: str) -> None:
            outcome = await downloader.fetch(url)
            if outcome.ok and not isinstance(await inspect_async(outcome.body, rules), Rejection):
                stats["valid"] += 1
                stats["bytes"] += len(outcome.body)

        async def chunk(label: str) -> None:
            items = pages[label]
            for seq, start in enumerate(range(0, len(items), batch)):
                candidates = items[start:start + batch]
                async with Downloader(settings, budget=ByteBudget(settings.memory_activity_bytes)) as downloader:
                    if not store:
                        await asyncio.gather(*(check(downloader, c.url) for c in candidates))
                        continue
                    work = DownloadBatch(job_id=job_id, user_id="bench", chunk_id=label, batch_id=f"{label}:{seq}",
                                         seq=seq, label=label, rules=rules, candidates=candidates, offset=start)
                    result = await BatchProcessor(downloader, storage.images, storage.blobs, settings).run(work)
                stats["valid"] += result.valid
                stats["bytes"] += result.bytes

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        await asyncio.gather(*(chunk(label) for label in labels))
        seconds = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"seconds": seconds, "cpu": cpu, **stats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=6, help=f"how many labels (max {len(LABELS)})")
    parser.add_argument("--per-label", type=int, default=550)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--job-only", action="store_true", help="the whole job alone (1.), no validation or activity runs")
    args = parser.parse_args(argv)
    labels = LABELS[: args.labels]
    with tempfile.TemporaryDirectory(prefix="pixcrawler-bench-") as tmp:
        source = DemoSourceProcess(Path(tmp) / "source", [
            "--labels", ",".join(labels), "--per-label", str(args.per_label), "--seed", "11",
            "--dir", str(ROOT / ".local" / "bench-catalogue"), *FAULTS,
        ])
        print(f"corpus: {len(labels)} labels x {args.per_label} images (generated once, cached) ...", flush=True)
        source.start(timeout=900)
        try:
            extra = {"PIXCRAWLER_WIKIMEDIA_BASE_URL": source.url, "PIXCRAWLER_BATCH_SIZE": str(args.batch_size)}
            stack = Stack(Path(tmp) / "stack", port=None, extra_env=extra)
            counter = RequestCounter(Path(tmp) / "counts")
            try:
                with counter.loading():  # the emulators load the counting hook
                    stack.start()
                job = whole_job(stack, labels, args.per_label, counter)
                p = job["progress"]
                megabytes = p["valid_images"] and sum(
                    e["bytes"] or 0 for e in source.get("/_demo/catalogue")["items"]  # type: ignore[index]
                ) / 1e6
                report("whole job", p["valid_images"], megabytes, job["seconds"], job["cpu"],
                       f"  (devhost alone {1000 * job['devhost_cpu'] / max(p['valid_images'], 1):.2f};"
                       f" {p['duplicate_images']} duplicates, {p['failed_downloads']} failed;"
                       f" devhost peak RSS {job['peak_mb']:.0f} MB)")
                report_requests(job["requests"], p["valid_images"])
                median, largest = asyncio.run(record_sizes(stack.env, job["job_id"]))
                print(f"  image record in Cosmos: {median:,} bytes (median of 200), largest {largest:,}")
                if args.job_only:
                    return 0
                for level in ("medium", "slow"):
                    run = validation(stack, job["job_id"], level, job["pids"])
                    report(f"validate_job {level}", run["images"], 0.0, run["seconds"], run["cpu"])
                for store, name in ((False, "download + validate"), (True, "+ Blob and Cosmos")):
                    alone = asyncio.run(activity_alone(stack.env, labels, args.per_label, args.batch_size, store=store))
                    report(name, alone["valid"], alone["bytes"] / 1e6, alone["seconds"], alone["cpu"])
            finally:
                stack.stop()
        finally:
            source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
