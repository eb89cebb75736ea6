"""The workflow contract: the name of every orchestration, activity, entity and entity
operation, the activities' retry policy, the instance ids, the orchestration runtime states that
count as alive, and typed handles on the two entities.

Orchestrators address activities, sub-orchestrations and entities only through this module, so
every name has one definition here and every payload is a ``shared.models`` model (dumped to
JSON here, once). Domain code that starts orchestrations or reads entities uses the same names
and the typed readers at the end. Like ``shared.models`` it does no I/O of its own when
imported and is safe in an orchestrator (the entity readers are for clients, not orchestrators).

Example::

    progress = ProgressEntity(context, job.job_id)
    yield progress.set_phase(Phase.validating)           # a call: the orchestration waits
    progress.batch(result)                               # a signal: it does not
    summary = yield call_activity(context, Activity.finish_job, finish)

    state = await read_progress(client, job_id)          # ProgressState (empty when absent)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase
from pydantic import BaseModel

from shared.models import (
    BatchResult,
    BatchValidation,
    BatchVerification,
    CheckpointArchive,
    CheckpointBegin,
    CheckpointState,
    ChunkCheckpoint,
    ChunkUpdate,
    DedupeStage,
    Phase,
    ProgressState,
    StartRun,
    ValidationStart,
    VerifyStart,
)

__all__ = [
    "ACTIVITY_RETRY", "ALIVE", "Activity", "CheckpointEntity", "CheckpointOp", "Entity", "Orchestration",
    "Orchestrator", "ProgressEntity", "ProgressOp", "archive_checkpoint", "call_activity", "call_sub_orchestrator",
    "checkpoint_entity", "chunk_instance_id", "crawl_validation_instance_id", "dedupe_activity",
    "delete_checkpoint", "dump", "is_alive", "job_instance_id", "progress_entity", "read_checkpoint",
    "read_progress", "run_operation", "runtime_name", "validation_instance_id", "verify_instance_id",
]


class Orchestrator(StrEnum):
    """Orchestrator functions (registered under these Python function names)."""

    crawl_job = "crawl_job"
    crawl_chunk = "crawl_chunk"
    validate_job = "validate_job"
    verify_job = "verify_job"
    build_dataset = "build_dataset"


class Activity(StrEnum):
    """Activity functions (registered under these Python function names)."""

    discover = "discover"
    download_batch = "download_batch"
    finish_job = "finish_job"
    plan_validation = "plan_validation"
    dedupe_map = "dedupe_map"
    dedupe_search = "dedupe_search"
    dedupe_merge = "dedupe_merge"
    dedupe_apply = "dedupe_apply"
    dedupe_cleanup = "dedupe_cleanup"
    validate_batch = "validate_batch"
    plan_verify = "plan_verify"
    verify_batch = "verify_batch"
    build_dataset_part = "build_dataset_part"
    finish_dataset = "finish_dataset"
    fail_dataset = "fail_dataset"


class Entity(StrEnum):
    """Entity functions; each is keyed by a job id."""

    job_progress = "job_progress"
    checkpoint = "checkpoint"


class ProgressOp(StrEnum):
    """Operations of the ``job_progress`` entity (``ProgressState``'s reducers)."""

    start_run = "start_run"
    chunk = "chunk"
    batch = "batch"
    phase = "phase"
    validation_start = "validation_start"
    validation = "validation"
    verify_start = "verify_start"
    verify = "verify"
    get = "get"


class CheckpointOp(StrEnum):
    """Operations of the ``checkpoint`` entity (``CheckpointState``'s reducers)."""

    begin = "begin"
    save = "save"
    get = "get"
    delete = "delete"
    archive = "archive"


#: Every activity is retried: three attempts, the first retry after a second.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

#: What an orchestrator function (or a step of one, run with ``yield from``) is.
Orchestration = Generator[Any, Any, Any]

#: Runtime states of an orchestration that has not ended: it may still run (or be resumed).
ALIVE = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})


