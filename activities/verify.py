"""Activities of a job's verify: plan the batches, verify (and repair) one batch. Each takes
and returns the JSON of a shared.models model; the logic is shared.verify's."""

from typing import Any

from activities import blueprint
from shared import verify
from shared.fetch import Downloader
from shared.models import PlanVerify, VerifyBatch
from shared.runtime import get_runtime


@blueprint.activity_trigger(input_name="payload")
async def plan_verify(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    plan = await verify.plan_verify(runtime.images, runtime.settings, PlanVerify.model_validate(payload))
    return plan.model_dump(mode="json")


@blueprint.activity_trigger(input_name="payload")
async def verify_batch(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    batch = VerifyBatch.model_validate(payload)
    budget = runtime.download_budget()  # what a repair downloads, and what a deep check reads
    async with Downloader(runtime.settings, budget=budget) as downloader:
        result = await verify.verify_batch(
            runtime.images, runtime.blobs, downloader, runtime.settings, batch, budget=budget,
            gate=runtime.decode_gate,
        )  # fmt: skip
    return result.model_dump(mode="json")
