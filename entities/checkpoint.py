"""checkpoint entity (key: job id): where each chunk stands, so a job resumes where it stopped.

Operations (``shared.workflow.CheckpointOp``): begin(CheckpointBegin), save(ChunkCheckpoint),
get, delete, archive(CheckpointArchive). crawl_chunk saves once per batch, never per image.
``archive`` removes the state once it is snapshotted to Blob, unless a newer run has begun
meanwhile (a resume racing the timer).
"""

from typing import Any

import azure.durable_functions as df

from entities import entity
from shared.models import CheckpointArchive, CheckpointBegin, CheckpointState, ChunkCheckpoint, utcnow
from shared.workflow import CheckpointOp, Entity, run_operation


def _apply(state: CheckpointState, operation: CheckpointOp, data: Any) -> CheckpointState | None:
    """The new state; None when the operation removes the entity."""
    match operation:
        case CheckpointOp.begin:
            begin = CheckpointBegin.model_validate(data)
            return state.begin(begin.job_id, begin.run, begin.chunks)
        case CheckpointOp.save:
            return state.save(ChunkCheckpoint.model_validate(data), applied_at=utcnow())
        case CheckpointOp.delete:
            return None
        case CheckpointOp.archive:
            return None if state.run <= CheckpointArchive.model_validate(data or {}).run else state
        case CheckpointOp.get:
            return state


@entity
def checkpoint(context: df.DurableEntityContext) -> None:
    run_operation(context, Entity.checkpoint, CheckpointOp, CheckpointState, _apply)
