"""Nothing is lost across restarts: a SIGKILL of Azurite or of the Cosmos emulator in the middle
of a job ends in a completed job with exact counts (and a dataset that reads every image, and a
verify that finds every image's bytes where its record says), a
stack stopped and started again keeps its jobs, records, datasets and API keys, and an emulator
that comes back empty is made ready again by the running app.

One local source serves 2 labels x 24 distinct images, most after 0.4 s and 2 at a time per
host, so that a job runs for several seconds: long enough to kill an emulator under it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSourceProcess, Stack
from shared.auth import issue_dev_token

pytestmark = pytest.mark.e2e

LABELS = ["cat", "dog"]
PER_LABEL = 24
CLEAN = ["--duplicate", "0", "--near-duplicate", "0", "--truncated", "0", "--html", "0", "--not-found", "0",
         "--redirect-blocked", "0", "--slow", "0.9", "--slow-delay", "0.4"]  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSourceProcess]:
    directory = tmp_path_factory.mktemp("restart-source")
    process = DemoSourceProcess(directory, [
        "--labels", ",".join(LABELS), "--per-label", str(PER_LABEL),
        "--dir", str(ROOT / ".local" / "catalogue-tests"), "--seed", "11", *CLEAN,
    ]).start()  # fmt: skip
    yield process
    process.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, source: DemoSourceProcess) -> Iterator[Stack]:
    extra = {
        "PIXCRAWLER_WIKIMEDIA_BASE_URL": source.url,
        "PIXCRAWLER_BATCH_SIZE": "4",
        "PIXCRAWLER_FETCH_PER_HOST": "2",
    }
    with Stack(tmp_path_factory.mktemp("restart-stack"), port=None, extra_env=extra) as running:
        yield running


def api(stack: Stack, user: str = "restart-user") -> httpx.Client:
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    return httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def start_job(client: httpx.Client, per_label: int = PER_LABEL) -> str:
    body = {"name": "restarts", "keywords": LABELS, "sources": ["wikimedia"],
            "max_images_per_keyword": per_label, "validation_level": "fast"}  # fmt: skip
    created = client.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job_id = str(created.json()["id"])
    assert client.post(f"/jobs/{job_id}/start").status_code == 200
    return job_id


def finished(client: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        progress = client.get(f"/jobs/{job_id}/progress").json()
        return progress if progress["status"] != "running" and progress["phase"] == "done" else None

    return dict(wait(done, timeout, f"job {job_id} to finish"))


def built(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """A dataset of the job, once built: it reads the bytes of every image."""
    created = client.post("/datasets", json={"job_id": job_id, "name": "restarts"})
    assert created.status_code == 202, created.text
    dataset_id = created.json()["id"]

    def ready() -> dict[str, Any] | None:
        dataset = client.get(f"/datasets/{dataset_id}").json()
        return dataset if dataset["status"] in ("ready", "failed") else None

    return dict(wait(ready, 120, f"dataset {dataset_id}"))


def verified(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """A deep verify of the job, once over: every image's bytes read back and hashed."""
    started = client.post(f"/jobs/{job_id}/verify", json={"deep": True})
    assert started.status_code == 202, started.text

    def over() -> dict[str, Any] | None:
        report = client.get(f"/jobs/{job_id}/verify").json()
        return report if report["status"] != "running" else None

    return dict(wait(over, 120, f"the verify of {job_id}"))


def assert_exact(client: httpx.Client, job_id: str, per_label: int = PER_LABEL) -> dict[str, Any]:
    """The job completed with every image counted once, stored once, and readable."""
    progress = finished(client, job_id)
    expected = per_label * len(LABELS)
    assert progress["status"] == "completed", progress
    assert progress["completed_chunks"] == progress["total_chunks"] == len(LABELS)
    assert progress["valid_images"] == expected, progress
    stats = client.get(f"/jobs/{job_id}/stats").json()
    assert stats["images"] == expected and stats["per_label"] == {label: per_label for label in LABELS}
    dataset = built(client, job_id)
    assert dataset["status"] == "ready", dataset
    assert dataset["counts"]["total"] == expected
    return dataset


@pytest.mark.parametrize("service", ["azurite", "cosmos"])
def test_a_sigkill_of_an_emulator_mid_job_ends_in_a_completed_job(stack: Stack, service: str) -> None:
    with api(stack) as client:
        job_id = start_job(client)
        wait(lambda: 4 <= client.get(f"/jobs/{job_id}/progress").json()["valid_images"] < 40, 60,
             "the first images")  # fmt: skip
        stack.services.kill(service)  # mid-job, with writes in flight
        stack.services.start()
        assert_exact(client, job_id)
        report = verified(client, job_id)
        expected = PER_LABEL * len(LABELS)
        assert report["status"] == "completed", report
        assert (report["checked"], report["present"], report["missing"]) == (expected, expected, 0), report


def test_stack_down_and_up_keeps_jobs_records_datasets_and_keys(stack: Stack) -> None:
    with api(stack, "keeper") as client:
        job_id = start_job(client, per_label=6)
        dataset = assert_exact(client, job_id, per_label=6)
        key = client.post("/api-keys", json={"name": "kept"}).json()["key"]
        job = client.get(f"/jobs/{job_id}").json()

    stack.stop()
    stack.start()

    with api(stack, "keeper") as client:
        assert client.get(f"/jobs/{job_id}").json() == job
        assert client.get(f"/jobs/{job_id}/stats").json()["images"] == 6 * len(LABELS)
        assert client.get(f"/datasets/{dataset['id']}").json() == dataset
        link = client.get(f"/datasets/{dataset['id']}/download").json()
        archive = httpx.get(link["url"], timeout=60)
        assert archive.status_code == 200 and len(archive.content) == dataset["size_bytes"]
    by_key = httpx.get(f"{stack.base_url}/jobs/{job_id}", headers={"X-API-Key": key}, timeout=30)
    assert by_key.status_code == 200, by_key.text


def test_emulators_that_come_back_empty_are_made_ready_by_the_running_app(stack: Stack) -> None:
    """(Last: it wipes the data.) Without the database, containers and blob containers, the
    app answered 404 "job page not found" and 503 until the devhost restarted."""
    for service in ("cosmos", "azurite"):
        stack.services.kill(service)
        shutil.rmtree(Path(stack.services.directory) / service)
    stack.services.start()
    with api(stack, "after-wipe") as client:
        assert client.get("/jobs").json()["items"] == []
        job_id = start_job(client, per_label=4)
        assert client.get("/jobs").json()["items"][0]["id"] == job_id
        assert_exact(client, job_id, per_label=4)
