"""``POST``/``GET /api/v1/jobs/{id}/verify`` on the whole local stack: a completed job whose
shard was deleted is repaired from its URLs; when the URLs are gone too its images are marked,
its progress, stats and datasets count them out, and a second verify changes nothing; the
routes' 404, 403, 422 and 429 in the documented error body."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from scripts.stack import Stack
from shared.shards import split_blob_name
from tests.integration.api._apitest import assert_error_shape
from tests.integration.datasets._datasettest import (
    ImageServer, build, run_job, stored_records, urls_job, user_client, wait_until,
)

from .conftest import VERIFIES_PER_MINUTE

pytestmark = pytest.mark.integration

#: Three download batches of four: three shards.
IMAGES = 12


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with user_client(stack.base_url, f"verify-{uuid.uuid4().hex[:8]}") as client:
        yield client


def crawled(api: httpx.Client, images: ImageServer, first: int) -> tuple[str, list[int]]:
    """A completed job of ``IMAGES`` images from one urls source; its id and the seeds."""
    seeds = list(range(first, first + IMAGES))
    return run_job(api, urls_job({"noise": images.urls(seeds)})), seeds


def lose_shard(stack: Stack, job_id: str) -> set[str]:
    """Delete one of the job's shards from Blob Storage; the ids of the records it held."""
    records = stored_records(stack.env, job_id)
    shard = records[0]["blob_name"]
    service = BlobServiceClient.from_connection_string(stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"])
    with service:
        service.get_blob_client(*split_blob_name(shard)).delete_blob()
    return {r["id"] for r in records if r["blob_name"] == shard}


def verified(api: httpx.Client, job_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start a verify and wait until it is over; its report."""
    started = api.post(f"/jobs/{job_id}/verify", json=body) if body is not None else api.post(f"/jobs/{job_id}/verify")
    assert started.status_code == 202, started.text
    assert started.json()["task_ids"] == [f"{job_id}:verify"]
    return dict(wait_until(
        lambda: api.get(f"/jobs/{job_id}/verify").json(), lambda r: r["status"] != "running", 120,
        f"the verify of {job_id}",
    ))  # fmt: skip


def counts(report: dict[str, Any]) -> dict[str, int]:
    return {name: report[name] for name in ("checked", "present", "missing", "repaired", "marked")}


def test_a_lost_shard_is_repaired_from_the_images_urls(stack: Stack, api: httpx.Client, image_server: ImageServer) -> None:
    job_id, _ = crawled(api, image_server, 800)
    lost = lose_shard(stack, job_id)
    assert build(api, job_id, name="before")["skipped"] == {"unreadable": len(lost)}

    report = verified(api, job_id)

    assert report["status"] == "completed" and report["deep"] is False
    assert counts(report) == {"checked": 12, "present": 8, "missing": 4, "repaired": 4, "marked": 0}
    assert report["images"] == 12 and report["batches"] == report["batches_done"] >= 2
    assert report["started_at"] <= report["finished_at"]
    progress = api.get(f"/jobs/{job_id}/progress").json()
    assert (progress["stored_images"], progress["valid_images"], progress["missing_images"]) == (12, 12, 0)
    dataset = build(api, job_id, name="after")
    assert dataset["status"] == "ready" and dataset["counts"]["total"] == 12 and dataset["skipped"] == {}
    assert all("/shards/verify-" in r["blob_name"] for r in stored_records(stack.env, job_id) if r["id"] in lost)


def test_images_gone_from_their_urls_are_marked_counted_out_and_left_out(
    stack: Stack, api: httpx.Client, image_server: ImageServer
) -> None:
    job_id, seeds = crawled(api, image_server, 900)
    lost = lose_shard(stack, job_id)
    image_server.gone.update(seeds)

    report = verified(api, job_id, {"deep": True})

    assert report["deep"] is True
    assert counts(report) == {"checked": 12, "present": 8, "missing": 4, "repaired": 0, "marked": 4}
    progress = api.get(f"/jobs/{job_id}/progress").json()
    assert (progress["stored_images"], progress["valid_images"], progress["missing_images"]) == (8, 8, 4)
    assert api.get(f"/jobs/{job_id}/stats").json()["per_label"] == {"noise": 8}
    missing = api.get(f"/jobs/{job_id}/images", params={"state": "missing"}).json()["items"]
    assert {i["id"] for i in missing} == lost and {i["missing_reason"] for i in missing} == {"http_error"}
    assert len(api.get(f"/jobs/{job_id}/images", params={"state": "kept"}).json()["items"]) == 8
    dataset = build(api, job_id, name="marked", layout="webdataset")
    assert dataset["counts"]["total"] == 8 and dataset["skipped"] == {"missing": 4}
    assert set(dataset["left_out"]["missing"]) == lost

    records = {r["id"]: r["_etag"] for r in stored_records(stack.env, job_id)}
    again = verified(api, job_id)
    assert counts(again) == counts(report) and again["started_at"] >= report["finished_at"]  # a run of its own
    assert {r["id"]: r["_etag"] for r in stored_records(stack.env, job_id)} == records  # nothing written
    assert api.get(f"/jobs/{job_id}/progress").json()["stored_images"] == 8


def test_a_verify_already_running_is_returned(stack: Stack, api: httpx.Client, image_server: ImageServer) -> None:
    job_id, _ = crawled(api, image_server, 1000)
    lose_shard(stack, job_id)
    image_server.delay = 1.5  # the repairs keep the first verify running
    first = api.post(f"/jobs/{job_id}/verify", json={"deep": True})
    second = api.post(f"/jobs/{job_id}/verify")
    assert first.status_code == second.status_code == 202
    assert second.json()["task_ids"] == first.json()["task_ids"] and second.json()["deep"] is True
    assert "already running" in second.json()["message"]
    assert api.get(f"/jobs/{job_id}/verify").json()["status"] == "running"
    report = wait_until(lambda: api.get(f"/jobs/{job_id}/verify").json(), lambda r: r["status"] != "running", 120, "verify")
    assert report["status"] == "completed" and report["repaired"] == 4


def test_the_routes_answer_404_403_422_and_429_in_the_error_body(
    stack: Stack, api: httpx.Client, image_server: ImageServer
) -> None:
    job_id, _ = crawled(api, image_server, 1100)
    for method in ("GET", "POST"):
        unknown = api.request(method, "/jobs/nope/verify")
        assert unknown.status_code == 404 and assert_error_shape(unknown)["details"][0]["error_code"] == "job_not_found"
        with user_client(stack.base_url, f"other-{uuid.uuid4().hex[:8]}") as other:
            foreign = other.request(method, f"/jobs/{job_id}/verify")
        assert foreign.status_code == 403 and assert_error_shape(foreign)["details"][0]["error_code"] == "not_owner"
    never = api.get(f"/jobs/{job_id}/verify")
    assert never.status_code == 404 and assert_error_shape(never)["details"][0]["error_code"] == "verify_not_found"
    for body, field in (({"deep": "yes"}, "deep"), ({"deep": 1}, "deep"), ({"deeper": True}, "deeper")):
        refused = api.post(f"/jobs/{job_id}/verify", json=body)
        assert refused.status_code == 422 and assert_error_shape(refused)["details"][0]["field"] == field
    assert api.get(f"/jobs/{job_id}/verify").status_code == 404  # nothing was started

    with user_client(stack.base_url, f"limited-{uuid.uuid4().hex[:8]}") as limited:
        own, _ = crawled(limited, image_server, 1200)
        answers = [limited.post(f"/jobs/{own}/verify").status_code for _ in range(VERIFIES_PER_MINUTE + 1)]
        assert answers == [202] * VERIFIES_PER_MINUTE + [429]
        over = limited.post(f"/jobs/{own}/verify")
        assert int(over.headers["Retry-After"]) > 0 and assert_error_shape(over)["details"][0]["error_code"] == "rate_limited"
