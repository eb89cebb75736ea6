"""Fixtures of the validation tests: a generated ground-truth corpus stored as a job's image
records (Cosmos emulator) and blobs (Azurite), made by the real fast level."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import pytest

from scripts.corpus import Corpus, CorpusEntry, generate_corpus
from shared.imaging import ImageInfo, inspect_image
from shared.validation.dedupe_stages import gather_limited
from shared.models import (
    DedupePlan, DedupeStage, DedupeSummary, DedupeTask, ImageRecord, Level, Origin, PlanValidation, ValidateBatch,
    ValidationRules, ValidationSummary,
)
from shared.settings import Settings, get_settings
from shared.storage import BlobStore, ImagesRepo, StorageContext
from shared.validation.levels import dedupe_stage, plan_validation, validate_batch

#: The unit tests' corpus: every variant and defect kind, crops included.
CORPUS_BASES = 40
CORPUS_SEED = 4


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return generate_corpus(tmp_path_factory.mktemp("corpus"), CORPUS_BASES, CORPUS_SEED)


def record_of(job_id: str, entry: CorpusEntry, data: bytes, user_id: str = "user-validation") -> ImageRecord:
    """The record the download activity stores for ``data`` (fast checks, hashes, windows)."""
    info = inspect_image(data, ValidationRules())
    assert isinstance(info, ImageInfo), (entry.file, info)
    return ImageRecord(
        id=info.sha256, job_id=job_id, user_id=user_id, label=entry.group,
        source="corpus", url=f"https://example.org/{entry.file}", width=info.width,
        height=info.height, format=info.format, content_type=info.content_type, bytes=info.bytes,
        blob_name=f"images/{job_id}/{info.sha256}.{info.format.extension}", sha256=info.sha256,
        phash=info.phash, windows=list(info.windows), mode=info.mode,
        exif_orientation=info.exif_orientation, chunk_id="c0",
        origin=Origin(batch_id="b0", url=f"https://example.org/{entry.file}"),
        validation=ValidationSummary(
            level=Level.fast, checks={"decode": True, "format": True, "dimensions": True, "pixels": True}
        ),
        created_at=entry.created_at,
    )


@dataclass
class StoredJob:
    """A job whose records are the corpus; ``entries`` maps record id -> the corpus entries
    with those bytes (an exact copy shares its original's record)."""

    job_id: str
    entries: dict[str, list[CorpusEntry]]


async def store_corpus(storage: StorageContext, corpus: Corpus, order_seed: int | None = None, *,
                       job_id: str | None = None, user_id: str = "user-validation") -> StoredJob:
    """Store every corpus file as the fast level would, in file order or shuffled, as the
    images of ``job_id`` (a new id by default). Files with the same bytes make one record,
    dated by the earliest of them whatever the order."""
    job_id = job_id or f"job-{uuid.uuid4().hex[:12]}"
    by_record: dict[str, list[CorpusEntry]] = {}
    records: dict[str, tuple[ImageRecord, bytes]] = {}
    for entry in sorted(corpus.entries, key=lambda e: e.created_at):
        data = corpus.path(entry).read_bytes()
        record = record_of(job_id, entry, data, user_id)
        records.setdefault(record.id, (record, data))
        by_record.setdefault(record.id, []).append(entry)
    order = list(records.values())
    if order_seed is not None:
        random.Random(order_seed).shuffle(order)
    for record, data in order:
        container, _, name = record.blob_name.partition("/")
        await storage.blobs.put(container, name, data, record.content_type)
        await storage.images.create(record)
    return StoredJob(job_id, by_record)


def settings_for(**changes: object) -> Settings:
    """The session's settings, batches of 16 records, pacing off."""
    base = {"validation_batch_size": 16, "validation_pacing": False}
    return get_settings().model_copy(update={**base, **changes})


Validate = Callable[..., Awaitable[dict[str, int]]]


async def dedupe_job(images: ImagesRepo, blobs: BlobStore, plan: DedupePlan, job_id: str, run_id: str) -> DedupeSummary:
    """The whole near-duplicate search in this process: validate_job's stages in order, each
    stage's activities (``dedupe_stage``) ``plan.parallel`` at once."""
    summary = DedupeSummary()
    for stage in DedupeStage:
        tasks = [DedupeTask(job_id=job_id, run_id=run_id, plan=plan, index=i) for i in range(stage.tasks(plan))]
        results = await gather_limited([partial(dedupe_stage, images, blobs, stage, task) for task in tasks], plan.parallel)
        for result in results:
            summary = summary.add(result)
    return summary


@pytest.fixture
def validate(storage: StorageContext) -> Validate:
    """Run one level over a job as validate_job does (plan, the near-duplicate search's
    stages, every batch); returns the records changed by the dedupe and by the batches."""

    async def run(job_id: str, level: Level, settings: Settings | None = None) -> dict[str, int]:
        settings = settings or settings_for()
        request = PlanValidation(job_id=job_id, level=level, run_id=uuid.uuid4().hex)
        plan = await plan_validation(storage.images, settings, request)
        flagged = 0
        if plan.dedupe is not None:
            flagged = (await dedupe_job(storage.images, storage.blobs, plan.dedupe, job_id, plan.run_id)).changed
        written = 0
        for index in range(plan.batches):
            batch = ValidateBatch(job_id=job_id, level=level, run_id=plan.run_id, index=index, batches=plan.batches)
            written += (await validate_batch(storage.images, storage.blobs, settings, batch)).written
        return {"flagged": flagged, "written": written, "batches": plan.batches}

    return run
