"""For any interleaving of batch completions, entity deliveries, crashes and cancel/resumes,
the checkpoint's counts equal the progress counters and, once the job is done, the records
stored — and the records are those of an uninterrupted run.

A model of the crawl at the level of the durable runtime, driving the real reducers
(ProgressState, CheckpointState) and the real resume arithmetic (``resume_plan``, what
shared.crawl.jobs.resume_job runs):

* ``activity``: the next batch of a chunk writes its records (create-if-absent, keyed by
  sha256; a record remembers the batch and URL that stored it) and holds its result;
* ``commit``: the orchestration episode takes the result: its entity signals are queued (one
  transaction with the chunk's new position);
* ``deliver``: the oldest message of one sender to one entity is applied. Durable Functions
  keeps the order of one sender's messages to one entity, not across senders (or entities),
  so a terminated run's messages may arrive after the next run's;
* ``crash``: results not yet committed are lost (the activity runs again later);
* ``resume``: the run is cancelled (results lost; what its orchestrations had sent is still on
  its way), the checkpoint is read as it is at that moment — possibly behind queued saves —
  and a new run starts from it. Its chunks start once its crawl_job has called ``start_run``
  and ``begin`` (calls, not signals: they complete first).

Two chunks share a label (variations of one keyword), so they race for the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.models import (
    BatchResult,
    CheckpointState,
    ChunkCheckpoint,
    ChunkRun,
    ChunkSpec,
    ChunkStatus,
    ChunkUpdate,
    ProgressState,
    SourceSpec,
    SourceType,
    StartRun,
    ValidationRules,
    resume_plan,
)

BATCH = 4
#: chunk -> (label, quota). c0 and c1 are two variations of "cat".
CHUNKS = {"c0": ("cat", 9), "c1": ("cat", 9), "c2": ("dog", 7)}
#: The catalogue per label: (url, sha256); None is an invalid file. "cat" repeats an image.
CATALOGUE: dict[str, list[tuple[str, str | None]]] = {
    "cat": [(f"cat/{i}", None if i % 5 == 3 else f"sha-cat-{i if i != 8 else 2}") for i in range(40)],
    "dog": [(f"dog/{i}", None if i % 4 == 1 else f"sha-dog-{i}") for i in range(30)],
}
#: A queue: (run, sender, entity). One sender's messages to one entity keep their order.
Queue = tuple[int, str, str]


def chunk_run(chunk_id: str) -> ChunkRun:
    """What shared.crawl.jobs plans for a chunk: offset 0, no counts (resume_plan fills them in)."""
    label, quota = CHUNKS[chunk_id]
    spec = ChunkSpec(
        chunk_id=chunk_id, job_id="j", index=0, label=label, query=label,
        source=SourceSpec(type=SourceType.wikimedia), quota=quota,
    )  # fmt: skip
    return ChunkRun(job_id="j", user_id="u", run=0, chunk=spec, rules=ValidationRules(), batch_size=BATCH,
                    history_limit=20)  # fmt: skip


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
    queues: dict[Queue, list[tuple[str, Any]]] = field(default_factory=dict)
    results: dict[str, BatchResult] = field(default_factory=dict)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    run: int = 0

    # --- the runtime ----------------------------------------------------------------------
    def send(self, sender: str, entity: str, operation: str, data: Any) -> None:
        self.queues.setdefault((self.run, sender, entity), []).append((operation, data))

    def start(self, reset: bool, saved: CheckpointState) -> None:
        """start_job / resume_job, then crawl_job's start_run and begin (sent, not applied)."""
        self.run += 1
        self.results.clear()
        plan = resume_plan(saved, [chunk_run(c) for c in CHUNKS])
        self.chunks = {}
        for run in plan.runs:
            chunk = Chunk(run.chunk.chunk_id, self.run, run.offset, run.seq, run.valid, run.downloaded)
            self.chunks[chunk.chunk_id] = chunk
        start = StartRun(
            run=self.run, chunk_ids=list(CHUNKS), done_chunk_ids=plan.done_chunk_ids, reset=reset,
            baseline=None if reset else plan.baseline,
        )  # fmt: skip
        self.send("job", "progress", "start_run", start)
        self.send("job", "checkpoint", "begin", (self.run, [self._point(c, ChunkStatus.pending)
                                                            for c in self.chunks.values()]))  # fmt: skip

    @property
    def started(self) -> bool:
        """crawl_job's calls of start_run and begin have completed: its chunks may run."""
        return not any(self.queues.get((self.run, "job", entity)) for entity in ("progress", "checkpoint"))

    def _point(self, chunk: Chunk, status: ChunkStatus = ChunkStatus.in_progress) -> ChunkCheckpoint:
        label, _ = CHUNKS[chunk.chunk_id]
        return ChunkCheckpoint(
            chunk_id=chunk.chunk_id, run=chunk.run, label=label, query=label, source="wikimedia",
            next_offset=chunk.offset, next_seq=chunk.seq, downloaded=chunk.downloaded, valid=chunk.valid,
            status=status,
        )

    def open_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks.values() if not c.done] if self.started else []

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
        self.send(chunk.chunk_id, "progress", "batch", result)
        chunk.offset += min(BATCH, quota - chunk.valid)
        chunk.seq += 1
        chunk.valid += result.valid
        chunk.downloaded += result.downloaded
        if chunk.valid >= quota or chunk.offset >= len(CATALOGUE[label]):
            chunk.done = True
            self.send(chunk.chunk_id, "checkpoint", "save", self._point(chunk, ChunkStatus.completed))
            self.send(chunk.chunk_id, "progress", "chunk",
                      ChunkUpdate(chunk_id=chunk.chunk_id, run=chunk.run, status=ChunkStatus.completed))  # fmt: skip
        else:
            self.send(chunk.chunk_id, "checkpoint", "save", self._point(chunk))

    def waiting(self) -> list[Queue]:
        return sorted(queue for queue, messages in self.queues.items() if messages)

    def deliver(self, pick: int = 0) -> None:
        """Apply the oldest message of one (sender, entity) queue: ``pick`` chooses which."""
        queues = self.waiting()
        queue = queues[pick % len(queues)]
        operation, data = self.queues[queue].pop(0)
        if queue[2] == "checkpoint":
            self.checkpoint = self.checkpoint.save(data) if operation == "save" else self.checkpoint.begin("j", *data)
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
        while self.waiting():
            self.deliver()

    def finish(self) -> None:
        """Let the job run to its end with no more faults."""
        while self.waiting() or self.open_chunks():
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


