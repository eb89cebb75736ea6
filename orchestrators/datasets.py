"""build_dataset: a dataset built part by part, then finished (or marked failed), whatever
its layout.

build_dataset -> build_dataset_part (activity) per ``part_images`` records, each staging
                 blocks (of the one zip, or of each split's open webdataset shard) and
                 handing a small state to the next; continue_as_new every
                 ``parts_per_history`` parts;
              -> finish_dataset (activity): the zip's manifest, descriptions and central
                 directory (or a webdataset's last shards and files), commit, dataset ready;
                 on any failure fail_dataset marks it failed.

Deterministic: no I/O, no clock; inputs and results are shared.models models dumped to JSON.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import blueprint
from shared.models import DatasetBuild, DatasetBuildFailure, DatasetBuildState

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

Orchestration = Generator[Any, Any, Any]


@blueprint.orchestration_trigger(context_name="context")
def build_dataset(context: df.DurableOrchestrationContext) -> Orchestration:
    build = DatasetBuild.model_validate(context.get_input())
    try:
        for _ in range(build.parts_per_history):
            if build.state.done:
                break
            state = yield context.call_activity_with_retry(
                "build_dataset_part", ACTIVITY_RETRY, build.model_dump(mode="json")
            )
            build.state = DatasetBuildState.model_validate(state)
        if not build.state.done:
            context.continue_as_new(build.model_dump(mode="json"))
            return None
        return (yield context.call_activity_with_retry("finish_dataset", ACTIVITY_RETRY, build.model_dump(mode="json")))
    except Exception as exc:  # an activity failed after its retries: the dataset fails
        lines = str(exc).strip().splitlines() or ["the build failed"]
        failure = DatasetBuildFailure(
            dataset_id=build.meta.dataset_id, user_id=build.user_id, parts=build.state.part + 1,
            layout=build.meta.layout, error=lines[0][:500],
        )
        return (yield context.call_activity_with_retry("fail_dataset", ACTIVITY_RETRY, failure.model_dump(mode="json")))
