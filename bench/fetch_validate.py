"""Benchmark: download + validate throughput of the download activity's inner loop.

Starts a local aiohttp server (in its own process, on 127.0.0.1) serving N generated, unique
JPEG/PNG images of 20-300 KB and 256-1024 px (cached under ``.local/bench-corpus``), then
measures, in this process:

(a) baseline: a plain aiohttp loop + sha256 + full Pillow decode, all on the event loop;
(b) ours: ``Downloader.fetch_many`` then ``inspect_image`` on every body;
(c) ours, pipelined: ``Downloader.fetch`` per URL, each body handed to ``inspect_image`` in a
    thread pool as soon as it arrives (``shared.imaging.inspect_async``);
(d) the same, but ``inspect_image`` called on the event loop (to compare with threads).

For each it prints images/s, MB/s, CPU seconds per 1,000 images (this process, all threads;
and the server's), and the CPU-bound ceiling: CPUs / (client + server CPU per image), i.e.
the rate on an otherwise idle machine, which the wall-clock rate matches only when nothing
else runs.

Run::

    python -m bench.fetch_validate            # N=3000
    python -m bench.fetch_validate -n 500 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import multiprocessing
import os
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
from aiohttp import web
from PIL import Image

from shared.fetch import Downloader
from shared.imaging import ImageInfo, inspect_async, inspect_image
from shared.models import ImageFormat, ValidationRules
from shared.settings import Settings

CORPUS_ROOT = Path(".local/bench-corpus")
MIN_BYTES, MAX_BYTES = 20 * 1024, 300 * 1024
RULES = ValidationRules(formats=[ImageFormat.jpeg, ImageFormat.png])


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------


_NOISE: list[Image.Image] = []


def _noise_tile() -> Image.Image:
    """One 1024x1024 tile of RGB noise per process; images take random crops of it."""
    if not _NOISE:
        rng = np.random.default_rng(12345)
        _NOISE.append(Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)))
    return _NOISE[0]


def _render(seed: int) -> bytes:
    """One unique image of 20-300 KB: a random colour grid upscaled bilinearly (unique per
    seed), as PNG (30%, 256-640 px, no noise: the grid alone weighs 0.5-1 byte a pixel) or as
    JPEG (70%, 256-1024 px, with noise blended in until the size fits)."""
    rng = np.random.default_rng(seed)
    as_png = rng.random() < 0.3
    if as_png:
        width = int(rng.integers(256, 641))
        height = int(rng.integers(256, max(257, min(641, 280_000 // width))))
    else:
        width, height = (int(rng.integers(256, 1025)) for _ in range(2))
    cells = int(rng.integers(24, 40))
    grid = rng.integers(0, 256, (max(2, height // cells), max(2, width // cells), 3), dtype=np.uint8)
    base = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    if as_png:
        base.save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()
    x0, y0 = int(rng.integers(0, 1025 - width)), int(rng.integers(0, 1025 - height))
    noise = _noise_tile().crop((x0, y0, x0 + width, y0 + height))
    alpha, quality = 0.06, int(rng.integers(70, 92))
    for _ in range(8):
        buffer = io.BytesIO()
        Image.blend(base, noise, alpha).save(buffer, "JPEG", quality=quality)
        if buffer.tell() < MIN_BYTES:
            alpha = min(0.5, alpha * 2)
        elif buffer.tell() > MAX_BYTES:
            alpha, quality = alpha / 2, max(50, quality - 10)
        else:
            break
    return buffer.getvalue()


def load_corpus(n: int) -> list[bytes]:
    """The N images, generated once (in parallel) and cached on disk."""
    folder = CORPUS_ROOT / f"v2-{n}"
    files = sorted(folder.glob("*.img")) if folder.exists() else []
    if len(files) != n:
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            images = list(pool.map(_render, range(n), chunksize=32))
        for i, data in enumerate(images):
            (folder / f"{i:06d}.img").write_bytes(data)
        print(f"generated {n} images in {time.perf_counter() - started:.1f}s -> {folder}")
        return images
    return [f.read_bytes() for f in files]


# --------------------------------------------------------------------------------------------
# Server (its own process, so its CPU is not counted as ours)
# --------------------------------------------------------------------------------------------


def _serve(n: int, port_out: "multiprocessing.Queue[int]") -> None:
    images = load_corpus(n)

    async def image(request: web.Request) -> web.Response:
        data = images[int(request.match_info["i"])]
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        return web.Response(body=data, content_type=kind)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/img/{i}", image)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------
# The measured loops
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    images: int
    valid: int
    bytes: int
    wall: float
    cpu: float
    server_cpu: float

    def line(self) -> str:
        per_image = (self.cpu + self.server_cpu) / self.images
        ceiling = (os.cpu_count() or 1) / per_image
        return (f"{self.name:<36} {self.images / self.wall:5.0f} img/s"
                f" {self.bytes / self.wall / 1e6:5.1f} MB/s"
                f" {self.cpu / self.images * 1000:5.2f} CPU s/1k img"
                f" (server {self.server_cpu / self.images * 1000:4.2f});"
                f" CPU-bound ceiling {ceiling:4.0f} img/s;"
                f" {self.valid}/{self.images} valid in {self.wall:.1f}s")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of another process (Linux /proc), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def baseline(urls: list[str], concurrency: int) -> tuple[int, int]:
    """aiohttp + sha256 + full Pillow decode, on the event loop, no guards."""
    valid = total = 0
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> None:
            nonlocal valid, total
            async with semaphore, session.get(url) as response:
                body = await response.read()
            total += len(body)
            hashlib.sha256(body).hexdigest()
            with Image.open(io.BytesIO(body)) as image:
                image.load()
            valid += 1

        await asyncio.gather(*(one(u) for u in urls))
    return valid, total


async def ours_then_inspect(urls: list[str], settings: Settings) -> tuple[int, int]:
    async with Downloader(settings) as downloader:
        results = await downloader.fetch_many(urls)
    valid = sum(isinstance(inspect_image(r.body, RULES), ImageInfo) for r in results if r.ok)
    return valid, downloader.stats.bytes


async def ours_pipelined(urls: list[str], settings: Settings, threads: bool) -> tuple[int, int]:
    async with Downloader(settings) as downloader:

        async def one(url: str) -> bool:
            result = await downloader.fetch(url)
            if not result.ok:
                return False
            if threads:
                return isinstance(await inspect_async(result.body, RULES), ImageInfo)
            return isinstance(inspect_image(result.body, RULES), ImageInfo)

        valid = sum(await asyncio.gather(*(one(u) for u in urls)))
    return valid, downloader.stats.bytes


async def measure(
    name: str, body: Callable[[], Awaitable[tuple[int, int]]], n: int, server_pid: int
) -> Run:
    server = process_cpu_seconds(server_pid)
    cpu, wall = time.process_time(), time.perf_counter()
    valid, total = await body()
    return Run(name, n, valid, total, time.perf_counter() - wall, time.process_time() - cpu,
               process_cpu_seconds(server_pid) - server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="images (default 3000)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of each measurement")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    load_corpus(args.n)  # generate before the server starts, once
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.n, ports), daemon=True)
    server.start()
    port = ports.get(timeout=120)
    urls = [f"http://127.0.0.1:{port}/img/{i}" for i in range(args.n)]
    random.Random(1).shuffle(urls)
    settings = Settings.model_validate({
        "cosmos_endpoint": "https://localhost:8081/",
        "blob_connection_string": "UseDevelopmentStorage=true",
        "fetch_allow_networks": ["127.0.0.1/32"],
        "fetch_concurrency": args.concurrency,
        "fetch_per_host": args.concurrency,  # one local host stands for a crawl's many hosts
    })
    print(f"{args.n} images, {sum(map(len, load_corpus(args.n))) / 1e6:.0f} MB, "
          f"concurrency {args.concurrency}, {os.cpu_count()} CPUs")

    pid = server.pid or 0

    async def run_all() -> None:
        await baseline(urls[:200], args.concurrency)  # warm up imports and the server
        for _ in range(args.repeat):
            runs = [
                await measure("(a) baseline aiohttp+sha256+decode",
                              lambda: baseline(urls, args.concurrency), args.n, pid),
                await measure("(b) fetch_many, then inspect_image",
                              lambda: ours_then_inspect(urls, settings), args.n, pid),
                await measure("(c) fetch + inspect_async (threads)",
                              lambda: ours_pipelined(urls, settings, threads=True), args.n, pid),
                await measure("(d) fetch + inspect_image (on loop)",
                              lambda: ours_pipelined(urls, settings, threads=False), args.n, pid),
            ]
            for run in runs:
                print(run.line())

    try:
        asyncio.run(run_all())
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
