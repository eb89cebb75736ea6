"""The progress body as the API documents it: an integer percent, an estimated completion from
the observed rate (null until known), the stored count beside the count that passed validation;
and job bodies written with the documented aliases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.models import (
    BatchResult,
    BatchValidation,
    ChunkStatus,
    ChunkUpdate,
    JobCreate,
    JobStatus,
    ProgressState,
    StartRun,
    UrlList,
    ValidationStart,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CHUNKS = ["c0", "c1", "c2", "c3"]


def started(run: int = 1) -> ProgressState:
    return ProgressState().start_run(StartRun(run=run, chunk_ids=CHUNKS, reset=True))


def stored(state: ProgressState, chunk: str, seq: int, valid: int, run: int = 1) -> ProgressState:
    return state.apply_batch(BatchResult(batch_id=f"{chunk}:{seq}", chunk_id=chunk, seq=seq, run=run, valid=valid))


def done(state: ProgressState, chunk: str, run: int = 1) -> ProgressState:
    return state.update_chunk(ChunkUpdate(chunk_id=chunk, run=run, status=ChunkStatus.completed))


def test_progress_is_a_whole_percent_that_follows_images_and_chunks() -> None:
    state = stored(started(), "c0", 0, 30)  # 30 of 400 asked for
    report = state.report("j", JobStatus.running, T0, image_target=400, now=T0 + timedelta(seconds=10))
    assert report.progress == 7 and isinstance(report.progress, int)
    state = done(done(state, "c0"), "c1")  # 2 of 4 chunks
    assert state.report("j", JobStatus.running, T0, image_target=400).progress == 50


def test_a_running_job_stays_below_100_and_a_completed_one_is_100() -> None:
    state = started()
    for chunk in CHUNKS:
        state = done(state, chunk)
    assert state.report("j", JobStatus.running, T0).progress == 99  # validating, closing
    finished = T0 + timedelta(minutes=3)
    report = state.report("j", JobStatus.completed, T0, completed_at=finished)
    assert (report.progress, report.estimated_completion) == (100, finished)


def test_the_estimate_is_null_until_the_run_progresses_then_follows_the_rate() -> None:
    state = started()
    assert state.report("j", JobStatus.running, T0, image_target=400, now=T0 + timedelta(seconds=30)).estimated_completion is None
    state = stored(state, "c0", 0, 100)  # a quarter in one minute: three more to go
    now = T0 + timedelta(minutes=1)
    report = state.report("j", JobStatus.running, T0, image_target=400, now=now)
    assert report.estimated_completion == T0 + timedelta(minutes=4)
    assert state.report("j", JobStatus.pending, None, image_target=400).estimated_completion is None
    assert state.report("j", JobStatus.cancelled, T0, image_target=400, now=now).estimated_completion is None


def test_a_resumed_run_estimates_from_its_own_rate_not_from_work_done_before() -> None:
    state = done(stored(started(), "c0", 0, 100), "c0")  # run 1 did a quarter, then stopped
    resumed = state.start_run(StartRun(run=2, chunk_ids=CHUNKS, done_chunk_ids=["c0"], reset=False))
    later = T0 + timedelta(minutes=10)
    assert resumed.report("j", JobStatus.running, T0, image_target=400, now=later).estimated_completion is None
    resumed = stored(resumed, "c1", 0, 100, run=2)  # another quarter in 10 minutes: 20 to go
    report = resumed.report("j", JobStatus.running, T0, image_target=400, now=later)
    assert report.progress == 50
    assert report.estimated_completion == later + timedelta(minutes=20)


@given(st.lists(st.integers(0, 40), min_size=1, max_size=12), st.integers(1, 600))
def test_the_estimate_is_never_before_now(batches: list[int], seconds: int) -> None:
    state = started()
    for seq, valid in enumerate(batches):
        state = stored(state, CHUNKS[seq % 4], seq, valid)
    now = T0 + timedelta(seconds=seconds)
    report = state.report("j", JobStatus.running, T0, image_target=400, now=now)
    assert 0 <= report.progress <= 99
    assert report.estimated_completion is None or report.estimated_completion >= now


def test_after_a_validation_valid_images_counts_what_passed_and_stored_keeps_its_count() -> None:
    state = stored(stored(started(), "c0", 0, 200), "c1", 0, 180)
    before = state.report("j", JobStatus.running, T0)
    assert (before.stored_images, before.valid_images) == (380, 380)
    state = state.start_validation(ValidationStart(run_id="v1", level="medium", images=380, batches=2))
    state = state.apply_validation(BatchValidation(run_id="v1", index=0, validated=190, duplicates=5, rejected=5))
    state = state.apply_validation(BatchValidation(run_id="v1", index=1, validated=190, duplicates=2, invalid=1, rejected=3))
    state = state.apply_validation(BatchValidation(run_id="v1", index=1, validated=190, duplicates=2, invalid=1, rejected=3))
    after = state.report("j", JobStatus.completed, T0)
    assert (after.stored_images, after.valid_images, after.duplicate_images) == (380, 372, 0)


# --- job bodies with the documented aliases -----------------------------------------------


def test_engines_and_max_images_are_aliases_of_sources_and_the_quota() -> None:
    job = JobCreate.model_validate({"name": "pets", "keywords": ["cat", "dog"], "engines": ["wikimedia", "openverse"], "max_images": 30})
    plain = JobCreate.model_validate({"name": "pets", "keywords": ["cat", "dog"], "sources": ["wikimedia", "openverse"], "max_images_per_keyword": 30})
    assert job == plain
    assert "engines" not in job.model_dump() and "max_images" not in job.model_dump()
    assert job.image_target == 2 * 2 * 30  # per keyword AND source


@pytest.mark.parametrize("alias, name, value", [("engines", "sources", ["bing"]), ("max_images", "max_images_per_keyword", 5)])
def test_a_field_and_its_alias_together_are_refused_naming_both(alias: str, name: str, value: object) -> None:
    body = {"name": "x", "keywords": ["cat"], "sources": ["wikimedia"], "max_images_per_keyword": 10, alias: value}
    with pytest.raises(ValidationError) as info:
        JobCreate.model_validate(body)
    (error,) = info.value.errors()
    assert error["type"] == "alias_conflict" and error["ctx"]["field"] == alias
    assert f"'{alias}' is an alias of '{name}'" in error["msg"]


def test_the_request_schema_documents_the_aliases_and_the_per_source_quota() -> None:
    schema = JobCreate.model_json_schema(mode="validation")
    assert {"engines", "max_images"} <= set(schema["properties"])
    assert {"required": ["engines"]} in schema["anyOf"] and "sources" not in schema["required"]
    assert "per keyword AND source" in schema["properties"]["max_images_per_keyword"]["description"]


def test_a_new_validation_run_keeps_the_last_result_until_it_finishes() -> None:
    state = stored(started(), "c0", 0, 100)
    state = state.start_validation(ValidationStart(run_id="v1", level="medium", images=100, batches=2))
    state = state.apply_validation(BatchValidation(run_id="v1", index=0, validated=50, rejected=2))
    assert state.report("j", JobStatus.running, T0).valid_images == 100  # under way: nothing settled
    state = state.apply_validation(BatchValidation(run_id="v1", index=1, validated=50, rejected=1))
    assert state.report("j", JobStatus.completed, T0).valid_images == 97
    state = state.start_validation(ValidationStart(run_id="v2", level="slow", images=100, batches=2))
    state = state.apply_validation(BatchValidation(run_id="v2", index=0, validated=50, rejected=4))
    assert state.report("j", JobStatus.completed, T0).valid_images == 97  # v1's result until v2 ends
    state = state.apply_validation(BatchValidation(run_id="v2", index=1, validated=50, rejected=3))
    assert state.report("j", JobStatus.completed, T0).valid_images == 93


def test_the_image_target_counts_stored_url_lists_too() -> None:
    listed = JobCreate.model_validate({"name": "u", "keywords": ["cat"], "sources": [
        "wikimedia", {"type": "urls", "label": "red", "urls": ["http://a/1.png", "http://a/2.png"]}]})
    stored = listed.model_copy(update={"sources": [listed.sources[0], listed.sources[1].model_copy(
        update={"urls": None, "url_list": UrlList(prefix="images/j/urls/1/", count=2, chunk_size=1)})]})
    assert listed.image_target == stored.image_target == 100 + 2


def test_the_docstring_examples_of_the_estimate_hold() -> None:
    import doctest

    import shared.models.jobs

    result = doctest.testmod(shared.models.jobs)
    assert result.attempted >= 3 and result.failed == 0
