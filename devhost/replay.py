"""One orchestration episode: replay the history through the SDK and describe what it asks for.

This module runs in the host process (thread mode) or in worker processes (`--workers N`), so
its input and output are plain data. It calls the SDK exactly as the generated `handle()` does
(`DurableOrchestrationContext.from_json` + `Orchestrator(fn).handle(ctx)`) and then reads the
context it replayed: `open_tasks` holds every task the orchestrator still waits for, with the
sequence id the SDK gave it. That includes the hidden timers and re-scheduled tasks of the
`*_with_retry` calls, whose ids the host must use for its TimerCreated/TaskScheduled events.
"""
from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from azure.durable_functions.models.actions.CompoundAction import CompoundAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import \
    DurableOrchestrationContext
from azure.durable_functions.orchestrator import Orchestrator

from .protocol import TIME_FORMAT, Action, Signature, signature, stamp

if TYPE_CHECKING:
    from .appmodel import AppModel, OrchestratorCode

# name -> (generator function, declared input type); filled per process.
_CODE: dict[str, OrchestratorCode] = {}


class NewTask(TypedDict):
    """A task the replay created that the host has not acted on yet."""

    id: int  # the SDK's sequence id of the task
    pos: int | None  # its action's position among the flattened actions (None: a retry's)
    action: Action  # the action (a retry's: the action of the task being retried)
    retry_timer: bool  # the timer before a *_with_retry task runs again
    interval_ms: int  # that timer's interval


class EpisodeResult(TypedDict):
    """The decisions of one replay, as plain data (it crosses process boundaries)."""

    error: str | None  # the orchestrator raised (or the host cannot run it)
    error_type: str | None
    done: bool
    output: str  # JSON text
    custom_status: str | None  # JSON text, None when never set
    signatures: list[Signature]  # of every action since the execution started
    actions: list[Action]  # every action since the execution started, flattened
    next_seq: int
    new_tasks: list[NewTask]  # ordered by id
    cancelled_timers: list[int]
    now: str  # the replay's current_utc_datetime


# The SDK parses every history event's timestamp with dateutil, on every replay: half of the
# devhost's time in a fan-out (bench/devhost_fanout.py). The devhost writes all of them itself
# as ISO 8601 with 'Z', which datetime.fromisoformat reads many times faster; and a replay
# reads the same strings again, so they are cached. Anything else still goes to dateutil.
# (The module is imported by name: its package re-exports a class of the same name.)
_history_event = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
_dateutil_parse: Callable[[str], datetime] = getattr(_history_event, "dt_parse")


