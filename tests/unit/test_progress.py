"""Invariants of the job_progress and checkpoint reducers, over any sequence of messages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import (
    BatchResult,
    CheckpointState,
    ChunkCheckpoint,
    ChunkCount,
    ChunkStatus,
    ChunkUpdate,
    JobStatus,
    ProgressState,
    StartRun,
)

CHUNKS = [f"c{i}" for i in range(4)]

batch_results = st.builds(
    BatchResult,
    batch_id=st.just("b"),
    chunk_id=st.sampled_from(CHUNKS),
    seq=st.integers(0, 5),
    run=st.just(1),
    downloaded=st.integers(0, 50),
    valid=st.integers(0, 50),
    duplicates=st.integers(0, 10),
    failed=st.dictionaries(st.sampled_from(["corrupt", "timeout", "http_error"]), st.integers(0, 5)),
)
chunk_updates = st.builds(
    ChunkUpdate,
    chunk_id=st.sampled_from(CHUNKS + ["unknown"]),
    run=st.sampled_from([0, 1]),
    status=st.sampled_from(list(ChunkStatus)),
)
messages = st.lists(st.one_of(batch_results, chunk_updates), max_size=40)


def apply(state: ProgressState, message: BatchResult | ChunkUpdate) -> ProgressState:
    if isinstance(message, BatchResult):
        return state.apply_batch(message)
    return state.update_chunk(message)


def started() -> ProgressState:
    return ProgressState().start_run(StartRun(run=1, chunk_ids=CHUNKS, reset=True))


@given(messages)
def test_chunk_counters_never_exceed_the_total_and_add_up(sequence: list[BatchResult | ChunkUpdate]) -> None:
    state = started()
    for message in sequence:
        state = apply(state, message)
        report = state.report("j", JobStatus.running, None)
        parts = report.active_chunks + report.completed_chunks + report.failed_chunks
        assert report.total_chunks == len(CHUNKS)
        assert parts <= report.total_chunks
        assert parts + state.count(ChunkStatus.pending) == report.total_chunks
        assert 0.0 <= report.progress <= 100.0
        assert report.failed_downloads == sum(report.failed_by_reason.values())


@given(messages, st.data())
def test_delivering_any_message_twice_changes_nothing(sequence: list[BatchResult | ChunkUpdate], data: st.DataObject) -> None:
    once = started()
    twice = started()
    for message in sequence:
        once = apply(once, message)
        twice = apply(twice, message)
        if data.draw(st.booleans()):
            twice = apply(twice, message)
    assert once.model_dump(exclude={"updated_at"}) == twice.model_dump(exclude={"updated_at"})


@given(messages)
def test_progress_is_monotone(sequence: list[BatchResult | ChunkUpdate]) -> None:
    state = started()
    last = state.report("j", JobStatus.running, None)
    for message in sequence:
        state = apply(state, message)
        now = state.report("j", JobStatus.running, None)
        assert now.progress >= last.progress
        assert now.completed_chunks >= last.completed_chunks
        assert now.valid_images >= last.valid_images
        assert now.downloaded_images >= last.downloaded_images
        last = now


def test_a_batch_of_another_run_is_ignored() -> None:
    state = started()
    late = BatchResult(batch_id="c0:0", chunk_id="c0", seq=0, run=0, valid=9)
    assert state.apply_batch(late).valid == 0


def test_retry_resets_counters_and_resume_keeps_them() -> None:
    state = started().apply_batch(BatchResult(batch_id="c0:0", chunk_id="c0", seq=0, run=1, valid=5))
    state = state.update_chunk(ChunkUpdate(chunk_id="c0", run=1, status=ChunkStatus.completed))
    resumed = state.start_run(StartRun(run=2, chunk_ids=CHUNKS, done_chunk_ids=["c0"], reset=False))
    assert resumed.valid == 5
    assert resumed.chunks["c0"] is ChunkStatus.completed
    assert resumed.apply_batch(BatchResult(batch_id="c1:0", chunk_id="c1", seq=0, run=2, valid=2)).valid == 7
    retried = state.start_run(StartRun(run=2, chunk_ids=CHUNKS, reset=True))
    assert retried.valid == 0
    assert retried.count(ChunkStatus.pending) == len(CHUNKS)


def _point(chunk_id: str, seq: int, run: int = 1, status: ChunkStatus = ChunkStatus.in_progress) -> ChunkCheckpoint:
    return ChunkCheckpoint(
        chunk_id=chunk_id, run=run, label="cat", query="cat", source="wikimedia",
        next_offset=seq * 50, next_seq=seq, status=status,
    )


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(CHUNKS), st.integers(0, 20)), max_size=30))
def test_a_checkpoint_never_moves_back(saves: list[tuple[str, int]]) -> None:
    state = CheckpointState().begin("j", 1, [_point(c, 0) for c in CHUNKS])
    highest = {c: 0 for c in CHUNKS}
    for chunk_id, seq in saves:
        state = state.save(_point(chunk_id, seq))
        highest[chunk_id] = max(highest[chunk_id], seq)
        assert state.chunks[chunk_id].next_seq == highest[chunk_id]


def test_a_new_run_starts_where_it_says_and_ignores_the_old_runs_saves_and_begin() -> None:
    """A resume that read c0 at seq 1 starts it there, although a save of seq 3 arrived since:
    the new run crawls those batches again and the progress entity counts from seq 1 too."""
    state = CheckpointState().begin("j", 1, [_point("c0", 0)]).save(_point("c0", 3))
    state = state.begin("j", 2, [_point("c0", 1, run=2)])
    assert (state.chunks["c0"].next_seq, state.chunks["c0"].status) == (1, ChunkStatus.pending)
    assert state.save(_point("c0", 4, run=1)).chunks["c0"].next_seq == 1
    assert state.save(_point("c0", 2, run=2)).chunks["c0"].next_seq == 2
    assert state.begin("j", 1, [_point("c0", 0)]) is state, "a late begin of run 1 changes nothing"


def test_a_resume_rebuilds_the_image_counters_from_the_checkpoint_it_read() -> None:
    state = started()
    for seq in range(3):  # three batches applied; the checkpoint the resume read had two
        state = state.apply_batch(BatchResult(batch_id=f"c0:{seq}", chunk_id="c0", seq=seq, run=1, valid=5,
                                              downloaded=6))  # fmt: skip
    baseline = {"c0": ChunkCount(valid=10, downloaded=12, next_seq=2)}
    resumed = state.start_run(StartRun(run=2, chunk_ids=CHUNKS, reset=False, baseline=baseline))
    assert (resumed.valid, resumed.downloaded) == (10, 12)
    again = resumed.apply_batch(BatchResult(batch_id="c0:2", chunk_id="c0", seq=2, run=2, valid=5, downloaded=6))
    assert again.valid == 15, "the batch the checkpoint had not saved is counted once, by the new run"
    assert again.apply_batch(BatchResult(batch_id="c0:1", chunk_id="c0", seq=1, run=2, valid=5)).valid == 15
    assert resumed.start_run(StartRun(run=1, chunk_ids=CHUNKS, reset=True)) is resumed, "late start of run 1"
