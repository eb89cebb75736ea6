"""The durable runtime: orchestration episodes, activities, durable timers and entities.

Work flows as messages through SQLite tables (see store.py). One event loop owns the database;
replays run in the Replayer's executor, sync activities and entity batches in a thread pool.

Orchestration episode (one per instance at a time): take every queued message of the instance,
append them to its history after a new OrchestratorStarted, replay the whole history through
the SDK, check the replayed actions against those already recorded (determinism), then commit
in ONE transaction: the new history events, the work items / timers / child instances /
entity messages they imply, the consumed messages' deletion and the instance's new status.
Only after the commit is any of that work started.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Dict, List, Optional, Set, Tuple

from azure.functions._durable_functions import df_dumps, df_loads

from .appmodel import AppModel, HostConfig
from .replay import Replayer, describe_action
from .store import TERMINAL, Store, parse_stamp, stamp, utcnow

log = logging.getLogger("devhost.engine")

# History event types (durable-protocol.md).
EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_TERMINATED = 0, 1, 2, 3
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
SUB_CREATED, SUB_COMPLETED, SUB_FAILED = 7, 8, 9
TIMER_CREATED, TIMER_FIRED, ORCH_STARTED, ORCH_COMPLETED = 10, 11, 12, 13
EVENT_SENT, EVENT_RAISED, CONTINUE_AS_NEW = 14, 15, 16
EXECUTION_SUSPENDED, EXECUTION_RESUMED = 19, 20
HTTP_ACTIVITY = "BuiltIn::HttpActivity"


def event(kind: int, when: Optional[str] = None, event_id: int = -1, **fields: Any) -> Dict:
    return {"EventType": kind, "EventId": event_id, "IsPlayed": False,
            "Timestamp": when or stamp(), **fields}


def completion(iid: str, gen: int, task_id: int, ok: bool, result: Optional[str],
               reason: str = "", sub: bool = False) -> Tuple[str, int, str, Dict]:
    """The inbox message that completes task `task_id` of an orchestration."""
    if ok:
        body = event(SUB_COMPLETED if sub else TASK_COMPLETED, TaskScheduledId=task_id,
                     Result=result)
    else:
        body = event(SUB_FAILED if sub else TASK_FAILED, TaskScheduledId=task_id,
                     Reason=reason, Details="")
    return (iid, gen, "event", body)


class KeyedQueue:
    """Keys with pending work: one job per key at a time, at most `limit` jobs at once."""

    def __init__(self, what: str, job: Any, limit: int, spawn: Any) -> None:
        self.what, self.job, self.limit, self.spawn = what, job, limit, spawn
        self.ready: Set[str] = set()
        self.busy: Set[str] = set()
        self.wake = asyncio.Event()

    def add(self, key: str) -> None:
        self.ready.add(key)
        self.wake.set()

    async def loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            for key in list(self.ready):
                if len(self.busy) >= self.limit:
                    break
                if key in self.busy:
                    continue
                self.ready.discard(key)
                self.busy.add(key)
                self.spawn(self._guarded(key))

    async def _guarded(self, key: str) -> None:
        try:
            await self.job(key)
        except Exception:
            log.exception("%s %s failed inside the devhost", self.what, key)
        finally:
            self.busy.discard(key)
            self.wake.set()


class Engine:
    """Owns the dispatch loops; HTTP handlers call its `start_instance`, `send` and friends."""

    def __init__(self, store: Store, model: AppModel, config: HostConfig,
                 replayer: Replayer) -> None:
        self.store, self.model, self.config, self.replayer = store, model, config, replayer
        self.orchestrations = KeyedQueue("episode of orchestration", self._episode,
                                         config.max_orchestrations, self._spawn)
        self.entities = KeyedQueue("batch of entity", self._entity_batch, 1 << 30, self._spawn)
        self.history_cache: Dict[str, List[str]] = {}
        self.activity_queue: "asyncio.Queue[Any]" = asyncio.Queue()
        self.finished: List[Tuple[int, Tuple[str, int, str, Dict]]] = []
        self.wake_flush = asyncio.Event()
        self.timer_heap: List[Tuple[str, int]] = []
        self.wake_timers = asyncio.Event()
        self.threads = ThreadPoolExecutor(config.max_activities, thread_name_prefix="activity")
        self.loops: List[asyncio.Task] = []
        self.running_jobs: Set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover queued work from the state file and start the loops."""
        db = self.store.db
        for (iid,) in db.execute("SELECT DISTINCT instance_id FROM inbox"):
            self.orchestrations.add(iid)
        for row in self.store.all_rows("work_items"):
            self.activity_queue.put_nowait(row)
        for row in self.store.all_rows("timers"):
            heapq.heappush(self.timer_heap, (row["fire_at"], row["id"]))
        for (eid,) in db.execute("SELECT DISTINCT entity_id FROM entity_inbox"):
            self.entities.add(eid)
        log.info("recovered %d instances with messages, %d activities, %d timers, "
                 "%d entities with operations", len(self.orchestrations.ready),
                 self.activity_queue.qsize(), len(self.timer_heap), len(self.entities.ready))
        self.loops = [asyncio.create_task(c) for c in (
            self.orchestrations.loop(), self._flush_loop(), self._timer_loop(),
            self.entities.loop())]
        self.loops += [asyncio.create_task(self._activity_worker())
                       for _ in range(self.config.max_activities)]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let running jobs finish for `grace` seconds, flush results."""
        for task in self.loops:
            task.cancel()
        if self.running_jobs:
            await asyncio.wait(list(self.running_jobs), timeout=grace)
        self._flush_completions()
        self.threads.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, coro: Any) -> None:
        job = asyncio.create_task(coro)
        self.running_jobs.add(job)
        job.add_done_callback(self.running_jobs.discard)

    def notify(self, instances: Any = (), entities: Any = ()) -> None:
        for iid in instances:
            self.orchestrations.add(iid)
        for eid in entities:
            self.entities.add(eid)

    # ------------------------------------------------------------------ client operations
    def create_instance(self, db: Any, iid: str, name: str, input_text: Optional[str],
                        version: Optional[str] = None,
                        parent: Optional[Tuple[str, int, int]] = None) -> bool:
        """Insert a Pending instance and its ExecutionStarted message (False: id is busy)."""
        row = db.execute("SELECT status, gen FROM instances WHERE id=?", (iid,)).fetchone()
        if row is not None and row["status"] not in TERMINAL:
            return False
        gen = row["gen"] + 1 if row is not None else 0
        if row is not None:
            self.store.delete_instance_state(db, iid)
            self.history_cache.pop(iid, None)
        now = stamp()
        parent_id, parent_task, parent_gen = parent or (None, None, None)
        db.execute(
            "INSERT OR REPLACE INTO instances(id, name, status, gen, input, version, created, "
            "updated, parent_id, parent_task, parent_gen) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (iid, name, "Pending", gen, input_text, version, now, now, parent_id, parent_task,
             parent_gen))
        started = event(EXECUTION_STARTED, now, Name=name, Version=version or "",
                        Input=input_text, OrchestrationInstance={"InstanceId": iid},
                        ParentInstance=parent_id)
        self.store.add_messages(db, [(iid, gen, "event", started)])
        return True

    def start_instance(self, iid: str, name: str, input_text: Optional[str],
                       version: Optional[str] = None) -> bool:
        with self.store.tx() as db:
            created = self.create_instance(db, iid, name, input_text, version)
        if created:
            self.notify(instances=[iid])
        return created

    def send(self, iid: str, kind: str, payload: Dict[str, Any]) -> None:
        """Queue a control message or an event for the current execution of an instance."""
        with self.store.tx() as db:
            self.store.add_messages(db, [(iid, None, kind, payload)])
        self.notify(instances=[iid])

    def signal_entity(self, entity_id: str, operation: str, input_text: Optional[str]) -> None:
        with self.store.tx() as db:
            self.store.add_entity_messages(db, [(entity_id, {
                "op": operation, "input": input_text, "signal": True,
                "id": str(uuid.uuid4())})])
        self.notify(entities=[entity_id])

    def purge(self, ids: List[str]) -> int:
        with self.store.tx() as db:
            for iid in ids:
                self.store.delete_instance_state(db, iid)
                db.execute("DELETE FROM instances WHERE id=?", (iid,))
                self.history_cache.pop(iid, None)
        return len(ids)

    # ------------------------------------------------------------------ orchestrations
    def _history(self, iid: str) -> List[str]:
        if iid not in self.history_cache:
            self.history_cache[iid] = self.store.history(iid)
        return self.history_cache[iid]

    async def _episode(self, iid: str) -> None:
        inst = self.store.instance(iid)
        rows = list(self.store.db.execute(
            "SELECT id, gen, kind, payload FROM inbox WHERE instance_id=? ORDER BY id", (iid,)))
        if not rows:
            return
        if inst is None:
            with self.store.tx() as db:
                db.executemany("DELETE FROM inbox WHERE id=?", [(r["id"],) for r in rows])
            return
        status = inst["status"]
        consumed: List[int] = []
        new_events: List[Dict[str, Any]] = []
        terminate: Optional[str] = None
        for row in rows:
            payload = json.loads(row["payload"])
            if status in TERMINAL or (row["gen"] is not None and row["gen"] != inst["gen"]):
                consumed.append(row["id"])
                continue
            kind = row["kind"]
            if kind == "terminate":
                terminate, status = payload.get("reason", ""), "Terminated"
            elif kind == "suspend":
                if status in ("Running", "Pending"):
                    status = "Suspended"
                    new_events.append(event(EXECUTION_SUSPENDED, Reason=payload.get("reason")))
            elif kind == "resume":
                if status == "Suspended":
                    status = "Running"
                    new_events.append(event(EXECUTION_RESUMED, Reason=payload.get("reason")))
                    consumed.append(row["id"])
                    self.orchestrations.add(iid)  # messages held while suspended come next
                    break
            elif status == "Suspended":
                continue
            else:
                new_events.append(payload)
            consumed.append(row["id"])
        # ExecutionStarted must open a new execution even if events were queued before it.
        new_events.sort(key=lambda e: e["EventType"] != EXECUTION_STARTED)
        if terminate is not None:
            self._finish_terminated(inst, consumed, terminate)
            return
        if not any(e["EventType"] not in (EXECUTION_SUSPENDED, EXECUTION_RESUMED)
                   for e in new_events):
            self._commit_control(inst, consumed, new_events, status)
            return
        history = self._history(iid)
        episode = [json.dumps(event(ORCH_STARTED))] + [json.dumps(e) for e in new_events]
        request = ('{"instanceId":%s,"parentInstanceId":%s,"isReplaying":false,"input":%s,'
                   '"upperSchemaVersion":2,"history":[%s]}' % (
                       json.dumps(iid), json.dumps(inst["parent_id"]), json.dumps(inst["input"]),
                       ",".join(history + episode)))
        result = await asyncio.wrap_future(
            self.replayer.submit(inst["name"], request, inst["next_seq"]))
        self._apply(inst, consumed, episode, result, status)

    def _commit_control(self, inst: Any, consumed: List[int], events: List[Dict],
                        status: str) -> None:
        """Messages that need no replay: suspend/resume, or stale ones."""
        history = self._history(inst["id"])
        lines = [json.dumps(e) for e in events]
        with self.store.tx() as db:
            db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in consumed])
            self._append_history(db, inst["id"], history, lines)
            db.execute("UPDATE instances SET status=?, updated=? WHERE id=?",
                       (status, stamp(), inst["id"]))
        history.extend(lines)

    def _append_history(self, db: Any, iid: str, history: List[str], lines: List[str]) -> None:
        db.executemany("INSERT INTO history(instance_id, seq, event) VALUES (?,?,?)",
                       [(iid, len(history) + n, line) for n, line in enumerate(lines)])

    def _finish_terminated(self, inst: Any, consumed: List[int], reason: str) -> None:
        iid = inst["id"]
        history = self._history(iid)
        lines = [json.dumps(event(EXECUTION_TERMINATED, Input=json.dumps(reason)))]
        with self.store.tx() as db:
            db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in consumed])
            self._append_history(db, iid, history, lines)
            db.execute("DELETE FROM timers WHERE instance_id=?", (iid,))
            db.execute("UPDATE instances SET status='Terminated', output=?, updated=? "
                       "WHERE id=?", (json.dumps(reason), stamp(), iid))
            parent = self._parent_message(inst, False, None,
                                          f"Sub-orchestration '{inst['name']}' was terminated:"
                                          f" {reason}")
            if parent:
                self.store.add_messages(db, [parent])
        self.history_cache.pop(iid, None)
        self.notify(instances=[inst["parent_id"]] if parent else [])
        log.info("orchestration %s terminated: %s", iid, reason)

    @staticmethod
    def _parent_message(inst: Any, ok: bool, output: Optional[str],
                        reason: str = "") -> Optional[Tuple[str, int, str, Dict]]:
        if inst["parent_id"] is None:
            return None
        return completion(inst["parent_id"], inst["parent_gen"], inst["parent_task"], ok,
                          output, reason, sub=True)

    def _apply(self, inst: Any, consumed: List[int], episode: List[str],
               result: Dict[str, Any], status: str) -> None:
        """Turn one replay's decisions into committed history, work and messages."""
        iid = inst["id"]
        plan = Plan(self, inst, result["now"])
        recorded = json.loads(inst["signatures"])
        signatures = result["signatures"]
        mismatch = next((i for i, sig in enumerate(recorded)
                         if i >= len(signatures) or signatures[i] != sig), None)
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
            # In the order the orchestrator made the calls (entity operations keep it).
            signals = [(n, -1, a) for n, a in enumerate(result["actions"])
                       if n >= len(recorded) and a["actionType"] == 9]
            tasks = [(t.get("pos") if t.get("pos") is not None else len(signatures), t["id"], t)
                     for t in result["new_tasks"]]
            for _, _, item in sorted(signals + tasks, key=lambda x: (x[0], x[1])):
                if "id" in item:
                    plan.schedule_task(item)
                else:
                    plan.signal(item)
        continue_as_new = None
        if done and error is None:
            continue_as_new = next((a for a in result["actions"][len(recorded):]
                                    if a["actionType"] == 4), None)
        tail = [event(ORCH_COMPLETED, result["now"])]
        output = result["output"]
        if done and continue_as_new is None:
            if error is None:
                status = "Completed"
                tail.append(event(EXECUTION_COMPLETED, Result=output))
                parent = self._parent_message(inst, True, output)
                log.info("orchestration %s (%s) completed", iid, inst["name"])
            else:
                status = "Failed"
                output = json.dumps(f"Orchestrator function '{inst['name']}' failed: "
                                    f"{error_type}: {error}")
                tail.append(event(EXECUTION_FAILED, Reason=json.loads(output), Details=""))
                parent = self._parent_message(inst, False, None, json.loads(output))
                log.warning("orchestration %s (%s) failed: %s: %s", iid, inst["name"],
                            error_type, error)
            if parent:
                plan.messages.append(parent)
        elif status == "Pending":
            status = "Running"
        history = self._history(iid)
        lines = episode + plan.history + [json.dumps(e) for e in tail]
        with self.store.tx() as db:
            db.executemany("DELETE FROM inbox WHERE id=?", [(i,) for i in consumed])
            plan.commit(db)
            db.executemany("DELETE FROM timers WHERE instance_id=? AND gen=? AND timer_id=?",
                           [(iid, inst["gen"], t) for t in result["cancelled_timers"]])
            if continue_as_new is not None:
                self._continue_as_new(db, inst, continue_as_new["input"], history, episode,
                                      result["actions"])
            else:
                self._append_history(db, iid, history, lines)
                db.execute(
                    "UPDATE instances SET status=?, output=?, custom_status=?, failure=?, "
                    "signatures=?, next_seq=?, updated=? WHERE id=?",
                    (status, output if done else None, result["custom_status"],
                     json.dumps({"errorType": error_type, "errorMessage": error})
                     if status == "Failed" else None,
                     json.dumps(signatures), result["next_seq"], stamp(), iid))
                if done:
                    db.execute("DELETE FROM timers WHERE instance_id=?", (iid,))
        if continue_as_new is not None:
            self.history_cache.pop(iid, None)
            plan.touched.add(iid)
        elif done:
            self.history_cache.pop(iid, None)
        else:
            history.extend(lines)
        plan.started()

    def _continue_as_new(self, db: Any, inst: Any, input_text: str, history: List[str],
                         episode: List[str], actions: List[Dict[str, Any]]) -> None:
        """Restart the instance with a fresh history; carry unconsumed events over.

        External events wait in arrival order for the waits of their name, so the first
        ``n`` events of a name went to its ``n`` waits (WaitForExternalEvent actions) and the
        rest are carried, in arrival order. (The SDK's own record of buffered events misses
        those that arrived in the episode that ended the execution, and keeps one per name.)"""
        iid, gen = inst["id"], inst["gen"] + 1
        waits: Dict[str, int] = {}
        for action in actions:
            if action.get("actionType") == 6:
                name = action.get("externalEventName")
                waits[name] = waits.get(name, 0) + 1
        carried: List[Dict] = []
        for line in history + episode:
            ev = json.loads(line)
            if ev["EventType"] != EVENT_RAISED:
                continue
            if waits.get(ev.get("Name"), 0) > 0:
                waits[ev["Name"]] -= 1  # taken by a wait
            else:
                carried.append(ev)
        for table in ("history", "timers", "work_items"):
            db.execute(f"DELETE FROM {table} WHERE instance_id=?", (iid,))
        db.execute("DELETE FROM inbox WHERE instance_id=? AND gen IS NOT NULL", (iid,))
        db.execute("UPDATE instances SET gen=?, input=?, signatures='[]', next_seq=0, "
                   "status='Running', updated=? WHERE id=?", (gen, input_text, stamp(), iid))
        started = event(EXECUTION_STARTED, Name=inst["name"], Version=inst["version"] or "",
                        Input=input_text, OrchestrationInstance={"InstanceId": iid})
        self.store.add_messages(db, [(iid, gen, "event", started)] +
                                [(iid, gen, "event", ev) for ev in carried])
        log.info("orchestration %s continued as new (generation %d)", iid, gen)

    # ------------------------------------------------------------------ activities
    async def _activity_worker(self) -> None:
        while True:
            row = await self.activity_queue.get()
            message = await self._run_activity(row)
            self.finished.append((row["id"], message))
            self.wake_flush.set()

    async def _run_activity(self, row: Any) -> Tuple[str, int, str, Dict]:
        name, iid, gen, task_id = row["name"], row["instance_id"], row["gen"], row["task_id"]
        try:
            if name == HTTP_ACTIVITY:
                value = await _call_http(json.loads(row["input"]))
            else:
                value = await asyncio.wait_for(self._invoke_activity(name, row["input"]),
                                               self.config.function_timeout)
            return completion(iid, gen, task_id, True, df_dumps(value))
        except asyncio.TimeoutError:
            reason = (f"Timeout value of {self.config.function_timeout} seconds was exceeded "
                      f"by function: Functions.{name}")
            log.warning("activity %s of %s timed out", name, iid)
        except Exception as exc:
            reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
            log.warning("activity %s of %s failed:\n%s", name, iid, traceback.format_exc())
        return completion(iid, gen, task_id, False, None, reason)

    async def _invoke_activity(self, name: str, input_text: Optional[str]) -> Any:
        info = self.model.activities.get(name)
        if info is None:
            raise LookupError(f"The function '{name}' doesn't exist, is disabled, or is not "
                              f"an activity function.")
        try:
            value = df_loads(input_text) if input_text is not None else None
        except ValueError:
            value = input_text
        kwargs = {info.trigger_binding["name"]: value}
        if info.is_async:
            return await info.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.threads, lambda: info.user_function(**kwargs))

    async def _flush_loop(self) -> None:
        while True:
            await self.wake_flush.wait()
            self.wake_flush.clear()
            await asyncio.sleep(0)
            self._flush_completions()

    def _flush_completions(self) -> None:
        """Commit all finished activities in one transaction."""
        if not self.finished:
            return
        batch, self.finished = self.finished, []
        with self.store.tx() as db:
            self.store.add_messages(db, [m for _, m in batch])
            db.executemany("DELETE FROM work_items WHERE id=?", [(i,) for i, _ in batch])
        self.notify(instances={m[0] for _, m in batch})

    # ------------------------------------------------------------------ durable timers
    async def _timer_loop(self) -> None:
        while True:
            delay = None
            if self.timer_heap:
                delay = (parse_stamp(self.timer_heap[0][0]) - utcnow()).total_seconds()
            if delay is None or delay > 0:
                self.wake_timers.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake_timers.wait(), delay)
                continue
            due = []
            now = stamp()
            while self.timer_heap and self.timer_heap[0][0] <= now:
                due.append(heapq.heappop(self.timer_heap)[1])
            self._fire_timers(due)

    def _fire_timers(self, timer_rows: List[int]) -> None:
        touched = set()
        with self.store.tx() as db:
            for row_id in timer_rows:
                row = db.execute("SELECT * FROM timers WHERE id=?", (row_id,)).fetchone()
                if row is None:  # cancelled, or the instance finished
                    continue
                db.execute("DELETE FROM timers WHERE id=?", (row_id,))
                fired = event(TIMER_FIRED, TimerId=row["timer_id"], FireAt=row["fire_at"])
                self.store.add_messages(db, [(row["instance_id"], row["gen"], "event", fired)])
                touched.add(row["instance_id"])
        self.notify(instances=touched)

    def add_timers(self, rows: List[Tuple[str, int]]) -> None:
        for item in rows:
            heapq.heappush(self.timer_heap, item)
        if rows:
            self.wake_timers.set()

    # ------------------------------------------------------------------ entities
    async def _entity_batch(self, eid: str, size: int = 100) -> None:
        """Run queued operations of one entity, in arrival order, as one batch."""
        rows = list(self.store.db.execute(
            "SELECT id, payload FROM entity_inbox WHERE entity_id=? ORDER BY id LIMIT ?",
            (eid, size)))
        if not rows:
            return
        ops = [json.loads(r["payload"]) for r in rows]
        name, _, key = eid[1:].partition("@")
        state = self.store.entity_state(eid)
        info = self.model.entities.get(name)
        if info is None:
            response = {"entityExists": state is not None, "entityState": state, "signals": [],
                        "results": [{"isError": True, "result": json.dumps(
                            f"The function '{name}' doesn't exist or is not an entity.")}
                            for _ in ops]}
        else:
            request = json.dumps({"self": {"name": name, "key": key},
                                  "exists": state is not None, "state": state,
                                  "batch": [{"name": op["op"], "input": json.dumps(op["input"]),
                                             "isSignal": op["signal"]} for op in ops]})
            loop = asyncio.get_running_loop()
            response = json.loads(await loop.run_in_executor(
                self.threads, info.user_function, request))
        messages, signals = [], []
        for op, res in zip(ops, response["results"]):
            if op["signal"]:
                if res.get("isError"):
                    log.warning("entity %s: signalled operation %s failed: %s", eid, op["op"],
                                res.get("result"))
                continue
            body = {"result": res.get("result")}
            if res.get("isError"):
                body["exceptionType"] = "Exception"
            messages.append((op["parent"], op["gen"], "event",
                             event(EVENT_RAISED, Name=op["id"], Input=json.dumps(body))))
        for sig in response.get("signals") or []:
            target = sig.get("target")
            signals.append((target if isinstance(target, str) else str(target), {
                "op": sig.get("name"), "input": sig.get("input"), "signal": True,
                "id": str(uuid.uuid4())}))
        with self.store.tx() as db:
            if response.get("entityExists"):
                db.execute("INSERT OR REPLACE INTO entities(id, state, updated) VALUES (?,?,?)",
                           (eid, response.get("entityState") or "null", stamp()))
            else:
                db.execute("DELETE FROM entities WHERE id=?", (eid,))
            db.executemany("DELETE FROM entity_inbox WHERE id=?", [(r["id"],) for r in rows])
            if messages:
                self.store.add_messages(db, messages)
            if signals:
                self.store.add_entity_messages(db, signals)
        self.notify(instances={m[0] for m in messages}, entities={s[0] for s in signals})
        if len(rows) == size:
            self.notify(entities=[eid])


