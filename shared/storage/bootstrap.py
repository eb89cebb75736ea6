"""Create the Cosmos database, its containers and the Blob containers, idempotently.

The same code runs against the emulators and against Azure (where ``infra/`` usually created
them already): every step is create-if-not-exists, and existing data is never touched (a
container that exists keeps its indexing policy: on Azure the Bicep deployment sets it).

Run it::

    python -m shared.storage.bootstrap     # reads PIXCRAWLER_* from the environment
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.cosmos import PartitionKey

from shared.errors import PixCrawlerError
from shared.names import BLOB_CONTAINERS, COSMOS_CONTAINERS
from shared.settings import Settings, get_settings
from shared.storage.clients import StorageContext
from shared.storage.errors import azure_errors

#: Indexing of the ``images`` container, the same as infra/modules/cosmos.bicep's
#: ``imagesIndexing`` (a contract test compares them): everything is indexed but the large paths
#: no query filters on, so that a record write costs fewer RU. ``windows`` (18 window hashes
#: per record, read only by the near-duplicate search's projection) is the largest of them.
IMAGES_INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [
        {"path": "/validation/*"},
        {"path": "/windows/*"},
        {"path": "/origin/*"},
        {"path": "/url/?"},
        {"path": "/page_url/?"},
        {"path": "/title/?"},
        {"path": "/attribution/?"},
        {"path": "/blob_name/?"},
        {"path": '/"_etag"/?'},
    ],
    "compositeIndexes": [
        [{"path": "/label", "order": "ascending"}, {"path": "/created_at", "order": "ascending"}],
        [
            {"path": "/is_valid", "order": "ascending"},
            {"path": "/is_duplicate", "order": "ascending"},
            {"path": "/created_at", "order": "ascending"},
        ],
        [
            {"path": "/label", "order": "ascending"},
            {"path": "/is_valid", "order": "ascending"},
            {"path": "/is_duplicate", "order": "ascending"},
        ],
    ],
}
#: Containers created with an indexing policy of their own (the others index everything).
INDEXING_POLICIES: dict[str, dict[str, Any]] = {"images": IMAGES_INDEXING_POLICY}


async def ensure_storage(settings: Settings | None = None) -> list[str]:
    """Make sure every database and container of ``shared.names`` exists; returns their names
    (``cosmos:<db>/<container>``, ``blob:<container>``) in the order they were checked."""
    settings = settings or get_settings()
    ensured: list[str] = []
    async with StorageContext(settings) as storage:
        database_name = settings.cosmos_database
        with azure_errors(f"cosmos database {database_name!r}", "database"):
            database = await storage.cosmos.create_database_if_not_exists(database_name)
            for name, path in COSMOS_CONTAINERS.items():
                await database.create_container_if_not_exists(
                    id=name, partition_key=PartitionKey(path=path),
                    indexing_policy=INDEXING_POLICIES.get(name),
                )
                ensured.append(f"cosmos:{database_name}/{name}")
        for name in BLOB_CONTAINERS:
            with azure_errors(f"blob container {name!r}", "container"):
                try:
                    await storage.blob.create_container(name)
                except ResourceExistsError:
                    pass  # idempotent: an existing container keeps its blobs
            ensured.append(f"blob:{name}")
    return ensured


def main() -> int:
    """CLI: ensure the storage named by the environment; print what exists."""
    try:
        for name in asyncio.run(ensure_storage()):
            print(f"ok {name}")
    except PixCrawlerError as exc:
        print(f"bootstrap failed: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
