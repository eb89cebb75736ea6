"""PixCrawler against img2dataset on the same URLs, in one run, on this machine.

A local corpus (the demo source: unique JPEG/PNG of 20-300 KB with 2 % exact copies, 2 %
near-duplicates, 3 % broken files (truncated, HTML posing as JPEG, 404) and 1 % answering after
1 s) is served on 127.0.0.1. Its URL list goes

1. through img2dataset (its own virtualenv, ``.venv-bench``, from ``requirements-bench.txt``:
   never a dependency of the app): 2 processes x 32 threads, files output, no re-encoding,
   shards of ``--i2d-shard`` URLs so both processes work;
2. through PixCrawler: one job with a ``urls`` source and fast validation, on the local stack
   (devhost + Azurite + the Cosmos emulator), from ``POST /start`` until the job is completed.

Printed: both rates (successful images per second of wall time), their ratio, the CPU
milliseconds per stored image of the devhost counted for the job alone (from /proc), of the
emulators and of img2dataset's processes, and the job's counts against the corpus' ground
truth (valid == the unique good images; every broken file a failure with its reason).

    .venv/bin/python bench/crawl_vs_img2dataset.py [--images 3000] [--runs 1]

The machine is shared: compare the two rates of the same run, not figures of other days.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._local import call, cpu_seconds  # noqa: E402
from scripts.devtoken import LOCAL_SECRET  # noqa: E402
from scripts.stack import DemoSourceProcess, Stack  # noqa: E402
from http_triggers._tokens import issue_dev_token  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "requirements-bench.txt"
LABELS = ["cat", "dog", "bird", "fish", "horse", "tree", "car", "boat"]
FAULTS = [
    "--duplicate", "0.02", "--near-duplicate", "0.02", "--truncated", "0.01", "--html", "0.01",
    "--not-found", "0.01", "--slow", "0.01", "--slow-delay", "1.0",
]
#: What the fast level makes of each broken kind the source serves.
FAILURE_OF_KIND = {"truncated": "corrupt", "html": "not_an_image", "404": "http_error"}




def bench_python() -> Path:
    """``.venv-bench``'s python with requirements-bench.txt installed (once per file change)."""
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        print("installing requirements-bench.txt into .venv-bench ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True, stdin=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        stamp.write_text(wanted)
    return python


def run_img2dataset(python: Path, urls: list[str], directory: Path, shard: int) -> dict[str, Any]:
    url_file = directory / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    output = directory / "img2dataset"
    shutil.rmtree(output, ignore_errors=True)
    command = [
        str(python.parent / "img2dataset"), "--url_list", str(url_file), "--input_format", "txt",
        "--output_folder", str(output), "--output_format", "files", "--processes_count", "2",
        "--thread_count", "32", "--resize_mode", "no", "--disable_all_reencoding", "True",
        "--number_sample_per_shard", str(shard), "--timeout", "10", "--retries", "0",
        "--extract_exif", "False", "--compute_hash", "sha256", "--enable_wandb", "False",
    ]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"img2dataset failed ({process.returncode}):\n{stderr.decode()[-2000:]}")
    stats = [json.loads(p.read_text()) for p in output.glob("*_stats.json")]
    return {"seconds": seconds, "ok": sum(s["successes"] for s in stats),
            "failed": sum(s["failed_to_download"] + s["failed_to_resize"] for s in stats),
            "rusage": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime}




