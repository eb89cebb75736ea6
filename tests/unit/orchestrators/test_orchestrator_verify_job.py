"""verify_job driven by the fake durable context: batches fanned out in waves and fanned in,
continue_as_new carrying the plan and the counts, failures."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import (
    PlanVerify, ProgressState, StartRun, ValidationRules, VerifyBatch, VerifyJobInput, VerifyPlan,
)
from tests.unit.orchestrators._durable import (
    PLAN_VERIFY, VERIFY_BATCH, ActivityFailed, Entities, Episode, FakeContext, Task, World, WhenAll,
    drive_through, verify_job,
)

JOB = "j"
RULES = ValidationRules(min_width=32)


def found(index: int) -> dict[str, int]:
    """What batch ``index`` finds: 10 records, ``index % 3`` of them missing, one repaired."""
    missing = index % 3
    return {"checked": 10, "present": 10 - missing, "missing": missing, "repaired": min(missing, 1),
            "marked": missing - min(missing, 1)}


class Verify(World):
    def __init__(self, plan: VerifyPlan, fail_batch: int | None = None) -> None:
        super().__init__({PLAN_VERIFY: self.plan, VERIFY_BATCH: self.batch})
        self.planned, self.fail_batch = plan, fail_batch
        self.plans = 0
        self.waves: list[list[int]] = []
        self.overlaps: list[int] = []
        self.inputs: list[VerifyBatch] = []

    def plan(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.plans += 1
        return self.planned.model_copy(update={"run_id": PlanVerify.model_validate(payload).run_id}).model_dump(
            mode="json"
        )

    def batch(self, payload: dict[str, Any]) -> dict[str, Any]:
        batch = VerifyBatch.model_validate(payload)
        self.inputs.append(batch)
        if batch.index == self.fail_batch:
            raise ActivityFailed("shard unreadable")
        return {"run_id": batch.run_id, "index": batch.index, **found(batch.index)}

    def __call__(self, context: FakeContext, task: Task) -> None:
        if isinstance(task, WhenAll):
            self.waves.append([child.payload["index"] for child in task.children])
            self.overlaps.append(len([c for c in context.running() if c not in task.children]))
        super().__call__(context, task)


def plan(batches: int, parallel: int, waves: int = 100) -> VerifyPlan:
    return VerifyPlan(run_id="", images=batches * 10, batches=batches, parallel=parallel, waves_per_history=waves)


def start(deep: bool = False) -> dict[str, Any]:
    return VerifyJobInput(job_id=JOB, user_id="u", deep=deep, rules=RULES).model_dump(mode="json")


def entities_of_a_job() -> Entities:
    entities = Entities()
    entities.progress_states[JOB] = ProgressState().start_run(StartRun(run=1, chunk_ids=["c0"], reset=True))
    return entities


def summed(batches: int) -> dict[str, int]:
    total = {"checked": 0, "present": 0, "missing": 0, "repaired": 0, "marked": 0}
    for index in range(batches):
        for name, value in found(index).items():
            total[name] += value
    return total


def done(episodes: list[Episode]) -> dict[str, Any]:
    assert episodes[-1].error is None and episodes[-1].continued_with is None, episodes[-1].error
    return episodes[-1].output  # type: ignore[no-any-return]


def test_batches_fan_out_in_waves_and_the_result_sums_them() -> None:
    entities = entities_of_a_job()
    world = Verify(plan(5, 2))
    summary = done(drive_through(verify_job, start(deep=True), world, entities))

    assert world.waves == [[0, 1], [2, 3], [4]] and world.overlaps == [0, 0, 0]
    assert all(b.deep and b.rules == RULES and b.batches == 5 and b.user_id == "u" for b in world.inputs)
    assert summary["deep"] is True and summary["run_id"]
    assert {k: summary[k] for k in summed(5)} == summed(5)
    verification = entities.progress(JOB).verification
    assert verification is not None and verification.finished_at is not None
    assert verification.checked == 50 and verification.missing == summed(5)["missing"]


def test_history_is_bounded_by_continuing_as_new_with_the_plan_and_the_counts() -> None:
    world = Verify(plan(7, 2, waves=2))
    episodes = drive_through(verify_job, start(), world, entities_of_a_job())
    assert len(episodes) == 2 and world.plans == 1
    carried = VerifyJobInput.model_validate(episodes[0].continued_with)
    assert carried.next_batch == 4 and carried.plan is not None and carried.plan.batches == 7
    assert carried.counts.model_dump() == summed(4) and carried.rules == RULES
    summary = done(episodes)
    assert {k: summary[k] for k in summed(7)} == summed(7)
    assert summary["run_id"] == carried.plan.run_id


def test_a_batch_that_fails_after_its_retries_fails_the_orchestration() -> None:
    episodes = drive_through(verify_job, start(), Verify(plan(6, 3), fail_batch=4), entities_of_a_job())
    assert isinstance(episodes[-1].error, ActivityFailed) and "shard unreadable" in str(episodes[-1].error)


@settings(max_examples=60)
@given(batches=st.integers(0, 15), parallel=st.integers(1, 5), waves=st.integers(1, 4))
def test_every_batch_runs_once_across_continue_as_new_and_counts_never_exceed_the_totals(
    batches: int, parallel: int, waves: int,
) -> None:
    entities = entities_of_a_job()
    world = Verify(plan(batches, parallel, waves))
    episodes = drive_through(verify_job, start(), world, entities)
    summary = done(episodes)
    ran = [index for wave in world.waves for index in wave]
    assert ran == list(range(batches))
    assert all(len(wave) <= parallel for wave in world.waves)
    assert all(len(e.context.calls(VERIFY_BATCH)) <= waves * parallel for e in episodes)
    assert summary["checked"] == 10 * batches and summary["missing"] == summary["repaired"] + summary["marked"]
    verification = entities.progress(JOB).verification
    assert verification is not None and verification.checked == summary["checked"] <= verification.images
