"""A fake durable orchestration context and a driver for the orchestrator generators of
``orchestrators/``, in the manner of the Durable SDK's own orchestrator tests: the generator
is run step by step, each task it yields is answered by the test, and what it scheduled
(activities, sub-orchestrations, timers, entity operations, continue_as_new) is what the tests
assert on.

What the fake keeps of the real SDK (azure-functions-durable 1.7), because the orchestrators
depend on it:

- a task is *scheduled* only when it is yielded, alone or inside a ``task_any``/``task_all``
  (``FakeContext.scheduled`` lists the calls in that order, once each);
- ``task_any`` resumes with the child that completed first, failed or not; ``task_all`` with
  the results in the order of its children, or the first failure raised;
- a failed activity or sub-orchestration is raised into the generator at its ``yield``;
- a timer resumes the orchestration at its fire time (``current_utc_datetime`` moves there),
  and the clock moves only then;
- inputs and results cross a JSON boundary (a payload that is not JSON fails the test);
- ``continue_as_new`` ends the episode; the next one starts from its input.

Entities are the app's own reducers (``entities.job_progress``, ``entities.checkpoint``): a
signal or an entity call is applied at once, in order, so tests read the progress and the
checkpoint a user would read. Activity, orchestration and entity names come from the
registered functions themselves, never from string literals here.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.durable_functions.models.Task import TaskState

import activities.crawl
import activities.datasets
import activities.validation
import activities.verify
import entities.checkpoint
import entities.job_progress
import orchestrators.crawl
import orchestrators.datasets
import orchestrators.validation
import orchestrators.verify
from shared.models import CheckpointState, ProgressState

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def registered_name(function: Any) -> str:
    """The name the Functions host addresses a decorated function by."""
    return str(function._function.get_function_name())


def user_function(function: Any) -> Callable[[Any], Generator[Any, Any, Any]]:
    """The generator function behind an ``@orchestration_trigger``."""
    return function._function.get_user_function().orchestrator_function  # type: ignore[no-any-return]


# Names of what the orchestrators schedule, as the app registers them.
DISCOVER = registered_name(activities.crawl.discover)
DOWNLOAD = registered_name(activities.crawl.download_batch)
FINISH_JOB = registered_name(activities.crawl.finish_job)
PLAN_VALIDATION = registered_name(activities.validation.plan_validation)
VALIDATE_BATCH = registered_name(activities.validation.validate_batch)
PLAN_VERIFY = registered_name(activities.verify.plan_verify)
VERIFY_BATCH = registered_name(activities.verify.verify_batch)
BUILD_PART = registered_name(activities.datasets.build_dataset_part)
FINISH_DATASET = registered_name(activities.datasets.finish_dataset)
FAIL_DATASET = registered_name(activities.datasets.fail_dataset)
CRAWL_CHUNK = registered_name(orchestrators.crawl.crawl_chunk)
VALIDATE_JOB = registered_name(orchestrators.validation.validate_job)
PROGRESS = registered_name(entities.job_progress.job_progress)
CHECKPOINT = registered_name(entities.checkpoint.checkpoint)

crawl_chunk = user_function(orchestrators.crawl.crawl_chunk)
crawl_job = user_function(orchestrators.crawl.crawl_job)
validate_job = user_function(orchestrators.validation.validate_job)
verify_job = user_function(orchestrators.verify.verify_job)
build_dataset = user_function(orchestrators.datasets.build_dataset)


class ActivityFailed(Exception):
    """What the SDK raises into an orchestration when an activity failed after its retries."""


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


_completions = itertools.count()


@dataclass(eq=False)
class Task:
    state: TaskState = field(default=TaskState.RUNNING, init=False)
    result: Any = field(default=None, init=False)
    completed_at: int = field(default=-1, init=False)  # completion order, for task_any

    @property
    def is_completed(self) -> bool:
        return self.state is not TaskState.RUNNING


@dataclass(eq=False)
class Call(Task):
    """An activity, sub-orchestration, entity call or timer."""

    kind: str  # "activity" | "orchestration" | "entity" | "timer"
    name: str
    payload: Any = None
    instance_id: str | None = None
    operation: str | None = None
    fire_at: datetime | None = None

    def succeed(self, result: Any) -> None:
        assert not self.is_completed, f"{self.name} completed twice"
        self.result, self.state, self.completed_at = _json(result), TaskState.SUCCEEDED, next(_completions)

    def fail(self, message: str) -> None:
        assert not self.is_completed, f"{self.name} completed twice"
        self.result, self.state, self.completed_at = ActivityFailed(message), TaskState.FAILED, next(_completions)


@dataclass(eq=False)
class WhenAny(Task):
    children: list[Call] = field(default_factory=list)

    def winner(self) -> Call | None:
        done = [child for child in self.children if child.is_completed]
        return min(done, key=lambda child: child.completed_at) if done else None


@dataclass(eq=False)
class WhenAll(Task):
    children: list[Call] = field(default_factory=list)


class Entities:
    """The job_progress and checkpoint entities, by key, through the app's own reducers."""

    def __init__(self) -> None:
        self.progress_states: dict[str, ProgressState] = {}
        self.checkpoint_states: dict[str, CheckpointState] = {}

    def progress(self, key: str) -> ProgressState:
        return self.progress_states.get(key, ProgressState())

    def checkpoint(self, key: str) -> CheckpointState:
        return self.checkpoint_states.get(key, CheckpointState())

    def apply(self, name: str, key: str, operation: str, data: Any) -> Any:
        """Apply one operation; its result (the state for ``get``, else None)."""
        data = _json(data)
        if name == PROGRESS:
            state = self.progress_states[key] = entities.job_progress._apply(self.progress(key), operation, data)
        elif name == CHECKPOINT:
            state = self.checkpoint_states[key] = entities.checkpoint._apply(self.checkpoint(key), operation, data)
        else:
            raise AssertionError(f"no entity {name!r}")
        return state.model_dump(mode="json") if operation == "get" else None


