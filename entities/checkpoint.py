"""checkpoint entity (key: job id): where each chunk stands, so a job resumes where it stopped.

Operations: begin({run, chunks}), save(ChunkCheckpoint), get, delete.
crawl_chunk saves once per batch, never per image.
"""

from typing import Any

import azure.durable_functions as df

from entities import blueprint
from shared.models import CheckpointState, ChunkCheckpoint


def _apply(state: CheckpointState, operation: str, data: Any) -> CheckpointState:
    if operation == "begin":
        chunks = [ChunkCheckpoint.model_validate(c) for c in data["chunks"]]
        return state.begin(data["job_id"], int(data["run"]), chunks)
    if operation == "save":
        return state.save(ChunkCheckpoint.model_validate(data))
    if operation == "get":
        return state
    raise ValueError(f"checkpoint has no operation {operation!r}")


@blueprint.entity_trigger(context_name="context")
def checkpoint(context: df.DurableEntityContext) -> None:
    operation = context.operation_name or ""
    if operation == "delete":
        context.destruct_on_exit()
        context.set_result(None)
        return
    state = CheckpointState.model_validate(context.get_state(lambda: {}) or {})
    new = _apply(state, operation, context.get_input())
    if new is not state:
        context.set_state(new.model_dump(mode="json"))
    context.set_result(new.model_dump(mode="json") if operation == "get" else None)
