"""Validation at scale: validate_job at medium over N synthetic image records on a devhost.

For each N, on a fresh stack (Azurite, the Cosmos emulator and a devhost on free ports):

1. N image records with planted near-duplicate clusters go straight into the Cosmos emulator
   in transactional batches of 100 (no image bytes: medium validation reads only the records).
   A cluster is an original (a random 64-bit pHash, 18 window hashes 8-14 bits from it) and
   1-4 copies: *exact* (the same hashes, other bytes), *resized* (a pHash within the threshold),
   *cropped* (a pHash within the window threshold of one of the original's windows); the rest
   are unrelated images.
2. ``POST /api/v1/validation/job/{id}`` at medium, then the durable status until it completes.

Printed per N: wall time; the devhost's CPU (ms per record) and peak RSS (VmRSS sampled every
0.1 s from /proc, and the kernel's high-water mark VmHWM), the peak while each activity ran, and
what the devhost's heap is made of when idle, at the peak and at the end (glibc's ``mallinfo2``
and Python's blocks, from a ``sitecustomize`` hook given to the devhost only; with
``--tracemalloc N`` the top allocation sites too); the emulator's CPU; activities and
history events (sampled from the devhost's SQLite state file: generations, the largest
history, the TaskScheduled events seen); Cosmos requests by kind and per record, counted inside
the emulator by a hook its node process loads (``--require``), with RU per record modelled from
them and the published per-document costs (the emulator reports no charge); and pairwise
precision and recall of the flags against the planted clusters.

    .venv/bin/python bench/scale_job.py                       # N = 10,000, 30,000, 100,000
    .venv/bin/python bench/scale_job.py --sizes 10000 --memory-mb 16
    .venv/bin/python bench/scale_job.py --sizes 100000 --devhost-env MALLOC_ARENA_MAX=2
    SCALE_JOB_TIMELINE=1 .venv/bin/python bench/scale_job.py --sizes 10000   # RSS every 0.5 s

Targets (issue 12): at 100k records peak RSS <= 500 MB and flat from 10k to 100k, wall time
growing about linearly, precision and recall >= 0.99.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from azure.cosmos.aio import CosmosClient  # noqa: E402

from bench._local import RequestCounter, call, cpu_seconds  # noqa: E402
from scale_model import READ_RU, WRITE_RU, interpolate  # noqa: E402
from scripts.devtoken import LOCAL_SECRET  # noqa: E402
from scripts.stack import ROOT, Devhost, Stack  # noqa: E402
from http_triggers._tokens import issue_dev_token  # noqa: E402
from shared.models import ImageFormat, ImageRecord, Level, Origin, ValidationSummary  # noqa: E402
from validation_quality import pairwise_scores  # noqa: E402

EMULATOR = ROOT / "scripts" / "node" / "node_modules" / "@vercel" / "cosmosdb-server"
#: Cosmos system properties stored with every document (as bench/scale_model.py counts them).
SYSTEM_BYTES = 160
BATCH = 100
USER = "bench-scale"


# --------------------------------------------------------------------------------------------
# Synthetic records
# --------------------------------------------------------------------------------------------


@dataclass
class Planted:
    """Ground truth of a synthetic job: each record's cluster, and counts per kind."""

    cluster: dict[str, str] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)


def _flip(rng: np.random.Generator, value: int, low: int, high: int) -> int:
    for bit in rng.choice(64, int(rng.integers(low, high + 1)), replace=False):
        value ^= 1 << int(bit)
    return value


def _windows(rng: np.random.Generator, phash: int) -> list[str]:
    return [f"{_flip(rng, phash, 8, 14):016x}" for _ in range(18)]


