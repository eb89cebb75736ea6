"""Benchmark the devhost: activity throughput of a sub-orchestration fan-out, and the
start-to-Completed latency of a one-activity orchestration.

    python bench/devhost_fanout.py [--workers N] [--chunks 50] [--size 200] [--runs 100]

Starts `python -m devhost` on the test app (tests/integration/devhost/app) with a fresh state
file (durable state on, as always), drives it over HTTP and prints the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "tests" / "integration" / "devhost" / "app"
API = "/runtime/webhooks/durabletask"


def call(base: str, method: str, path: str, body: object = None) -> tuple:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def start_devhost(state: Path, workers: int) -> tuple:
    env = {**os.environ, "TICK_SCHEDULE": "0 0 0 1 1 *", "DEVHOST_DISABLE_TIMERS": "1",
           "DEVHOST_TEST_SCRATCH": str(state.parent / "scratch")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app", str(APP), "--port", "0", "--state",
         str(state), "--workers", str(workers), "--log-level", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        if not ready or proc.poll() is not None:
            raise SystemExit("devhost did not start")
        line = proc.stdout.readline()
        if line.startswith("devhost listening on "):
            return proc, line.split()[-1]


def run_to_completion(base: str, name: str, input_: object, poll: float) -> dict:
    status, body = call(base, "POST", f"{API}/orchestrators/{name}", input_)
    assert status == 202, body
    while True:
        code, state = call(base, "GET", f"{API}/instances/{body['id']}?showInput=false")
        if state["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return state
        time.sleep(poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_devhost(Path(tmp) / "state.sqlite", args.workers)
        try:
            run_to_completion(base, "one_activity", 0, 0.01)  # warm up
            activities = args.chunks * args.size
            began = time.perf_counter()
            result = run_to_completion(base, "chunked",
                                       {"chunks": args.chunks, "size": args.size}, 0.05)
            elapsed = time.perf_counter() - began
            expected = sum(2 * i for i in range(activities))
            assert result["runtimeStatus"] == "Completed", result
            assert result["output"] == {"total": expected, "chunks": args.chunks}, result
            latencies = []
            for n in range(args.runs):
                t0 = time.perf_counter()
                done = run_to_completion(base, "one_activity", n, 0.002)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert done["output"] == n
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * len(latencies))) - 1)]
    print(f"devhost fan-out benchmark (workers={args.workers}, durable state in SQLite WAL)")
    print(f"  fan-out: 1 orchestration -> {args.chunks} sub-orchestrations x {args.size} "
          f"no-op activities = {activities} activities")
    print(f"  fan-out time: {elapsed:.2f} s  ->  {activities / elapsed:.0f} activities/s")
    print(f"  one-activity orchestration, start to Completed over {args.runs} runs: "
          f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
