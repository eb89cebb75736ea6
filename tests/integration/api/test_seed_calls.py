"""The API calls of the first PixCrawler documents, written exactly as they show them, against
the live devhost: ``POST /jobs/{id}/stop``, a validation with no body, job bodies with
``engines`` and ``max_images``, and the progress shape (integer percent, estimated completion)."""

from __future__ import annotations

from datetime import datetime

import pytest
from _apitest import Api, SlowImages, error_code, new_user, wait_for


def test_stop_is_cancel(api: Api, slow_images: SlowImages) -> None:
    client = api.as_user(new_user())
    body = {"name": "stop me", "sources": [{"type": "urls", "label": "red", "urls": slow_images.urls(3)}]}
    job = client.post("/jobs", json=body).json()
    assert client.post(f"/jobs/{job['id']}/start").status_code == 200

    stopped = client.post(f"/jobs/{job['id']}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "cancelled" and stopped.json()["revoked_tasks"] >= 1
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"
    again = client.post(f"/jobs/{job['id']}/stop")  # the same rules as /cancel
    assert again.status_code == 400 and error_code(again) == "invalid_job_status"
    assert client.post("/jobs/0123456789abcdef/stop").status_code == 404


def test_engines_and_max_images_create_the_same_job_and_both_names_are_a_422(api: Api) -> None:
    client = api.as_user(new_user())
    created = client.post("/jobs", json={"name": "seed", "keywords": ["cat", "dog"],
                                         "engines": ["wikimedia", "openverse"], "max_images": 30})
    assert created.status_code == 201, created.text
    job = created.json()
    assert [s["type"] for s in job["sources"]] == ["wikimedia", "openverse"]
    assert job["max_images_per_keyword"] == 30 and job["total_chunks"] == 4
    assert "engines" not in job and "max_images" not in job

    both = client.post("/jobs", json={"name": "seed", "keywords": ["cat"], "engines": ["wikimedia"],
                                      "sources": ["openverse"]})
    assert both.status_code == 422 and error_code(both) == "alias_conflict"
    detail = both.json()["details"][0]
    assert detail["field"] == "engines" and "alias of 'sources'" in detail["detail"]


@pytest.mark.parametrize("body", [None, b"", b"{}"], ids=["no body", "empty", "{}"])
def test_a_validation_without_a_level_is_medium(api: Api, slow_images: SlowImages, body: bytes | None) -> None:
    client = api.as_user(new_user())
    job = client.post("/jobs", json={"name": "v", "sources": [{"type": "urls", "label": "red", "urls": slow_images.urls(1)}]}).json()
    # No images yet: the service looked the level up, then found nothing to validate (404), as
    # it does for {"level": "medium"}; a missing body is no longer a 422.
    answer = client.post(f"/validation/job/{job['id']}", content=body)
    assert answer.status_code == 404 and error_code(answer) != "body_missing", answer.text
    bad = client.post(f"/validation/job/{job['id']}", json={"level": "ultra"})
    assert bad.status_code == 422


def test_progress_is_an_integer_percent_with_an_estimated_completion(api: Api, slow_images: SlowImages) -> None:
    client = api.as_user(new_user())
    body = {"name": "p", "sources": [{"type": "urls", "label": "red", "urls": slow_images.urls(2)}]}
    job = client.post("/jobs", json=body).json()
    pending = client.get(f"/jobs/{job['id']}/progress").json()
    assert (pending["progress"], pending["estimated_completion"]) == (0, None)
    client.post(f"/jobs/{job['id']}/start")
    final = wait_for(lambda: (p := client.get(f"/jobs/{job['id']}/progress").json())["status"] == "completed" and p,
                     timeout=90)
    assert final["progress"] == 100 and isinstance(final["progress"], int)
    completed_at = client.get(f"/jobs/{job['id']}").json()["completed_at"]
    assert datetime.fromisoformat(final["estimated_completion"]) == datetime.fromisoformat(completed_at)
    assert final["stored_images"] == final["valid_images"] == 1  # two URLs, the same PNG
