"""validate_job driven by the fake durable context: the near-duplicate search's stages and the
validation batches fanned out in waves and fanned in, pacing, continue_as_new, failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrators.validation import STAGES
from shared.models import (
    DedupePlan, DedupeStage, DedupeStageResult, DedupeTask, Level, PlanValidation, ProgressState, StartRun,
    ValidateBatch, ValidateJobInput, ValidationPlan,
)
from tests.unit.orchestrators._durable import (
    PLAN_VALIDATION, VALIDATE_BATCH, ActivityFailed, Entities, Episode, FakeContext, Task, World, WhenAll,
    drive_through, validate_job,
)

JOB = "j"
PER_BATCH = 30


def entities_of_a_crawled_job() -> Entities:
    entities = Entities()
    entities.progress_states[JOB] = ProgressState().start_run(StartRun(run=1, chunk_ids=["c0"], reset=True))
    return entities


class Validation(World):
    """plan_validation answers ``plan`` (with the run id it is given); every batch validates
    PER_BATCH images and rejects one; the dedupe stages count what they are given. Records
    the waves (task_all) it is asked to complete, and what was running then."""

    def __init__(self, plan: ValidationPlan, fail_batch: int | None = None) -> None:
        handlers: dict[str, Any] = {PLAN_VALIDATION: self.plan, VALIDATE_BATCH: self.batch}
        handlers.update({stage.value: lambda payload, stage=stage: self.dedupe(stage, payload) for stage in STAGES})
        super().__init__(handlers)
        self.planned, self.fail_batch = plan, fail_batch
        self.plans = 0
        self.waves: list[tuple[str, list[int]]] = []
        self.overlaps: list[int] = []  # calls running besides the wave, at each wave

    def plan(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.plans += 1
        request = PlanValidation.model_validate(payload)
        return self.planned.model_copy(update={"run_id": request.run_id}).model_dump(mode="json")

    def batch(self, payload: dict[str, Any]) -> dict[str, Any]:
        batch = ValidateBatch.model_validate(payload)
        if batch.index == self.fail_batch:
            raise ActivityFailed("Cosmos DB unavailable")
        return {"run_id": batch.run_id, "index": batch.index, "validated": PER_BATCH, "invalid": 1, "rejected": 1}

    def dedupe(self, stage: DedupeStage, payload: dict[str, Any]) -> dict[str, Any]:
        task = DedupeTask.model_validate(payload)
        result = DedupeStageResult(stage=stage, index=task.index, records=10, changed=2, groups=3, duplicates=4)
        return result.model_dump(mode="json")

    def __call__(self, context: FakeContext, task: Task) -> None:
        if isinstance(task, WhenAll):
            names = {child.name for child in task.children}
            assert len(names) == 1, "one wave runs one activity"
            self.waves.append((names.pop(), [child.payload["index"] for child in task.children]))
            self.overlaps.append(len([c for c in context.running() if c not in task.children]))
        super().__call__(context, task)


def plan(batches: int, parallel: int, *, waves: int = 100, pacing: bool = False, rate: int = 60,
         dedupe: DedupePlan | None = None) -> ValidationPlan:
    return ValidationPlan(run_id="", images=batches * PER_BATCH, batches=batches, parallel=parallel,
                          rate_per_minute=rate, pacing=pacing, waves_per_history=waves, dedupe=dedupe)


def start(level: Level = Level.fast, standalone: bool = False) -> dict[str, Any]:
    return ValidateJobInput(job_id=JOB, user_id="u", level=level, standalone=standalone).model_dump(mode="json")


def search(maps: int = 3, partitions: int = 4, parallel: int = 2) -> DedupePlan:
    return DedupePlan(maps=maps, chunk_records=100, partitions=partitions, threshold=10, window_threshold=4,
                      parallel=parallel)


def done(episodes: list[Episode]) -> dict[str, Any]:
    last = episodes[-1]
    assert last.error is None and last.continued_with is None, last.error
    return last.output  # type: ignore[no-any-return]


def test_batches_fan_out_in_waves_of_parallel_and_fan_in_before_the_next() -> None:
    entities = entities_of_a_crawled_job()
    world = Validation(plan(7, 3))
    episodes = drive_through(validate_job, start(), world, entities)

    assert world.waves == [(VALIDATE_BATCH, [0, 1, 2]), (VALIDATE_BATCH, [3, 4, 5]), (VALIDATE_BATCH, [6])]
    assert world.overlaps == [0, 0, 0]
    summary = done(episodes)
    assert summary["images"] == 7 * PER_BATCH and summary["batches"] == 7 and summary["level"] == Level.fast.value
    validation = entities.progress(JOB).validation
    assert validation is not None and validation.finished
    assert validation.validated == 7 * PER_BATCH and validation.rejected == 7
    assert entities.progress(JOB).phase == "validating"  # a crawl's validation: the crawl closes the phase
    [call] = episodes[0].context.calls(PLAN_VALIDATION)
    assert PlanValidation.model_validate(call.payload).level is Level.fast


def test_the_near_duplicate_search_runs_its_stages_in_order_before_the_batches() -> None:
    dedupe = search(maps=3, partitions=5, parallel=2)
    world = Validation(plan(2, 2, dedupe=dedupe))
    summary = done(drive_through(validate_job, start(Level.medium), world, entities_of_a_crawled_job()))

    expected: list[tuple[str, list[int]]] = []
    for stage in STAGES:
        indices = list(range(stage.tasks(dedupe)))
        expected += [(stage.value, indices[i:i + dedupe.parallel]) for i in range(0, len(indices), dedupe.parallel)]
    assert world.waves == [*expected, (VALIDATE_BATCH, [0, 1])]
    assert [name for name, _ in world.waves][:3] == [DedupeStage.map.value] * 2 + [DedupeStage.search.value]
    assert summary["duplicates"] == 4 and summary["changed"] == 2 * dedupe.maps


def test_pacing_waits_on_durable_timers_to_the_levels_rate() -> None:
    world = Validation(plan(4, 1, pacing=True, rate=60))
    episodes = drive_through(validate_job, start(), world, entities_of_a_crawled_job())
    done(episodes)
    timers = [c for c in episodes[0].context.scheduled if c.kind == "timer"]
    begun = episodes[0].context.current_utc_datetime - timedelta(seconds=3 * PER_BATCH)
    # one image a second: after n batches of PER_BATCH, the next waits until n * PER_BATCH s
    assert [t.fire_at for t in timers] == [begun + timedelta(seconds=n * PER_BATCH) for n in (1, 2, 3)]

    unpaced = drive_through(validate_job, start(), Validation(plan(4, 1, pacing=False)), entities_of_a_crawled_job())
    assert not [c for c in unpaced[0].context.scheduled if c.kind == "timer"]


def test_history_is_bounded_by_continuing_as_new_with_the_plan_and_the_counts() -> None:
    entities = entities_of_a_crawled_job()
    world = Validation(plan(7, 2, waves=2, dedupe=search(maps=1, partitions=1, parallel=1)))
    episodes = drive_through(validate_job, start(Level.slow, standalone=True), world, entities)

    assert world.plans == 1, "the plan is carried, never made again"
    assert all(len([w for w in e.context.scheduled if w.kind == "activity"]) <= 1 + 2 * 2 for e in episodes)
    carried = [ValidateJobInput.model_validate(e.continued_with) for e in episodes[:-1]]
    assert carried[0].plan is not None and carried[0].plan.run_id and carried[0].dedupe_stage == 2
    assert carried[0].dedupe is not None and carried[0].dedupe.images == 10
    assert all(c.plan == carried[0].plan and c.level is Level.slow and c.standalone for c in carried)
    with_batches = [c for c in carried if c.next_batch]
    assert with_batches and with_batches[0].started_at is not None and with_batches[0].processed == (
        with_batches[0].next_batch * PER_BATCH
    )
    indices = [i for name, wave in world.waves if name == VALIDATE_BATCH for i in wave]
    assert indices == list(range(7))
    assert entities.progress(JOB).validation.validated == 7 * PER_BATCH  # type: ignore[union-attr]
    assert entities.progress(JOB).phase == "done"  # standalone: the orchestration closes the phase
    assert done(episodes)["batches"] == 7


@pytest.mark.parametrize("standalone", [True, False])
def test_a_batch_that_fails_after_its_retries_fails_the_orchestration(standalone: bool) -> None:
    entities = entities_of_a_crawled_job()
    episodes = drive_through(validate_job, start(standalone=standalone), Validation(plan(6, 2), fail_batch=3),
                             entities)
    assert isinstance(episodes[-1].error, ActivityFailed)
    assert "Cosmos DB unavailable" in str(episodes[-1].error)
    assert entities.progress(JOB).phase == ("done" if standalone else "validating")
    assert [c.payload["index"] for c in episodes[-1].context.calls(VALIDATE_BATCH)] == [0, 1, 2, 3]


@settings(max_examples=60)
@given(
    batches=st.integers(0, 12), parallel=st.integers(1, 4), waves=st.integers(1, 4),
    dedupe=st.one_of(st.none(), st.builds(search, st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))),
)
def test_every_task_runs_once_across_continue_as_new_and_the_counters_reach_the_totals(
    batches: int, parallel: int, waves: int, dedupe: DedupePlan | None,
) -> None:
    entities = entities_of_a_crawled_job()
    world = Validation(plan(batches, parallel, waves=waves, dedupe=dedupe))
    episodes = drive_through(validate_job, start(Level.medium), world, entities)
    done(episodes)

    assert world.plans == 1
    assert all(len(wave) <= (dedupe.parallel if name != VALIDATE_BATCH and dedupe else parallel)
               for name, wave in world.waves)
    ran = [(name, i) for name, wave in world.waves for i in wave]
    assert len(ran) == len(set(ran)), "a task scheduled twice"
    expected = {(VALIDATE_BATCH, i) for i in range(batches)}
    if dedupe:
        expected |= {(stage.value, i) for stage in STAGES for i in range(stage.tasks(dedupe))}
    assert set(ran) == expected
    assert all(len(e.context.calls(VALIDATE_BATCH)) <= waves * parallel for e in episodes)
    validation = entities.progress(JOB).validation
    assert validation is not None and validation.validated == batches * PER_BATCH <= validation.images
    assert len(validation.batches_done) == validation.batches == batches