class FakeContext:
    """The part of DurableOrchestrationContext the orchestrators use."""

    def __init__(self, input_: Any, entities_: Entities | None = None, now: datetime = START,
                 instance_id: str = "instance") -> None:
        self._input = _json(input_)
        self.entities = entities_ if entities_ is not None else Entities()
        self.current_utc_datetime = now
        self.instance_id = instance_id
        self.created: list[Call] = []  # every call made, scheduled or not
        self.scheduled: list[Call] = []  # calls yielded, in the order the SDK would schedule them
        self.signals: list[tuple[str, str, str, Any]] = []  # (entity, key, operation, data)
        self.continued_with: Any = None
        self._uuids = 0

    def get_input(self) -> Any:
        return _json(self._input)

    def new_uuid(self) -> str:
        self._uuids += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.instance_id}_{self.current_utc_datetime}_{self._uuids}"))

    def _call(self, call: Call) -> Call:
        if call.payload is not None:
            call.payload = _json(call.payload)
        self.created.append(call)
        return call

    def call_activity_with_retry(self, name: str, retry: Any, payload: Any = None) -> Call:
        return self._call(Call(kind="activity", name=name, payload=payload))

    def call_activity(self, name: str, payload: Any = None) -> Call:
        return self._call(Call(kind="activity", name=name, payload=payload))

    def call_sub_orchestrator(self, name: str, payload: Any = None, instance_id: str | None = None) -> Call:
        return self._call(Call(kind="orchestration", name=name, payload=payload, instance_id=instance_id))

    def call_entity(self, entity: Any, operation: str, data: Any = None) -> Call:
        return self._call(Call(kind="entity", name=entity.name, payload=data, instance_id=entity.key,
                               operation=operation))

    def signal_entity(self, entity: Any, operation: str, data: Any = None) -> None:
        self.signals.append((entity.name, entity.key, operation, _json(data)))
        self.entities.apply(entity.name, entity.key, operation, data)

    def create_timer(self, fire_at: datetime) -> Call:
        return self._call(Call(kind="timer", name="timer", fire_at=fire_at))

    def task_any(self, tasks: Iterable[Call]) -> WhenAny:
        return WhenAny(children=list(tasks))

    def task_all(self, tasks: Iterable[Call]) -> WhenAll:
        return WhenAll(children=list(tasks))

    def continue_as_new(self, input_: Any) -> None:
        self.continued_with = _json(input_)

    # -- what tests read ---------------------------------------------------------------------

    def calls(self, name: str) -> list[Call]:
        """The scheduled calls of one activity or orchestration, in order."""
        return [call for call in self.scheduled if call.name == name]

    def running(self, name: str | None = None) -> list[Call]:
        return [c for c in self.scheduled if not c.is_completed and (name is None or c.name == name)]

    def _schedule(self, task: Task) -> None:
        for call in task.children if isinstance(task, (WhenAny, WhenAll)) else [task]:
            assert isinstance(call, Call) and call in self.created, "yielded a task of another context"
            if call not in self.scheduled:
                self.scheduled.append(call)


#: The test's side of the durable runtime: given the context and the task the orchestration
#: waits on, complete it (and, if it likes, other scheduled calls). Raise ``Cancel`` to stop
#: the orchestration there, as a terminate or a crash would.
Respond = Callable[[FakeContext, Task], None]


