"""Activities of job validation: plan the batches, the stages of the near-duplicate search
(map an id range, search a partition, merge, apply a map's flags, clean up), validate one batch
(an id range). Each takes and returns the JSON of a shared.models model; the logic is
shared.validation.levels's and shared.validation.dedupe_stages'."""

from typing import Any

from activities import activity
from shared.validation import levels
from shared.models import DedupeStage, DedupeTask, PlanValidation, ValidateBatch
from shared.runtime import get_runtime
from shared.workflow import dedupe_activity


@activity
async def plan_validation(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    plan = await levels.plan_validation(runtime.images, runtime.settings, PlanValidation.model_validate(payload))
    return plan.model_dump(mode="json")


def _register_dedupe(stage: DedupeStage) -> None:
    """Register the activity of one stage of the near-duplicate search, under the name the
    workflow contract gives it (``dedupe_map``, ``dedupe_search``, ...)."""

    async def run(payload: dict[str, Any]) -> dict[str, Any]:
        runtime = await get_runtime()
        task = DedupeTask.model_validate(payload)
        result = await levels.dedupe_stage(runtime.images, runtime.blobs, stage, task)
        return result.model_dump(mode="json")

    run.__name__ = run.__qualname__ = dedupe_activity(stage).value
    activity(run)


for _stage in DedupeStage:
    _register_dedupe(_stage)


@activity
async def validate_batch(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    batch = ValidateBatch.model_validate(payload)
    result = await levels.validate_batch(runtime.images, runtime.blobs, runtime.settings, batch)
    return result.model_dump(mode="json")
