"""Entities: the queued operations of one entity run as one batch (up to `BATCH` operations,
in arrival order) through the SDK's entity `handle`; the new state, the removal of the
processed operations and the responses to calling orchestrations (EventRaised named by the
request id) commit together, so each operation takes effect exactly once."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..appmodel import AppModel
from ..protocol import EventType, event
from ..store import EntityMessage, EntityOperation, Message, MessageKind, Store
from . import Dispatch, KeyedQueue, Spawn, Wake

log = logging.getLogger("devhost.engine")

#: The most operations of one entity that run as one batch.
BATCH = 100


class EntityRunner:
    """Runs the batches of entities, one batch per entity at a time."""

    def __init__(self, store: Store, model: AppModel, threads: ThreadPoolExecutor,
                 spawn: Spawn, dispatch: Dispatch) -> None:
        self.store, self.model, self.threads, self.dispatch = store, model, threads, dispatch
        self.queue = KeyedQueue("batch of entity", self.run, 1 << 30, spawn)

    def add(self, entity_id: str) -> None:
        """The entity has operations: run a batch of them."""
        self.queue.add(entity_id)

    async def run(self, eid: str) -> None:
        """Run queued operations of one entity, in arrival order, as one batch."""
        queued = self.store.entity_operations(eid, BATCH)
        if not queued:
            return
        ops = [q.operation for q in queued]
        name, _, key = eid[1:].partition("@")
        state = self.store.entity_state(eid)
        info = self.model.entities.get(name)
        response: dict[str, Any]
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
        messages: list[Message] = []
        signals: list[EntityMessage] = []
        for op, res in zip(ops, response["results"]):
            if op["signal"]:
                if res.get("isError"):
                    log.warning("entity %s: signalled operation %s failed: %s", eid, op["op"],
                                res.get("result"))
                continue
            body = {"result": res.get("result")}
            if res.get("isError"):
                body["exceptionType"] = "Exception"
            messages.append(Message(op["parent"], op["gen"], MessageKind.EVENT,
                                    event(EventType.EVENT_RAISED, Name=op["id"],
                                          Input=json.dumps(body))))
        for sig in response.get("signals") or []:
            target = sig.get("target")
            signals.append(EntityMessage(
                target if isinstance(target, str) else str(target),
                EntityOperation(op=sig.get("name"), input=sig.get("input"), signal=True,
                                id=str(uuid.uuid4()))))
        with self.store.tx() as tx:
            if response.get("entityExists"):
                tx.put_entity(eid, response.get("entityState") or "null")
            else:
                tx.delete_entity(eid)
            tx.delete_entity_operations(q.id for q in queued)
            if messages:
                tx.add_messages(messages)
            if signals:
                tx.add_entity_messages(signals)
        self.dispatch(Wake(instances={m.instance_id for m in messages},
                           entities={s.entity_id for s in signals}))
        if len(queued) == BATCH:
            self.add(eid)
