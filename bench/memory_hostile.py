"""Memory under hostile images: the devhost's peak RSS while a job crawls huge files.

A local server on 127.0.0.1 serves 200 JPEGs of 15-20 MB (noise, so they compress badly) and
20 near-cap PNGs (9,400 x 9,400 RGBA = 88 million pixels, 353 MB once decoded, a few hundred
KB on the wire). One job with a ``urls`` source crawls them on the local stack with 8 download
activities in flight (8 chunks of one batch each). Printed: the devhost's RSS before the job
and its peak during it (sampled from /proc every 20 ms, and the kernel's high-water mark), the
job's outcome and its failures by reason, and the memory settings in force.

    .venv/bin/python bench/memory_hostile.py [--jpegs 200] [--pngs 20] [--set NAME=VALUE]

Target (issue 12): peak RSS <= 600 MB, the job completes, the oversize PNGs counted by reason.
The files are generated once into ``.local/memory-hostile`` (about 3.5 GB).
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._local import call, rss_kb  # noqa: E402
from scripts.devtoken import LOCAL_SECRET  # noqa: E402
from scripts.stack import Stack, free_port  # noqa: E402
from http_triggers._tokens import issue_dev_token  # noqa: E402

CACHE = ROOT / ".local" / "memory-hostile"
#: Base JPEG sizes (pixels): random noise at quality 92 is about 1.4 bytes a pixel.
JPEG_SIDES = [(4800, 3250), (4900, 3350), (5000, 3450), (5100, 3550), (5200, 3650), (5200, 3800)]
PNG_SIDE = 9400


def _jpeg_variant(base: bytes, n: int) -> bytes:
    """``base`` with a COM segment after SOI: same pixels, other bytes (another sha256)."""
    text = f"pixcrawler memory bench variant {n}".encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + base[2:]


def _png_variant(base: bytes, n: int) -> bytes:
    """``base`` with a tEXt chunk after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    data = b"Comment\x00" + f"variant {n}".encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return base[:33] + chunk + base[33:]


def make_corpus(jpegs: int, pngs: int) -> list[Path]:
    """The files (generated once): ``jpegs`` large JPEGs and ``pngs`` near-cap PNGs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    bases = []
    for i, (w, h) in enumerate(JPEG_SIDES):
        path = CACHE / f"base-{i}.jpg"
        if not path.exists():
            noise = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(noise).save(path, "JPEG", quality=92)
        bases.append(path.read_bytes())
    png_base = CACHE / "base.png"
    if not png_base.exists():
        image = Image.new("RGBA", (PNG_SIDE, PNG_SIDE), (40, 90, 160, 255))
        ImageDraw.Draw(image).ellipse((1000, 1000, 8000, 8000), fill=(220, 180, 40, 255))
        image.save(png_base, "PNG", compress_level=6)
        del image
    files = []
    for n in range(jpegs):
        path = CACHE / f"big-{n:03d}.jpg"
        if not path.exists():
            path.write_bytes(_jpeg_variant(bases[n % len(bases)], n))
        files.append(path)
    for n in range(pngs):
        path = CACHE / f"huge-{n:03d}.png"
        if not path.exists():
            path.write_bytes(_png_variant(png_base.read_bytes(), n))
        files.append(path)
    return files


#: The file server: aiohttp's static files (sendfile) in a process of its own, so that serving
#: 3.5 GB costs the bench little and never stalls behind its polling.
SERVER = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/", sys.argv[1])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""






def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jpegs", type=int, default=200)
    parser.add_argument("--pngs", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an app setting")
    args = parser.parse_args(argv)
    print("corpus (generated once) ...", flush=True)
    files = make_corpus(args.jpegs, args.pngs)
    sizes = [f.stat().st_size for f in files if f.suffix == ".jpg"]
    print(f"{len(sizes)} JPEGs of {min(sizes) / 1e6:.1f}-{max(sizes) / 1e6:.1f} MB, "
          f"{args.pngs} PNGs of {PNG_SIDE}x{PNG_SIDE} RGBA", flush=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(CACHE), str(port)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/{files[0].name}", timeout=5).close()
            break
        except OSError:
            time.sleep(0.1)
    urls = [f"{base}/{f.name}" for f in files]
    per_chunk = -(-len(urls) // 8)
    env = {"PIXCRAWLER_URL_CHUNK_SIZE": str(per_chunk), "PIXCRAWLER_BATCH_SIZE": str(per_chunk),
           "PIXCRAWLER_CHUNK_BATCHES_IN_FLIGHT": "1", **dict(item.split("=", 1) for item in args.set)}
    with tempfile.TemporaryDirectory(prefix="pixcrawler-memory-") as tmp, \
            Stack(Path(tmp) / "stack", port=None, extra_env=env) as stack:
        assert stack.devhost and stack.devhost.process
        pid = stack.devhost.process.pid
        token = issue_dev_token("bench", secret=LOCAL_SECRET)
        job = call("POST", f"{stack.base_url}/jobs", token, {
            "name": "memory", "sources": [{"type": "urls", "label": "huge", "urls": urls}],
            "validation_level": "fast",
        })
        before = rss_kb(pid)
        peak, started = before, time.perf_counter()
        call("POST", f"{stack.base_url}/jobs/{job['id']}/start", token)
        progress: dict[str, Any] = {}
        while True:
            for _ in range(25):
                peak = max(peak, rss_kb(pid))
                time.sleep(0.02)
            progress = call("GET", f"{stack.base_url}/jobs/{job['id']}/progress", token)
            if progress["status"] != "running" and progress["phase"] == "done":
                break
        seconds = time.perf_counter() - started
        high_water = rss_kb(pid, "VmHWM")
    server.terminate()
    server.wait()
    print(f"\nsettings: {env}")
    print(f"job {progress['status']} in {seconds:.1f} s: {progress['valid_images']} stored, "
          f"{progress['completed_chunks']}/{progress['total_chunks']} chunks, "
          f"failed by reason {progress['failed_by_reason']}")
    print(f"devhost RSS before the job {before / 1024:.0f} MB, peak during it {peak / 1024:.0f} MB "
          f"(sampled every 20 ms; kernel high-water mark {high_water / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
