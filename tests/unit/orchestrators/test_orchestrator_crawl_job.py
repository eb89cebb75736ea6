"""crawl_job driven by the fake durable context: its chunks as crawl_chunk sub-orchestrations
(the real one, driven in turn), at most ``max_parallel`` at once, then validation, then the
run closed -- also when a chunk's orchestration fails."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import ChunkOutcome, ChunkRun, ChunkStatus, CrawlJobInput, FinishJob, Level, ValidateJobInput
from shared.workflow import chunk_instance_id
from tests.unit.orchestrators._crawlworld import JOB, Source, chunk_run, distinct
from tests.unit.orchestrators._durable import (
    CRAWL_CHUNK, FINISH_JOB, VALIDATE_JOB, ActivityFailed, Entities, Episode, FakeContext, Task, World,
    crawl_chunk, crawl_job, drive_through,
)


def chunks(count: int, quota: int = 6) -> list[ChunkRun]:
    runs = []
    for index in range(count):
        run = chunk_run(quota, batch_size=4)
        run.chunk = run.chunk.model_copy(update={"chunk_id": f"c{index}", "index": index, "query": f"cat {index}"})
        runs.append(run)
    return runs


def job(count: int, max_parallel: int = 16, level: str = Level.fast.value) -> dict[str, Any]:
    return CrawlJobInput(job_id=JOB, user_id="u", run=1, chunks=chunks(count), max_parallel=max_parallel,
                         validation_level=level).model_dump(mode="json")


class Job(World):
    """Sub-orchestrations answered by a handler (by default, the real crawl_chunk driven over
    one source per chunk, sharing the job's entities); finish_job echoes its counts."""

    def __init__(self, entities: Entities, chunk: Any = None, pick: Any = None) -> None:
        super().__init__({CRAWL_CHUNK: chunk or self.crawl, FINISH_JOB: self.finish,
                          VALIDATE_JOB: self.validate}, pick)
        self.entities = entities
        self.sources: dict[str, Source] = {}
        self.most_running = 0
        self.finished: list[FinishJob] = []
        self.validations: list[ValidateJobInput] = []

    def crawl(self, payload: dict[str, Any]) -> Any:
        chunk_id = payload["chunk"]["chunk_id"]
        source = self.sources.setdefault(chunk_id, Source(distinct(20)))
        episodes = drive_through(crawl_chunk, payload, World(source.handlers()), self.entities)
        return episodes[-1].output

    def validate(self, payload: dict[str, Any]) -> Any:
        self.validations.append(ValidateJobInput.model_validate(payload))
        return {}

    def finish(self, payload: dict[str, Any]) -> Any:
        finish = FinishJob.model_validate(payload)
        self.finished.append(finish)
        return {"valid": sum(o.valid for o in finish.outcomes), "error": finish.error}

    def __call__(self, context: FakeContext, task: Task) -> None:
        self.most_running = max(self.most_running, len(context.running(CRAWL_CHUNK)))
        super().__call__(context, task)


def only(episodes: list[Episode]) -> Episode:
    [episode] = episodes
    assert episode.error is None, episode.error
    return episode


def test_every_chunk_runs_once_as_a_sub_orchestration_and_the_run_is_closed_with_all_outcomes() -> None:
    entities = Entities()
    world = Job(entities)
    episode = only(drive_through(crawl_job, job(5, max_parallel=2), world, entities))

    calls = episode.context.calls(CRAWL_CHUNK)
    assert [c.instance_id for c in calls] == [chunk_instance_id(JOB, 1, f"c{i}") for i in range(5)]
    assert [c.payload for c in calls] == [r.model_dump(mode="json") for r in chunks(5)]
    assert world.most_running == 2
    [finish] = world.finished
    assert sorted(o.chunk_id for o in finish.outcomes) == [f"c{i}" for i in range(5)] and finish.error is None
    assert episode.output == {"valid": 30, "error": None}
    progress = entities.progress(JOB)
    assert progress.valid == 30 and progress.phase == "done"
    assert set(progress.chunks.values()) == {ChunkStatus.completed}
    assert {c.status for c in entities.checkpoint(JOB).chunks.values()} == {ChunkStatus.completed}
    assert not world.validations


@pytest.mark.parametrize("level", [Level.medium, Level.slow])
def test_a_job_above_the_fast_level_validates_after_every_chunk(level: Level) -> None:
    entities = Entities()
    world = Job(entities)
    episode = only(drive_through(crawl_job, job(3, level=level.value), world, entities))
    [validation] = world.validations
    assert validation.job_id == JOB and validation.level is level and not validation.standalone
    names = [c.name for c in episode.context.scheduled if c.kind != "entity"]
    assert names.index(VALIDATE_JOB) > max(i for i, name in enumerate(names) if name == CRAWL_CHUNK)
    assert names[-1] == FINISH_JOB and entities.progress(JOB).phase == "done"


@pytest.mark.parametrize("max_parallel", [1, 2, 16])
def test_a_failing_chunk_orchestration_closes_the_run_as_failed(max_parallel: int) -> None:
    """However the failure is awaited (the first of several running, or in the last wave),
    the run is closed with its error and no further chunk starts."""
    entities = Entities()

    def chunk(payload: dict[str, Any]) -> Any:
        run = ChunkRun.model_validate(payload)
        if run.chunk.chunk_id == "c0":
            raise ActivityFailed("orchestration c0 crashed")
        return ChunkOutcome(chunk_id=run.chunk.chunk_id, status=ChunkStatus.completed, valid=1).model_dump(mode="json")

    world = Job(entities, chunk)
    episode = only(drive_through(crawl_job, job(3, max_parallel=max_parallel), world, entities))
    [finish] = world.finished
    assert finish.error is not None and "orchestration c0 crashed" in finish.error
    assert episode.output["error"] == finish.error
    assert entities.progress(JOB).phase == "done"
    assert len(episode.context.calls(CRAWL_CHUNK)) == min(max_parallel, 3), "no chunk starts after the failure"


@settings(max_examples=40)
@given(count=st.integers(0, 9), max_parallel=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_chunks_never_run_more_than_max_parallel_at_once(count: int, max_parallel: int, seed: int) -> None:
    rng = random.Random(seed)
    entities = Entities()

    def chunk(payload: dict[str, Any]) -> Any:
        run = ChunkRun.model_validate(payload)
        return ChunkOutcome(chunk_id=run.chunk.chunk_id, status=ChunkStatus.completed, valid=1).model_dump(mode="json")

    world = Job(entities, chunk, pick=lambda running: rng.choice(running))
    episode = only(drive_through(crawl_job, job(count, max_parallel=max_parallel), world, entities))
    ids = [c.instance_id for c in episode.context.calls(CRAWL_CHUNK)]
    assert sorted(ids) == sorted(chunk_instance_id(JOB, 1, f"c{i}") for i in range(count)) and len(set(ids)) == count
    assert world.most_running <= max_parallel
    [finish] = world.finished
    assert len(finish.outcomes) == count and episode.output["valid"] == count
