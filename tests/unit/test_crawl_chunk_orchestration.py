"""crawl_chunk's page loop (``orchestrators.crawl._crawl_pages``) driven by a fake durable
context, as the Durable SDK's own tests drive orchestrators: with several download batches in
flight, completing in any order, and the chunk cancelled and resumed from its checkpoint at
any point, it stores exactly the images an uninterrupted run stores, counts each once, and
never counts more than its quota.

The download activity is a model of ``shared.crawl.batches.BatchProcessor``'s rule: records keyed by
content, created if absent; a record found again from the same place (chunk, position, URL) is
the batch's own. The progress counters are the real ``ProgressState`` reducer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from azure.durable_functions.models.Task import TaskState
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrators.crawl import _crawl_pages
from shared.models import (
    BatchResult, Candidate, ChunkRun, ChunkSpec, DiscoverRequest, DiscoverResult, DownloadBatch,
    ProgressState, SourceSpec, StartRun, ValidationRules,
)

CHUNK = "c0"


@dataclass(eq=False)
class Call:
    """A scheduled activity: what the SDK's task exposes to the page loop."""

    name: str
    payload: dict[str, Any]
    result: dict[str, Any] | None = None
    state: TaskState = TaskState.RUNNING

    @property
    def is_completed(self) -> bool:
        return self.state is not TaskState.RUNNING

    def complete(self, result: dict[str, Any]) -> None:
        self.result, self.state = result, TaskState.SUCCEEDED


@dataclass
class Any_:
    """``context.task_any(tasks)``."""

    tasks: list[Call]


@dataclass
class Timer:
    at: datetime


class FakeContext:
    """The part of DurableOrchestrationContext the page loop uses."""

    def __init__(self) -> None:
        self.current_utc_datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.signals: list[tuple[str, str, Any]] = []
        self.calls: list[Call] = []

    def call_activity_with_retry(self, name: str, retry: Any, payload: dict[str, Any]) -> Call:
        call = Call(name, payload)
        self.calls.append(call)
        return call

    def signal_entity(self, entity: Any, operation: str, data: Any) -> None:
        self.signals.append((entity.name, operation, data))

    def create_timer(self, at: datetime) -> Timer:
        return Timer(at)

    def task_any(self, tasks: list[Call]) -> Any_:
        return Any_(list(tasks))


