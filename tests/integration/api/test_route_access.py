"""Every route, four callers: nobody (401), another user (403), the owner, an admin; and 404
for ids that do not exist. One table, checked to cover every route in ROUTES."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from _apitest import Api, assert_error_shape, job_body, new_user, wait_for

import http_triggers  # noqa: F401  (registers every route)
from http_triggers._api import ROUTES, Auth
from scripts.demo_source import render_image
from shared.models import (
    Dataset, DatasetStatus, ImageFormat, ImageRecord, Level, Notification, NotificationKind, Origin,
    ValidationSummary,
)
from shared.notifications import notify
from shared.settings import Settings
from shared.storage import Repo, StorageContext

Setup = Callable[[Api, str], dict[str, str]]


def _job(api: Api, owner: str) -> dict[str, str]:
    response = api.as_user(owner).post("/jobs", json=job_body(["http://127.0.0.1:9/x.png"]))
    assert response.status_code == 201, response.text
    return {"job_id": response.json()["id"]}


def _started_job(api: Api, owner: str) -> dict[str, str]:
    """A job that ran (its one chunk fails at once: nothing listens on port 9), so that it has
    a checkpoint."""
    params = _job(api, owner)
    client = api.as_user(owner)
    assert client.post(f"/jobs/{params['job_id']}/start").status_code == 200
    wait_for(
        lambda: client.get(f"/jobs/{params['job_id']}/checkpoint").status_code == 200, timeout=30
    )
    return params


def _key(api: Api, owner: str) -> dict[str, str]:
    response = api.as_user(owner).post("/api-keys", json={"name": "matrix"})
    assert response.status_code == 201, response.text
    return {"key_id": response.json()["id"]}


def _notification(settings: Settings) -> Setup:
    def setup(api: Api, owner: str) -> dict[str, str]:
        async def create() -> Notification:
            async with StorageContext(settings) as storage:
                repo = Repo(storage.database, "notifications", Notification)
                return await notify(repo, owner, NotificationKind.job_completed, "job-1", "done")

        return {"notification_id": asyncio.run(create()).id}

    return setup


def _image(settings: Settings) -> Setup:
    """A job of the owner with one stored image (a PNG blob of its own and its record)."""

    def setup(api: Api, owner: str) -> dict[str, str]:
        params = _job(api, owner)
        data = render_image("cat", 1, seed=1)

        async def create() -> ImageRecord:
            async with StorageContext(settings) as storage:
                sha = hashlib.sha256(data).hexdigest()
                await storage.blobs.put("images", f"{params['job_id']}/{sha}.png", data, "image/png")
                record = ImageRecord(
                    id=sha, job_id=params["job_id"], user_id=owner, label="red", source="urls",
                    url="http://127.0.0.1:9/x.png", width=1, height=1, format=ImageFormat.png,
                    content_type="image/png", bytes=len(data), blob_name=f"images/{params['job_id']}/{sha}.png",
                    sha256=sha, phash="0" * 16, chunk_id="c0", origin=Origin(batch_id="b", url="u"),
                    validation=ValidationSummary(level=Level.fast),
                )  # fmt: skip
                return await storage.images.create(record)

        return {**params, "image_id": asyncio.run(create()).id}

    return setup


def _dataset(settings: Settings) -> Setup:
    """A ready dataset record of the owner (its archive is not needed to sign a link)."""

    def setup(api: Api, owner: str) -> dict[str, str]:
        async def create() -> Dataset:
            async with StorageContext(settings) as storage:
                dataset = Dataset(
                    id=uuid.uuid4().hex, user_id=owner, job_id="job-1", name="matrix",
                    status=DatasetStatus.ready, size_bytes=22, sha256="0" * 64,
                )  # fmt: skip
                return await Repo(storage.database, "datasets", Dataset).create(dataset)

        return {"dataset_id": asyncio.run(create()).id}

    return setup


@dataclass(frozen=True)
class Case:
    """Expected statuses for (anonymous, another user, owner, admin); ``setup`` makes the
    owner's resource and returns the path parameters naming it."""

    anonymous: int
    other: int
    owner: int
    admin: int
    setup: str | None = None
    body: dict[str, Any] | None = None


