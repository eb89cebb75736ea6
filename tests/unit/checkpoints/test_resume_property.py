"""For any interleaving of batch completions, entity deliveries, crashes and cancel/resumes,
the checkpoint's counts equal the progress counters and, once the job is done, the records
stored — and the records are those of an uninterrupted run.

A model of the crawl at the level of the durable runtime, driving the real reducers
(ProgressState, CheckpointState) and the real resume arithmetic of shared.jobs:

* ``activity``: the next batch of a chunk writes its records (create-if-absent, keyed by
  sha256; a record remembers the batch and URL that stored it) and holds its result;
* ``commit``: the orchestration episode takes the result: its entity signals are queued (one
  transaction with the chunk's new position);
* ``deliver``: the oldest queued entity message is applied;
* ``crash``: results not yet committed are lost (the activity runs again later);
* ``resume``: the run is cancelled (results lost), the checkpoint is read as it is at that
  moment — possibly behind queued saves — and a new run starts from it.

Two chunks share a label (variations of one keyword), so they race for the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import (
    BatchResult,
    CheckpointState,
    ChunkCheckpoint,
    ChunkStatus,
    ChunkUpdate,
    ProgressState,
    StartRun,
)

BATCH = 4
#: chunk -> (label, quota). c0 and c1 are two variations of "cat".
CHUNKS = {"c0": ("cat", 9), "c1": ("cat", 9), "c2": ("dog", 7)}
#: The catalogue per label: (url, sha256); None is an invalid file. "cat" repeats an image.
CATALOGUE: dict[str, list[tuple[str, str | None]]] = {
    "cat": [(f"cat/{i}", None if i % 5 == 3 else f"sha-cat-{i if i != 8 else 2}") for i in range(40)],
    "dog": [(f"dog/{i}", None if i % 4 == 1 else f"sha-dog-{i}") for i in range(30)],
}


@dataclass
class Chunk:
    """crawl_chunk's committed state (what its history holds)."""

    chunk_id: str
    run: int
    offset: int = 0
    seq: int = 0
    valid: int = 0
    downloaded: int = 0
    done: bool = False


@dataclass
class World:
    records: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha -> (batch id, url)
    progress: ProgressState = field(default_factory=ProgressState)
    checkpoint: CheckpointState = field(default_factory=CheckpointState)
    inbox: list[tuple[str, str, Any]] = field(default_factory=list)
    results: dict[str, BatchResult] = field(default_factory=dict)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    run: int = 0

    # --- the runtime ----------------------------------------------------------------------
    def start(self, reset: bool, saved: CheckpointState) -> None:
        self.run += 1
        self.results.clear()
        done = [c for c, p in saved.chunks.items() if p.status is ChunkStatus.completed]
        self.chunks = {}
        for chunk_id in CHUNKS:
            if chunk_id in done:
                continue
            point = saved.chunks.get(chunk_id)
            chunk = Chunk(chunk_id, self.run)
            if point is not None:  # shared.jobs.resume_job: continue at the saved position
                chunk.offset, chunk.seq, chunk.valid, chunk.downloaded = (
                    point.next_offset, point.next_seq, point.valid, point.downloaded,
                )
            self.chunks[chunk_id] = chunk
        start = StartRun(run=self.run, chunk_ids=list(CHUNKS), done_chunk_ids=done, reset=reset)
        self.inbox.append(("progress", "start_run", start))
        self.inbox.append(("checkpoint", "begin", [self._point(c) for c in self.chunks.values()]))

    def _point(self, chunk: Chunk, status: ChunkStatus = ChunkStatus.in_progress) -> ChunkCheckpoint:
        label, _ = CHUNKS[chunk.chunk_id]
        return ChunkCheckpoint(
            chunk_id=chunk.chunk_id, run=chunk.run, label=label, query=label, source="wikimedia",
            next_offset=chunk.offset, next_seq=chunk.seq, downloaded=chunk.downloaded, valid=chunk.valid,
            status=status,
        )

    def open_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks.values() if not c.done]

    def activity(self, chunk: Chunk) -> None:
        """download_batch: the records of the next page, counted as BatchProcessor counts."""
        label, quota = CHUNKS[chunk.chunk_id]
        page = CATALOGUE[label][chunk.offset : chunk.offset + min(BATCH, quota - chunk.valid)]
        batch_id = f"{chunk.chunk_id}:{chunk.seq}"
        valid = 0
        for url, sha in page:
            if sha is None:
                continue
            owner = self.records.setdefault(sha, (batch_id, url))
            valid += owner == (batch_id, url)
        self.results[chunk.chunk_id] = BatchResult(
            batch_id=batch_id, chunk_id=chunk.chunk_id, seq=chunk.seq, run=chunk.run,
            downloaded=len(page), valid=valid,
        )

    def commit(self, chunk: Chunk) -> None:
        """The orchestration episode that takes a batch result: position + signals, atomically."""
        result = self.results.pop(chunk.chunk_id)
        label, quota = CHUNKS[chunk.chunk_id]
        self.inbox.append(("progress", "batch", result))
        chunk.offset += min(BATCH, quota - chunk.valid)
        chunk.seq += 1
        chunk.valid += result.valid
        chunk.downloaded += result.downloaded
        if chunk.valid >= quota or chunk.offset >= len(CATALOGUE[label]):
            chunk.done = True
            self.inbox.append(("checkpoint", "save", self._point(chunk, ChunkStatus.completed)))
            self.inbox.append(("progress", "chunk", ChunkUpdate(chunk_id=chunk.chunk_id, run=chunk.run,
                                                                status=ChunkStatus.completed)))
        else:
            self.inbox.append(("checkpoint", "save", self._point(chunk)))

    def deliver(self) -> None:
        entity, operation, data = self.inbox.pop(0)
        if entity == "checkpoint":
            self.checkpoint = (
                self.checkpoint.save(data) if operation == "save" else self.checkpoint.begin("j", self.run, data)
            )
        elif operation == "start_run":
            self.progress = self.progress.start_run(data)
        elif operation == "batch":
            self.progress = self.progress.apply_batch(data)
        else:
            self.progress = self.progress.update_chunk(data)

    def crash(self) -> None:
        self.results.clear()

    def resume(self) -> None:
        self.crash()
        self.start(reset=False, saved=self.checkpoint.model_copy(deep=True))

    def settle(self) -> None:
        while self.inbox:
            self.deliver()

    def finish(self) -> None:
        """Let the job run to its end with no more faults."""
        while self.open_chunks() or self.inbox:
            self.settle()
            for chunk in self.open_chunks():
                self.activity(chunk)
                self.commit(chunk)


