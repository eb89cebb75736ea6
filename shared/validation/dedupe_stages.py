"""The job-wide near-duplicate search of a validation run, as five stages of activities.

``shared.validation.banding`` computes; this module reads the records from Cosmos, keeps what passes
between stages in Blob Storage and writes the flags. Every activity's memory is bounded by
``PIXCRAWLER_VALIDATION_DEDUPE_MEMORY_MB`` (:func:`plan_dedupe`), never by the job; the
arrays of a routing or a search exist only while it computes, in the process's CPU pool
(:func:`shared.imaging.decode_pool`, one thread per CPU), so a host holds at most that many
activities at their peak, whatever the number of activities it runs at once:

1. ``dedupe_map`` x maps: one id range of the job, read page by page through Cosmos
   continuation (only id, hashes, size, time, sha256 and flags; each page's rows are turned
   into arrays at once), routed ``chunk_records`` at a time into one slice blob per partition,
   plus the chunk's records (id, size, time, flags).
   The only stage that reads Cosmos: each record is read once, as one document.
2. ``dedupe_search`` x partitions: the slices of one partition -> a spanning forest of the
   verified near-duplicate links (one edge per linked record).
3. ``dedupe_merge``: the forests folded into one (memory: the records that have a
   near-duplicate), keepers chosen from the records blobs read one at a time, one decisions
   blob per map.
4. ``dedupe_apply`` x maps: the map's flags that differ from the decisions are patched
   (``is_duplicate``, ``duplicate_of``); nothing else is written.
5. ``dedupe_cleanup``: the run's blobs are deleted.

Blobs live in the ``images`` container under ``{job_id}/dedupe/{run_id}/`` (so that deleting a
job also removes what a failed run left)::

    slices/p{partition}/m{map}-c{chunk}.bin   a map chunk's entries for one partition
    records/m{map}/c{chunk}.json              the chunk's records, in position order
    forests/p{partition}.bin                  a partition's forest
    decisions/m{map}.json                     position -> keeper id for the map's grouped records

Each stage is idempotent: a retried activity writes the same blobs again (a map whose range
shrank between attempts deletes the chunks it no longer has).

Example::

    plan = plan_dedupe(images_in_job, settings)
    task = DedupeTask(job_id=j, run_id=r, plan=plan, index=0)
    await map_range(images, blobs, task, low="00000000", high=None)
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from shared.validation.banding import (
    BYTES_PER_ENTRY, POSITION_BITS, Forest, Keepers, MapInput, SearchSpec, Slice, route,
    search_partition,
)
from shared.errors import NotFound
from shared.imaging import decode_pool
from shared.models import DedupePlan, DedupeStage, DedupeStageResult, DedupeTask
from shared.names import IMAGES_CONTAINER
from shared.settings import Settings
from shared.storage import ImagesRepo, azure_errors
from shared.storage.cosmos import NOT_MISSING, set_fields

#: Blob container of the stages' intermediate data.
#: Blob reads, writes and record patches in flight per activity.
CONCURRENCY = 16
#: Slice blobs a map uploads at once (each is a share of the chunk's entries, in memory twice
#: while it is being sent).
UPLOADS = 4
#: Rows per Cosmos page of the map stage: the rows of one page are the only ones held as
#: dicts (about 3 KB each with the window hashes) before they become arrays.
PAGE_ROWS = 1000
_BINARY = "application/octet-stream"
_JSON = "application/json"
#: The records near-duplicates are looked for among: those whose bytes are there (a record a
#: verify marked missing never goes into a dataset, so it must not be the copy kept).
_PROJECTION = (
    "SELECT c.id, c.phash, c.windows, c.width, c.height, c.created_at, c.sha256, "
    f"c.is_duplicate, c.duplicate_of FROM c WHERE c.job_id = @pk AND {NOT_MISSING} AND c.id >= @low"
)


class ScratchBlobs(Protocol):
    """The Blob operations the stages use (shared.storage.BlobStore has them)."""

    async def put(self, container: str, name: str, data: bytes, content_type: str,
                  overwrite: bool = False) -> bool: ...

    async def get(self, container: str, name: str) -> bytes: ...

    async def delete(self, container: str, name: str) -> bool: ...

    def list(self, container: str, prefix: str = "") -> AsyncIterator[Any]: ...


async def gather_limited(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> list[Any]:
    """Await ``calls`` with at most ``limit`` running at once, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def plan_dedupe(count: int, settings: Settings) -> DedupePlan:
    """Maps and partitions for a job of ``count`` records, so that each activity holds about
    ``validation_dedupe_memory_mb``: a map routes at most ``chunk_records`` records at once
    (each makes up to ``entries_per_record`` entries of ~:data:`BYTES_PER_ENTRY` bytes), and
    partitions are as many as it takes for a partition's share of all entries to fit too.

    At the defaults (32 MB, thresholds 6, 18 windows: 134 entries, ~6.3 KB per record) a map
    chunk is 5,216 records, and a job of 1,000,000 records has 192 maps and 192 partitions.
    """
    spec = SearchSpec(settings.validation_phash_threshold, settings.validation_window_threshold, 1)
    budget = settings.validation_dedupe_memory_mb * 2**20
    per_record = spec.entries_per_record() * BYTES_PER_ENTRY
    chunk_records = max(1, budget // per_record)
    buckets = sum(2 ** min(width, 16) for s in spec.spaces for width in s.layout.widths)
    return DedupePlan(
        maps=max(1, math.ceil(count / chunk_records)),
        chunk_records=chunk_records,
        partitions=min(buckets, max(1, math.ceil(count * per_record / budget))),
        threshold=spec.threshold,
        window_threshold=spec.window_threshold,
        parallel=settings.validation_parallel,
    )


def _spec(plan: DedupePlan) -> SearchSpec:
    return SearchSpec(plan.threshold, plan.window_threshold, plan.partitions)


def _prefix(task: DedupeTask) -> str:
    return f"{task.job_id}/dedupe/{task.run_id}/"


def _slice_name(task: DedupeTask, partition: int, map_index: int, chunk: int) -> str:
    return f"{_prefix(task)}slices/p{partition:05d}/m{map_index:05d}-c{chunk:04d}.bin"


def _records_name(task: DedupeTask, map_index: int, chunk: int) -> str:
    return f"{_prefix(task)}records/m{map_index:05d}/c{chunk:04d}.json"


def _forest_name(task: DedupeTask, partition: int) -> str:
    return f"{_prefix(task)}forests/p{partition:05d}.bin"


def _decisions_name(task: DedupeTask, map_index: int) -> str:
    return f"{_prefix(task)}decisions/m{map_index:05d}.json"


async def _names(blobs: ScratchBlobs, prefix: str) -> list[str]:
    return [info.name async for info in blobs.list(IMAGES_CONTAINER, prefix)]


async def _put(blobs: ScratchBlobs, name: str, data: bytes, content_type: str = _BINARY) -> None:
    await blobs.put(IMAGES_CONTAINER, name, data, content_type, overwrite=True)


# --------------------------------------------------------------------------------------------
# 1. Map
# --------------------------------------------------------------------------------------------


async def _pages(images: ImagesRepo, job_id: str, low: str, high: str | None,
                 page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
    """The projection of the records in ``[low, high)``, by id, a Cosmos page at a time (at
    most ``page_size`` rows; Cosmos also ends a page at 4 MB)."""
    sql = _PROJECTION + (" AND c.id < @high" if high is not None else "") + " ORDER BY c.id"
    parameters: list[dict[str, object]] = [{"name": "@pk", "value": job_id}, {"name": "@low", "value": low}]
    if high is not None:
        parameters.append({"name": "@high", "value": high})
    query = images.container.query_items(
        sql, parameters=parameters, partition_key=job_id, max_item_count=page_size
    )
    with azure_errors("image query", "image"):
        async for page in query.by_page():
            yield [row async for row in page]


class _Chunk:
    """Records of a map waiting to be routed: compact columns, not Cosmos rows."""

    def __init__(self) -> None:
        self.parts: list[MapInput] = []
        self.flags: list[tuple[bool, str | None]] = []

    def __len__(self) -> int:
        return len(self.flags)

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.parts.append(MapInput.build(
            [row["id"] for row in rows], [row["phash"] for row in rows],
            [row.get("windows") or [] for row in rows], [row["sha256"] for row in rows],
            [row["width"] * row["height"] for row in rows],
            [datetime.fromisoformat(row["created_at"]) for row in rows],
        ))
        self.flags += [(bool(row.get("is_duplicate")), row.get("duplicate_of")) for row in rows]

    def take(self, count: int) -> tuple[MapInput, list[tuple[bool, str | None]]]:
        """The first ``count`` records (all of them when fewer)."""
        records, rest = MapInput.concat(self.parts).split(count)
        self.parts = [rest] if len(rest) else []
        flags, self.flags = self.flags[:count], self.flags[count:]
        return records, flags


async def _write_chunk(blobs: ScratchBlobs, task: DedupeTask, chunk: int, first: int,
                       records: MapInput, flags: list[tuple[bool, str | None]]) -> int:
    """Route one chunk, write its slices and its records; the number of entries."""
    spec = _spec(task.plan)
    loop = asyncio.get_running_loop()
    slices = await loop.run_in_executor(decode_pool(), partial(route, spec, records, first))
    entries = sum(map(len, slices))

    async def put_slice(partition: int) -> None:
        piece = slices[partition]
        if len(piece):
            data = piece.to_bytes()
            slices[partition] = Slice()  # freed once written
            await _put(blobs, _slice_name(task, partition, task.index, chunk), data)

    await gather_limited([partial(put_slice, p) for p in range(len(slices))], UPLOADS)
    document = {
        "first": first, "ids": records.ids, "area": records.area.tolist(),
        "created": records.created.tolist(), "flags": flags,
    }
    await _put(blobs, _records_name(task, task.index, chunk), json.dumps(document).encode(), _JSON)
    return entries


async def _drop_stale_chunks(blobs: ScratchBlobs, task: DedupeTask, chunks: int) -> None:
    """Chunks an earlier attempt of this map wrote beyond ``chunks`` (its range held more
    records then): their records and slices go."""
    prefix = f"{_prefix(task)}records/m{task.index:05d}/"
    stale = [int(name[len(prefix) + 1:-5]) for name in await _names(blobs, prefix)]
    for chunk in (c for c in stale if c >= chunks):
        names = [_records_name(task, task.index, chunk)] + [
            _slice_name(task, p, task.index, chunk) for p in range(task.plan.partitions)
        ]
        await gather_limited([partial(blobs.delete, IMAGES_CONTAINER, n) for n in names])


async def map_range(images: ImagesRepo, blobs: ScratchBlobs, task: DedupeTask, low: str,
                    high: str | None) -> DedupeStageResult:
    """Stage 1: route the records of one id range of the job, ``chunk_records`` at a time."""
    pending, chunk, first, entries = _Chunk(), 0, 0, 0
    async for rows in _pages(images, task.job_id, low, high, min(PAGE_ROWS, task.plan.chunk_records)):
        pending.add(rows)
        while len(pending) >= task.plan.chunk_records:
            records, flags = pending.take(task.plan.chunk_records)
            entries += await _write_chunk(blobs, task, chunk, first, records, flags)
            chunk, first = chunk + 1, first + len(records)
    if len(pending) or chunk == 0:
        records, flags = pending.take(len(pending))
        entries += await _write_chunk(blobs, task, chunk, first, records, flags)
        chunk, first = chunk + 1, first + len(records)
    await _drop_stale_chunks(blobs, task, chunk)
    return DedupeStageResult(stage=DedupeStage.map, index=task.index, records=first, entries=entries)


# --------------------------------------------------------------------------------------------
# 2. Search one partition
# --------------------------------------------------------------------------------------------


def _map_of(name: str) -> int:
    """The map index in a slice's name (``.../m00012-c0000.bin`` -> 12)."""
    return int(name.rsplit("/", 1)[1][1:6])


async def search(blobs: ScratchBlobs, task: DedupeTask) -> DedupeStageResult:
    """Stage 2: the verified links among one partition's entries, as a forest blob."""
    names = await _names(blobs, f"{_prefix(task)}slices/p{task.index:05d}/")
    data = await gather_limited([partial(blobs.get, IMAGES_CONTAINER, n) for n in names])
    pieces = [(_map_of(name), piece) for name, piece in zip(names, data)]
    del data
    loop = asyncio.get_running_loop()
    forest, stats = await loop.run_in_executor(
        decode_pool(), partial(search_partition, _spec(task.plan), pieces)
    )
    await _put(blobs, _forest_name(task, task.index), forest.to_bytes())
    return DedupeStageResult(
        stage=DedupeStage.search, index=task.index, entries=stats.entries,
        distances=stats.distances, links=stats.links, edges=stats.edges,
    )


# --------------------------------------------------------------------------------------------
# 3. Merge
# --------------------------------------------------------------------------------------------


async def merge(blobs: ScratchBlobs, task: DedupeTask) -> DedupeStageResult:
    """Stage 3: one forest of the partitions', the keeper of each group, one decisions blob
    per map (written for every map, empty when none of its records has a duplicate)."""
    plan = task.plan
    merged = Forest()
    for partition in range(plan.partitions):
        merged.add(*Forest.edges_from_bytes(await blobs.get(IMAGES_CONTAINER, _forest_name(task, partition))))
    keepers = Keepers(merged)
    offered = 0
    for name in await _names(blobs, f"{_prefix(task)}records/"):
        document = json.loads(await blobs.get(IMAGES_CONTAINER, name))
        map_index = int(name.rsplit("/", 2)[1][1:])
        keepers.offer((map_index << POSITION_BITS) + document["first"], document["ids"],
                      document["area"], document["created"])
        offered += len(document["ids"])

    async def decide(map_index: int) -> None:
        decisions = keepers.decisions(map_index)
        body = {"positions": list(decisions), "keepers": list(decisions.values())}
        await _put(blobs, _decisions_name(task, map_index), json.dumps(body).encode(), _JSON)

    await gather_limited([partial(decide, m) for m in range(plan.maps)])
    return DedupeStageResult(
        stage=DedupeStage.merge, records=offered, edges=len(merged.edges()[0]),
        groups=keepers.group_count, duplicates=keepers.duplicate_count,
    )


# --------------------------------------------------------------------------------------------
# 4. Apply, 5. Cleanup
# --------------------------------------------------------------------------------------------


def flag_operations(keeper: str | None) -> list[dict[str, Any]]:
    """The patch that marks a record a duplicate of ``keeper`` (or not a duplicate)."""
    return set_fields(is_duplicate=keeper is not None, duplicate_of=keeper)


async def apply(images: ImagesRepo, blobs: ScratchBlobs, task: DedupeTask) -> DedupeStageResult:
    """Stage 4: write the flags of the map's records whose flags differ from the decisions."""
    body = json.loads(await blobs.get(IMAGES_CONTAINER, _decisions_name(task, task.index)))
    keeper_at = dict(zip(body["positions"], body["keepers"]))
    changes: list[tuple[str, str | None]] = []
    for name in await _names(blobs, f"{_prefix(task)}records/m{task.index:05d}/"):
        document = json.loads(await blobs.get(IMAGES_CONTAINER, name))
        for offset, (image_id, (duplicate, duplicate_of)) in enumerate(
            zip(document["ids"], document["flags"])
        ):
            keeper = keeper_at.get(document["first"] + offset)
            if (duplicate, duplicate_of) != (keeper is not None, keeper):
                changes.append((image_id, keeper))

    async def write(image_id: str, keeper: str | None) -> bool:
        try:
            await images.patch(image_id, task.job_id, flag_operations(keeper))
        except NotFound:
            return False  # deleted meanwhile (the job was deleted)
        return True

    written = await gather_limited([partial(write, i, k) for i, k in changes])
    return DedupeStageResult(stage=DedupeStage.apply, index=task.index, changed=sum(written))


async def cleanup(blobs: ScratchBlobs, task: DedupeTask) -> DedupeStageResult:
    """Stage 5: delete the run's blobs."""
    names = await _names(blobs, _prefix(task))
    await gather_limited([partial(blobs.delete, IMAGES_CONTAINER, n) for n in names])
    return DedupeStageResult(stage=DedupeStage.cleanup)