def synthetic_records(count: int, job_id: str, seed: int, share: float, threshold: int,
                      window_threshold: int, planted: Planted) -> Iterator[dict[str, Any]]:
    """``count`` record documents, ``share`` of them in planted clusters; fills ``planted``."""
    rng = np.random.default_rng(seed)
    template = ImageRecord(
        id="x", job_id=job_id, user_id=USER, label="synthetic", source="bench",
        url="https://example.org/x", width=1, height=1, format=ImageFormat.jpeg,
        content_type="image/jpeg", bytes=150_000, blob_name="images/x", sha256="x", phash="0" * 16,
        mode="RGB", chunk_id="c0", origin=Origin(batch_id="b0", url="https://example.org/x"),
        validation=ValidationSummary(level=Level.fast, checks=dict.fromkeys(
            ("decode", "format", "dimensions", "pixels"), True)),
    ).model_dump(mode="json")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    made = 0
    cluster = 0
    while made < count:
        original = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        windows = _windows(rng, original)
        members = [("original", original, windows, (1024, 768))]
        # A cluster has 3.5 records on average: p = share / (3.5 - 2.5 share) of the draws
        # start one, so that clusters hold ``share`` of the records.
        if rng.random() < share / (3.5 - 2.5 * share):
            for _ in range(int(rng.integers(1, 5))):
                kind = str(rng.choice(["exact", "resized", "cropped"]))
                if kind == "exact":
                    members.append((kind, original, windows, (1024, 768)))
                elif kind == "resized":
                    phash = _flip(rng, original, 1, threshold)
                    members.append((kind, phash, _windows(rng, phash), (640, 480)))
                else:
                    phash = _flip(rng, int(str(rng.choice(windows)), 16), 0, window_threshold)
                    members.append((kind, phash, _windows(rng, phash), (960, 700)))
        for kind, phash, own_windows, (width, height) in members[: count - made]:
            sha = hashlib.sha256(f"{seed}-{made}".encode()).hexdigest()
            created = t0 + timedelta(seconds=int(rng.integers(0, 86_400)))
            planted.cluster[sha] = f"c{cluster}"
            planted.kinds[kind if len(members) > 1 else "unrelated"] += 1
            made += 1
            yield {**template, "id": sha, "sha256": sha, "phash": f"{phash:016x}",
                   "windows": own_windows, "width": width, "height": height,
                   "url": f"https://example.org/{sha[:16]}.jpg", "blob_name": f"images/{job_id}/{sha}.jpg",
                   "created_at": created.isoformat()}
        cluster += 1


async def write_records(env: dict[str, str], documents: Iterator[dict[str, Any]], job_id: str) -> int:
    """Create the documents in transactional batches of 100, a few batches in flight."""
    async with CosmosClient(env["PIXCRAWLER_COSMOS_ENDPOINT"], env["PIXCRAWLER_COSMOS_KEY"],
                            connection_verify=False) as client:
        container = client.get_database_client("pixcrawler").get_container_client("images")
        gate = asyncio.Semaphore(4)
        written = 0

        async def one(batch: list[dict[str, Any]]) -> None:
            nonlocal written
            async with gate:
                await container.execute_item_batch([("create", (doc,)) for doc in batch], partition_key=job_id)
                written += len(batch)

        pending: list[asyncio.Task[None]] = []
        batch: list[dict[str, Any]] = []
        for document in documents:
            batch.append(document)
            if len(batch) == BATCH:
                pending.append(asyncio.create_task(one(batch)))
                batch = []
                if len(pending) >= 16:
                    await asyncio.gather(*pending)
                    pending = []
        if batch:
            pending.append(asyncio.create_task(one(batch)))
        await asyncio.gather(*pending)
        return written


async def read_flags(env: dict[str, str], job_id: str) -> dict[str, str | None]:
    async with CosmosClient(env["PIXCRAWLER_COSMOS_ENDPOINT"], env["PIXCRAWLER_COSMOS_KEY"],
                            connection_verify=False) as client:
        container = client.get_database_client("pixcrawler").get_container_client("images")
        rows = container.query_items("SELECT c.id, c.duplicate_of FROM c WHERE c.job_id = @j",
                                     parameters=[{"name": "@j", "value": job_id}],
                                     partition_key=job_id, max_item_count=1000)
        return {row["id"]: row.get("duplicate_of") async for row in rows}


