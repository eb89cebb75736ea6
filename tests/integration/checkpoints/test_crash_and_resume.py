"""A job survives its host being SIGKILLed, and a cancelled or failed job resumes where it
stopped: in every case it ends with exactly the images of an uninterrupted run, counted once."""

from __future__ import annotations

import pytest
from conftest import Caller, Stage, stored, wait_for

from shared.storage import StorageContext

pytestmark = pytest.mark.integration


def valid_images(caller: Caller, job_id: str) -> int:
    return int(caller.progress(job_id)["valid_images"])


async def assert_same_images(storage: StorageContext, caller: Caller, job_id: str, reference: str) -> None:
    shas, records, blobs = await stored(storage, job_id)
    expected, _, _ = await stored(storage, reference)
    assert shas == expected
    assert valid_images(caller, job_id) == records == blobs == len(expected)


async def test_a_job_completes_with_the_same_images_after_three_host_crashes(
    stage: Stage, owner: Caller, reference: str, storage: StorageContext
) -> None:
    job_id = owner.create()
    assert owner.http.post(f"/jobs/{job_id}/start").status_code == 200
    devhost = stage.stack.devhost
    assert devhost is not None
    crashed_at: list[int] = []
    for _ in range(3):
        floor = crashed_at[-1] if crashed_at else 0
        crashed_at.append(wait_for(lambda: (v := valid_images(owner, job_id)) > floor and v, what="more images"))
        devhost.kill()
        devhost.start()
    assert owner.job(job_id)["status"] == "running", "the crashes must land while the job runs"
    assert owner.wait_finished(job_id)["status"] == "completed"
    await assert_same_images(storage, owner, job_id, reference)
    chunks = owner.http.get(f"/jobs/{job_id}/checkpoints/chunks").json()["chunks"]
    assert {c["status"] for c in chunks} == {"completed"}


async def test_a_cancelled_job_resumes_to_the_same_images_with_its_counters_continued(
    stage: Stage, owner: Caller, reference: str, storage: StorageContext
) -> None:
    job_id = owner.create()
    owner.http.post(f"/jobs/{job_id}/start")
    wait_for(lambda: valid_images(owner, job_id) >= 20, what="a first share of the images")
    assert owner.http.post(f"/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    before = owner.http.get(f"/jobs/{job_id}/checkpoint").json()["summary"]
    resumed = owner.http.post(f"/jobs/{job_id}/resume")
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert set(body) == {"job_id", "status", "chunks_to_resume", "chunks_skipped", "images_so_far", "message"}
    assert body["status"] == "running"
    assert body["chunks_to_resume"] + body["chunks_skipped"] == 6
    assert body["chunks_skipped"] == before["chunks_by_status"].get("completed", 0)
    assert body["images_so_far"] == before["images_so_far"] > 0
    assert owner.wait_finished(job_id)["status"] == "completed"
    await assert_same_images(storage, owner, job_id, reference)


async def test_a_job_whose_source_failed_mid_chunk_resumes_at_that_chunks_offset(
    stage: Stage, owner: Caller, storage: StorageContext
) -> None:
    stage.source("/_demo/search-failures", {"fox": 20})
    job_id = owner.create(keywords=["fox"], variations=["{kw}"], max_images_per_keyword=40)
    owner.http.post(f"/jobs/{job_id}/start")

    def failing_chunk() -> dict | None:
        chunks = owner.http.get(f"/jobs/{job_id}/checkpoints/chunks").json().get("chunks", [])
        return next((c for c in chunks if c["last_error"] and c["attempts"] >= 1), None)

    point = wait_for(failing_chunk, what="the source to fail mid-chunk")
    assert point["next_offset"] == 20
    owner.http.post(f"/jobs/{job_id}/cancel")
    asked_before = len(stage.source("/_demo/requests")["by_label"]["fox"])
    stage.source("/_demo/search-failures", {})
    assert owner.http.post(f"/jobs/{job_id}/resume").json()["chunks_to_resume"] == 1
    assert owner.wait_finished(job_id)["status"] == "completed"
    after = stage.source("/_demo/requests")["by_label"]["fox"][asked_before:]
    assert after[0] == point["next_offset"]
    assert min(after) == point["next_offset"]
    shas, records, blobs = await stored(storage, job_id)
    assert valid_images(owner, job_id) == records == blobs == 40


def test_resume_answers_400_for_pending_running_and_completed_jobs(
    stage: Stage, owner: Caller, reference: str
) -> None:
    pending = owner.create()
    assert owner.http.post(f"/jobs/{pending}/resume").status_code == 400
    assert owner.http.post(f"/jobs/{reference}/resume").status_code == 400
    stage.source("/_demo/search-failures", {"owl": 0})
    running = owner.create(keywords=["owl"], variations=["{kw}"], max_images_per_keyword=10)
    owner.http.post(f"/jobs/{running}/start")
    response = owner.http.post(f"/jobs/{running}/resume")
    assert response.status_code == 400
    assert response.json()["details"][0]["error_code"] == "invalid_job_status"
    owner.http.post(f"/jobs/{running}/cancel")
    stage.source("/_demo/search-failures", {})
