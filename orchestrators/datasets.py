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

import azure.durable_functions as df

from orchestrators import orchestrator
from shared.models import DatasetBuild, DatasetBuildFailure, DatasetBuildState
from shared.workflow import Activity, Orchestration, call_activity, dump


@orchestrator
def build_dataset(context: df.DurableOrchestrationContext) -> Orchestration:
    build = DatasetBuild.model_validate(context.get_input())
    try:
        for _ in range(build.parts_per_history):
            if build.state.done:
                break
            state = yield call_activity(context, Activity.build_dataset_part, build)
            build.state = DatasetBuildState.model_validate(state)
        if not build.state.done:
            context.continue_as_new(dump(build))
            return None
        return (yield call_activity(context, Activity.finish_dataset, build))
    except Exception as exc:  # an activity failed after its retries: the dataset fails
        lines = str(exc).strip().splitlines() or ["the build failed"]
        failure = DatasetBuildFailure(
            dataset_id=build.meta.dataset_id, user_id=build.user_id, parts=build.state.part + 1,
            layout=build.meta.layout, error=lines[0][:500],
        )
        return (yield call_activity(context, Activity.fail_dataset, failure))