CASES: dict[tuple[str, str], Case] = {
    ("GET", "v1/health"): Case(200, 200, 200, 200),
    ("GET", "v1/health/detailed"): Case(401, 403, 403, 200),
    ("POST", "v1/api-keys"): Case(401, 201, 201, 201, body={"name": "k"}),
    ("GET", "v1/api-keys"): Case(401, 200, 200, 200),
    ("DELETE", "v1/api-keys/{key_id}"): Case(401, 403, 204, 204, setup="key"),
    ("GET", "v1/notifications"): Case(401, 200, 200, 200),
    ("POST", "v1/notifications/{notification_id}/read"): Case(
        401, 403, 200, 200, setup="notification"
    ),
    ("POST", "v1/jobs"): Case(401, 201, 201, 201, body=job_body(["http://127.0.0.1:9/x.png"])),
    ("GET", "v1/jobs/{job_id}"): Case(401, 403, 200, 200, setup="job"),
    ("POST", "v1/jobs/{job_id}/start"): Case(401, 403, 200, 403, setup="job"),
    ("POST", "v1/jobs/{job_id}/cancel"): Case(401, 403, 200, 403, setup="job"),
    ("POST", "v1/jobs/{job_id}/stop"): Case(401, 403, 200, 403, setup="job"),
    ("POST", "v1/jobs/{job_id}/retry"): Case(401, 403, 400, 403, setup="job"),
    ("POST", "v1/jobs/{job_id}/resume"): Case(401, 403, 400, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/progress"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs"): Case(401, 200, 200, 200),
    ("DELETE", "v1/jobs/{job_id}"): Case(401, 403, 204, 403, setup="job"),
    # a job that never ran has no images to validate: 404 for its owner
    ("POST", "v1/validation/job/{job_id}"): Case(401, 403, 404, 403, setup="job", body={"level": "medium"}),
    ("GET", "v1/validation/results/{job_id}"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/validation/stats/{job_id}"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/logs"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/stats"): Case(401, 403, 200, 403, setup="job"),
    # any job may be verified, one with no images too; a job never verified has no report
    ("POST", "v1/jobs/{job_id}/verify"): Case(401, 403, 202, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/verify"): Case(401, 403, 404, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/checkpoint"): Case(401, 403, 200, 200, setup="started_job"),
    ("GET", "v1/jobs/{job_id}/checkpoints/chunks"): Case(401, 403, 200, 200, setup="started_job"),
    ("GET", "v1/jobs/{job_id}/checkpoints/keywords"): Case(401, 403, 200, 200, setup="started_job"),
    ("DELETE", "v1/jobs/{job_id}/checkpoint"): Case(401, 403, 403, 204, setup="job"),
    ("GET", "v1/checkpoints/stats"): Case(401, 403, 403, 200),
    ("POST", "v1/datasets"): Case(401, 404, 404, 404, body={"job_id": "no-such-job", "name": "x"}),
    ("GET", "v1/datasets"): Case(401, 200, 200, 200),
    ("GET", "v1/datasets/{dataset_id}"): Case(401, 403, 200, 200, setup="dataset"),
    ("DELETE", "v1/datasets/{dataset_id}"): Case(401, 403, 204, 403, setup="dataset"),
    ("GET", "v1/datasets/{dataset_id}/download"): Case(401, 403, 200, 403, setup="dataset"),
    ("GET", "v1/jobs/{job_id}/images"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/images/{image_id}"): Case(401, 403, 200, 403, setup="image"),
    ("PATCH", "v1/jobs/{job_id}/images/{image_id}"): Case(401, 403, 200, 403, setup="image", body={"excluded": True}),
    ("GET", "v1/jobs/{job_id}/images/{image_id}/thumbnail"): Case(401, 403, 200, 403, setup="image"),
    ("GET", "v1/jobs/{job_id}/duplicates"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/failures"): Case(401, 403, 200, 403, setup="job"),
    ("GET", "v1/jobs/{job_id}/curation"): Case(401, 403, 200, 403, setup="job"),
}

DOCUMENTED = sorted({(m, r.route) for r in ROUTES if not r.hidden for m in r.methods})


def test_every_route_has_a_case() -> None:
    missing = [f"{m} {route}" for m, route in DOCUMENTED if (m, route) not in CASES]
    assert not missing, f"add the expected statuses of {missing} to CASES"


@pytest.fixture(scope="module")
def setups(stack_settings: Settings) -> dict[str, Setup]:
    return {
        "job": _job,
        "started_job": _started_job,
        "key": _key,
        "notification": _notification(stack_settings),
        "dataset": _dataset(stack_settings),
        "image": _image(stack_settings),
    }


def _call(
    client: httpx.Client, method: str, route: str, params: dict[str, str], body: Any
) -> httpx.Response:
    path = "/" + route.removeprefix("v1/").format(**params)
    return client.request(method, path, json=body)


@pytest.mark.parametrize("method, route", [key for key in CASES if key in DOCUMENTED])
def test_route_access(api: Api, setups: dict[str, Setup], method: str, route: str) -> None:
    case = CASES[(method, route)]
    owner = new_user()
    callers = {
        "anonymous": (api.anonymous, case.anonymous),
        "other": (api.as_user(new_user()), case.other),
        "owner": (api.as_user(owner), case.owner),
        "admin": (api.as_user(new_user("admin"), admin=True), case.admin),
    }
    shared = setups[case.setup](api, owner) if case.setup and method == "GET" else None
    for who, (client, expected) in callers.items():
        params = shared or (
            setups[case.setup](api, owner) if case.setup else {}
        )  # changes: a fresh one each
        response = _call(client, method, route, params, case.body)
        assert response.status_code == expected, f"{who}: {method} {route} -> {response.text}"
        if expected >= 400:
            assert_error_shape(response)


@pytest.mark.parametrize(
    "method, route", [key for key in CASES if "{" in key[1] and key in DOCUMENTED]
)
def test_unknown_ids_are_404(api: Api, method: str, route: str) -> None:
    admin_only = any(
        r.auth is Auth.admin for r in ROUTES if r.route == route and method in r.methods
    )
    owner = api.as_user(new_user(), admin=admin_only)
    names = [part.strip("{}") for part in route.split("/") if part.startswith("{")]
    response = _call(owner, method, route, {name: uuid.uuid4().hex for name in names}, None)
    assert response.status_code == 404, response.text
    assert assert_error_shape(response)["details"][0]["error_code"].endswith("not_found")
