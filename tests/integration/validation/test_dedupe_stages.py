"""The near-duplicate search's stages against the real emulators: the same flags however the
job is cut (maps, chunks, partitions), records stored before window hashes existed, a map
retried after its range changed, and no blob left behind."""

from __future__ import annotations

import uuid

import pytest

from scripts.corpus import Corpus
from shared.validation.dedupe import find_duplicate_groups
from shared.names import IMAGES_CONTAINER
from shared.models import DedupePlan, DedupeStage, DedupeTask, HashedImage, ImageRecord, Level
from shared.storage import StorageContext
from shared.storage.bootstrap import IMAGES_INDEXING_POLICY
from shared.validation.levels import dedupe_stage

from .conftest import Validate, dedupe_job, record_of, settings_for, store_corpus
from .test_validation_levels import expected_keepers, records_of

pytestmark = pytest.mark.integration


def cut(maps: int, chunk_records: int, partitions: int, parallel: int = 3) -> DedupePlan:
    return DedupePlan(maps=maps, chunk_records=chunk_records, partitions=partitions,
                      threshold=6, window_threshold=6, parallel=parallel)


def hashed_of(record: ImageRecord) -> HashedImage:
    return HashedImage.model_validate(record.model_dump(include=set(HashedImage.model_fields)))


async def scratch(storage: StorageContext, job_id: str) -> list[str]:
    return [b.name async for b in storage.blobs.list(IMAGES_CONTAINER, f"{job_id}/dedupe/")]


@pytest.mark.parametrize("plan", [cut(1, 1000, 1), cut(5, 4, 7), cut(3, 1, 2, parallel=1)],
                         ids=["one-of-each", "maps-chunks-partitions", "a-record-per-chunk"])
async def test_flags_match_ground_truth_however_the_job_is_cut(
    storage: StorageContext, corpus: Corpus, plan: DedupePlan
) -> None:
    job = await store_corpus(storage, corpus, order_seed=7)
    summary = await dedupe_job(storage.images, storage.blobs, plan, job.job_id, uuid.uuid4().hex)

    records = await records_of(storage, job.job_id)
    expected = expected_keepers(job, records)
    assert {i: r.duplicate_of for i, r in records.items()} == expected
    assert all(r.is_duplicate == (r.duplicate_of is not None) for r in records.values())
    duplicates = sum(keeper is not None for keeper in expected.values())
    assert summary.model_dump() == {"images": len(records), "groups": len({k for k in expected.values() if k}),
                                    "duplicates": duplicates, "changed": duplicates}
    assert await scratch(storage, job.job_id) == []


async def test_records_stored_without_window_hashes_are_still_grouped(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    """Records written before window hashes existed have no ``windows`` field at all: they
    are found by their whole hash, exactly as the reference finds them without windows."""
    job_id = f"job-{uuid.uuid4().hex[:12]}"
    hashed = {}
    for entry in corpus.entries:
        record = record_of(job_id, entry, corpus.path(entry).read_bytes())
        if record.id in hashed:
            continue
        document = storage.images.to_document(record)
        del document["windows"]
        await storage.images.container.upsert_item(document)
        hashed[record.id] = hashed_of(record).model_copy(update={"windows": []})
    await validate(job_id, Level.medium, settings_for(validation_dedupe_memory_mb=4))

    reference = find_duplicate_groups(hashed.values(), 6)
    records = await records_of(storage, job_id)
    assert {i: r.duplicate_of for i, r in records.items()} == reference.keeper_of
    assert reference.duplicate_count > 10


async def test_a_map_retried_over_fewer_records_drops_its_stale_chunks(
    storage: StorageContext, corpus: Corpus
) -> None:
    job = await store_corpus(storage, corpus)
    plan, run_id = cut(2, 3, 4), uuid.uuid4().hex
    tasks = [DedupeTask(job_id=job.job_id, run_id=run_id, plan=plan, index=m) for m in range(2)]
    first = [await dedupe_stage(storage.images, storage.blobs, DedupeStage.map, t) for t in tasks]
    records = await records_of(storage, job.job_id)
    gone = sorted(records)[: len(records) // 2]  # the whole first id range, and more
    for record_id in gone:
        await storage.images.delete(record_id, job.job_id)
    again = [await dedupe_stage(storage.images, storage.blobs, DedupeStage.map, t) for t in tasks]
    for stage in (DedupeStage.search, DedupeStage.merge, DedupeStage.apply, DedupeStage.cleanup):
        for index in range(stage.tasks(plan)):
            await dedupe_stage(storage.images, storage.blobs, stage, tasks[0].model_copy(update={"index": index}))

    assert sum(r.records for r in first) == len(records) > sum(r.records for r in again)
    left = await records_of(storage, job.job_id)
    reference = find_duplicate_groups([hashed_of(r) for r in left.values()], 6)
    assert {i: r.duplicate_of for i, r in left.items()} == reference.keeper_of
    assert await scratch(storage, job.job_id) == []


async def test_the_emulator_keeps_the_images_indexing_policy(storage: StorageContext) -> None:
    """The session's storage was created by shared.storage.bootstrap: the emulator accepted
    the policy (window hashes excluded) and answers with it."""
    properties = await storage.images.container.read()
    policy = properties["indexingPolicy"]
    assert {"path": "/windows/*"} in policy["excludedPaths"]
    assert policy["excludedPaths"] == IMAGES_INDEXING_POLICY["excludedPaths"]
