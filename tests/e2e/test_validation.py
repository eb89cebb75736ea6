"""Validation over HTTP on the devhost: a crawl job at level medium on the demo source, whose
``near_duplicate_of`` entries are resized, re-encoded copies of another entry; then the
validation routes on that job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSourceProcess, Stack
from http_triggers._tokens import issue_dev_token

from test_crawl_job import stored  # tests/e2e is on sys.path (rootdir import mode)

pytestmark = pytest.mark.e2e

LABELS = ["cat", "dog"]
PER_LABEL = 30
FAULTS = ["--duplicate", "0.1", "--near-duplicate", "0.2"]
#: Pacing on at 240 images a minute in waves of 2 batches of 4: the first wave validates 8
#: images and a durable timer holds the next back for 2 s, so the "validating" phase lasts
#: several seconds, long enough for the test's polling to see it.
ENV = {
    "PIXCRAWLER_BATCH_SIZE": "16",
    "PIXCRAWLER_VALIDATION_BATCH_SIZE": "4",
    "PIXCRAWLER_VALIDATION_PARALLEL": "2",
    "PIXCRAWLER_VALIDATION_PACING": "true",
    "PIXCRAWLER_VALIDATION_RATE_MEDIUM": "240",
    "PIXCRAWLER_VALIDATION_RATE_SLOW": "100000",
}


def client(stack: Stack, user: str) -> httpx.Client:
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    return httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo source, the stack, and one finished medium job with the phases it went through."""
    directory: Path = tmp_path_factory.mktemp("e2e-validation")
    source = DemoSourceProcess(directory / "source", [
        "--labels", ",".join(LABELS), "--per-label", str(PER_LABEL),
        "--dir", str(ROOT / ".local" / "catalogue-tests"), "--seed", "11", *FAULTS,
    ]).start()
    try:
        with Stack(directory / "stack", port=None, extra_env={"PIXCRAWLER_WIKIMEDIA_BASE_URL": source.url, **ENV}) as stack:
            with client(stack, "owner") as api:
                job_id, phases, progress = run_job(api)
                yield {"stack": stack, "source": source, "api": api, "job_id": job_id,
                       "phases": phases, "progress": progress}
    finally:
        source.stop()


def run_job(api: httpx.Client, timeout: float = 240) -> tuple[str, list[str], dict[str, Any]]:
    body = {"name": "validate", "keywords": LABELS, "sources": ["wikimedia"],
            "max_images_per_keyword": PER_LABEL * 2, "validation_level": "medium"}
    job_id = api.post("/jobs", json=body).json()["id"]
    assert api.post(f"/jobs/{job_id}/start").status_code == 200
    phases: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.get(f"/jobs/{job_id}/progress").json()
        if not phases or phases[-1] != progress["phase"]:
            phases.append(progress["phase"])
        if progress["phase"] == "done":
            return job_id, phases, progress
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {phases}")


