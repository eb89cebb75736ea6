"""The checkpoint routes as a user and an admin see them: summary, chunks and keywords of a
finished crawl; owner-only access; admin deletion and statistics."""

from __future__ import annotations

import pytest
from conftest import Caller, Stage, wait_for

pytestmark = pytest.mark.integration


def test_a_finished_crawl_reads_back_per_job_per_chunk_and_per_keyword(owner: Caller, reference: str) -> None:
    progress = owner.progress(reference)
    summary = owner.http.get(f"/jobs/{reference}/checkpoint").json()["summary"]
    assert summary["total_chunks"] == 6
    assert summary["chunks_by_status"] == {"completed": 6}
    assert summary["images_so_far"] == progress["valid_images"] == 180

    chunks = owner.http.get(f"/jobs/{reference}/checkpoints/chunks").json()["chunks"]
    assert len(chunks) == 6
    assert all(c["valid"] == 30 and c["next_offset"] >= 30 for c in chunks)

    keywords = {k["label"]: k for k in owner.http.get(f"/jobs/{reference}/checkpoints/keywords").json()["keywords"]}
    assert set(keywords) == {"cat", "dog", "bird"}
    assert all((k["quota"], k["valid"], k["progress"], k["chunks"]) == (60, 60, 100.0, 2) for k in keywords.values())


@pytest.mark.parametrize("path", ["checkpoint", "checkpoints/chunks", "checkpoints/keywords"])
def test_only_the_owner_reads_a_checkpoint(stage: Stage, owner: Caller, reference: str, path: str) -> None:
    other = stage.caller()
    assert other.http.get(f"/jobs/{reference}/{path}").status_code == 403
    assert owner.http.get(f"/jobs/no-such-job/{path}").status_code == 404
    pending = owner.create()
    missing = owner.http.get(f"/jobs/{pending}/{path}")
    assert missing.status_code == 404
    assert missing.json()["details"][0]["error_code"] == "checkpoint_not_found"


def test_only_an_admin_deletes_a_checkpoint_and_not_while_the_job_runs(stage: Stage, owner: Caller) -> None:
    admin = stage.caller(admin=True)
    stage.source("/_demo/search-failures", {"owl": 0})  # keeps the job running, backing off
    job_id = owner.create(keywords=["owl"], variations=["{kw}"], max_images_per_keyword=5)
    owner.http.post(f"/jobs/{job_id}/start")
    wait_for(lambda: owner.http.get(f"/jobs/{job_id}/checkpoint").status_code == 200, what="a checkpoint")
    assert admin.http.delete(f"/jobs/{job_id}/checkpoint").status_code == 400
    owner.http.post(f"/jobs/{job_id}/cancel")
    stage.source("/_demo/search-failures", {})
    assert owner.http.delete(f"/jobs/{job_id}/checkpoint").status_code == 403
    assert admin.http.delete(f"/jobs/{job_id}/checkpoint").status_code == 204
    wait_for(lambda: owner.http.get(f"/jobs/{job_id}/checkpoint").status_code == 404, what="the deletion")
    assert admin.http.delete("/jobs/no-such-job/checkpoint").status_code == 404


def test_stats_are_for_admins_and_report_statuses_archives_and_write_latency(
    stage: Stage, owner: Caller, reference: str
) -> None:
    assert owner.http.get("/checkpoints/stats").status_code == 403
    stats = stage.caller(admin=True).http.get("/checkpoints/stats")
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["jobs_by_status"]["completed"] >= 1
    assert body["live_checkpoints_sampled"] >= 1
    assert body["chunks_by_status"]["completed"] >= 6
    latency = body["write_latency_ms"]
    assert latency["samples"] > 0
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"]
    assert body["archived"]["count"] == sum(t["count"] for t in body["archived_by_tier"].values())
