"""Helpers of the dataset tests: a local image server, jobs run to completion over HTTP, the
job's stored records read straight from Cosmos, and waiting for a dataset build.

A plain module (not conftest) so test modules import it by a name no other test folder uses.
"""

from __future__ import annotations

import io
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from azure.cosmos import CosmosClient
from PIL import Image

from scripts.devtoken import LOCAL_SECRET
from shared.auth import issue_dev_token


def noise_png(seed: int) -> bytes:
    """A 48x40 PNG of random noise: distinct bytes and perceptual hash for every seed."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (48, 40), rng.randbytes(48 * 40 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class ImageServer:
    """Serves ``/img/<seed>.png`` (noise of that seed) on 127.0.0.1; anything else is a 404.

    What a test may change while it runs: seeds in ``gone`` answer 404 (the image left its
    site), seeds in ``changed`` serve another image, and each answer waits ``delay`` seconds."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.gone: set[int] = set()
        self.changed: set[int] = set()
        self.delay = 0.0

    def urls(self, seeds: range | list[int]) -> list[str]:
        return [f"{self.url}/img/{seed}.png" for seed in seeds]

    def start(self) -> ImageServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                name = self.path.rsplit("/", 1)[-1].removesuffix(".png")
                time.sleep(server.delay)
                if not self.path.startswith("/img/") or not name.isdigit() or int(name) in server.gone:
                    self.send_error(404)
                    return
                seed = int(name)
                body = noise_png(seed + 1_000_000 if seed in server.changed else seed)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                """Quiet: the tests read responses, not logs."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def user_client(base_url: str, user_id: str) -> httpx.Client:
    token = issue_dev_token(user_id, secret=LOCAL_SECRET)
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def urls_job(labels: dict[str, list[str]], name: str = "dataset test") -> dict[str, Any]:
    """A job body of one ``urls`` source per label, validated at the fast level only."""
    return {
        "name": name,
        "sources": [{"type": "urls", "label": label, "urls": urls} for label, urls in labels.items()],
        "validation_level": "fast",
        "max_images_per_keyword": 1000,
    }


def wait_until(read: Any, done: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        current = read()
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not finish: {current}")
        time.sleep(0.3)


def run_job(api: httpx.Client, body: dict[str, Any], timeout: float = 120) -> str:
    """Create and start a job, wait until it is completed; its id."""
    created = api.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert api.post(f"/jobs/{job_id}/start").status_code == 200
    progress = wait_until(
        lambda: api.get(f"/jobs/{job_id}/progress").json(),
        lambda p: p["status"] in ("completed", "failed", "cancelled") and p["phase"] == "done",
        timeout, f"job {job_id}",
    )  # fmt: skip
    assert progress["status"] == "completed", progress
    return str(job_id)


def build(api: httpx.Client, job_id: str, timeout: float = 120, **options: Any) -> dict[str, Any]:
    """POST a dataset of the job and wait until it is ready or failed; its final record."""
    created = api.post("/datasets", json={"job_id": job_id, "name": options.pop("name", "pets"), **options})
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    dataset_id = created.json()["id"]
    return dict(wait_until(
        lambda: api.get(f"/datasets/{dataset_id}").json(),
        lambda d: d["status"] in ("ready", "failed"), timeout, f"dataset {dataset_id}",
    ))  # fmt: skip


def stored_records(env: dict[str, str], job_id: str) -> list[dict[str, Any]]:
    """The job's image records as Cosmos holds them."""
    cosmos = CosmosClient(env["PIXCRAWLER_COSMOS_ENDPOINT"], env["PIXCRAWLER_COSMOS_KEY"], connection_verify=False)
    images = cosmos.get_database_client("pixcrawler").get_container_client("images")
    return list(images.query_items(
        "SELECT * FROM c WHERE c.job_id = @j", parameters=[{"name": "@j", "value": job_id}],
        partition_key=job_id,
    ))  # fmt: skip
