"""job_progress entity (key: job id): chunk and image counters of the current run.

Operations (``shared.workflow.ProgressOp``): start_run(StartRun), chunk(ChunkUpdate),
batch(BatchResult), phase(Phase), validation_start(ValidationStart),
validation(BatchValidation), verify_start(VerifyStart), verify(BatchVerification), get.
The logic is ProgressState's; this module only routes operations to it.
"""

from typing import Any

import azure.durable_functions as df

from entities import entity
from shared.models import (
    BatchResult, BatchValidation, BatchVerification, ChunkUpdate, Phase, ProgressState, StartRun, ValidationStart,
    VerifyStart,
)
from shared.workflow import Entity, ProgressOp, run_operation


def _apply(state: ProgressState, operation: ProgressOp, data: Any) -> ProgressState:
    match operation:
        case ProgressOp.start_run:
            return state.start_run(StartRun.model_validate(data))
        case ProgressOp.chunk:
            return state.update_chunk(ChunkUpdate.model_validate(data))
        case ProgressOp.batch:
            return state.apply_batch(BatchResult.model_validate(data))
        case ProgressOp.validation_start:
            return state.start_validation(ValidationStart.model_validate(data))
        case ProgressOp.validation:
            return state.apply_validation(BatchValidation.model_validate(data))
        case ProgressOp.verify_start:
            return state.start_verify(VerifyStart.model_validate(data))
        case ProgressOp.verify:
            return state.apply_verify(BatchVerification.model_validate(data))
        case ProgressOp.phase:
            return state.set_phase(Phase(data))
        case ProgressOp.get:
            return state


@entity
def job_progress(context: df.DurableEntityContext) -> None:
    run_operation(context, Entity.job_progress, ProgressOp, ProgressState, _apply)
