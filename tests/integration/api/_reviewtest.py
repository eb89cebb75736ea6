"""Helpers of the review tests: a local image server (the demo source's generated pictures, a
re-encoded near-duplicate of any of them, 404s and HTML posing as an image) and a finished
job of two labels crawled from it through the API.

Example::

    server = ImageServer().start()
    job = crawl_review_job(api.as_user(owner), server)   # completed, validated at medium
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from _apitest import wait_for

from scripts.demo_source import near_duplicate, render_image

SEED = 3
LABELS = ("cat", "dog")


@lru_cache(maxsize=256)
def picture(label: str, index: int) -> bytes:
    return render_image(label, index, seed=SEED)


@dataclass
class ImageServer:
    """``/img/<label>/<n>``, ``/near/<label>/<n>`` (a smaller JPEG copy of that image),
    ``/missing/<x>`` (404) and ``/html/<x>`` (an HTML page served as image/jpeg)."""

    url: str = ""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def start(self) -> "ImageServer":
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                found = re.fullmatch(r"/(img|near|missing|html)/([a-z]+)/(\d+)", self.path)
                if found is None or found[1] == "missing":
                    self.send_error(404)
                    return
                kind, label, index = found[1], found[2], int(found[3])
                body = {
                    "img": lambda: picture(label, index),
                    "near": lambda: near_duplicate(picture(label, index), index),
                    "html": lambda: b"<html><body>not an image</body></html>",
                }[kind]()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass(frozen=True)
class ReviewJob:
    job_id: str
    urls: dict[str, list[str]]
    failed: dict[str, str]  # url -> reason
    near: dict[str, str]  # url of a near-duplicate -> url of its original


def crawl_review_job(client: httpx.Client, server: ImageServer, *, images: int = 8, timeout: float = 120) -> ReviewJob:
    """A completed job validated at medium: per label ``images`` pictures, 2 near-duplicates of
    the first ones, a 404 and an HTML page."""
    urls: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    near: dict[str, str] = {}
    for label in LABELS:
        good = [f"{server.url}/img/{label}/{n}" for n in range(images)]
        copies = {f"{server.url}/near/{label}/{n}": good[n] for n in range(2)}
        bad = {f"{server.url}/missing/{label}/1": "http_error", f"{server.url}/html/{label}/1": "not_an_image"}
        urls[label] = [*good, *copies, *bad]
        failed.update(bad)
        near.update(copies)
    body = {
        "name": "review", "validation_level": "medium",
        "sources": [{"type": "urls", "label": label, "urls": list(u)} for label, u in urls.items()],
    }
    created = client.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert client.post(f"/jobs/{job_id}/start").status_code == 200

    def done() -> dict[str, Any] | None:
        progress = client.get(f"/jobs/{job_id}/progress").json()
        return progress if progress["status"] == "completed" and progress["phase"] == "done" else None

    wait_for(done, timeout=timeout, interval=0.3)
    return ReviewJob(job_id=job_id, urls=urls, failed=failed, near=near)