@lru_cache(maxsize=1 << 17)
def parse_timestamp(text: str) -> datetime:
    """A history timestamp as the SDK's own parser gives it (an aware datetime)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return _dateutil_parse(text)
    return value if value.tzinfo is not None else _dateutil_parse(text)


setattr(_history_event, "dt_parse", parse_timestamp)
OUT_OF_PROC_MARK = "\n\n$OutOfProcData$:"


def _init_worker(app_dir: str) -> None:
    from .appmodel import AppModel, load_local_settings
    load_local_settings(Path(app_dir))
    model = AppModel(Path(app_dir))
    for name in model.orchestrators:
        _CODE[name] = model.orchestrator_code(name)


def _flatten(actions: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for action in actions:
        if isinstance(action, CompoundAction):
            flat.extend(_flatten(action.compound_tasks))
        else:
            flat.append(action)
    return flat


def run_episode(name: str, request_json: str, next_seq: int) -> EpisodeResult:
    """Replay one orchestration and return the decisions it made, as plain data.

    `next_seq` is the first task id the host has not acted on yet: open tasks with ids at or
    above it are new and must be scheduled.
    """
    code = _CODE.get(name)
    if code is None:  # as on Azure: the instance fails, and so does a parent's task
        return _missing(name, next_seq)
    fn, input_type = code
    ctx = DurableOrchestrationContext.from_json(request_json)
    ctx._input_expected_type = input_type
    error: str | None = None
    error_type: str | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state: dict[str, Any] = json.loads(Orchestrator(fn).handle(ctx))
        except Exception as exc:  # the orchestrator raised: the SDK packs its state in the text
            text = str(exc)
            message, _, packed = text.partition(OUT_OF_PROC_MARK)
            state = json.loads(packed) if packed else {"isDone": False, "actions": [[]]}
            cause = exc.__cause__ or exc
            error, error_type = message, type(cause).__name__
    flat_objs = _flatten(ctx._action_payload_v2)
    flat_json = _flatten_json(state.get("actions", [[]]))
    return EpisodeResult(
        error=error,
        error_type=error_type,
        done=bool(state.get("isDone")) or error is not None,
        output=json.dumps(state.get("output")),
        custom_status=json.dumps(state["customStatus"]) if "customStatus" in state else None,
        signatures=[signature(a) for a in flat_json],
        actions=flat_json,
        next_seq=int(ctx._sequence_number),
        new_tasks=_new_tasks(ctx, flat_objs, flat_json, next_seq),
        cancelled_timers=_cancelled_timers(ctx),
        now=ctx.current_utc_datetime.strftime(TIME_FORMAT),
    )


def _missing(name: str, next_seq: int) -> EpisodeResult:
    """The result of an episode of an orchestrator the app does not define."""
    return EpisodeResult(
        error=f"The function '{name}' doesn't exist, is disabled, or is not an "
              f"orchestrator function.",
        error_type="LookupError",
        done=True,
        output="null",
        custom_status=None,
        signatures=[],
        actions=[],
        next_seq=next_seq,
        new_tasks=[],
        cancelled_timers=[],
        now=stamp(),
    )


def _flatten_json(actions: list[list[Action]]) -> list[Action]:
    flat: list[Action] = []

    def walk(items: list[Action]) -> None:
        for item in items:
            if "compoundActions" in item:
                walk(item["compoundActions"])
            else:
                flat.append(item)
    for group in actions:
        walk(group)
    return flat


def _open_tasks(ctx: DurableOrchestrationContext) -> list[Any]:
    tasks: list[Any] = []
    for value in ctx.open_tasks.values():
        tasks.extend(value if isinstance(value, list) else [value])
    return tasks


def _new_tasks(ctx: DurableOrchestrationContext, flat_objs: list[Any], flat_json: list[Action],
               next_seq: int) -> list[NewTask]:
    """Tasks with ids >= next_seq: new activities, sub-orchestrations, timers, entity calls,
    and the retry timers / re-scheduled attempts the SDK created for failed *_with_retry tasks."""
    position = {id(obj): (n, js) for n, (obj, js) in enumerate(zip(flat_objs, flat_json))}
    new: list[NewTask] = []
    for task in _open_tasks(ctx):
        if not isinstance(task.id, int) or task.id < next_seq:
            continue
        action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
        if isinstance(action, NoOpAction):
            retry = task.parent
            original = retry.actions[0] if isinstance(retry.actions, list) else retry.actions
            new.append(NewTask(
                id=task.id, pos=None, action=original.to_json(),
                retry_timer=bool(retry.is_waiting_on_timer),
                interval_ms=int(retry.retry_options.first_retry_interval_in_milliseconds)))
        else:
            pos, action_json = position.get(id(action), (None, action.to_json()))
            new.append(NewTask(id=task.id, pos=pos, action=action_json, retry_timer=False,
                               interval_ms=0))
    new.sort(key=lambda t: t["id"])
    return new


def _cancelled_timers(ctx: DurableOrchestrationContext) -> list[int]:
    return [t.id for t in _open_tasks(ctx)
            if isinstance(t.id, int) and getattr(t, "is_cancelled", False) is True]


class Replayer:
    """Runs episodes in a thread (workers=0) or in N worker processes."""

    def __init__(self, app_dir: Path, model: AppModel, workers: int) -> None:
        self.executor: Executor
        if workers > 0:
            import multiprocessing
            self.executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(str(app_dir),))
        else:
            for name in model.orchestrators:
                _CODE[name] = model.orchestrator_code(name)
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="replay")

    def submit(self, name: str, request_json: str, next_seq: int) -> Future[EpisodeResult]:
        return self.executor.submit(run_episode, name, request_json, next_seq)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
