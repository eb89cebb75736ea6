"""Activities of the dataset build: one part, the finish, the failure.

Registered under their Python function names. Each takes and returns the JSON of a
shared.models model: offsets, counts, a hash state and block counts, never image bytes.
"""

from typing import Any

from activities import activity
from shared.datasets import build
from shared.models import DatasetBuild, DatasetBuildFailure
from shared.runtime import get_runtime


@activity
async def build_dataset_part(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    state = await build.build_part(
        runtime.images, runtime.blobs, runtime.datasets, runtime.settings,
        DatasetBuild.model_validate(payload),
    )  # fmt: skip
    return state.model_dump(mode="json")


@activity
async def finish_dataset(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    dataset = await build.finish_build(
        runtime.jobs, runtime.blobs, runtime.datasets, runtime.settings,
        DatasetBuild.model_validate(payload),
    )  # fmt: skip
    return {"dataset_id": dataset.id, "status": dataset.status.value, "size_bytes": dataset.size_bytes}


@activity
async def fail_dataset(payload: dict[str, Any]) -> dict[str, Any]:
    runtime = await get_runtime()
    failure = DatasetBuildFailure.model_validate(payload)
    await build.fail_build(runtime.datasets, runtime.blobs, failure)
    return {"dataset_id": failure.dataset_id, "status": "failed", "error": failure.error}