def dump(model: BaseModel) -> Any:
    """A model as the JSON an orchestration passes (inputs, results, entity operations)."""
    return model.model_dump(mode="json")


def dedupe_activity(stage: DedupeStage) -> Activity:
    """The activity that runs one stage of the near-duplicate search."""
    return Activity(stage.value)


def call_activity(context: df.DurableOrchestrationContext, name: Activity, payload: BaseModel) -> TaskBase:
    """Schedule an activity with :data:`ACTIVITY_RETRY`; yield the task for its result."""
    return context.call_activity_with_retry(name, ACTIVITY_RETRY, dump(payload))


def call_sub_orchestrator(
    context: df.DurableOrchestrationContext, name: Orchestrator, payload: BaseModel, instance_id: str
) -> TaskBase:
    """Schedule a sub-orchestration under ``instance_id``; yield the task for its result."""
    return context.call_sub_orchestrator(name, dump(payload), instance_id)


# --------------------------------------------------------------------------------------------
# Instance ids
# --------------------------------------------------------------------------------------------


def job_instance_id(job_id: str, run: int) -> str:
    """Instance id of a run's crawl_job orchestration: one per run, so a run never has to wait
    for the previous run's termination to settle before it can start."""
    return f"{job_id}:{run}"


def chunk_instance_id(job_id: str, run: int, chunk_id: str) -> str:
    """Instance id of a chunk orchestration (the task ids that start returns)."""
    return f"{job_id}:{run}:{chunk_id}"


def validation_instance_id(job_id: str) -> str:
    """Instance id of a validation started over HTTP (one at a time per job)."""
    return f"{job_id}:validate"


def crawl_validation_instance_id(job_id: str, run: int) -> str:
    """Instance id of the validation a crawl run starts when its downloads are done."""
    return f"{job_instance_id(job_id, run)}:validate"


def verify_instance_id(job_id: str) -> str:
    """Instance id of a job's verify (one at a time per job)."""
    return f"{job_id}:verify"


def runtime_name(status: Any) -> str | None:
    """The runtime state of an orchestration status (``DurableOrchestrationStatus``), or None
    when the instance does not exist."""
    runtime = getattr(status, "runtime_status", None)
    return runtime.name if runtime is not None else None


def is_alive(status: Any) -> bool:
    """True when the orchestration exists and has not ended (:data:`ALIVE`)."""
    return runtime_name(status) in ALIVE


# --------------------------------------------------------------------------------------------
# Entities, as an orchestration addresses them
# --------------------------------------------------------------------------------------------


def progress_entity(job_id: str) -> df.EntityId:
    return df.EntityId(Entity.job_progress, job_id)


def checkpoint_entity(job_id: str) -> df.EntityId:
    return df.EntityId(Entity.checkpoint, job_id)


@dataclass(frozen=True)
class ProgressEntity:
    """The ``job_progress`` entity of one job. Methods that return a task are calls (yield it:
    the orchestration goes on once the entity applied it); the others are signals."""

    context: df.DurableOrchestrationContext
    job_id: str

    @property
    def id(self) -> df.EntityId:
        return progress_entity(self.job_id)

    def _call(self, operation: ProgressOp, data: Any) -> TaskBase:
        task: TaskBase = self.context.call_entity(self.id, operation, data)
        return task

    def _signal(self, operation: ProgressOp, data: Any) -> None:
        self.context.signal_entity(self.id, operation, data)

    def start_run(self, start: StartRun) -> TaskBase:
        return self._call(ProgressOp.start_run, dump(start))

    def set_phase(self, phase: Phase) -> TaskBase:
        return self._call(ProgressOp.phase, phase.value)

    def chunk(self, update: ChunkUpdate) -> None:
        self._signal(ProgressOp.chunk, dump(update))

    def batch(self, result: BatchResult) -> None:
        self._signal(ProgressOp.batch, dump(result))

    def start_validation(self, start: ValidationStart) -> TaskBase:
        return self._call(ProgressOp.validation_start, dump(start))

    def validation(self, result: BatchValidation) -> None:
        self._signal(ProgressOp.validation, dump(result))

    def start_verify(self, start: VerifyStart) -> TaskBase:
        return self._call(ProgressOp.verify_start, dump(start))

    def verify(self, result: BatchVerification) -> None:
        self._signal(ProgressOp.verify, dump(result))