# --------------------------------------------------------------------------------------------
# What the devhost's memory is made of
# --------------------------------------------------------------------------------------------

#: ``sitecustomize`` of the devhost's process (put first on its PYTHONPATH): every 0.25 s it
#: writes glibc's ``mallinfo2`` (heap in use and free but kept, mmapped blocks), the objects
#: Python has allocated (``sys.getallocatedblocks``) and the number of threads; with
#: ``SCALE_JOB_TRACEMALLOC`` also tracemalloc's current and peak, and the top allocation sites
#: at each new peak (and every 10 s: the latest).
HEAP_HOOK = r"""
import ctypes, json, os, sys, threading, time

def _heap_sampler(out, trace):
    libc = ctypes.CDLL("libc.so.6")
    names = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
             "fordblks", "keepcost")
    info = type("Mallinfo2", (ctypes.Structure,), {"_fields_": [(n, ctypes.c_size_t) for n in names]})
    libc.mallinfo2.restype = info
    if trace:
        import tracemalloc
        tracemalloc.start(trace)
    top, top_at, latest, last = [], 0, [], time.monotonic()
    while True:
        m = libc.mallinfo2()
        row = {"malloc_used": m.uordblks, "malloc_free": m.fordblks, "malloc_mmap": m.hblkhd,
               "py_blocks": sys.getallocatedblocks(), "threads": threading.active_count()}
        if trace:
            current, peak = tracemalloc.get_traced_memory()
            row.update(traced=current, traced_peak=peak)
            if current > top_at + (8 << 20) or time.monotonic() > last + 10:
                stats = tracemalloc.take_snapshot().statistics("lineno")[:12]
                latest = [[str(s.traceback), s.size, s.count] for s in stats]
                last = time.monotonic()
                if current > top_at + (8 << 20):
                    top_at, top = current, latest
            row["top"], row["top_at"], row["latest_top"] = top, top_at, latest
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(row, f)
        os.replace(tmp, out)
        time.sleep(0.25)

if os.environ.get("SCALE_JOB_HEAP"):
    threading.Thread(target=_heap_sampler, name="scale-job-heap", daemon=True,
                     args=(os.environ["SCALE_JOB_HEAP"], int(os.environ.get("SCALE_JOB_TRACEMALLOC") or 0))).start()
"""


class HeapProbe:
    """The devhost's heap composition, as the hook last wrote it."""

    def __init__(self, directory: Path, tracemalloc_frames: int = 0) -> None:
        hooks = directory / "heap-hook"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "sitecustomize.py").write_text(HEAP_HOOK)
        self.hooks, self.path, self.frames = hooks, directory / "heap.json", tracemalloc_frames

    def env(self) -> dict[str, str]:
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(self.hooks), os.environ.get("PYTHONPATH")])),
               "SCALE_JOB_HEAP": str(self.path)}
        if self.frames:
            env["SCALE_JOB_TRACEMALLOC"] = str(self.frames)
        return env

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}


