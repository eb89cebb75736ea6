"""job_progress entity (key: job id): chunk and image counters of the current run.

Operations: start_run(StartRun), chunk(ChunkUpdate), batch(BatchResult), phase(str),
validation_start(ValidationStart), validation(BatchValidation), verify_start(VerifyStart),
verify(BatchVerification), get.
The logic is ProgressState's; this module only routes operations to it.
"""

from typing import Any

import azure.durable_functions as df

from entities import blueprint
from shared.models import (
    BatchResult, BatchValidation, BatchVerification, ChunkUpdate, ProgressState, StartRun, ValidationStart,
    VerifyStart,
)


def _apply(state: ProgressState, operation: str, data: Any) -> ProgressState:
    if operation == "start_run":
        return state.start_run(StartRun.model_validate(data))
    if operation == "chunk":
        return state.update_chunk(ChunkUpdate.model_validate(data))
    if operation == "batch":
        return state.apply_batch(BatchResult.model_validate(data))
    if operation == "validation_start":
        return state.start_validation(ValidationStart.model_validate(data))
    if operation == "validation":
        return state.apply_validation(BatchValidation.model_validate(data))
    if operation == "verify_start":
        return state.start_verify(VerifyStart.model_validate(data))
    if operation == "verify":
        return state.apply_verify(BatchVerification.model_validate(data))
    if operation == "phase":
        return state.set_phase(str(data))
    if operation == "get":
        return state
    raise ValueError(f"job_progress has no operation {operation!r}")


@blueprint.entity_trigger(context_name="context")
def job_progress(context: df.DurableEntityContext) -> None:
    operation = context.operation_name or ""
    state = ProgressState.model_validate(context.get_state(lambda: {}) or {})
    new = _apply(state, operation, context.get_input())
    if new is not state:
        context.set_state(new.model_dump(mode="json"))
    context.set_result(new.model_dump(mode="json") if operation == "get" else None)