@dataclass(frozen=True)
class CheckpointEntity:
    """The ``checkpoint`` entity of one job (calls return a task, signals return None)."""

    context: df.DurableOrchestrationContext
    job_id: str

    @property
    def id(self) -> df.EntityId:
        return checkpoint_entity(self.job_id)

    def begin(self, begin: CheckpointBegin) -> TaskBase:
        task: TaskBase = self.context.call_entity(self.id, CheckpointOp.begin, dump(begin))
        return task

    def save(self, point: ChunkCheckpoint) -> None:
        """Signal a chunk's position (a save in flight may be lost with a crash: the chunk
        then redoes its last batches, which count once)."""
        self.context.signal_entity(self.id, CheckpointOp.save, dump(point))

    def save_final(self, point: ChunkCheckpoint) -> TaskBase:
        """Call a chunk's last save: the chunk ends once its final position is saved."""
        task: TaskBase = self.context.call_entity(self.id, CheckpointOp.save, dump(point))
        return task


# --------------------------------------------------------------------------------------------
# Entities, as they run an operation
# --------------------------------------------------------------------------------------------

State = TypeVar("State", bound=BaseModel)
Op = TypeVar("Op", ProgressOp, CheckpointOp)


def run_operation(
    context: df.DurableEntityContext, entity: Entity, ops: type[Op], model: type[State],
    apply: Callable[[State, Op, Any], State | None],
) -> None:
    """Run one operation of an entity whose state is ``model``: ``apply`` returns the new
    state (the same object when nothing changed), or None when the entity goes away. ``get``
    answers with the state; an operation ``ops`` does not name is a ValueError."""
    try:
        operation = ops(context.operation_name or "")
    except ValueError:
        raise ValueError(f"{entity.value} has no operation {context.operation_name!r}") from None
    state = model.model_validate(context.get_state(lambda: {}) or {})
    new = apply(state, operation, context.get_input())
    if new is None:
        context.destruct_on_exit()
    elif new is not state:
        context.set_state(dump(new))
    context.set_result(dump(state) if operation.value == "get" else None)


# --------------------------------------------------------------------------------------------
# Entities, as a client reads and changes them
# --------------------------------------------------------------------------------------------


async def _read_state(client: df.DurableOrchestrationClient, entity: df.EntityId) -> dict[str, Any] | None:
    response = await client.read_entity_state(entity)
    if not response.entity_exists:
        return None
    state = response.entity_state
    return state if isinstance(state, dict) else None


async def read_progress(client: df.DurableOrchestrationClient, job_id: str) -> ProgressState:
    """A job's progress entity; an empty ``ProgressState`` when it does not exist (yet)."""
    return ProgressState.model_validate(await _read_state(client, progress_entity(job_id)) or {})


async def read_checkpoint(client: df.DurableOrchestrationClient, job_id: str) -> CheckpointState | None:
    """A job's live checkpoint entity, or None when it does not exist (not yet, or archived)."""
    state = await _read_state(client, checkpoint_entity(job_id))
    return CheckpointState.model_validate(state) if state is not None else None


async def delete_checkpoint(client: df.DurableOrchestrationClient, job_id: str) -> None:
    await client.signal_entity(checkpoint_entity(job_id), CheckpointOp.delete)


async def archive_checkpoint(client: df.DurableOrchestrationClient, job_id: str, run: int) -> None:
    """The checkpoint of ``run`` is snapshotted: the entity drops it unless a newer run began."""
    await client.signal_entity(checkpoint_entity(job_id), CheckpointOp.archive, dump(CheckpointArchive(run=run)))