@dataclass
class World:
    """A source's result list (URL -> content, None for a URL that fails) and the store."""

    results: list[tuple[str, str | None]]
    records: dict[str, tuple[int, str]] = field(default_factory=dict)  # content -> (position, url)

    def discover(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = DiscoverRequest.model_validate(payload)
        end = request.offset + request.count
        page = [Candidate(url=url, source="test") for url, _ in self.results[request.offset:end]]
        return DiscoverResult(candidates=page, next_offset=end if end < len(self.results) else None).model_dump(mode="json")

    def download(self, payload: dict[str, Any]) -> dict[str, Any]:
        batch = DownloadBatch.model_validate(payload)
        first: dict[str, tuple[int, str]] = {}
        failed = duplicates = 0
        for index, candidate in enumerate(batch.candidates):
            content = self.results[batch.offset + index][1]
            if content is None:
                failed += 1
            elif content in first:
                duplicates += 1
            else:
                first[content] = (batch.offset + index, candidate.url)
        valid = 0
        for content, place in first.items():
            stored = self.records.setdefault(content, place)
            if stored == place:
                valid += 1
            else:
                duplicates += 1
        return BatchResult(
            batch_id=batch.batch_id, chunk_id=batch.chunk_id, seq=batch.seq, run=batch.run,
            attempted=len(batch.candidates), downloaded=len(batch.candidates) - failed, valid=valid,
            duplicates=duplicates, failed={"http_error": failed} if failed else {},
        ).model_dump(mode="json")


def chunk_run(quota: int, run: int, batch_size: int, in_flight: int, history: int) -> ChunkRun:
    spec = ChunkSpec(chunk_id=CHUNK, job_id="j", index=0, label="cat", query="cat",
                     source=SourceSpec(type="wikimedia"), quota=quota)
    return ChunkRun(job_id="j", user_id="u", run=run, chunk=spec, rules=ValidationRules(),
                    batch_size=batch_size, history_limit=history, batches_in_flight=in_flight)


def crawl(world: World, run: ChunkRun, rng: random.Random, stop_after: int | None) -> tuple[FakeContext, bool]:
    """Run the chunk (continue_as_new included) until it ends, or until ``stop_after`` steps
    (a cancel: what has not been awaited is lost, though activities may have run)."""
    context = FakeContext()
    steps = 0
    while True:
        loop = _crawl_pages(context, run)  # type: ignore[arg-type]
        value: Any = None
        try:
            while True:
                task = loop.send(value)
                steps += 1
                if stop_after is not None and steps > stop_after:
                    for call in context.calls:  # some scheduled downloads ran before the cancel
                        if call.name == "download_batch" and not call.is_completed and rng.random() < 0.5:
                            call.complete(world.download(call.payload))
                    return context, False
                value = None if isinstance(task, Timer) else resolve(world, context, task, rng)
        except StopIteration as stop:
            if stop.value is not None:
                return context, True
        run = ChunkRun.model_validate(run.model_dump(mode="json"))  # continue_as_new


def run_call(world: World, call: Call) -> None:
    if not call.is_completed:
        call.complete(world.discover(call.payload) if call.name == "discover" else world.download(call.payload))


def resolve(world: World, context: FakeContext, task: Call | Any_, rng: random.Random) -> Any:
    """Complete what the loop waits for, in an order of the test's choosing: for a task_any,
    one or more of its tasks (any of them first); for a task, that one (others may run too)."""
    for call in context.calls:  # scheduled batches may finish while the loop waits on others
        if call.name == "download_batch" and rng.random() < 0.2:
            run_call(world, call)
    if isinstance(task, Any_):
        done = [t for t in task.tasks if t.is_completed]
        if not done:
            winner = rng.choice(task.tasks)
            run_call(world, winner)
            done = [winner]
        return done[0]
    run_call(world, task)
    return task.result


def progress_of(signals: list[tuple[str, str, Any]], state: ProgressState) -> ProgressState:
    for entity, operation, data in signals:
        if entity == "job_progress" and operation == "batch":
            state = state.apply_batch(BatchResult.model_validate(data))
            assert state.valid <= QUOTA_SEEN[0], "counted more than the quota"
    return state


QUOTA_SEEN = [0]


@settings(max_examples=400, deadline=None)
@given(
    contents=st.lists(st.one_of(st.none(), st.integers(0, 40).map(str)), min_size=0, max_size=60),
    quota=st.integers(1, 40),
    batch_size=st.integers(1, 9),
    in_flight=st.integers(1, 4),
    history=st.integers(1, 8),
    cancels=st.lists(st.integers(2, 24), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_a_chunk_cancelled_and_resumed_anywhere_stores_and_counts_what_an_uninterrupted_one_does(
    contents: list[str | None], quota: int, batch_size: int, in_flight: int, history: int,
    cancels: list[int], seed: int,
) -> None:
    results = [(f"https://example.org/{i}", content) for i, content in enumerate(contents)]
    QUOTA_SEEN[0] = quota
    rng = random.Random(seed)

    reference = World(results)
    context, done = crawl(reference, chunk_run(quota, 1, batch_size, in_flight, history), rng, None)
    assert done
    expected = progress_of(context.signals, ProgressState(run=1))
    unique = len({c for c in contents if c is not None})
    assert expected.valid == len(reference.records) == min(quota, unique)

    world = World(results)
    state = ProgressState(run=1)
    run = chunk_run(quota, 1, batch_size, in_flight, history)
    point: dict[str, Any] | None = None  # the checkpoint entity: the last position saved
    for number, stop_after in enumerate([*cancels, None], start=1):
        context, done = crawl(world, run, rng, stop_after)
        state = progress_of(context.signals, state)
        saves = [data for entity, op, data in context.signals if entity == "checkpoint" and op == "save"]
        point = saves[-1] if saves else point
        if done:
            break
        state = state.start_run(StartRun(run=number + 1, chunk_ids=[CHUNK], reset=False))
        run = chunk_run(quota, number + 1, batch_size, in_flight, history)
        if point is not None:
            run.offset, run.seq = point["next_offset"], point["next_seq"]
            run.valid, run.downloaded = point["valid"], point["downloaded"]
        assert run.valid == state.valid, "the checkpoint agrees with the counters"
    assert set(world.records) == set(reference.records)
    assert state.valid == len(world.records) == expected.valid