def play(plan: list[tuple[str, int]]) -> World:
    """Run the plan, checking after every step that a settled checkpoint and progress agree."""
    world = World()
    world.start(reset=True, saved=CheckpointState())
    for action, pick in plan:
        chunks = world.open_chunks()
        chunk = chunks[pick % len(chunks)] if chunks else None
        if action == "activity" and chunk is not None and chunk.chunk_id not in world.results:
            world.activity(chunk)
        elif action == "commit" and chunk is not None and chunk.chunk_id in world.results:
            world.commit(chunk)
        elif action == "deliver" and world.waiting():
            world.deliver(pick)
        elif action == "crash":
            world.crash()
        elif action == "resume":
            world.resume()
        if not world.waiting() and world.progress.run == world.checkpoint.run:
            assert world.checkpoint.summary().images_so_far == world.progress.valid
    return world


# The plan that failed at random in CI, and the same with the old run's save delivered after
# the new run's start (as Durable Functions may deliver two senders' messages).
@example(plan=[("activity", 0), ("commit", 0), ("deliver", 0), ("resume", 0)] + [("deliver", 0)] * 5)
@example(plan=[("deliver", 0), ("deliver", 0), ("activity", 2), ("commit", 2), ("resume", 0),
               ("deliver", 0), ("deliver", 1), ("deliver", 1), ("deliver", 0)])  # fmt: skip
@settings(max_examples=max(300, settings().max_examples))  # more under the "wide" profile
@given(steps)
def test_checkpoint_counts_equal_the_records_whatever_the_interleaving(plan: list[tuple[str, int]]) -> None:
    world = play(plan)
    world.finish()
    counted = world.checkpoint.summary().images_so_far
    assert counted == world.progress.valid == len(world.records)
    assert set(world.records) == set(REFERENCE.records)
    assert all(p.status is ChunkStatus.completed for p in world.checkpoint.chunks.values())


def test_the_reference_run_fills_every_quota() -> None:
    assert len(REFERENCE.records) == sum(quota for _, quota in CHUNKS.values())
    assert REFERENCE.progress.valid == len(REFERENCE.records)


def test_a_resume_that_reads_the_checkpoint_behind_queued_saves_converges() -> None:
    """Cancel right after two batches of c2 committed, before the entities applied anything of
    them: the new run starts at the position it read, re-does those batches (recognised as its
    own records) and both entities follow the run that crawls, whatever arrives late."""
    world = World()
    world.start(reset=True, saved=CheckpointState())
    world.settle()
    chunk = world.chunks["c2"]
    for _ in range(2):
        world.activity(chunk)
        world.commit(chunk)
    world.resume()  # reads the checkpoint with c2 still at its first position
    assert world.chunks["c2"].seq == 0
    world.settle()  # the old run's saves and batches, then the new run's start: in any order
    assert world.checkpoint.chunks["c2"].next_seq == 0
    assert world.checkpoint.summary().images_so_far == world.progress.valid == 0
    resumed = world.chunks["c2"]
    world.activity(resumed)
    world.commit(resumed)
    world.settle()
    assert world.checkpoint.chunks["c2"].next_seq == 1
    assert world.checkpoint.summary().images_so_far == world.progress.valid > 0
    world.finish()
    assert world.checkpoint.summary().images_so_far == world.progress.valid == len(world.records)
    assert set(world.records) == set(REFERENCE.records)


def test_the_old_runs_save_arriving_after_the_new_run_started_changes_nothing() -> None:
    """c2's batch is applied to the progress entity, its save is still on its way when the job
    is resumed from the checkpoint that misses it; the save arrives after the new run's start."""
    world = World()
    world.start(reset=True, saved=CheckpointState())
    world.settle()
    chunk = world.chunks["c2"]
    world.activity(chunk)
    world.commit(chunk)
    world.deliver(world.waiting().index((1, "c2", "progress")))  # the batch, not the save
    world.resume()
    for queue in [(2, "job", "progress"), (2, "job", "checkpoint"), (1, "c2", "checkpoint")]:
        world.deliver(world.waiting().index(queue))
    assert not world.waiting()
    assert world.checkpoint.summary().images_so_far == world.progress.valid == 0
    world.finish()
    assert world.checkpoint.summary().images_so_far == world.progress.valid == len(world.records)
