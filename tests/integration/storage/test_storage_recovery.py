"""Storage that went away is told apart from a missing item, and made again: a deleted
container or database is StorageMissing (503) -- not "job page not found" -- and the next
runtime use recreates it; an id that cannot name an item is NotFound before any request."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from scripts.localservices import azurite_connection_string, free_port_block
from shared import runtime
from shared.errors import NotFound, StorageMissing
from shared.models import Job
from shared.settings import get_settings
from shared.storage import StorageContext
from shared.storage.errors import STORAGE_MISSING

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_recovery(services: dict[str, str]) -> None:
    """No recovery attempt is fresh (they are spaced RECOVERY_INTERVAL apart), no flag set."""
    runtime._last_recovery[0] = float("-inf")
    STORAGE_MISSING.clear()


async def test_a_deleted_container_is_storage_missing_and_recovered(fresh_recovery: None) -> None:
    async with StorageContext(get_settings()) as storage:
        await storage.database.delete_container("jobs")
        with pytest.raises(StorageMissing) as listed:
            await storage.jobs.page("SELECT * FROM c WHERE c.user_id = @pk", pk="u")
        with pytest.raises(StorageMissing):
            await storage.jobs.create(Job(id="j-recover", user_id="u", name="n", sources=["wikimedia"],
                                          keywords=["cat"]))  # fmt: skip
        assert listed.value.error_code == "storage_missing" and STORAGE_MISSING.is_set()

        current = await runtime.get_runtime()  # sees the flag: makes the storage again

        assert not STORAGE_MISSING.is_set()
        created = await current.jobs.create(Job(id="j-recover", user_id="u", name="n",
                                                sources=["wikimedia"], keywords=["cat"]))  # fmt: skip
        assert (await storage.jobs.get(created.id, "u")).name == "n"


async def test_a_deleted_blob_container_is_storage_missing_and_recovered(fresh_recovery: None) -> None:
    async with StorageContext(get_settings()) as storage:
        await storage.blob.delete_container("checkpoints")
        with pytest.raises(StorageMissing):
            await storage.blobs.put("checkpoints", "a/b.json", b"{}", "application/json")
        assert await runtime.recover_storage()
        await storage.blobs.put("checkpoints", "a/b.json", b"{}", "application/json")


async def test_a_missing_item_is_still_not_found(fresh_recovery: None) -> None:
    async with StorageContext(get_settings()) as storage:
        with pytest.raises(NotFound):
            await storage.jobs.get("no-such-job", "u")
    assert not STORAGE_MISSING.is_set()


async def test_recovery_is_spaced_out(fresh_recovery: None) -> None:
    assert await runtime.recover_storage()
    assert not await runtime.recover_storage(), "a second attempt within the interval waits"


@pytest.mark.parametrize("item_id", [".", "..", "", "a/b", "a\\b", "a?b", "a#b"])
async def test_ids_that_cannot_name_an_item_are_not_found_without_a_request(
    services: dict[str, str], item_id: str
) -> None:
    """Against storage that does not answer: a request would be ServiceUnavailable."""
    closed = free_port_block(3)
    dead = get_settings().model_copy(update={
        "cosmos_endpoint": f"https://127.0.0.1:{closed}/",
        "blob_connection_string": SecretStr(azurite_connection_string(closed)),
    })  # fmt: skip
    async with StorageContext(dead, retry_total=0) as storage:
        for call in (storage.jobs.get(item_id, "u"), storage.jobs.delete(item_id, "u"),
                     storage.jobs.patch(item_id, "u", [{"op": "set", "path": "/name", "value": "x"}])):  # fmt: skip
            with pytest.raises(NotFound):
                await call