def uninterrupted() -> World:
    world = World()
    world.start(reset=True, saved=CheckpointState())
    world.finish()
    return world


REFERENCE = uninterrupted()

steps = st.lists(
    st.tuples(st.sampled_from(["activity", "commit", "deliver", "crash", "resume"]), st.integers(0, 10)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_checkpoint_counts_equal_the_records_whatever_the_interleaving(plan: list[tuple[str, int]]) -> None:
    world = World()
    world.start(reset=True, saved=CheckpointState())
    for action, pick in plan:
        chunks = world.open_chunks()
        chunk = chunks[pick % len(chunks)] if chunks else None
        if action == "activity" and chunk is not None and chunk.chunk_id not in world.results:
            world.activity(chunk)
        elif action == "commit" and chunk is not None and chunk.chunk_id in world.results:
            world.commit(chunk)
        elif action == "deliver" and world.inbox:
            world.deliver()
        elif action == "crash":
            world.crash()
        elif action == "resume":
            world.resume()
        if not world.inbox and world.progress.run == world.checkpoint.run:
            assert world.checkpoint.summary().images_so_far == world.progress.valid
    world.finish()
    counted = world.checkpoint.summary().images_so_far
    assert counted == world.progress.valid == len(world.records)
    assert set(world.records) == set(REFERENCE.records)
    assert all(p.status is ChunkStatus.completed for p in world.checkpoint.chunks.values())


def test_the_reference_run_fills_every_quota() -> None:
    assert len(REFERENCE.records) == sum(quota for _, quota in CHUNKS.values())
    assert REFERENCE.progress.valid == len(REFERENCE.records)


def test_a_resume_that_reads_the_checkpoint_behind_queued_saves_converges() -> None:
    """Cancel right after two batches of c2 committed, before the entity applied their saves:
    the new run starts at an older position, re-does those batches (recognised as its own
    records) and the checkpoint never moves back."""
    world = World()
    world.start(reset=True, saved=CheckpointState())
    world.settle()
    chunk = world.chunks["c2"]
    for _ in range(2):
        world.activity(chunk)
        world.commit(chunk)
    world.resume()  # reads the checkpoint with c2 still at its first position
    assert world.chunks["c2"].seq == 0
    resumed = world.chunks["c2"]
    world.activity(resumed)
    world.commit(resumed)
    world.settle()
    assert world.checkpoint.chunks["c2"].next_seq == 2
    assert world.checkpoint.summary().images_so_far == world.progress.valid == len(world.records)
    world.finish()
    assert set(world.records) == set(REFERENCE.records)
