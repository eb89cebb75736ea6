"""How a verify corrects a job's counts (the job_progress entity's reducers), how its batches
cut a job (shard-key ranges), and how the datasets' one admission rule treats what it marks."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from shared.datasets.card import LEFT_OUT_IDS, ArchiveTally
from shared.datasets.curation import admit
from shared.models import (
    BatchResult, BatchValidation, DatasetMeta, ImageFormat, ImageRecord, JobStatus, Level, Origin, ProgressState,
    StartRun, ValidationStart, ValidationSummary, VerifyStart, shard_key,
)
from shared.models.verify import BatchVerification
from shared.validation import id_range
from shared.verify import batch_query, key_range

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def crawled(valid: int) -> ProgressState:
    state = ProgressState().start_run(StartRun(run=1, chunk_ids=["c0"], reset=True))
    return state.apply_batch(BatchResult(batch_id="c0:0", chunk_id="c0", seq=0, run=1, valid=valid))


def verify_run(state: ProgressState, run_id: str, results: list[BatchVerification], batches: int | None = None) -> ProgressState:
    planned = len(results) if batches is None else batches
    state = state.start_verify(VerifyStart(run_id=run_id, deep=False, images=0, batches=planned, started_at=T0))
    for result in results:
        state = state.apply_verify(result)
    return state


batch_counts = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)).map(
    lambda t: {"present": t[0], "repaired": t[1], "marked": t[2], "marked_kept": t[2]}  # no validation ran: all kept
)


@given(st.lists(batch_counts, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_a_run_counts_each_batch_once_whatever_the_order_and_repeats(counts: list[dict[str, int]], rng: random.Random) -> None:
    results = [
        BatchVerification(
            run_id="r1", index=i, checked=c["present"] + c["repaired"] + c["marked"], present=c["present"],
            missing=c["repaired"] + c["marked"], repaired=c["repaired"], marked=c["marked"], marked_kept=c["marked_kept"],
        )
        for i, c in enumerate(counts)
    ]  # fmt: skip
    stray = [r.model_copy(update={"run_id": "r0"}) for r in results]  # an earlier run's late batches
    delivered = results + rng.sample(results, k=len(results) // 2) + stray
    rng.shuffle(delivered)
    valid = sum(r.checked for r in results)

    state = verify_run(crawled(valid), "r1", delivered, batches=len(results))

    run = state.verification
    assert run is not None and run.finished and run.finished_at is not None
    assert (run.checked, run.marked) == (valid, sum(r.marked for r in results))
    report = state.report("j", JobStatus.completed, T0)
    marked = sum(r.marked for r in results)
    assert (report.stored_images, report.missing_images) == (valid - marked, marked)
    assert report.valid_images == report.stored_images
    # The same records verified again settle the same numbers.
    again = verify_run(state, "r2", [r.model_copy(update={"run_id": "r2"}) for r in results])
    assert again.report("j", JobStatus.completed, T0) == report.model_copy(update={"updated_at": again.updated_at})


def test_counts_change_only_when_a_run_finishes_and_survive_a_new_crawl_run() -> None:
    first = [BatchVerification(run_id="r1", index=0, checked=20, present=15, missing=5, marked=5, marked_kept=5)]
    assert verify_run(crawled(40), "r1", first, batches=2).report("j", JobStatus.completed, T0).stored_images == 40
    state = verify_run(crawled(40), "r1", first)
    assert state.report("j", JobStatus.completed, T0).stored_images == 35
    state = state.start_verify(VerifyStart(run_id="r2", deep=False, images=40, batches=2, started_at=T0))
    state = state.apply_verify(BatchVerification(run_id="r2", index=0, checked=20, present=12, missing=8, marked=8, marked_kept=8))
    assert state.report("j", JobStatus.completed, T0).stored_images == 35  # r1's numbers until r2 ends
    state = state.apply_verify(BatchVerification(run_id="r2", index=1, checked=20, present=20))
    assert state.report("j", JobStatus.completed, T0).stored_images == 32
    retried = state.start_run(StartRun(run=2, chunk_ids=["c0"], reset=True))
    assert (retried.settled_missing, retried.verification) == (8, state.verification)  # the marks stay on the records


def test_marked_images_that_validation_set_aside_are_not_taken_off_twice() -> None:
    state = crawled(100)
    state = state.start_validation(ValidationStart(run_id="v1", level="medium", images=100, batches=1))
    state = state.apply_validation(BatchValidation(run_id="v1", index=0, validated=100, duplicates=10, rejected=10))
    # 6 marked: 4 that were kept, 2 of the duplicates validation had set aside
    state = verify_run(state, "r1", [BatchVerification(run_id="r1", index=0, checked=100, present=94, missing=6, marked=6, marked_kept=4)])
    report = state.report("j", JobStatus.completed, T0)
    assert (report.stored_images, report.valid_images, report.missing_images) == (94, 86, 6)


def test_a_job_without_records_is_verified_at_once() -> None:
    state = ProgressState().start_verify(VerifyStart(run_id="r1", deep=True, images=0, batches=0, started_at=T0))
    assert state.verification is not None and state.verification.finished and state.verification.finished_at == T0


@given(st.integers(1, 5000), st.integers(0, 2**32 - 1))
def test_every_shard_key_falls_in_exactly_one_batch(batches: int, key: int) -> None:
    holding = [
        i for i in range(max(0, key * batches // 2**32 - 1), min(batches, key * batches // 2**32 + 2))
        if key_range(i, batches)[0] <= key and (key_range(i, batches)[1] is None or key < key_range(i, batches)[1])
    ]  # fmt: skip
    assert len(holding) == 1
    assert key_range(0, batches)[0] == 0 and key_range(batches - 1, batches)[1] is None


def test_records_without_a_shard_key_are_cut_by_id_as_validation_cuts_them() -> None:
    assert batch_query(0, 1) == ("SELECT * FROM c WHERE c.job_id = @pk ORDER BY c.id", {})
    sql, params = batch_query(1, 3)
    assert "(NOT IS_DEFINED(c.shard_key) AND c.id >= @idlow AND c.id < @idhigh)" in sql
    assert (params["@idlow"], params["@idhigh"]) == id_range(1, 3)
    assert (params["@low"], params["@high"]) == key_range(1, 3)


def record(**fields: object) -> ImageRecord:
    base: dict[str, object] = dict(
        id="ab" * 32, job_id="j", user_id="u", label="cat", source="urls", url="http://x/1.png", width=8, height=8,
        format=ImageFormat.png, content_type="image/png", bytes=10, blob_name="images/j/shards/c0/000000-a.tar",
        offset=512, sha256="ab" * 32, phash="0" * 16, chunk_id="c0", origin=Origin(batch_id="b", url="u"),
        validation=ValidationSummary(level=Level.fast),
    )  # fmt: skip
    return ImageRecord.model_validate({**base, **fields})


def test_a_record_knows_its_shard_key_from_its_first_shard() -> None:
    item = record()
    assert item.shard_key == shard_key("images/j/shards/c0/000000-a.tar")
    moved = ImageRecord.model_validate({**item.model_dump(), "blob_name": "images/j/shards/verify-r/000000-b.tar"})
    assert moved.shard_key == item.shard_key  # stored with the record, never recomputed


def test_a_marked_record_stays_out_of_every_dataset_and_is_named() -> None:
    meta = DatasetMeta(dataset_id="d", name="n", job_id="j", include_duplicates=True)
    assert admit(record(missing=True, missing_reason="http_error"), meta) == (None, "missing")
    assert admit(record(missing=True, excluded=True), meta) == (None, "missing")
    tally = ArchiveTally(splits={"train": 1.0})
    for n in range(LEFT_OUT_IDS + 5):
        tally.skip(record(id=f"{n:064x}"), "unreadable")
        tally.skip(record(id=f"{n:064x}"), "excluded")
    assert tally.skipped == {"unreadable": LEFT_OUT_IDS + 5, "excluded": LEFT_OUT_IDS + 5}
    assert tally.named() == {"unreadable": [f"{n:064x}" for n in range(LEFT_OUT_IDS)]}
    assert ArchiveTally.resume(tally.splits, tally.saved()).named() == tally.named()
