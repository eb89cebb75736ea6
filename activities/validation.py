"""Activities of job validation: plan the batches, the stages of the near-duplicate search
(map an id range, search a partition, merge, apply a map's flags, clean up), validate one batch
(an id range). Each takes and returns the JSON of a shared.models model; the logic is
shared.validation's and shared.dedupe_stages'."""

from typing import Any

from activities import blueprint
from shared import validation
from shared.models import DedupeStage, DedupeTask, PlanValidation, ValidateBatch
from shared.runtime import get_runtime


@blueprint.activity_trigger(input_name="payload")
async def plan_validation(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    plan = await validation.plan_validation(runtime.images, runtime.settings, PlanValidation.model_validate(payload))
    return plan.model_dump(mode="json")


async def _dedupe(stage: DedupeStage, payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    task = DedupeTask.model_validate(payload)
    result = await validation.dedupe_stage(runtime.images, runtime.blobs, stage, task)
    return result.model_dump(mode="json")


@blueprint.activity_trigger(input_name="payload")
async def dedupe_map(payload: dict[str, Any]) -> dict[str, Any]:
    return await _dedupe(DedupeStage.map, payload)


@blueprint.activity_trigger(input_name="payload")
async def dedupe_search(payload: dict[str, Any]) -> dict[str, Any]:
    return await _dedupe(DedupeStage.search, payload)


@blueprint.activity_trigger(input_name="payload")
async def dedupe_merge(payload: dict[str, Any]) -> dict[str, Any]:
    return await _dedupe(DedupeStage.merge, payload)


@blueprint.activity_trigger(input_name="payload")
async def dedupe_apply(payload: dict[str, Any]) -> dict[str, Any]:
    return await _dedupe(DedupeStage.apply, payload)


@blueprint.activity_trigger(input_name="payload")
async def dedupe_cleanup(payload: dict[str, Any]) -> dict[str, Any]:
    return await _dedupe(DedupeStage.cleanup, payload)


@blueprint.activity_trigger(input_name="payload")
async def validate_batch(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    batch = ValidateBatch.model_validate(payload)
    result = await validation.validate_batch(runtime.images, runtime.blobs, runtime.settings, batch)
    return result.model_dump(mode="json")
