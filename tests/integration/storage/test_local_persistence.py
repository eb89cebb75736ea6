"""The local stand-ins lose nothing they acknowledged: documents and blobs survive a stop, a
restart and a SIGKILL of the emulator that holds them (the journals of
scripts/node/patches/*--persistence.patch and *--journal.patch).

Each test starts its own Azurite and Cosmos emulator on free ports in a fresh directory, so
killing them disturbs no other test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any
from pathlib import Path

import pytest
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from scripts.localservices import LocalServices

pytestmark = pytest.mark.integration

PUTS = 300


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalServices]:
    services = LocalServices(tmp_path / "services")
    services.start()
    try:
        yield services
    finally:
        services.stop()


def cosmos(services: LocalServices) -> CosmosClient:
    env = services.env
    return CosmosClient(
        env["PIXCRAWLER_COSMOS_ENDPOINT"], env["PIXCRAWLER_COSMOS_KEY"], connection_verify=False
    )


async def documents(client: CosmosClient) -> ContainerProxy:
    database = await client.create_database_if_not_exists("persist")
    return await database.create_container_if_not_exists("docs", PartitionKey("/pk"))


async def everything(container: ContainerProxy) -> dict[str, dict[str, object]]:
    query = container.query_items("SELECT * FROM c WHERE c.pk = 'p'", partition_key="p")
    return {doc["id"]: doc async for doc in query}


def blob_client(services: LocalServices) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(services.env["PIXCRAWLER_BLOB_CONNECTION_STRING"])


async def stored_blobs(container: ContainerClient) -> dict[str, bytes]:
    names = [blob.name async for blob in container.list_blobs()]
    bodies = await asyncio.gather(*(_read(container, name) for name in names))
    return dict(zip(names, bodies))


async def _read(container: ContainerClient, name: str) -> bytes:
    return await (await container.download_blob(name)).readall()


async def bounded(jobs: list[Coroutine[Any, Any, Any]], limit: int = 16) -> None:
    """Run the writes 16 at a time, as the app's activities do."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Coroutine[Any, Any, Any]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(job) for job in jobs))


async def test_cosmos_keeps_every_acknowledged_write_across_a_sigkill(local: LocalServices) -> None:
    async with cosmos(local) as client:
        container = await documents(client)
        await bounded([container.create_item({"id": f"d{i}", "pk": "p", "n": i}) for i in range(PUTS)])
        await container.replace_item("d1", {"id": "d1", "pk": "p", "n": "replaced"})
        await container.patch_item("d2", "p", [{"op": "incr", "path": "/n", "value": 40}])
        await container.delete_item("d3", "p")
        before = await everything(container)

    local.kill("cosmos")  # right after the last answer: nothing had time to be flushed
    local.start()

    async with cosmos(local) as client:
        container = await documents(client)  # the database and container exist already
        after = await everything(container)
        await container.create_item({"id": "new", "pk": "p"})  # and it takes new writes
        assert (await container.read_item("new", "p"))["id"] == "new"

    assert len(after) == PUTS - 1 and "d3" not in after
    assert after["d1"]["n"] == "replaced" and after["d2"]["n"] == 42
    assert after == before, "every document comes back with its _etag, _rid and _ts"


async def test_cosmos_keeps_its_data_across_down_and_up(local: LocalServices) -> None:
    async with cosmos(local) as client:
        container = await documents(client)
        await container.create_item({"id": "kept", "pk": "p", "text": "\u732b \u2028 x"})

    local.stop()
    local.start()

    async with cosmos(local) as client:
        kept = await (await documents(client)).read_item("kept", "p")
    assert kept["text"] == "\u732b \u2028 x"


async def test_cosmos_drops_a_torn_last_line_and_keeps_the_rest(local: LocalServices) -> None:
    async with cosmos(local) as client:
        container = await documents(client)
        await container.create_item({"id": "whole", "pk": "p"})
    local.kill("cosmos")
    journal = local.directory / "cosmos" / "journal.jsonl"
    with journal.open("ab") as file:  # a kill in the middle of an append, before the answer
        file.write(b'{"op":"put","k":"docs","p":"/dbs/')

    local.start()

    async with cosmos(local) as client:
        assert set(await everything(await documents(client))) == {"whole"}


async def test_azurite_keeps_every_acknowledged_put_across_a_sigkill(local: LocalServices) -> None:
    payloads = {f"images/b{i:03d}.bin": os.urandom(1000 + i) for i in range(PUTS)}
    async with blob_client(local) as client:
        container = await client.create_container("persist")
        await bounded([container.upload_blob(name, data) for name, data in payloads.items()])
        await container.delete_blob("images/b007.bin")

    # Azurite saves its metadata every 5 s: without the journal a kill now loses the puts.
    local.kill("azurite")
    local.start()

    del payloads["images/b007.bin"]
    async with blob_client(local) as client:
        container = client.get_container_client("persist")
        assert await stored_blobs(container) == payloads
        await container.upload_blob("after-restart", b"x")
        assert await _read(container, "after-restart") == b"x"


async def test_azurite_keeps_blocks_and_blobs_across_down_and_up(local: LocalServices) -> None:
    async with blob_client(local) as client:
        container = await client.create_container("persist")
        blob = container.get_blob_client("staged")
        await blob.stage_block("b1", b"first ")
        await blob.stage_block("b2", b"second")
        await blob.commit_block_list(["b1", "b2"])

    local.stop()
    local.start()

    async with blob_client(local) as client:
        assert await _read(client.get_container_client("persist"), "staged") == b"first second"

