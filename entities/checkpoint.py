"""checkpoint entity (key: job id): where each chunk stands, so a job resumes where it stopped.

Operations (``shared.workflow.CheckpointOp``): begin(CheckpointBegin), save(ChunkCheckpoint),
get, delete, archive(CheckpointArchive). crawl_chunk saves once per batch, never per image.
``archive`` removes the state once it is snapshotted to Blob, unless a newer run has begun
meanwhile (a resume racing the timer).
"""

from typing import Any

import azure.durable_functions as df

from entities import blueprint
from shared.models import CheckpointArchive, CheckpointBegin, CheckpointState, ChunkCheckpoint, utcnow
from shared.workflow import CheckpointOp, dump


def _apply(state: CheckpointState, operation: CheckpointOp, data: Any) -> CheckpointState:
    match operation:
        case CheckpointOp.begin:
            begin = CheckpointBegin.model_validate(data)
            return state.begin(begin.job_id, begin.run, begin.chunks)
        case CheckpointOp.save:
            return state.save(ChunkCheckpoint.model_validate(data), applied_at=utcnow())
        case _:
            return state


def _removes(state: CheckpointState, operation: CheckpointOp, data: Any) -> bool:
    """True when the operation deletes the entity."""
    if operation is CheckpointOp.delete:
        return True
    return operation is CheckpointOp.archive and state.run <= CheckpointArchive.model_validate(data or {}).run


@blueprint.entity_trigger(context_name="context")
def checkpoint(context: df.DurableEntityContext) -> None:
    try:
        operation = CheckpointOp(context.operation_name or "")
    except ValueError:
        raise ValueError(f"checkpoint has no operation {context.operation_name!r}") from None
    state = CheckpointState.model_validate(context.get_state(lambda: {}) or {})
    if operation in (CheckpointOp.delete, CheckpointOp.archive):
        if _removes(state, operation, context.get_input()):
            context.destruct_on_exit()
        context.set_result(None)
        return
    new = _apply(state, operation, context.get_input())
    if new is not state:
        context.set_state(dump(new))
    context.set_result(dump(new) if operation is CheckpointOp.get else None)
