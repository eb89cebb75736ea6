"""The main job: a real crawl through the HTTP API on the devhost, ending in a summary.

Starts the emulators, the devhost and a local demo source (a Wikimedia-Commons and Openverse
look-alike serving a generated, labelled catalogue with a realistic share of bad files), runs
a job of KEYWORDS x 2 sources x N images through the API with the pixcrawler SDK, shows live
progress, prints what was stored, builds the job's dataset and loads it through the SDK
(images per label and split), and stops everything it started.

    scripts/demo                          # cat, dog, bird x wikimedia, openverse x 100
    scripts/demo --keywords fox,owl --per-keyword 50
    scripts/demo --real                   # the same job against the real Commons and Openverse
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pixcrawler import Client
from pixcrawler.models import JobProgress

from scripts.devtoken import LOCAL_SECRET
from scripts.stack import DEMO_SOURCES, DemoSources, Stack
from http_triggers._tokens import issue_dev_token

SOURCES = list(DEMO_SOURCES)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keywords", default="cat,dog,bird", help="comma-separated")
    parser.add_argument("--per-keyword", type=int, default=100, help="images per keyword and source")
    parser.add_argument("--level", default="medium", choices=["fast", "medium", "slow"])
    parser.add_argument("--real", action="store_true", help="crawl the real sources (needs internet)")
    parser.add_argument("--dir", type=Path, default=None, help="state and logs (default: a temp dir)")
    return parser.parse_args(argv)


def live(progress: JobProgress, started: float, tty: bool) -> None:
    rate = progress.stored_images / max(time.monotonic() - started, 1e-9)
    line = (
        f"{progress.status:<9} {progress.phase:<10} {progress.progress:>3}%  chunks {progress.finished_chunks}/"
        f"{progress.total_chunks} (active {progress.active_chunks})  images {progress.stored_images} stored,"
        f" {progress.duplicate_images} duplicates, {progress.failed_downloads} failed  {rate:6.1f} img/s"
    )
    print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)


def summary(client: Client, job_id: str, progress: JobProgress, seconds: float) -> str:
    stats: dict[str, Any] = client._transport.request("GET", f"jobs/{job_id}/stats").json()
    lines = [
        "",
        f"job {job_id}: {progress.status} in {seconds:.1f} s",
        f"  chunks      {progress.completed_chunks} completed, {progress.failed_chunks} failed,"
        f" of {progress.total_chunks}",
        f"  stored      {progress.stored_images} images ({progress.stored_images / max(seconds, 1e-9):.1f} images/s),"
        f" {progress.valid_images} valid after validation"
        f" ({progress.stored_images - progress.valid_images} near-duplicates or rejected)",
    ]
    for label, count in stats["per_label"].items():
        lines.append(f"    {label:<12} {count}")
    lines.append(f"  duplicates  {progress.duplicate_images} (exact copies, not stored twice)")
    lines.append(f"  downloaded  {progress.downloaded_images}")
    lines.append(f"  failures    {progress.failed_downloads}")
    for reason, count in sorted(progress.failed_by_reason.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {reason:<20} {count}")
    return "\n".join(lines)


def dataset(client: Client, job_id: str) -> int:
    """Build the job's dataset, load it through the SDK, print images per label and split."""
    clock = time.monotonic()
    info = client.wait_for_dataset(client.create_dataset(job_id, "demo").id, poll_interval=0.5)
    if not info.is_ready:
        print(f"\ndataset {info.id}: {info.status}: {info.error}")
        return 1
    with client.load_dataset(info.id, progress=False) as ds:
        counts = Counter((item.label, item.split) for item in ds)
        print(
            f"\ndataset {info.id}: {len(ds)} images, {info.size_bytes:,} bytes, built in "
            f"{time.monotonic() - clock:.1f} s, downloaded and loaded through the SDK"
        )
        print(f"    {'label':<12} " + " ".join(f"{name:>6}" for name in info.splits))
        for label in ds.labels:
            print(f"    {label:<12} " + " ".join(f"{counts[(label, name)]:>6}" for name in info.splits))
    return 0


def run(args: argparse.Namespace, directory: Path) -> int:
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()]
    extra = {"PIXCRAWLER_FETCH_ALLOW_NETWORKS": "" if args.real else "127.0.0.1/32"}
    sources = None
    if not args.real:
        sources = DemoSources(labels=keywords, per_label=math.ceil(args.per_keyword * 1.3))
        print(f"demo sources: {sources.per_label} images per label for each of {', '.join(SOURCES)} ...", flush=True)
    with Stack(directory / "stack", port=None, extra_env=extra, sources=sources) as stack:
        print(f"devhost: {stack.base_url}", flush=True)
        token = issue_dev_token("demo", secret=LOCAL_SECRET)
        with Client(token=token, base_url=stack.base_url, timeout=60, cache_dir=directory / "cache") as client:
            job = client.create_job(
                name="demo", keywords=keywords, sources=SOURCES,
                max_images_per_keyword=args.per_keyword, validation_level=args.level,
            )
            started = client.start_job(job.id)
            print(f"job {job.id}: {started.total_chunks} chunks ({len(keywords)} keywords x {len(SOURCES)} sources)")
            clock = time.monotonic()
            tty = sys.stdout.isatty()
            final = client.wait_for_job(
                job.id, poll_interval=0.5 if tty else 2.0, on_update=lambda p: live(p, clock, tty)
            )
            print(summary(client, job.id, final, time.monotonic() - clock))
            if final.status != "completed":
                return 1
            return dataset(client, job.id)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dir is not None:
        return run(args, args.dir)
    with tempfile.TemporaryDirectory(prefix="pixcrawler-demo-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
