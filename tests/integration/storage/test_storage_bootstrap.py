"""ensure_storage creates everything shared.names lists, and running it again changes nothing."""

from __future__ import annotations

import pytest

from shared.names import BLOB_CONTAINERS, COSMOS_CONTAINERS
from shared.settings import get_settings
from shared.storage import StorageContext
from shared.storage.bootstrap import ensure_storage, main

from .factories import make_job

pytestmark = pytest.mark.integration


async def test_bootstrap_twice_keeps_containers_and_data(storage: StorageContext) -> None:
    job = await storage.jobs.create(make_job())
    await storage.blobs.put("checkpoints", "kept.json", b"{}", "application/json")

    first = await ensure_storage(get_settings())
    second = await ensure_storage(get_settings())

    expected = [f"cosmos:pixcrawler/{name}" for name in COSMOS_CONTAINERS]
    expected += [f"blob:{name}" for name in BLOB_CONTAINERS]
    assert first == second == expected
    for name, path in COSMOS_CONTAINERS.items():
        props = await storage.database.get_container_client(name).read()
        assert props["partitionKey"]["paths"] == [path]
    containers = [c.name async for c in storage.blob.list_containers()]
    assert set(BLOB_CONTAINERS) <= set(containers)
    assert (await storage.jobs.get(job.id, job.user_id)).name == job.name
    assert await storage.blobs.get("checkpoints", "kept.json") == b"{}"


def test_bootstrap_cli_reports_each_container(
    services: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"ok cosmos:pixcrawler/{n}" for n in COSMOS_CONTAINERS] + [
        f"ok blob:{n}" for n in BLOB_CONTAINERS
    ]
