"""Orchestration episodes (one per instance at a time).

An episode takes every queued message of the instance, appends them to its history after a
new OrchestratorStarted, replays the whole history through the SDK (`replay.py`), checks the
replayed actions against those already recorded (determinism), then commits in ONE
transaction: the new history events, the work items / timers / child instances / entity
messages they imply, the consumed messages' deletion and the instance's new status. Only after
the commit is any of that work started (the `Wake` handed to the engine).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import timedelta
from typing import NamedTuple

from ..protocol import (ACTIVITY_ACTIONS, CONTROL_EVENTS, HTTP_ACTIVITY,
                        SUB_ORCHESTRATOR_ACTIONS, TERMINAL, Action, ActionType, EventType,
                        HistoryEvent, RuntimeStatus, Signature, completion_event,
                        describe_action, event, parse_stamp, stamp)
from ..replay import EpisodeResult, NewTask, Replayer
from ..store import (EntityMessage, EntityOperation, Instance, Message, MessageKind, Parent,
                     Store, Timer, Transaction, Work)
from . import Dispatch, KeyedQueue, Spawn, Wake

log = logging.getLogger("devhost.engine")


def parent_message(inst: Instance, ok: bool, output: str | None,
                   reason: str = "") -> Message | None:
    """The message that completes (or fails) the parent's task of a sub-orchestration."""
    if inst.parent_id is None or inst.parent_task is None or inst.parent_gen is None:
        return None
    return Message(inst.parent_id, inst.parent_gen, MessageKind.EVENT,
                   completion_event(inst.parent_task, ok, output, reason, sub=True))


