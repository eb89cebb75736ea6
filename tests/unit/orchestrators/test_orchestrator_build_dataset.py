"""build_dataset driven by the fake durable context: parts until the build is done,
continue_as_new every ``parts_per_history`` parts carrying the build's state, then finish; a
failing part marks the dataset failed."""

from __future__ import annotations

from typing import Any

from shared.models import DatasetBuild, DatasetBuildFailure, DatasetBuildState, DatasetMeta
from tests.unit.orchestrators._durable import (
    BUILD_PART, FAIL_DATASET, FINISH_DATASET, ActivityFailed, World, build_dataset, drive_through,
)


def build(parts_per_history: int) -> dict[str, Any]:
    meta = DatasetMeta(dataset_id="d1", name="pets", job_id="j")
    return DatasetBuild(meta=meta, user_id="u", part_images=100, parts_per_history=parts_per_history).model_dump(
        mode="json"
    )


class Parts(World):
    """A build of ``parts`` parts, each adding 100 bytes; ``fail_part`` fails."""

    def __init__(self, parts: int, fail_part: int | None = None) -> None:
        super().__init__({BUILD_PART: self.part, FINISH_DATASET: self.finish, FAIL_DATASET: self.fail})
        self.parts, self.fail_part = parts, fail_part
        self.seen: list[int] = []
        self.finished: list[DatasetBuild] = []
        self.failures: list[DatasetBuildFailure] = []

    def part(self, payload: dict[str, Any]) -> dict[str, Any]:
        state = DatasetBuild.model_validate(payload).state
        self.seen.append(state.part)
        if state.part == self.fail_part:
            raise ActivityFailed("block upload refused\nTraceback ...")
        following = DatasetBuildState(part=state.part + 1, offset=state.offset + 100, blocks=[*state.blocks, 1],
                                      done=state.part + 1 >= self.parts)
        return following.model_dump(mode="json")

    def finish(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.finished.append(DatasetBuild.model_validate(payload))
        return {"status": "ready"}

    def fail(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.failures.append(DatasetBuildFailure.model_validate(payload))
        return {"status": "failed"}


def test_parts_run_in_order_across_continue_as_new_and_the_build_finishes_once() -> None:
    world = Parts(7)
    episodes = drive_through(build_dataset, build(3), world)
    assert len(episodes) == 3 and world.seen == list(range(7))
    assert [len(e.context.calls(BUILD_PART)) for e in episodes] == [3, 3, 1]
    carried = DatasetBuild.model_validate(episodes[0].continued_with)
    assert carried.state.part == 3 and carried.state.offset == 300 and carried.state.blocks == [1, 1, 1]
    assert carried.meta.dataset_id == "d1" and carried.parts_per_history == 3
    [finished] = world.finished
    assert finished.state.done and finished.state.offset == 700
    assert episodes[-1].output == {"status": "ready"} and not world.failures


def test_a_failing_part_marks_the_dataset_failed_with_its_first_line() -> None:
    world = Parts(7, fail_part=4)
    episodes = drive_through(build_dataset, build(3), world)
    [failure] = world.failures
    assert failure.dataset_id == "d1" and failure.error == "block upload refused" and failure.parts == 5
    assert episodes[-1].output == {"status": "failed"} and not world.finished