def run_job(stack: Stack, urls: list[str]) -> dict[str, Any]:
    token = issue_dev_token("bench", secret=LOCAL_SECRET)
    assert stack.devhost and stack.devhost.process
    devhost = [stack.devhost.process.pid]
    emulators = [p for p in stack.services.status().values() if p]
    job = call("POST", f"{stack.base_url}/jobs", token, {
        "name": "vs-img2dataset", "sources": [{"type": "urls", "label": "bench", "urls": urls}],
        "validation_level": "fast",
    })
    cpu0, emu0, t0 = cpu_seconds(devhost), cpu_seconds(emulators), time.perf_counter()
    call("POST", f"{stack.base_url}/jobs/{job['id']}/start", token)
    while True:
        progress = call("GET", f"{stack.base_url}/jobs/{job['id']}/progress", token)
        if progress["status"] != "running" and progress["phase"] == "done":
            break
        time.sleep(0.1)
    return {"progress": progress, "seconds": time.perf_counter() - t0,
            "devhost_cpu": cpu_seconds(devhost) - cpu0, "emulators_cpu": cpu_seconds(emulators) - emu0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000, help="URLs in the corpus (>= 3,000 for the issue's figure)")
    parser.add_argument("--labels", type=int, default=6)
    parser.add_argument("--runs", type=int, default=1, help="img2dataset / job pairs, alternating")
    parser.add_argument("--i2d-shard", type=int, default=250, help="img2dataset URLs per shard")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an app setting for the stack, e.g. PIXCRAWLER_URL_CHUNK_SIZE=250")
    parser.add_argument("--skip-img2dataset", action="store_true", help="only the PixCrawler job")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.set)
    labels = LABELS[: args.labels]
    per_label = -(-args.images // len(labels))
    python = bench_python()
    with tempfile.TemporaryDirectory(prefix="pixcrawler-vs-") as tmp:
        directory = Path(tmp)
        source = DemoSourceProcess(directory / "source", [
            "--labels", ",".join(labels), "--per-label", str(per_label), "--seed", "21",
            "--dir", str(ROOT / ".local" / "bench-catalogue"), *FAULTS,
        ])
        print(f"corpus: {len(labels)} labels x {per_label} images (generated once, cached) ...", flush=True)
        source.start(timeout=900)
        try:
            entries = source.get("/_demo/catalogue")["items"]  # type: ignore[index]
            urls = [e["url"] for e in entries]
            good = {e["sha256"] for e in entries if e["kind"] not in FAILURE_OF_KIND}
            failures = Counter(FAILURE_OF_KIND[e["kind"]] for e in entries if e["kind"] in FAILURE_OF_KIND)
            print(f"{len(urls)} URLs: {len(good)} unique good images, broken {dict(failures)}", flush=True)
            with Stack(directory / "stack", port=None, extra_env=extra) as stack:
                for run in range(1, args.runs + 1):
                    i2d = None if args.skip_img2dataset else run_img2dataset(python, urls, directory, args.i2d_shard)
                    job = run_job(stack, urls)
                    report(run, i2d, job, good, failures)
        finally:
            source.stop()
    return 0


def report(run: int, i2d: dict[str, Any] | None, job: dict[str, Any], good: set[str], failures: Counter[str]) -> None:
    p = job["progress"]
    stored = p["valid_images"]
    ours = stored / job["seconds"]
    print(f"\nrun {run}")
    if i2d is not None:
        theirs = i2d["ok"] / i2d["seconds"]
        print(f"  img2dataset  {i2d['ok']:6d} images in {i2d['seconds']:6.1f} s: {theirs:7.1f} images/s "
              f"({1000 * i2d['rusage'] / max(i2d['ok'], 1):5.2f} CPU ms/image of its processes)")
    print(f"  PixCrawler   {stored:6d} images in {job['seconds']:6.1f} s: {ours:7.1f} images/s "
          f"(devhost {1000 * job['devhost_cpu'] / max(stored, 1):5.2f} CPU ms per stored image, "
          f"emulators {1000 * job['emulators_cpu'] / max(stored, 1):5.2f})")
    if i2d is not None:
        print(f"  ratio PixCrawler / img2dataset: {ours / theirs:.2f}x")
    exact = stored == len(good) and p["failed_by_reason"] == dict(failures)
    print(f"  counts: valid {stored} (unique good {len(good)}), duplicates {p['duplicate_images']}, "
          f"failed {p['failed_by_reason']} -> {'exact' if exact else 'NOT EXACT'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