class EpisodeRunner:
    """Runs the episodes of orchestration instances; keeps their histories in memory."""

    def __init__(self, store: Store, replayer: Replayer, limit: int, spawn: Spawn,
                 dispatch: Dispatch) -> None:
        self.store, self.replayer, self.dispatch = store, replayer, dispatch
        self.queue = KeyedQueue("episode of orchestration", self.run, limit, spawn)
        self.history_cache: dict[str, list[str]] = {}

    def add(self, instance_id: str) -> None:
        """The instance has messages: run an episode for it."""
        self.queue.add(instance_id)

    def forget(self, instance_id: str) -> None:
        """Drop the cached history of an instance whose state was deleted."""
        self.history_cache.pop(instance_id, None)

    def _history(self, iid: str) -> list[str]:
        if iid not in self.history_cache:
            self.history_cache[iid] = self.store.history(iid)
        return self.history_cache[iid]

    def create_instance(self, tx: Transaction, iid: str, name: str, input_text: str | None,
                        version: str | None = None, parent: Parent | None = None) -> bool:
        """Insert a Pending instance and its ExecutionStarted message (False: id is busy)."""
        old = tx.instance(iid)
        if old is not None and old.status not in TERMINAL:
            return False
        gen = old.gen + 1 if old is not None else 0
        if old is not None:
            tx.delete_execution(iid)
            self.forget(iid)
        now = stamp()
        tx.put_instance(iid, name, gen, input_text, version, now, parent)
        started = event(EventType.EXECUTION_STARTED, now, Name=name, Version=version or "",
                        Input=input_text, OrchestrationInstance={"InstanceId": iid},
                        ParentInstance=parent.instance_id if parent else None)
        tx.add_messages([Message(iid, gen, MessageKind.EVENT, started)])
        return True

    # ------------------------------------------------------------------ one episode
    async def run(self, iid: str) -> None:
        inst = self.store.instance(iid)
        messages = self.store.inbox(iid)
        if not messages:
            return
        if inst is None:
            with self.store.tx() as tx:
                tx.delete_messages(m.id for m in messages)
            return
        status = inst.status
        consumed: list[int] = []
        new_events: list[HistoryEvent] = []
        terminate: str | None = None
        for message in messages:
            payload = message.payload
            if status in TERMINAL or (message.gen is not None and message.gen != inst.gen):
                consumed.append(message.id)
                continue
            kind = message.kind
            if kind is MessageKind.TERMINATE:
                terminate, status = payload.get("reason", ""), RuntimeStatus.TERMINATED
            elif kind is MessageKind.SUSPEND:
                if status in (RuntimeStatus.RUNNING, RuntimeStatus.PENDING):
                    status = RuntimeStatus.SUSPENDED
                    new_events.append(event(EventType.EXECUTION_SUSPENDED,
                                            Reason=payload.get("reason")))
            elif kind is MessageKind.RESUME:
                if status is RuntimeStatus.SUSPENDED:
                    status = RuntimeStatus.RUNNING
                    new_events.append(event(EventType.EXECUTION_RESUMED,
                                            Reason=payload.get("reason")))
                    consumed.append(message.id)
                    self.add(iid)  # messages held while suspended come next
                    break
            elif status is RuntimeStatus.SUSPENDED:
                continue
            else:
                new_events.append(payload)
            consumed.append(message.id)
        # ExecutionStarted must open a new execution even if events were queued before it.
        new_events.sort(key=lambda e: e["EventType"] != EventType.EXECUTION_STARTED)
        if terminate is not None:
            self._finish_terminated(inst, consumed, terminate)
            return
        if all(e["EventType"] in CONTROL_EVENTS for e in new_events):
            self._commit_control(inst, consumed, new_events, status)
            return
        history = self._history(iid)
        episode = ([json.dumps(event(EventType.ORCHESTRATOR_STARTED))]
                   + [json.dumps(e) for e in new_events])
        request = ('{"instanceId":%s,"parentInstanceId":%s,"isReplaying":false,"input":%s,'
                   '"upperSchemaVersion":2,"history":[%s]}' % (
                       json.dumps(iid), json.dumps(inst.parent_id), json.dumps(inst.input),
                       ",".join(history + episode)))
        result = await asyncio.wrap_future(
            self.replayer.submit(inst.name, request, inst.next_seq))
        self._apply(inst, consumed, episode, result, status)

    def _commit_control(self, inst: Instance, consumed: list[int], events: list[HistoryEvent],
                        status: RuntimeStatus) -> None:
        """Messages that need no replay: suspend/resume, or stale ones."""
        history = self._history(inst.id)
        lines = [json.dumps(e) for e in events]
        with self.store.tx() as tx:
            tx.delete_messages(consumed)
            tx.append_history(inst.id, len(history), lines)
            tx.set_status(inst.id, status)
        history.extend(lines)

    def _finish_terminated(self, inst: Instance, consumed: list[int], reason: str) -> None:
        iid = inst.id
        history = self._history(iid)
        output = json.dumps(reason)
        lines = [json.dumps(event(EventType.EXECUTION_TERMINATED, Input=output))]
        parent = parent_message(inst, False, None,
                                f"Sub-orchestration '{inst.name}' was terminated: {reason}")
        with self.store.tx() as tx:
            tx.delete_messages(consumed)
            tx.append_history(iid, len(history), lines)
            tx.delete_timers(iid)
            tx.set_terminated(iid, output)
            if parent:
                tx.add_messages([parent])
        self.forget(iid)
        self.dispatch(Wake(instances=[parent.instance_id] if parent else []))
        log.info("orchestration %s terminated: %s", iid, reason)

    def _apply(self, inst: Instance, consumed: list[int], episode: list[str],
               result: EpisodeResult, status: RuntimeStatus) -> None:
        """Turn one replay's decisions into committed history, work and messages."""
        iid = inst.id
        plan = Plan(self, inst, result["now"])
        recorded: list[Signature] = [(kind, target) for kind, target in
                                     json.loads(inst.signatures)]
        signatures = result["signatures"]
        mismatch = next((i for i, sig in enumerate(recorded)
                         if i >= len(signatures) or tuple(signatures[i]) != sig), None)
        error, error_type = result["error"], result["error_type"]
        done = result["done"]
        if mismatch is not None:
            now_sig = signatures[mismatch] if mismatch < len(signatures) else None
            error = (f"Non-deterministic orchestrator: action #{mismatch} was recorded in the "
                     f"history as {describe_action(recorded[mismatch])} but the orchestrator "
                     f"now requests {describe_action(now_sig)}. Orchestrator code must make the"
                     f" same calls in the same order on every replay.")
            error_type, done = "NonDeterministicOrchestrationError", True
        else:
            plan.schedule(result, len(recorded))
        continue_as_new: Action | None = None
        if done and error is None:
            continue_as_new = next(
                (a for a in result["actions"][len(recorded):]
                 if a["actionType"] == ActionType.CONTINUE_AS_NEW), None)
        tail = [event(EventType.ORCHESTRATOR_COMPLETED, result["now"])]
        output = result["output"]
        failure: str | None = None
        if done and continue_as_new is None:
            if error is None:
                status = RuntimeStatus.COMPLETED
                tail.append(event(EventType.EXECUTION_COMPLETED, Result=output))
                parent = parent_message(inst, True, output)
                log.info("orchestration %s (%s) completed", iid, inst.name)
            else:
                status = RuntimeStatus.FAILED
                reason = f"Orchestrator function '{inst.name}' failed: {error_type}: {error}"
                output = json.dumps(reason)
                failure = json.dumps({"errorType": error_type, "errorMessage": error})
                tail.append(event(EventType.EXECUTION_FAILED, Reason=reason, Details=""))
                parent = parent_message(inst, False, None, reason)
                log.warning("orchestration %s (%s) failed: %s: %s", iid, inst.name,
                            error_type, error)
            if parent:
                plan.messages.append(parent)
        elif status is RuntimeStatus.PENDING:
            status = RuntimeStatus.RUNNING
        history = self._history(iid)
        lines = episode + plan.history + [json.dumps(e) for e in tail]
        with self.store.tx() as tx:
            tx.delete_messages(consumed)
            plan.commit(tx)
            tx.cancel_timers(iid, inst.gen, result["cancelled_timers"])
            if continue_as_new is not None:
                self._continue_as_new(tx, inst, continue_as_new["input"], history, episode,
                                      result["actions"])
            else:
                tx.append_history(iid, len(history), lines)
                tx.record_episode(iid, status, output if done else None,
                                  result["custom_status"], failure, json.dumps(signatures),
                                  result["next_seq"])
                if done:
                    tx.delete_timers(iid)
        if continue_as_new is not None:
            self.forget(iid)
            plan.touched.add(iid)
        elif done:
            self.forget(iid)
        else:
            history.extend(lines)
        self.dispatch(plan.wake())

    def _continue_as_new(self, tx: Transaction, inst: Instance, input_text: str | None,
                         history: list[str], episode: list[str], actions: list[Action]) -> None:
        """Restart the instance with a fresh history; carry unconsumed events over.

        External events wait in arrival order for the waits of their name, so the first
        ``n`` events of a name went to its ``n`` waits (WaitForExternalEvent actions) and the
        rest are carried, in arrival order. (The SDK's own record of buffered events misses
        those that arrived in the episode that ended the execution, and keeps one per name.)"""
        iid, gen = inst.id, inst.gen + 1
        waits: dict[str, int] = {}
        for action in actions:
            if action.get("actionType") == ActionType.WAIT_FOR_EXTERNAL_EVENT:
                name = str(action.get("externalEventName"))
                waits[name] = waits.get(name, 0) + 1
        carried: list[HistoryEvent] = []
        for line in history + episode:
            ev = json.loads(line)
            if ev["EventType"] != EventType.EVENT_RAISED:
                continue
            if waits.get(ev.get("Name"), 0) > 0:
                waits[ev["Name"]] -= 1  # taken by a wait
            else:
                carried.append(ev)
        tx.new_execution(iid, gen, input_text)
        started = event(EventType.EXECUTION_STARTED, Name=inst.name, Version=inst.version or "",
                        Input=input_text, OrchestrationInstance={"InstanceId": iid})
        tx.add_messages([Message(iid, gen, MessageKind.EVENT, ev) for ev in [started, *carried]])
        log.info("orchestration %s continued as new (generation %d)", iid, gen)


