"""Validation of a whole job against the real emulators: every record's flags against the
corpus' ground truth at medium and slow, idempotency, and levels that build on each other."""

from __future__ import annotations

import pytest

from scripts.corpus import Corpus
from shared.models import ImageRecord, Level
from shared.storage import StorageContext
from shared.validation.levels import UNIQUE_CHECK

from .conftest import StoredJob, Validate, settings_for, store_corpus

pytestmark = pytest.mark.integration

FAST_CHECKS = {"decode": True, "format": True, "dimensions": True, "pixels": True}


async def records_of(storage: StorageContext, job_id: str) -> dict[str, ImageRecord]:
    found = await storage.images.query("SELECT * FROM c WHERE c.job_id = @pk", pk=job_id)
    return {record.id: record for record in found}


def expected_keepers(job: StoredJob, records: dict[str, ImageRecord]) -> dict[str, str | None]:
    """Ground truth per record: the id kept in its corpus group (largest, then earliest)."""
    groups: dict[str, list[ImageRecord]] = {}
    for record_id, entries in job.entries.items():
        groups.setdefault(entries[0].group, []).append(records[record_id])
    keepers: dict[str, str | None] = {}
    for members in groups.values():
        kept = min(members, key=lambda r: (-r.width * r.height, r.created_at, r.id))
        keepers.update({r.id: None if r is kept else kept.id for r in members})
    return keepers


def expected_failures(job: StoredJob, record_id: str) -> set[str]:
    return set(job.entries[record_id][0].flags)


async def test_medium_flags_every_near_duplicate_crops_included(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    job = await store_corpus(storage, corpus)
    await validate(job.job_id, Level.medium)

    records = await records_of(storage, job.job_id)
    expected = expected_keepers(job, records)
    actual = {record_id: record.duplicate_of for record_id, record in records.items()}
    assert actual == expected
    kinds = {entry.kind for record_id, keeper in expected.items() if keeper for entry in job.entries[record_id]}
    assert {"crop", "resize", "reencode", "brightness"} <= kinds
    for record in records.values():
        assert record.is_duplicate == (record.duplicate_of is not None)
        assert record.validation.level is Level.medium
        assert record.validation.checks == {**FAST_CHECKS, UNIQUE_CHECK: not record.is_duplicate}
        assert record.is_valid and record.mode in ("RGB", "L")


async def test_running_a_level_again_changes_nothing(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    job = await store_corpus(storage, corpus)
    first = await validate(job.job_id, Level.medium)
    after_first = await records_of(storage, job.job_id)
    again = await validate(job.job_id, Level.medium)

    assert first["flagged"] > 0 and first["written"] == len(after_first)
    assert again == {**first, "flagged": 0, "written": 0}
    assert await records_of(storage, job.job_id) == after_first


async def test_slow_after_medium_keeps_the_groups_and_adds_quality(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    job = await store_corpus(storage, corpus)
    await validate(job.job_id, Level.medium)
    medium = await records_of(storage, job.job_id)
    slow_run = await validate(job.job_id, Level.slow)
    slow = await records_of(storage, job.job_id)

    assert slow_run["flagged"] == 0  # the dedupe ran again and found the same groups
    assert {i: r.duplicate_of for i, r in slow.items()} == {i: r.duplicate_of for i, r in medium.items()}
    for record_id, record in slow.items():
        failed = {name for name, ok in record.validation.checks.items() if not ok} - {UNIQUE_CHECK}
        assert failed == expected_failures(job, record_id), job.entries[record_id][0].file
        assert record.is_valid == (not failed)
        assert record.validation.level is Level.slow
        assert {"sharpness", "brightness", "entropy"} <= set(record.validation.scores)
    assert sum(not r.is_valid for r in slow.values()) >= 7  # one of each quality defect

    assert (await validate(job.job_id, Level.slow))["written"] == 0
    assert (await validate(job.job_id, Level.fast))["written"] == 0  # a lower level undoes nothing
    assert await records_of(storage, job.job_id) == slow


async def test_new_thresholds_are_judged_from_stored_scores_without_the_images(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    job = await store_corpus(storage, corpus)
    await validate(job.job_id, Level.slow)
    measured = await records_of(storage, job.job_id)
    for record in measured.values():
        container, _, name = record.blob_name.partition("/")
        await storage.blobs.delete(container, name)
    strict = settings_for().validation_quality.model_copy(update={"min_bytes": 10**9})

    run = await validate(job.job_id, Level.slow, settings_for(validation_quality=strict))

    records = await records_of(storage, job.job_id)
    assert run["written"] == sum(r.validation.checks["file_size"] for r in measured.values()) > 0
    assert all(not r.is_valid and r.validation.checks["file_size"] is False for r in records.values())


async def test_the_kept_image_does_not_depend_on_the_order_records_were_stored(
    storage: StorageContext, corpus: Corpus, validate: Validate
) -> None:
    """The same images stored in two orders and validated in batches of two sizes: the same
    image is kept in every group (compared by corpus file, since jobs differ)."""
    outcomes = []
    for order_seed, batch_size in ((1, 5), (2, 40)):
        job = await store_corpus(storage, corpus, order_seed=order_seed)
        await validate(job.job_id, Level.medium, settings_for(validation_batch_size=batch_size))
        records = await records_of(storage, job.job_id)
        file_of = {record_id: entries[0].file for record_id, entries in job.entries.items()}
        outcomes.append({
            file_of[record_id]: file_of.get(record.duplicate_of or "", None)
            for record_id, record in records.items()
        })
    assert outcomes[0] == outcomes[1]
    assert sum(keeper is not None for keeper in outcomes[0].values()) > 20
