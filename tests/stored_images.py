"""What a job left in storage, read back the way a user's tools would: every image record's
bytes from its shard (one ranged read each, hashed against the record), every shard parsed as
a tar (the WebDataset layout: ``{sha256}.{ext}`` + ``{sha256}.json`` per image).

Example::

    stored = await read_stored(storage, job_id)
    assert stored.unreadable == [] and stored.unreferenced == []
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from shared.models import ImageRecord, shard_prefix
from shared.settings import ENV_PREFIX, Settings
from shared.storage.shards import read_image
from shared.storage import StorageContext


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """The settings a stack's devhost runs with (its ``PIXCRAWLER_*`` environment)."""
    return Settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)})


@asynccontextmanager
async def storage_of(env: Mapping[str, str]) -> AsyncIterator[StorageContext]:
    """A StorageContext over the storage of a stack (its environment)."""
    async with StorageContext(settings_from_env(env)) as storage:
        yield storage


@dataclass
class Stored:
    records: list[ImageRecord]
    shards: dict[str, bytes]
    #: Records whose bytes are missing or do not hash to their id.
    unreadable: list[str] = field(default_factory=list)
    #: Shards that no record points at.
    unreferenced: list[str] = field(default_factory=list)

    @property
    def shas(self) -> set[str]:
        return {r.sha256 for r in self.records}


def tar_members(data: bytes) -> dict[str, bytes]:
    """Every member of a shard (tarfile, strict: a malformed tar raises)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


async def read_stored(storage: StorageContext, job_id: str) -> Stored:
    records = await storage.images.query("SELECT * FROM c WHERE c.job_id = @pk", pk=job_id)
    names = [b.name async for b in storage.blobs.list("images", shard_prefix(job_id))]
    shards = dict(zip(names, await asyncio.gather(*(storage.blobs.get("images", n) for n in names))))
    stored = Stored(records, shards)
    for record in records:
        try:
            data = await read_image(storage.blobs, record)
        except Exception:  # noqa: BLE001 - reported below
            stored.unreadable.append(record.id)
            continue
        if hashlib.sha256(data).hexdigest() != record.id or len(data) != record.bytes:
            stored.unreadable.append(record.id)
            continue
        members = tar_members(shards[record.blob_name.partition("/")[2]])
        assert members[f"{record.id}.{record.format.extension}"] == data
        assert json.loads(members[f"{record.id}.json"])["sha256"] == record.id
    used = {r.blob_name.partition("/")[2] for r in records}
    stored.unreferenced = sorted(set(names) - used)
    return stored