# --------------------------------------------------------------------------------------------
# Sampling the devhost: RSS from /proc, history from its SQLite state
# --------------------------------------------------------------------------------------------


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Samples the devhost's RSS every 0.1 s and its task hub every 0.5 s until stopped."""

    def __init__(self, pid: int, state: Path, instance_id: str, heap: HeapProbe | None = None) -> None:
        super().__init__(daemon=True)
        self.pid, self.state, self.instance_id, self.heap = pid, state, instance_id, heap
        self.peak_kb = 0
        self.phase: tuple[str, ...] = ()  # the activity names queued or running (work items)
        self.phase_peak_kb: dict[str, int] = {}  # activity name -> peak RSS while it ran
        self.heap_at_peak: dict[str, Any] = {}
        self.timeline: list[tuple[float, int, tuple[str, ...]]] = []  # (s, RSS KiB, phase) each 0.5 s
        self.dedupe_peak_kb = 0  # before the first validate_batch: the near-duplicate stages
        self.generations: dict[int, tuple[int, int]] = {}  # gen -> (history events, scheduled)
        self.first_batch_at: float | None = None
        self.dedupe_cpu: float | None = None
        self.started, self.cpu_started = time.perf_counter(), cpu_seconds([pid])
        self._halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self._halt.is_set():
            rss = _status_kb(self.pid, "VmRSS")
            if rss > self.peak_kb and self.heap is not None:
                self.heap_at_peak = {**self.heap.read(), "rss": rss << 10, "phase": self.phase}
            self.peak_kb = max(self.peak_kb, rss)
            for name in self.phase:
                self.phase_peak_kb[name] = max(self.phase_peak_kb.get(name, 0), rss)
            if tick % 5 == 0:
                self.timeline.append((time.perf_counter() - self.started, rss, self.phase))
            if self.first_batch_at is None:
                self.dedupe_peak_kb = self.peak_kb
            if tick % 5 == 0:
                self.read_state()
            tick += 1
            self._halt.wait(0.1)

    def read_state(self) -> None:
        db = sqlite3.connect(f"file:{self.state}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT gen FROM instances WHERE id=?", (self.instance_id,)).fetchone()
            if row is None:
                return
            events, scheduled = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(json_extract(event, '$.EventType') = 4), 0) "
                "FROM history WHERE instance_id=?", (self.instance_id,)).fetchone()
            self.phase = tuple(sorted(name for (name,) in db.execute(
                "SELECT DISTINCT name FROM work_items")))
            old = self.generations.get(row[0], (0, 0))
            self.generations[row[0]] = (max(old[0], events), max(old[1], scheduled))
            if self.first_batch_at is None and db.execute(
                    "SELECT 1 FROM work_items WHERE name='validate_batch' LIMIT 1").fetchone():
                self.first_batch_at = time.perf_counter() - self.started
                self.dedupe_cpu = cpu_seconds([self.pid]) - self.cpu_started
        except sqlite3.OperationalError:
            pass  # the devhost holds a write lock: the next sample reads it
        finally:
            db.close()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.read_state()


# --------------------------------------------------------------------------------------------
# One size
# --------------------------------------------------------------------------------------------


def durable_status(devhost: Devhost, instance_id: str) -> dict[str, Any]:
    """The instance's status (the API answers a failed one with 400, and the status)."""
    url = f"{devhost.url}/runtime/webhooks/durabletask/instances/{instance_id}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as failed:
        return json.loads(failed.read())


