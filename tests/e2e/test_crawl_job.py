"""A whole crawl job over HTTP on the devhost, against Azurite, the Cosmos emulator and a local
source that serves every kind of bad file: exact counts, nothing bad stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSourceProcess, Stack
from http_triggers._tokens import issue_dev_token
from tests.stored_images import Stored, read_stored, storage_of

pytestmark = pytest.mark.e2e

LABELS = ["cat", "dog", "bird"]
PER_LABEL = 40
#: URLs per chunk of a `urls` source in these tests (the default is 1,000).
URL_CHUNK = 25
FAULTS = [
    "--duplicate", "0.1", "--near-duplicate", "0.1", "--truncated", "0.05", "--html", "0.05",
    "--not-found", "0.05", "--slow", "0.05", "--slow-delay", "0.5", "--redirect-blocked", "0.05",
]
#: What the fast level makes of each kind the source serves.
FAILURE_OF_KIND = {
    "truncated": "corrupt",
    "html": "not_an_image",
    "404": "http_error",
    "redirect_blocked": "blocked_address",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("e2e")
    source = DemoSourceProcess(directory / "source", [
        "--labels", ",".join(LABELS), "--per-label", str(PER_LABEL),
        "--dir", str(ROOT / ".local" / "catalogue-tests"), "--seed", "7", *FAULTS,
    ]).start()
    try:
        extra = {"PIXCRAWLER_WIKIMEDIA_BASE_URL": source.url, "PIXCRAWLER_BATCH_SIZE": "16",
                 "PIXCRAWLER_URL_CHUNK_SIZE": str(URL_CHUNK)}
        with Stack(directory / "stack", port=None, extra_env=extra) as stack:
            token = issue_dev_token("e2e-user", secret=LOCAL_SECRET)
            with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
                yield {"stack": stack, "source": source, "api": api}
    finally:
        source.stop()


def run_job(api: httpx.Client, body: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
    created = api.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    started = api.post(f"/jobs/{job_id}/start")
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.get(f"/jobs/{job_id}/progress").json()
        if progress["status"] in ("completed", "failed", "cancelled") and progress["phase"] == "done":
            return progress
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {progress}")


async def stored(stack: Stack, job_id: str) -> Stored:
    """The job's records and shards; every record's bytes read back and checked."""
    async with storage_of(stack.env) as storage:
        found = await read_stored(storage, job_id)
    assert found.unreadable == [] and found.unreferenced == []
    return found


async def test_a_job_stores_every_good_image_once_and_counts_every_failure(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    truth = world["source"].get("/_demo/catalogue")
    entries = truth["items"]
    good = [e for e in entries if e["kind"] not in FAILURE_OF_KIND]
    expected_shas = {e["sha256"] for e in good}
    expected_failures = Counter(FAILURE_OF_KIND[e["kind"]] for e in entries if e["kind"] in FAILURE_OF_KIND)

    progress = run_job(api, {
        "name": "e2e", "keywords": LABELS, "sources": ["wikimedia"],
        "max_images_per_keyword": PER_LABEL * 2, "validation_level": "fast",
    })
    job_id = progress["job_id"]

    assert progress["status"] == "completed"
    assert progress["completed_chunks"] == progress["total_chunks"] == len(LABELS)
    assert progress["progress"] == 100.0
    found = await stored(world["stack"], job_id)
    records = [r.model_dump(mode="json") for r in found.records]
    assert found.shas == expected_shas
    assert len(records) == progress["valid_images"] == len(expected_shas)
    # one shard per download batch that stored something; each a tar of image + json members
    assert 0 < len(found.shards) <= progress["total_chunks"] * -(-PER_LABEL * 2 // 16)
    assert progress["duplicate_images"] == len(good) - len(expected_shas)
    assert progress["failed_by_reason"] == dict(expected_failures)
    # "downloaded" counts responses whose bytes sniff as an image: not 404s, refusals or HTML
    never_images = ("http_error", "blocked_address", "not_an_image")
    assert progress["downloaded_images"] == len(entries) - sum(expected_failures[r] for r in never_images)
    bad = {e["sha256"] for e in entries if e["kind"] in ("truncated", "html")}
    assert not bad & {r["sha256"] for r in records}
    for record in records:
        assert record["label"] in LABELS
        assert record["blob_name"].startswith(f"images/{job_id}/shards/{record['chunk_id']}/")
        assert record["offset"] % 512 == 0
    stats = api.get(f"/jobs/{job_id}/stats").json()
    per_label = Counter(e["label"] for e in good if e["kind"] not in ("duplicate_of",))
    assert stats["images"] == len(expected_shas)
    assert set(stats["per_label"]) == set(LABELS)
    assert sum(stats["per_label"].values()) == len(expected_shas)
    assert all(stats["per_label"][label] <= per_label[label] for label in LABELS)


async def test_quota_stops_a_chunk_and_variations_keep_the_keyword_as_label(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    progress = run_job(api, {
        "name": "quota", "keywords": ["cat"], "sources": ["wikimedia"], "max_images_per_keyword": 10,
        "variations": ["{kw}", "{kw} photo"], "validation_level": "fast",
    })
    assert progress["status"] == "completed"
    assert progress["total_chunks"] == 2
    assert progress["valid_images"] <= 10
    found = await stored(world["stack"], progress["job_id"])
    assert {r.label for r in found.records} == {"cat"}
    assert len(found.records) == progress["valid_images"]


async def test_a_url_list_is_stored_once_and_crawled_as_parallel_chunks(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    entries = world["source"].get("/_demo/catalogue")["items"]
    urls = [e["url"] for e in entries]
    good = {e["sha256"] for e in entries if e["kind"] not in FAILURE_OF_KIND}
    failures = Counter(FAILURE_OF_KIND[e["kind"]] for e in entries if e["kind"] in FAILURE_OF_KIND)

    progress = run_job(api, {
        "name": "list", "sources": [{"type": "urls", "label": "mixed", "urls": ["  ", *urls]}],
        "validation_level": "fast",
    })
    job = api.get(f"/jobs/{progress['job_id']}").json()
    source = job["sources"][0]
    assert source["urls"] is None, "the list lives in Blob Storage, not in the job"
    assert source["url_list"]["count"] == len(urls)
    assert progress["status"] == "completed"
    assert progress["total_chunks"] == progress["completed_chunks"] == -(-len(urls) // URL_CHUNK)
    found = await stored(world["stack"], progress["job_id"])
    assert found.shas == good
    assert progress["valid_images"] == len(good)
    assert progress["failed_by_reason"] == dict(failures)
    assert {r.label for r in found.records} == {"mixed"}
    inputs = api.get(f"/jobs/{progress['job_id']}/logs").text
    assert urls[-1] not in inputs


def test_start_is_idempotent_and_a_finished_job_cannot_start_again(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    body = {"name": "twice", "keywords": ["dog"], "sources": ["wikimedia"], "max_images_per_keyword": 5,
            "validation_level": "fast"}
    job_id = api.post("/jobs", json=body).json()["id"]
    first = api.post(f"/jobs/{job_id}/start").json()
    again = api.post(f"/jobs/{job_id}/start")
    if again.status_code == 200:
        assert again.json()["task_ids"] == first["task_ids"]
    while api.get(f"/jobs/{job_id}/progress").json()["status"] == "running":
        time.sleep(0.3)
    late = api.post(f"/jobs/{job_id}/start")
    assert late.status_code == 400
    assert late.json()["message"] == "Cannot start job with status 'completed'. Only pending jobs can be started."


def test_a_source_without_its_key_is_refused_at_creation(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    answer = api.post("/jobs", json={"name": "x", "keywords": ["cat"], "sources": ["flickr"]})
    assert answer.status_code == 400
    assert "PIXCRAWLER_FLICKR_API_KEY" in answer.json()["message"]
