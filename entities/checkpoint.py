"""checkpoint entity (key: job id): where each chunk stands, so a job resumes where it stopped.

Operations: begin({run, chunks}), save(ChunkCheckpoint), get, delete, archive({run}).
crawl_chunk saves once per batch, never per image. ``archive`` removes the state once it is
snapshotted to Blob, unless a newer run has begun meanwhile (a resume racing the timer).
"""

from typing import Any

import azure.durable_functions as df

from entities import blueprint
from shared.models import CheckpointState, ChunkCheckpoint, utcnow


def _apply(state: CheckpointState, operation: str, data: Any) -> CheckpointState:
    if operation == "begin":
        chunks = [ChunkCheckpoint.model_validate(c) for c in data["chunks"]]
        return state.begin(data["job_id"], int(data["run"]), chunks)
    if operation == "save":
        return state.save(ChunkCheckpoint.model_validate(data), applied_at=utcnow())
    if operation == "get":
        return state
    raise ValueError(f"checkpoint has no operation {operation!r}")


def _removes(state: CheckpointState, operation: str, data: Any) -> bool:
    """True when the operation deletes the entity."""
    if operation == "delete":
        return True
    return operation == "archive" and state.run <= int((data or {}).get("run", 0))


@blueprint.entity_trigger(context_name="context")
def checkpoint(context: df.DurableEntityContext) -> None:
    operation = context.operation_name or ""
    state = CheckpointState.model_validate(context.get_state(lambda: {}) or {})
    if operation in ("delete", "archive"):
        if _removes(state, operation, context.get_input()):
            context.destruct_on_exit()
        context.set_result(None)
        return
    new = _apply(state, operation, context.get_input())
    if new is not state:
        context.set_state(new.model_dump(mode="json"))
    context.set_result(new.model_dump(mode="json") if operation == "get" else None)
