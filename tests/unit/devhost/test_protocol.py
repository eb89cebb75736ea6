"""The names the devhost shows for protocol types are the Durable Functions protocol's own.

Users read them in an instance's status (`showHistory`: `EventType` of each event) and in the
failure of a non-deterministic orchestrator (the action recorded against the one requested).
"""

import json

import pytest

from devhost.protocol import (ActionType, EventType, completion_event, describe_action, event,
                              protocol_name, signature)

# durable-protocol.md and the Durable Functions HTTP API reference.
ACTION_NAMES = {
    0: "CallActivity", 1: "CallActivityWithRetry", 2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry", 4: "ContinueAsNew", 5: "CreateTimer",
    6: "WaitForExternalEvent", 7: "CallEntity", 8: "CallHttp", 9: "SignalEntity",
    11: "WhenAny", 12: "WhenAll",
}
EVENT_NAMES = {
    0: "ExecutionStarted", 1: "ExecutionCompleted", 2: "ExecutionFailed",
    3: "ExecutionTerminated", 4: "TaskScheduled", 5: "TaskCompleted", 6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated", 8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed", 10: "TimerCreated", 11: "TimerFired",
    12: "OrchestratorStarted", 13: "OrchestratorCompleted", 14: "EventSent", 15: "EventRaised",
    16: "ContinueAsNew", 17: "GenericEvent", 18: "HistoryState", 19: "ExecutionSuspended",
    20: "ExecutionResumed",
}


@pytest.mark.parametrize(("number", "name"), sorted(ACTION_NAMES.items()))
def test_action_types_have_the_protocols_numbers_and_names(number: int, name: str) -> None:
    assert protocol_name(ActionType(number)) == name


@pytest.mark.parametrize(("number", "name"), sorted(EVENT_NAMES.items()))
def test_event_types_have_the_protocols_numbers_and_names(number: int, name: str) -> None:
    assert protocol_name(EventType(number)) == name


def test_events_are_written_with_numeric_types_as_the_sdk_reads_them() -> None:
    written = json.loads(json.dumps(event(EventType.TIMER_FIRED, "2026-01-01T00:00:00.000000Z",
                                          TimerId=3)))
    assert written == {"EventType": 11, "EventId": -1, "IsPlayed": False,
                       "Timestamp": "2026-01-01T00:00:00.000000Z", "TimerId": 3}


def test_a_completion_names_its_task_and_a_failure_its_reason() -> None:
    assert completion_event(4, True, '"ok"')["EventType"] == 5
    failed = completion_event(4, False, None, "boom", sub=True)
    assert (failed["EventType"], failed["TaskScheduledId"], failed["Reason"]) == (9, 4, "boom")


def test_the_determinism_message_names_actions_and_their_targets() -> None:
    assert describe_action(signature({"actionType": 0, "functionName": "double"})) == \
        "CallActivity 'double'"
    assert describe_action(signature(
        {"actionType": 9, "instanceId": "@counter@c1", "operation": "add"})) == \
        "SignalEntity '@counter@c1:add'"
    assert describe_action(signature({"actionType": 4, "input": "1"})) == "ContinueAsNew"
    assert describe_action(None) == "nothing"
    assert describe_action((42, "x")) == "42 'x'"  # a type the SDK may add later
