"""The job lifecycle through HTTP, as a user drives it: start (correct, idempotent), cancel
(complete, idempotent), retry (counters reset), and any sequence of actions following the
documented state machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _apitest import Api, SlowImages, error_code, instance_status, job_body, new_user, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.workflow import ALIVE, job_instance_id


def _two_chunk_job(client: httpx.Client, slow: SlowImages) -> dict[str, Any]:
    body = {
        "name": "two chunks",
        "sources": [
            {"type": "urls", "label": "red", "urls": slow.urls(2)},
            {"type": "urls", "label": "blue", "urls": slow.urls(2)},
        ],
    }
    response = client.post("/jobs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_start_is_correct_and_idempotent(api: Api, origin: str, slow_images: SlowImages) -> None:
    client = api.as_user(new_user())
    job = _two_chunk_job(client, slow_images)
    assert job["status"] == "pending" and job["total_chunks"] == 2

    started = client.post(f"/jobs/{job['id']}/start")
    assert started.status_code == 200, started.text
    first = started.json()
    assert first["status"] == "running" and first["total_chunks"] == 2
    assert len(set(first["task_ids"])) == 2
    record = client.get(f"/jobs/{job['id']}").json()
    assert (record["status"], record["run"], record["task_ids"]) == (
        "running",
        1,
        first["task_ids"],
    )
    assert instance_status(origin, job_instance_id(job["id"], 1)) in ALIVE | {"Completed"}

    for _ in range(2):
        again = client.post(f"/jobs/{job['id']}/start")
        assert again.status_code == 200
        assert again.json()["task_ids"] == first["task_ids"], "starting again starts nothing new"
    assert client.get(f"/jobs/{job['id']}").json()["run"] == 1


def test_cancel_is_complete_and_idempotent(api: Api, origin: str, slow_images: SlowImages) -> None:
    client = api.as_user(new_user())
    job = _two_chunk_job(client, slow_images)
    task_ids = client.post(f"/jobs/{job['id']}/start").json()["task_ids"]
    wait_for(lambda: all(instance_status(origin, t) in ALIVE for t in task_ids), timeout=20)

    wait_for(lambda: client.get(f"/jobs/{job['id']}/progress").json()["active_chunks"] == 2, timeout=20)

    cancelled = client.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["revoked_tasks"] == len(task_ids), "the chunk tasks, not crawl_job"
    every = [job_instance_id(job["id"], 1), *task_ids]
    wait_for(lambda: not any(instance_status(origin, i) in ALIVE for i in every), timeout=20)
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"
    progress = client.get(f"/jobs/{job['id']}/progress").json()
    assert (progress["status"], progress["phase"], progress["active_chunks"]) == ("cancelled", "cancelled", 0)

    twice = client.post(f"/jobs/{job['id']}/cancel")
    assert twice.status_code == 400 and error_code(twice) == "invalid_job_status"


def _progress_when(client: httpx.Client, job_id: str, run: int, failed: int) -> dict[str, Any] | None:
    """The progress once run ``run`` has counted ``failed`` failed downloads."""
    if client.get(f"/jobs/{job_id}").json()["run"] != run:
        return None
    progress = client.get(f"/jobs/{job_id}/progress").json()
    return progress if progress["failed_downloads"] >= failed else None


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: downloads from it hang until their
    timeout, which keeps a job running for as long as a test needs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


def test_retry_resets_the_counters(api: Api, silent_port: int) -> None:
    client = api.as_user(new_user())
    unreachable = [f"http://127.0.0.1:9/unreachable-{i}.png" for i in range(3)]
    body = job_body(unreachable)
    body["sources"].append({"type": "urls", "label": "hangs", "urls": [f"http://127.0.0.1:{silent_port}/a.png"]})
    job = client.post("/jobs", json=body).json()["id"]
    assert client.post(f"/jobs/{job}/start").status_code == 200
    first = wait_for(lambda: _progress_when(client, job, 1, 3), timeout=30)
    assert first["failed_downloads"] == 3 and first["downloaded_images"] == 0
    assert client.post(f"/jobs/{job}/cancel").status_code == 200  # the second chunk still hangs

    retried = client.post(f"/jobs/{job}/retry")
    assert retried.status_code == 200, retried.text
    second = wait_for(lambda: _progress_when(client, job, 2, 3), timeout=30)
    assert second["failed_downloads"] == 3, "a retry counts from zero, not on top of the last run"
    assert client.post(f"/jobs/{job}/cancel").status_code == 200


#: The documented state machine: (state, action) -> (status code, next state).
TRANSITIONS = {
    ("pending", "start"): (200, "running"),
    ("pending", "cancel"): (200, "cancelled"),
    ("pending", "retry"): (400, "pending"),
    ("pending", "resume"): (400, "pending"),
    ("running", "start"): (200, "running"),
    ("running", "cancel"): (200, "cancelled"),
    ("running", "retry"): (400, "running"),
    ("running", "resume"): (400, "running"),
    ("cancelled", "start"): (400, "cancelled"),
    ("cancelled", "cancel"): (400, "cancelled"),
    ("cancelled", "retry"): (200, "running"),
    ("cancelled", "resume"): (200, "running"),
}


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    actions=st.lists(
        st.sampled_from(["start", "cancel", "retry", "resume"]), min_size=1, max_size=4
    )
)
def test_any_sequence_of_actions_follows_the_state_machine(
    api: Api, slow_images: SlowImages, actions: list[str]
) -> None:
    client = api.as_user(new_user())  # a fresh user: the start rate limit is per user
    job = client.post("/jobs", json=job_body(slow_images.urls(2))).json()["id"]
    state = "pending"
    for action in actions:
        expected, state = TRANSITIONS[(state, action)]
        response = client.post(f"/jobs/{job}/{action}")
        assert response.status_code == expected, f"{action}: {response.text}"
        if expected == 400:
            assert error_code(response) == "invalid_job_status"
        assert client.get(f"/jobs/{job}").json()["status"] == state