class Child(NamedTuple):
    """A sub-orchestration to start: task `task_id` of the parent's execution."""

    instance_id: str
    name: str
    input: str | None
    version: str | None
    task_id: int


class Plan:
    """What one episode decided, collected before the transaction that records it."""

    def __init__(self, runner: EpisodeRunner, inst: Instance, now: str) -> None:
        self.runner, self.inst, self.now = runner, inst, now
        self.iid, self.gen = inst.id, inst.gen
        self.history: list[str] = []
        self.work: list[Work] = []
        self.timers: list[Timer] = []
        self.children: list[Child] = []
        self.entity_messages: list[EntityMessage] = []
        self.messages: list[Message] = []
        self.touched: set[str] = set()
        self.committed = Wake()

    def _record(self, kind: EventType, task_id: int, **fields: object) -> None:
        self.history.append(json.dumps(event(kind, self.now, task_id, **fields)))

    def schedule(self, result: EpisodeResult, recorded: int) -> None:
        """Record the new tasks and signals of a replay, in the order the orchestrator made
        the calls (entity operations keep it)."""
        calls: list[tuple[int, int, NewTask | None, Action | None]] = [
            (n, -1, None, a) for n, a in enumerate(result["actions"])
            if n >= recorded and a["actionType"] == ActionType.SIGNAL_ENTITY]
        end = len(result["signatures"])
        calls += [(t["pos"] if t["pos"] is not None else end, t["id"], t, None)
                  for t in result["new_tasks"]]
        for _, _, task, signal in sorted(calls, key=lambda x: (x[0], x[1])):
            if task is not None:
                self.schedule_task(task)
            elif signal is not None:
                self.signal(signal)

    def schedule_task(self, task: NewTask) -> None:
        action, task_id = task["action"], task["id"]
        kind = action["actionType"]
        if task["retry_timer"]:
            fire_at = stamp(parse_stamp(self.now) + timedelta(milliseconds=task["interval_ms"]))
            self._record(EventType.TIMER_CREATED, task_id, FireAt=fire_at)
            self.timers.append(Timer(self.iid, self.gen, task_id, fire_at))
        elif kind in ACTIVITY_ACTIONS:
            self._record(EventType.TASK_SCHEDULED, task_id, Name=action["functionName"],
                         Input=action.get("input"))
            self.work.append(Work(self.iid, self.gen, task_id, action["functionName"],
                                  action.get("input")))
        elif kind == ActionType.CALL_HTTP:
            request = json.dumps(action["httpRequest"])
            self._record(EventType.TASK_SCHEDULED, task_id, Name=HTTP_ACTIVITY, Input=request)
            self.work.append(Work(self.iid, self.gen, task_id, HTTP_ACTIVITY, request))
        elif kind in SUB_ORCHESTRATOR_ACTIONS:
            suffix = f"{task_id}" if self.gen == 0 else f"{self.gen}:{task_id}"
            child = action.get("instanceId") or f"{self.iid}:{suffix}"
            self._record(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id,
                         Name=action["functionName"], InstanceId=child,
                         Input=action.get("input"))
            self.children.append(Child(child, action["functionName"], action.get("input"),
                                       action.get("version"), task_id))
        elif kind == ActionType.CREATE_TIMER:
            self._record(EventType.TIMER_CREATED, task_id, FireAt=action["fireAt"])
            self.timers.append(Timer(self.iid, self.gen, task_id, action["fireAt"]))
        elif kind == ActionType.CALL_ENTITY:
            request_id = str(uuid.uuid4())
            self._record(EventType.EVENT_SENT, task_id, InstanceId=action["instanceId"],
                         Name=action["operation"],
                         Input=json.dumps({"id": request_id, "op": action["operation"]}))
            self.entity_messages.append(EntityMessage(action["instanceId"], EntityOperation(
                op=action["operation"], input=action.get("input"), signal=False,
                parent=self.iid, gen=self.gen, id=request_id)))

    def signal(self, action: Action) -> None:
        request_id = str(uuid.uuid4())
        self._record(EventType.EVENT_SENT, -1, InstanceId=action["instanceId"],
                     Name=action["operation"],
                     Input=json.dumps({"id": request_id, "op": action["operation"],
                                       "signal": True}))
        self.entity_messages.append(EntityMessage(action["instanceId"], EntityOperation(
            op=action["operation"], input=action.get("input"), signal=True, id=request_id)))

    def commit(self, tx: Transaction) -> None:
        if self.work:
            self.committed.work = tx.add_work(self.work)
        if self.timers:
            self.committed.timers = tx.add_timers(self.timers)
        for child, name, input_text, version, task_id in self.children:
            if self.runner.create_instance(tx, child, name, input_text, version,
                                           Parent(self.iid, task_id, self.gen)):
                self.touched.add(child)
            else:
                self.messages.append(Message(self.iid, self.gen, MessageKind.EVENT,
                                             completion_event(
                    task_id, False, None,
                    f"An orchestration with instance id '{child}' is already running.",
                    sub=True)))
        if self.entity_messages:
            tx.add_entity_messages(self.entity_messages)
        if self.messages:
            tx.add_messages(self.messages)
            self.touched.update(m.instance_id for m in self.messages)

    def wake(self) -> Wake:
        """After the commit: the new work, for the runners."""
        self.committed.instances = self.touched
        self.committed.entities = {m.entity_id for m in self.entity_messages}
        return self.committed