class Plan:
    """What one episode decided, collected before the transaction that records it."""

    def __init__(self, engine: Engine, inst: Any, now: str) -> None:
        self.engine, self.inst, self.now = engine, inst, now
        self.iid, self.gen = inst["id"], inst["gen"]
        self.history: List[str] = []
        self.work: List[Tuple[str, int, int, str, Optional[str]]] = []
        self.timers: List[Tuple[str, int, int, str]] = []
        self.children: List[Tuple[str, str, Optional[str], Optional[str], int]] = []
        self.entity_messages: List[Tuple[str, Dict]] = []
        self.messages: List[Tuple[str, int, str, Dict]] = []
        self.touched: Set[str] = set()
        self.work_rows: List[Any] = []
        self.timer_rows: List[Tuple[str, int]] = []

    def _record(self, kind: int, task_id: int, **fields: Any) -> None:
        self.history.append(json.dumps(event(kind, self.now, task_id, **fields)))

    def schedule_task(self, task: Dict[str, Any]) -> None:
        action, task_id = task["action"], task["id"]
        kind = action["actionType"]
        if task.get("retry_timer"):
            fire_at = stamp(parse_stamp(self.now) + timedelta(milliseconds=task["interval_ms"]))
            self._record(TIMER_CREATED, task_id, FireAt=fire_at)
            self.timers.append((self.iid, self.gen, task_id, fire_at))
        elif kind in (0, 1):
            self._record(TASK_SCHEDULED, task_id, Name=action["functionName"],
                         Input=action.get("input"))
            self.work.append((self.iid, self.gen, task_id, action["functionName"],
                              action.get("input")))
        elif kind == 8:
            request = json.dumps(action["httpRequest"])
            self._record(TASK_SCHEDULED, task_id, Name=HTTP_ACTIVITY, Input=request)
            self.work.append((self.iid, self.gen, task_id, HTTP_ACTIVITY, request))
        elif kind in (2, 3):
            suffix = f"{task_id}" if self.gen == 0 else f"{self.gen}:{task_id}"
            child = action.get("instanceId") or f"{self.iid}:{suffix}"
            self._record(SUB_CREATED, task_id, Name=action["functionName"], InstanceId=child,
                         Input=action.get("input"))
            self.children.append((child, action["functionName"], action.get("input"),
                                  action.get("version"), task_id))
        elif kind == 5:
            self._record(TIMER_CREATED, task_id, FireAt=action["fireAt"])
            self.timers.append((self.iid, self.gen, task_id, action["fireAt"]))
        elif kind == 7:
            request_id = str(uuid.uuid4())
            self._record(EVENT_SENT, task_id, InstanceId=action["instanceId"],
                         Name=action["operation"],
                         Input=json.dumps({"id": request_id, "op": action["operation"]}))
            self.entity_messages.append((action["instanceId"], {
                "op": action["operation"], "input": action.get("input"), "signal": False,
                "parent": self.iid, "gen": self.gen, "id": request_id}))

    def signal(self, action: Dict[str, Any]) -> None:
        request_id = str(uuid.uuid4())
        self._record(EVENT_SENT, -1, InstanceId=action["instanceId"], Name=action["operation"],
                     Input=json.dumps({"id": request_id, "op": action["operation"],
                                       "signal": True}))
        self.entity_messages.append((action["instanceId"], {
            "op": action["operation"], "input": action.get("input"), "signal": True,
            "id": request_id}))

    def commit(self, db: Any) -> None:
        store = self.engine.store
        if self.work:
            ids = store.new_ids("work_items", len(self.work))
            rows = [(i, *w) for i, w in zip(ids, self.work)]
            db.executemany("INSERT INTO work_items(id, instance_id, gen, task_id, name, input) "
                           "VALUES (?,?,?,?,?,?)", rows)
            self.work_rows = [dict(zip(("id", "instance_id", "gen", "task_id", "name",
                                        "input"), r)) for r in rows]
        if self.timers:
            ids = store.new_ids("timers", len(self.timers))
            db.executemany("INSERT INTO timers(id, instance_id, gen, timer_id, fire_at) "
                           "VALUES (?,?,?,?,?)", [(i, *t) for i, t in zip(ids, self.timers)])
            self.timer_rows = [(t[3], i) for i, t in zip(ids, self.timers)]
        for child, name, input_text, version, task_id in self.children:
            if self.engine.create_instance(db, child, name, input_text, version,
                                           (self.iid, task_id, self.gen)):
                self.touched.add(child)
            else:
                self.messages.append(completion(
                    self.iid, self.gen, task_id, False, None,
                    f"An orchestration with instance id '{child}' is already running.",
                    sub=True))
        if self.entity_messages:
            store.add_entity_messages(db, self.entity_messages)
        if self.messages:
            store.add_messages(db, self.messages)
            self.touched.update(m[0] for m in self.messages)

    def started(self) -> None:
        """After the commit: hand the new work to the loops."""
        for row in self.work_rows:
            self.engine.activity_queue.put_nowait(row)
        self.engine.add_timers(self.timer_rows)
        self.engine.notify(instances=self.touched,
                           entities={eid for eid, _ in self.entity_messages})


async def _call_http(request: Dict[str, Any]) -> Dict[str, Any]:
    """The built-in activity behind context.call_http."""
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.request(request["method"], request["uri"],
                                   data=request.get("content"),
                                   headers=request.get("headers") or {}) as response:
            return {"statusCode": response.status, "headers": dict(response.headers),
                    "content": await response.text()}