def wait_for_validation(api: httpx.Client, job_id: str, level: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.get(f"/jobs/{job_id}/progress").json()
        run = progress["validation"]
        if progress["phase"] == "done" and run["level"] == level and len(run["batches_done"]) == run["batches"]:
            return progress
        time.sleep(0.2)
    raise AssertionError(f"validation of {job_id} at {level} did not finish: {progress}")


def all_results(api: httpx.Client, job_id: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = api.get(f"/validation/results/{job_id}", params={"limit": "7", **params,
                                                                  **({"continuation": token} if token else {})})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        token = page.json()["continuation"]
        if token is None:
            return items


async def test_near_duplicates_are_flagged_with_the_original_kept(world: dict[str, Any]) -> None:
    phases, progress = world["phases"], world["progress"]
    assert progress["status"] == "completed"
    assert "validating" in phases and phases.index("validating") < phases.index("done")
    assert phases[-1] == "done"

    catalogue = world["source"].get("/_demo/catalogue")["items"]
    sha_of_url = {e["url"]: e["sha256"] for e in catalogue}
    near = {e["sha256"]: sha_of_url[e["of"]] for e in catalogue if e["kind"] == "near_duplicate_of"}
    records = [r.model_dump(mode="json") for r in (await stored(world["stack"], world["job_id"])).records]
    assert len(near) >= 8
    assert {r["sha256"]: r["duplicate_of"] for r in records if r["is_duplicate"]} == near
    for record in records:
        assert record["validation"]["level"] == "medium"
        assert record["validation"]["checks"]["unique"] is (record["sha256"] not in near)
        assert record["is_valid"] and record["mode"] in ("RGB", "L")

    run = progress["validation"]
    assert (run["level"], run["images"], run["validated"], run["duplicates"]) == (
        "medium", len(records), len(records), len(near))
    # valid_images counts what passed the validation: the near-duplicates set aside are not
    # valid; what the crawl stored keeps its own count.
    assert (progress["stored_images"], progress["valid_images"]) == (len(records), len(records) - len(near))
    assert sorted(run["batches_done"]) == list(range(run["batches"])) and run["batches"] > 8


async def test_results_pages_filters_and_stats(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    job_id = world["job_id"]
    records = [r.model_dump(mode="json") for r in (await stored(world["stack"], job_id)).records]
    everything = all_results(api, job_id)
    duplicates = all_results(api, job_id, filter="duplicate")
    valid = all_results(api, job_id, filter="valid")

    assert sorted(item["id"] for item in everything) == sorted(r["id"] for r in records)
    assert set(everything[0]) == {"id", "label", "url", "blob_name", "offset", "bytes", "width", "height", "mode",
                                  "exif_orientation", "is_valid", "is_duplicate", "duplicate_of", "validation"}
    assert {item["id"] for item in duplicates} == {r["id"] for r in records if r["is_duplicate"]}
    assert len(valid) == len(records) - len(duplicates)
    assert all_results(api, job_id, filter="invalid") == []

    stats = api.get(f"/validation/stats/{job_id}").json()
    assert stats == {
        "job_id": job_id, "images": len(records), "valid": len(valid), "invalid": 0,
        "duplicates": len(duplicates), "by_level": {"fast": 0, "medium": len(records), "slow": 0},
        "checks": {name: {"passed": len(records), "failed": 0} for name in ("decode", "format", "dimensions", "pixels")}
        | {"unique": {"passed": len(valid), "failed": len(duplicates)}},
    }


def test_a_slow_run_over_http_adds_quality_and_keeps_the_groups(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    job_id = world["job_id"]
    before = {item["id"]: item["duplicate_of"] for item in all_results(api, job_id)}

    started = api.post(f"/validation/job/{job_id}", json={"level": "slow"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["job_id"], body["images_count"], body["validation_level"]) == (job_id, len(before), "slow")
    assert body["task_ids"] == [f"{job_id}:validate"]
    wait_for_validation(api, job_id, "slow")

    after = all_results(api, job_id)
    assert {item["id"]: item["duplicate_of"] for item in after} == before
    assert all(item["validation"]["level"] == "slow" and "sharpness" in item["validation"]["scores"] for item in after)
    stats = api.get(f"/validation/stats/{job_id}").json()
    assert stats["by_level"]["slow"] == len(before)
    assert stats["checks"]["blur"]["passed"] + stats["checks"]["blur"]["failed"] == len(before)

    # The near-duplicate search ran again as its stages of activities, found the same groups,
    # wrote no flag, and left none of its intermediate blobs behind.
    stack: Stack = world["stack"]
    assert stack.devhost is not None
    status = httpx.get(f"{stack.devhost.url}/runtime/webhooks/durabletask/instances/{job_id}:validate").json()
    assert status["runtimeStatus"] == "Completed"
    duplicates = sum(keeper is not None for keeper in before.values())
    assert (status["output"]["duplicates"], status["output"]["changed"]) == (duplicates, 0)
    container = BlobServiceClient.from_connection_string(
        stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"]).get_container_client("images")
    names = [blob.name for blob in container.list_blobs(name_starts_with=f"{job_id}/")]
    assert names and not [name for name in names if name.startswith(f"{job_id}/dedupe/")]


def test_unknown_jobs_empty_jobs_bad_levels_and_other_users(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    job_id = world["job_id"]
    missing = api.post("/validation/job/0123456789abcdef", json={"level": "medium"})
    assert missing.status_code == 404
    empty = api.post("/jobs", json={"name": "empty", "keywords": ["cat"], "sources": ["wikimedia"]}).json()["id"]
    none = api.post(f"/validation/job/{empty}", json={"level": "medium"})
    assert (none.status_code, none.json()["message"]) == (404, f"No images found for job {empty}")
    bad = api.post(f"/validation/job/{job_id}", json={"level": "ultra"})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "level"
    assert api.get(f"/validation/results/{job_id}", params={"filter": "pretty"}).status_code == 422
    with client(world["stack"], "stranger") as stranger:
        for answer in (
            stranger.post(f"/validation/job/{job_id}", json={"level": "medium"}),
            stranger.get(f"/validation/results/{job_id}"),
            stranger.get(f"/validation/stats/{job_id}"),
        ):
            assert answer.status_code == 403


async def test_a_validation_without_a_body_runs_at_medium_and_counts_what_passed(world: dict[str, Any]) -> None:
    api: httpx.Client = world["api"]
    job_id = world["job_id"]
    started = api.post(f"/validation/job/{job_id}")  # as the first documents write it
    assert started.status_code == 200, started.text
    assert started.json()["validation_level"] == "medium"
    progress = wait_for_validation(api, job_id, "medium")
    records = (await stored(world["stack"], job_id)).records
    passed = sum(1 for r in records if r.is_valid and not r.is_duplicate)
    assert progress["valid_images"] == passed == api.get(f"/validation/stats/{job_id}").json()["valid"]
    assert progress["stored_images"] == len(records) > passed
