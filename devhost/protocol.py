"""The Durable Functions out-of-process protocol, as the devhost speaks it with the SDK.

Action types (what a replay asks for) and history event types (what the host records) are the
SDK's own enums, `ActionType` and `HistoryEventType` (here `EventType`), so the numbers have
one definition. A history event is a JSON object (`HistoryEvent`); `event()` makes one with
the fields every event carries.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType as ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

#: `EventType` of a history event (the SDK's name is longer).
EventType = HistoryEventType

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: datetime | None = None) -> str:
    """A history timestamp: UTC with microseconds and a `Z`."""
    return (moment or utcnow()).strftime(TIME_FORMAT)


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text.replace("+00:00", "Z"), TIME_FORMAT).replace(
        tzinfo=timezone.utc)


class RuntimeStatus(StrEnum):
    """`runtimeStatus` of an orchestration instance."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    SUSPENDED = "Suspended"


TERMINAL = (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED)


#: The built-in activity behind `context.call_http`.
HTTP_ACTIVITY = "BuiltIn::HttpActivity"

#: One history event, as the SDK reads it (`EventType`, `EventId`, `Timestamp` and the fields
#: of its type).
HistoryEvent = dict[str, Any]
#: One action of a replay's answer (`actionType` and the fields of its type).
Action = dict[str, Any]


def protocol_name(kind: ActionType | EventType) -> str:
    """The protocol's name of an action or event type: `CallActivity`,
    `SubOrchestrationInstanceCompleted` (durable-protocol.md, the HTTP API's history)."""
    return "".join(word.capitalize() for word in kind.name.split("_"))


ACTIVITY_ACTIONS = (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY)
SUB_ORCHESTRATOR_ACTIONS = (ActionType.CALL_SUB_ORCHESTRATOR,
                            ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY)
ENTITY_ACTIONS = (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY)

#: Events that change no orchestration state: appending them needs no replay.
CONTROL_EVENTS = (EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED)


def event(kind: EventType, when: str | None = None, event_id: int = -1,
          **fields: Any) -> HistoryEvent:
    """A history event of type `kind`, stamped `when` (default: now)."""
    return {"EventType": kind, "EventId": event_id, "IsPlayed": False,
            "Timestamp": when or stamp(), **fields}


def completion_event(task_id: int, ok: bool, result: str | None, reason: str = "",
                     sub: bool = False) -> HistoryEvent:
    """The event that completes (or fails) task `task_id`: an activity's, or a
    sub-orchestration's when `sub`."""
    if ok:
        kind = (EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED if sub
                else EventType.TASK_COMPLETED)
        return event(kind, TaskScheduledId=task_id, Result=result)
    kind = EventType.SUB_ORCHESTRATION_INSTANCE_FAILED if sub else EventType.TASK_FAILED
    return event(kind, TaskScheduledId=task_id, Reason=reason, Details="")


Signature = tuple[int, str]


def signature(action: Action) -> Signature:
    """What must stay the same for an action on every replay: its type and target."""
    kind: int = action["actionType"]
    if kind in ENTITY_ACTIONS:
        return kind, f"{action.get('instanceId')}:{action.get('operation')}"
    target = action.get("functionName") or action.get("externalEventName") or ""
    return kind, str(target)


def describe_action(recorded: Signature | None) -> str:
    """Human text for a recorded or requested action, for error messages."""
    if recorded is None:
        return "nothing"
    kind, target = recorded
    try:
        name = protocol_name(ActionType(kind))
    except ValueError:
        name = str(kind)
    return f"{name} {target!r}" if target else name