def run_size(count: int, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    extra = {"PIXCRAWLER_VALIDATION_PACING": "false",
             "PIXCRAWLER_VALIDATION_PHASH_THRESHOLD": str(args.threshold),
             "PIXCRAWLER_VALIDATION_WINDOW_THRESHOLD": str(args.threshold)}
    if args.memory_mb:
        extra["PIXCRAWLER_VALIDATION_DEDUPE_MEMORY_MB"] = str(args.memory_mb)
    stack = Stack(directory, port=None, extra_env=extra)
    counter = RequestCounter(directory)
    try:
        with counter.loading():  # the emulators inherit the bench's environment
            services = stack.services.start()
        asyncio.run(_bootstrap(stack.env))
        heap = HeapProbe(directory, args.tracemalloc)
        extra_env = dict(item.split("=", 1) for item in args.devhost_env)
        stack.devhost = Devhost(directory / "devhost", {**stack.env, **heap.env(), **extra_env})
        stack.devhost.start()
        assert stack.devhost.process is not None
        token = issue_dev_token(USER, secret=LOCAL_SECRET)
        job = call("POST", f"{stack.base_url}/jobs", token,
                   {"name": "scale", "keywords": ["synthetic"], "sources": ["wikimedia"]})
        planted = Planted()
        t = time.perf_counter()
        documents = synthetic_records(count, job["id"], args.seed, args.share, args.threshold,
                                      args.threshold, planted)
        written = asyncio.run(write_records(services, documents, job["id"]))
        print(f"  {written:,} records written in {time.perf_counter() - t:.1f} s", flush=True)
        record_bytes = len(json.dumps(next(synthetic_records(1, job["id"], 0, 0, 6, 6, Planted())))) + SYSTEM_BYTES

        pid = stack.devhost.process.pid
        emulator = [p for name, p in stack.services.status().items() if p and name != "azurite"]
        idle_kb = _status_kb(pid, "VmRSS")
        heap_idle = heap.read()
        before = counter.snapshot()
        instance_id = f"{job['id']}:validate"
        sampler = Sampler(pid, stack.devhost.state, instance_id, heap)
        cpu0, emu0, t0 = cpu_seconds([pid]), cpu_seconds(emulator), time.perf_counter()
        sampler.start()
        call("POST", f"{stack.base_url}/validation/job/{job['id']}", token, {"level": "medium"})
        while (status := durable_status(stack.devhost, instance_id))["runtimeStatus"] not in ("Completed", "Failed", "Terminated"):
            time.sleep(0.5)
        seconds = time.perf_counter() - t0
        cpu, emulator_cpu = cpu_seconds([pid]) - cpu0, cpu_seconds(emulator) - emu0
        sampler.stop()
        # The medium step writes no transactional batch: a "batch" left in the difference is
        # one of the bench's own creates the emulator answered after the first snapshot.
        requests = Counter({key.removeprefix("cosmos:images:"): value for key, value in
                            (counter.snapshot() - before).items()
                            if key.startswith("cosmos:images:") and key != "cosmos:images:batch"})
        if status["runtimeStatus"] != "Completed":
            raise RuntimeError(f"validate_job ended {status['runtimeStatus']}: {status.get('output')}")
        flags = asyncio.run(read_flags(services, job["id"]))
        precision, recall, false_pairs = pairwise_scores(planted.cluster, flags)
        return {
            "count": count, "seconds": seconds, "cpu": cpu, "emulator_cpu": emulator_cpu,
            "idle_mb": idle_kb / 1024, "peak_mb": sampler.peak_kb / 1024,
            "dedupe_peak_mb": sampler.dedupe_peak_kb / 1024,
            "hwm_mb": _status_kb(pid, "VmHWM") / 1024, "generations": sampler.generations,
            "phase_peak_mb": {k: v / 1024 for k, v in sampler.phase_peak_kb.items()},
            "heap_idle": heap_idle, "heap_at_peak": sampler.heap_at_peak, "heap_end": heap.read(), "timeline": sampler.timeline,
            "first_batch_at": sampler.first_batch_at, "dedupe_cpu": sampler.dedupe_cpu,
            "output": status["output"],
            "requests": requests, "record_bytes": record_bytes, "planted": planted,
            "precision": precision, "recall": recall, "false_pairs": false_pairs,
            "flagged": sum(keeper is not None for keeper in flags.values()),
        }
    finally:
        stack.stop()


async def _bootstrap(env: dict[str, str]) -> None:
    os.environ.update(env)
    from shared.settings import get_settings
    from shared.storage.bootstrap import ensure_storage

    get_settings.cache_clear()
    await ensure_storage(get_settings())


def report(result: dict[str, Any]) -> None:
    count = result["count"]
    gens = result["generations"]
    planted: Planted = result["planted"]
    expected_duplicates = count - len(set(planted.cluster.values()))
    print(f"N = {count:,}: planted {dict(sorted(planted.kinds.items()))}")
    dedupe = result["first_batch_at"]
    print(f"  wall {result['seconds']:.1f} s ({count / result['seconds']:.0f} records/s"
          + (f"; near-duplicate stages ~{dedupe:.1f} s and {1000 * result['dedupe_cpu'] / count:.2f}"
             " devhost CPU ms/record, then the batches" if dedupe else "") + ")")
    print(f"  devhost CPU {result['cpu']:.1f} s = {1000 * result['cpu'] / count:.2f} ms/record; "
          f"emulator CPU {result['emulator_cpu']:.1f} s")
    print(f"  devhost RSS: idle {result['idle_mb']:.0f} MB, peak {result['peak_mb']:.0f} MB "
          f"(sampled; {result['dedupe_peak_mb']:.0f} MB by the end of the near-duplicate stages), "
          f"high-water mark {result['hwm_mb']:.0f} MB")
    phases = ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(result["phase_peak_mb"].items(), key=lambda kv: kv[1]))
    print(f"  peak RSS while each activity ran (MB): {phases}")
    for label, heap in (("idle", result["heap_idle"]), ("at the peak", result["heap_at_peak"]), ("at the end", result["heap_end"])):
        if heap:
            print(f"  heap {label}: malloc in use {heap['malloc_used'] / 2**20:.0f} MB, free but kept "
                  f"{heap['malloc_free'] / 2**20:.0f} MB, mmapped {heap['malloc_mmap'] / 2**20:.0f} MB; "
                  f"{heap['py_blocks']:,} Python blocks; {heap['threads']} threads"
                  + (f"; tracemalloc {heap['traced'] / 2**20:.0f} MB (peak {heap['traced_peak'] / 2**20:.0f})"
                     if "traced" in heap else "") + (f"; phase {heap['phase']}" if "phase" in heap else ""))
            for where, size, blocks in heap.get("top" if label == "at the peak" else "latest_top", [])[:8]:
                print(f"    {size / 2**20:6.1f} MB {blocks:8,} blocks  {where}")
    if os.environ.get("SCALE_JOB_TIMELINE"):
        for at, kb, phase in result["timeline"]:
            print(f"    {at:7.1f} s {kb / 1024:6.0f} MB  {' '.join(phase)}")
    events = max((e for e, _ in gens.values()), default=0)
    scheduled = sum(s for _, s in gens.values())
    print(f"  orchestration: {len(gens)} generations, largest history {events} events, "
          f"{scheduled} activities scheduled (seen in history); output {result['output']}")
    print(f"  flags: {result['flagged']:,} duplicates (planted {expected_duplicates:,}); "
          f"precision {result['precision']:.4f}, recall {result['recall']:.4f}, "
          f"false pairs {result['false_pairs']}")
    if result["requests"]:
        requests: Counter[str] = result["requests"]
        kb = result["record_bytes"] / 1024
        read_ru, write_ru = interpolate(READ_RU, kb), interpolate(WRITE_RU, kb)
        ru = requests["documents read"] * read_ru + requests["patch"] * write_ru
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(requests.items()))
        per_record = sum(v for k, v in requests.items() if k != "documents read") / count
        print(f"  Cosmos: {shown}; {per_record:.2f} requests/record; ~{ru / count:.2f} RU/record "
              f"(record {result['record_bytes']} B: {read_ru:.2f} RU/read, {write_ru:.2f} RU/patch)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="record counts, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", type=float, default=0.3, help="share of records in planted clusters")
    parser.add_argument("--threshold", type=int, default=6, help="the settings' default thresholds")
    parser.add_argument("--memory-mb", type=int, default=0, help="PIXCRAWLER_VALIDATION_DEDUPE_MEMORY_MB (default: the setting's)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace the devhost's allocations (slow): top sites at each new peak")
    parser.add_argument("--devhost-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the devhost only (e.g. MALLOC_ARENA_MAX=2)")
    parser.add_argument("--dir", type=Path, default=None, help="where the stacks live (default: a temporary directory)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="scale-job-") as temporary:
        base = args.dir or Path(temporary)
        results = []
        for count in sizes:
            print(f"N = {count:,}: starting a stack", flush=True)
            result = run_size(count, args, base / f"n{count}")
            report(result)
            results.append(result)
    if len(results) > 1:
        first, last = results[0], results[-1]
        scale = last["count"] / first["count"]
        print(f"\n{first['count']:,} -> {last['count']:,} records (x{scale:.0f}): wall x"
              f"{last['seconds'] / first['seconds']:.1f}, devhost CPU x{last['cpu'] / first['cpu']:.1f}, "
              f"peak RSS {first['peak_mb']:.0f} -> {last['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
