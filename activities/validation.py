"""Activities of job validation: plan the batches, group the job's near-duplicates, validate
one batch (an id range). Each takes and returns the JSON of a shared.models model; the logic
is shared.validation's."""

from typing import Any

from activities import blueprint
from shared import validation
from shared.models import PlanValidation, ValidateBatch
from shared.runtime import get_runtime


@blueprint.activity_trigger(input_name="payload")
async def plan_validation(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    plan = await validation.plan_validation(runtime.images, runtime.settings, PlanValidation.model_validate(payload))
    return plan.model_dump(mode="json")


@blueprint.activity_trigger(input_name="payload")
async def dedupe_job(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    request = PlanValidation.model_validate(payload)
    summary = await validation.dedupe_job(runtime.images, runtime.settings, request.job_id)
    return summary.model_dump(mode="json")


@blueprint.activity_trigger(input_name="payload")
async def validate_batch(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    batch = ValidateBatch.model_validate(payload)
    result = await validation.validate_batch(runtime.images, runtime.blobs, runtime.settings, batch)
    return result.model_dump(mode="json")