class Cancel(Exception):
    """Raised by a responder: the orchestration stops where it waits."""


@dataclass
class Episode:
    """One history of an orchestration: how it ended, and its context."""

    context: FakeContext
    output: Any = None
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def continued_with(self) -> Any:
        return self.context.continued_with


def _resolve(context: FakeContext, task: Task) -> tuple[bool, Any]:
    """(failed, value) of a completed task, as the SDK resumes the generator with it."""
    if isinstance(task, WhenAny):
        winner = task.winner()
        assert winner is not None, "task_any resumed with none of its tasks completed"
        return False, winner
    if isinstance(task, WhenAll):
        for child in task.children:
            if child.state is TaskState.FAILED:
                return True, child.result
        assert all(child.is_completed for child in task.children), "task_all resumed too early"
        return False, [child.result for child in task.children]
    assert isinstance(task, Call) and task.is_completed, "resumed before the task completed"
    if task.kind == "timer":
        context.current_utc_datetime = max(context.current_utc_datetime, task.fire_at or START)
    return task.state is TaskState.FAILED, task.result


def drive(orchestrator: Callable[[Any], Generator[Any, Any, Any]], context: FakeContext,
          respond: Respond) -> Episode:
    """Run one episode of ``orchestrator`` with ``context``: every yielded task is scheduled,
    entity calls and timers complete by themselves, and ``respond`` completes the rest."""
    generator = orchestrator(context)
    failed, value = False, None
    while True:
        try:
            task = generator.throw(value) if failed else generator.send(value)
        except StopIteration as stop:
            return Episode(context, output=_json(stop.value))
        except Exception as exc:  # the orchestration failed
            return Episode(context, error=exc)
        context._schedule(task)
        for call in task.children if isinstance(task, (WhenAny, WhenAll)) else [task]:
            if call.kind == "entity" and not call.is_completed:
                call.succeed(context.entities.apply(call.name, call.instance_id or "", call.operation or "",
                                                    call.payload))
            elif call.kind == "timer" and not call.is_completed and call is task:
                call.succeed(None)
        if not _ready(task):
            try:
                respond(context, task)
            except Cancel:
                return Episode(context, cancelled=True)
        assert _ready(task), "the responder left the awaited task running"
        failed, value = _resolve(context, task)


def _ready(task: Task) -> bool:
    if isinstance(task, WhenAny):
        return task.winner() is not None
    if isinstance(task, WhenAll):
        return all(c.is_completed for c in task.children) or any(c.state is TaskState.FAILED for c in task.children)
    return task.is_completed


def drive_through(orchestrator: Callable[[Any], Generator[Any, Any, Any]], input_: Any, respond: Respond,
                  entities_: Entities | None = None, max_episodes: int = 1000) -> list[Episode]:
    """Run ``orchestrator`` from ``input_`` through every continue_as_new until it ends (or is
    cancelled); the episodes in order. The clock carries over from one episode to the next."""
    shared = entities_ if entities_ is not None else Entities()
    episodes: list[Episode] = []
    now = START
    for _ in range(max_episodes):
        episode = drive(orchestrator, FakeContext(input_, shared, now), respond)
        episodes.append(episode)
        if episode.continued_with is None or episode.cancelled:
            return episodes
        input_, now = episode.continued_with, episode.context.current_utc_datetime + timedelta(seconds=1)
    raise AssertionError(f"still continuing as new after {max_episodes} episodes")


class World:
    """A responder built from handlers: ``handlers[name](payload)`` gives an activity's or a
    sub-orchestration's result, or raises ``ActivityFailed`` (the call fails with its message).
    ``pick`` chooses which of a ``task_any``'s running tasks completes first (by default the
    oldest)."""

    def __init__(self, handlers: dict[str, Callable[[Any], Any]],
                 pick: Callable[[list[Call]], Call] | None = None) -> None:
        self.handlers = handlers
        self.pick = pick or (lambda running: running[0])

    def run(self, call: Call) -> None:
        if call.is_completed:
            return
        try:
            result = self.handlers[call.name](call.payload)
        except ActivityFailed as exc:
            call.fail(str(exc))
        else:
            call.succeed(result)

    def __call__(self, context: FakeContext, task: Task) -> None:
        if isinstance(task, WhenAll):
            for child in task.children:
                self.run(child)
        elif isinstance(task, WhenAny):
            if task.winner() is None:
                self.run(self.pick([c for c in task.children if not c.is_completed]))
        else:
            assert isinstance(task, Call)
            self.run(task)
