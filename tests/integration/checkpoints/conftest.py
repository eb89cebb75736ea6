"""One stack for the checkpoint tests: emulators + devhost (timers off, run by hand) + the demo
source, and the storage and durable client the tests use to look behind the API.

``reference`` is an uninterrupted crawl of :data:`JOB` on that source: the crash and the
cancel/resume tests must end with exactly its images.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import azure.durable_functions as df
import httpx
import pytest
import pytest_asyncio

from devhost.management import client_binding
from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSourceProcess, Stack
from http_triggers._tokens import issue_dev_token
from shared.checkpoints.housekeeping import Housekeeping
from shared.models import JobStatus, utcnow
from shared.settings import ENV_PREFIX, Settings
from shared.storage.shards import ShardJanitor
from tests.stored_images import read_stored
from shared.storage import StorageContext
from shared.storage.bootstrap import ensure_storage

pytestmark = pytest.mark.integration

MASTER_KEY = "checkpoint-tests-master-key"
#: Three labels x two variations x 60 images, slowed so that a crash lands mid-crawl.
JOB: dict[str, Any] = {
    "name": "resume", "keywords": ["cat", "dog", "bird"], "sources": ["wikimedia"],
    "variations": ["{kw}", "{kw} photo"], "max_images_per_keyword": 60, "validation_level": "fast",
}  # fmt: skip
FINISHED = {status.value for status in JobStatus if status.finished}
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 120.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Caller:
    """An httpx client on ``/api/v1`` speaking as one user."""

    http: httpx.Client
    user_id: str

    def create(self, **overrides: Any) -> str:
        response = self.http.post("/jobs", json={**JOB, **overrides})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def progress(self, job_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/jobs/{job_id}/progress").json())

    def wait_finished(self, job_id: str, timeout: float = 150.0) -> dict[str, Any]:
        return wait_for(
            lambda: (job := self.job(job_id))["status"] in FINISHED and job, timeout, f"job {job_id} to finish"
        )


class Stage:
    """The running stack and what the tests need to reach behind it."""

    def __init__(self, stack: Stack, demo: DemoSourceProcess) -> None:
        self.stack = stack
        self.demo = demo
        assert stack.devhost is not None
        self.origin = stack.devhost.url
        values = {k[len(ENV_PREFIX):].lower(): v for k, v in stack.env.items() if k.startswith(ENV_PREFIX)}
        self.settings = Settings(**values)

    def caller(self, user_id: str | None = None, *, admin: bool = False) -> Caller:
        user = user_id or f"user-{uuid.uuid4().hex[:10]}"
        token = issue_dev_token(user, secret=LOCAL_SECRET, admin=admin)
        headers = {"Authorization": f"Bearer {token}"}
        return Caller(httpx.Client(base_url=self.stack.base_url, timeout=60.0, headers=headers), user)

    def client(self) -> df.DurableOrchestrationClient:
        """A durable client on the devhost, as the timer functions get one."""
        with urllib.request.urlopen(f"{self.origin}/admin/host/status", timeout=10) as response:
            hub = json.loads(response.read())["hubName"]
        return df.DurableOrchestrationClient(client_binding(self.origin, hub))

    def run_timer(self, name: str) -> None:
        response = httpx.post(f"{self.origin}/admin/functions/{name}", headers={"x-functions-key": MASTER_KEY})
        assert response.status_code == 202, response.text

    def source(self, path: str, body: Any = None) -> Any:
        if body is None:
            return self.demo.get(path)
        return httpx.post(f"{self.demo.url}{path}", json=body, timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    directory = Path(tmp_path_factory.mktemp("checkpoints"))
    demo = DemoSourceProcess(directory / "source", [
        "--labels", "cat,dog,bird,fox,owl", "--per-label", "100", "--dir", str(ROOT / ".local" / "catalogue"),
        "--slow", "0.05", "--slow-delay", "0.5", "--duplicate", "0.03", "--truncated", "0.03",
    ]).start()  # fmt: skip
    extra = {
        "PIXCRAWLER_WIKIMEDIA_BASE_URL": demo.url,
        "PIXCRAWLER_BATCH_SIZE": "10",
        "DEVHOST_DISABLE_TIMERS": "1",
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        # one owner starts, cancels and resumes many jobs here: these tests are not about limits
        "PIXCRAWLER_RATE_LIMIT_START_PER_MINUTE": "1000",
        "PIXCRAWLER_MAX_ACTIVE_JOBS_PER_USER": "1000",
    }
    try:
        with Stack(directory / "stack", port=None, extra_env=extra) as stack:
            yield Stage(stack, demo)
    finally:
        demo.stop()


@pytest.fixture(scope="session")
def owner(stage: Stage) -> Caller:
    return stage.caller()


@pytest.fixture(scope="session")
def reference(stage: Stage, owner: Caller) -> str:
    """An uninterrupted, completed crawl of JOB."""
    job_id = owner.create()
    assert owner.http.post(f"/jobs/{job_id}/start").status_code == 200
    assert owner.wait_finished(job_id)["status"] == "completed"
    return job_id


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def storage(stage: Stage) -> AsyncIterator[StorageContext]:
    await ensure_storage(stage.settings)
    async with StorageContext(stage.settings) as context:
        yield context


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def keeping(stage: Stage, storage: StorageContext) -> Housekeeping:
    """The timers' logic over the stack's stores, with a durable client on its devhost."""
    return Housekeeping(storage.jobs, storage.blobs, stage.client(), stage.settings)


async def stored(storage: StorageContext, job_id: str) -> tuple[set[str], int, int]:
    """(sha256 of the job's valid records, number of valid records, number of records whose
    bytes read back from their shard with the right hash). Shards left by attempts that died
    before writing their records are swept first, as the shard_cleanup timer does; none may
    remain, and none may be missing."""
    await ShardJanitor(storage.blobs, storage.images, timedelta(0)).sweep_job(job_id, utcnow())
    found = await read_stored(storage, job_id)
    assert found.unreadable == [] and found.unreferenced == []
    shas = await storage.images.query_values(
        "SELECT VALUE c.sha256 FROM c WHERE c.job_id = @pk AND c.is_valid = true AND c.is_duplicate = false",
        pk=job_id,
    )
    return set(shas), len(shas), len(found.records)
