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
from datetime import datetime, timezone
from functools import lru_cache
import warnings
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from azure.durable_functions.models.actions.CompoundAction import CompoundAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import \
    DurableOrchestrationContext
from azure.durable_functions.orchestrator import Orchestrator

# name -> (generator function, declared input type); filled per process.
_CODE: Dict[str, Tuple[Callable[..., Any], Any]] = {}

# The SDK parses every history event's timestamp with dateutil, on every replay: half of the
# devhost's time in a fan-out (bench/devhost_fanout.py). The devhost writes all of them itself
# as ISO 8601 with 'Z', which datetime.fromisoformat reads many times faster; and a replay
# reads the same strings again, so they are cached. Anything else still goes to dateutil.
_history_event = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
_dateutil_parse: Callable[[str], datetime] = _history_event.dt_parse


@lru_cache(maxsize=1 << 17)
def parse_timestamp(text: str) -> datetime:
    """A history timestamp as the SDK's own parser gives it (an aware datetime)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return _dateutil_parse(text)
    return value if value.tzinfo is not None else _dateutil_parse(text)


_history_event.dt_parse = parse_timestamp
OUT_OF_PROC_MARK = "\n\n$OutOfProcData$:"


def _init_worker(app_dir: str) -> None:
    from .appmodel import AppModel, load_local_settings
    load_local_settings(Path(app_dir))
    model = AppModel(Path(app_dir))
    for name in model.orchestrators:
        _CODE[name] = model.orchestrator_code(name)


def _flatten(actions: List[Any]) -> List[Any]:
    flat: List[Any] = []
    for action in actions:
        if isinstance(action, CompoundAction):
            flat.extend(_flatten(action.compound_tasks))
        else:
            flat.append(action)
    return flat


def signature(action_json: Dict[str, Any]) -> List[Any]:
    """What must stay the same for an action on every replay: its type and target."""
    kind = action_json["actionType"]
    if kind in (7, 9):
        return [kind, f"{action_json.get('instanceId')}:{action_json.get('operation')}"]
    target = action_json.get("functionName") or action_json.get("externalEventName") or ""
    return [kind, target]


def run_episode(name: str, request_json: str, next_seq: int) -> Dict[str, Any]:
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
    result: Dict[str, Any] = {"error": None, "error_type": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state = json.loads(Orchestrator(fn).handle(ctx))
        except Exception as exc:  # the orchestrator raised: the SDK packs its state in the text
            text = str(exc)
            message, _, packed = text.partition(OUT_OF_PROC_MARK)
            state = json.loads(packed) if packed else {"isDone": False, "actions": [[]]}
            cause = exc.__cause__ or exc
            result["error"] = message
            result["error_type"] = type(cause).__name__
    flat_objs = _flatten(ctx._action_payload_v2)
    flat_json = _flatten_json(state.get("actions", [[]]))
    result.update(
        done=bool(state.get("isDone")) or result["error"] is not None,
        output=json.dumps(state.get("output")),
        custom_status=json.dumps(state["customStatus"]) if "customStatus" in state else None,
        signatures=[signature(a) for a in flat_json],
        actions=flat_json,
        next_seq=ctx._sequence_number,
        new_tasks=_new_tasks(ctx, flat_objs, flat_json, next_seq),
        cancelled_timers=_cancelled_timers(ctx),
        now=ctx.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    return result


def _missing(name: str, next_seq: int) -> Dict[str, Any]:
    """The result of an episode of an orchestrator the app does not define."""
    return {
        "error": f"The function '{name}' doesn't exist, is disabled, or is not an "
                 f"orchestrator function.",
        "error_type": "LookupError",
        "done": True,
        "output": "null",
        "custom_status": None,
        "signatures": [],
        "actions": [],
        "next_seq": next_seq,
        "new_tasks": [],
        "cancelled_timers": [],
        "now": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _flatten_json(actions: List[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    flat: List[Dict[str, Any]] = []

    def walk(items: List[Dict[str, Any]]) -> None:
        for item in items:
            if "compoundActions" in item:
                walk(item["compoundActions"])
            else:
                flat.append(item)
    for group in actions:
        walk(group)
    return flat


def _open_tasks(ctx: DurableOrchestrationContext) -> List[Any]:
    tasks: List[Any] = []
    for value in ctx.open_tasks.values():
        tasks.extend(value if isinstance(value, list) else [value])
    return tasks


def _new_tasks(ctx: DurableOrchestrationContext, flat_objs: List[Any],
               flat_json: List[Dict[str, Any]], next_seq: int) -> List[Dict[str, Any]]:
    """Tasks with ids >= next_seq: new activities, sub-orchestrations, timers, entity calls,
    and the retry timers / re-scheduled attempts the SDK created for failed *_with_retry tasks."""
    position = {id(obj): (n, js) for n, (obj, js) in enumerate(zip(flat_objs, flat_json))}
    new: List[Dict[str, Any]] = []
    for task in _open_tasks(ctx):
        if not isinstance(task.id, int) or task.id < next_seq:
            continue
        action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
        if isinstance(action, NoOpAction):
            retry = task.parent
            original = retry.actions[0] if isinstance(retry.actions, list) else retry.actions
            new.append({
                "id": task.id,
                "retry_timer": retry.is_waiting_on_timer,
                "interval_ms": retry.retry_options.first_retry_interval_in_milliseconds,
                "action": original.to_json()})
        else:
            pos, action_json = position.get(id(action), (None, action.to_json()))
            new.append({"id": task.id, "pos": pos, "action": action_json})
    new.sort(key=lambda t: t["id"])
    return new


def _cancelled_timers(ctx: DurableOrchestrationContext) -> List[int]:
    return [t.id for t in _open_tasks(ctx)
            if isinstance(t.id, int) and getattr(t, "is_cancelled", False) is True]


class Replayer:
    """Runs episodes in a thread (workers=0) or in N worker processes."""

    def __init__(self, app_dir: Path, model: Any, workers: int) -> None:
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

    def submit(self, name: str, request_json: str, next_seq: int) -> Any:
        return self.executor.submit(run_episode, name, request_json, next_seq)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def describe_action(action: Optional[Dict[str, Any]]) -> str:
    """Human text for a recorded or requested action, for error messages."""
    if action is None:
        return "nothing"
    names = {0: "CallActivity", 1: "CallActivityWithRetry", 2: "CallSubOrchestrator",
             3: "CallSubOrchestratorWithRetry", 4: "ContinueAsNew", 5: "CreateTimer",
             6: "WaitForExternalEvent", 7: "CallEntity", 8: "CallHttp", 9: "SignalEntity"}
    kind, target = action
    return f"{names.get(kind, kind)} {target!r}" if target else names.get(kind, str(kind))
