"""Helpers of the review tests: a local image server (the demo source's generated pictures, a
re-encoded near-duplicate of any of them, 404s and HTML posing as an image) and a finished
job of two labels crawled from it through the API.

Example::

    server = ImageServer().start()
    job = crawl_review_job(api.as_user(owner), server)   # completed, validated at medium
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
from _apitest import wait_for

from scripts.demo_source import near_duplicate, render_image
from tests.local_http import LocalServer

SEED = 3
LABELS = ("cat", "dog")


@lru_cache(maxsize=256)
def picture(label: str, index: int) -> bytes:
    return render_image(label, index, seed=SEED)


@dataclass
class ImageServer(LocalServer):
    """``/img/<label>/<n>``, ``/near/<label>/<n>`` (a smaller JPEG copy of that image),
    ``/missing/<x>`` (404) and ``/html/<x>`` (an HTML page served as image/jpeg)."""

    url: str = ""

    def answer(self, path: str) -> tuple[str, bytes] | None:
        found = re.fullmatch(r"/(img|near|missing|html)/([a-z]+)/(\d+)", path)
        if found is None or found[1] == "missing":
            return None
        kind, label, index = found[1], found[2], int(found[3])
        body = {
            "img": lambda: picture(label, index),
            "near": lambda: near_duplicate(picture(label, index), index),
            "html": lambda: b"<html><body>not an image</body></html>",
        }[kind]()
        return "image/jpeg", body


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
