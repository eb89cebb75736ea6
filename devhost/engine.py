"""The durable runtime: orchestration episodes, activities, durable timers and entities.

Work flows as messages through SQLite tables (`store.py`, which owns every statement). One
event loop owns the database; replays run in the Replayer's executor, sync activities and
entity batches in a thread pool. Each kind of work has its runner (`runners/`): episodes,
activities, entity batches, durable timers. A runner commits what its work produced and hands
the engine a `Wake`, which the engine passes on to the runners that take it (`dispatch`).
The HTTP API calls the engine's client operations (`start_instance`, `send`, ...).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .appmodel import AppModel, HostConfig
from .replay import Replayer
from .runners import Wake
from .runners.activities import ActivityRunner
from .runners.entities import EntityRunner
from .runners.episodes import EpisodeRunner
from .runners.timers import TimerRunner
from .store import EntityMessage, EntityOperation, Message, MessageKind, Store

log = logging.getLogger("devhost.engine")


class Engine:
    """Owns the runners and their loops; HTTP handlers call its client operations."""

    def __init__(self, store: Store, model: AppModel, config: HostConfig,
                 replayer: Replayer) -> None:
        self.store, self.model, self.config = store, model, config
        self.threads = ThreadPoolExecutor(config.max_activities, thread_name_prefix="activity")
        self.episodes = EpisodeRunner(store, replayer, config.max_orchestrations, self._spawn,
                                      self.dispatch)
        self.activities = ActivityRunner(store, model, config, self.threads, self.dispatch)
        self.entities = EntityRunner(store, model, self.threads, self._spawn, self.dispatch)
        self.timers = TimerRunner(store, self.dispatch)
        self.loops: list[asyncio.Task[None]] = []
        self.running_jobs: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover queued work from the state file and start the loops."""
        for iid in self.store.instances_with_messages():
            self.episodes.add(iid)
        work, timers = self.store.work_items(), self.store.timers()
        entities = self.store.entities_with_operations()
        self.dispatch(Wake(entities=entities, work=work, timers=timers))
        log.info("recovered %d instances with messages, %d activities, %d timers, "
                 "%d entities with operations", len(self.episodes.queue.ready), len(work),
                 len(timers), len(entities))
        self.loops = [asyncio.create_task(c) for c in (
            self.episodes.queue.loop(), self.activities.flush_loop(), self.timers.loop(),
            self.entities.queue.loop())]
        self.loops += [asyncio.create_task(self.activities.worker())
                       for _ in range(self.config.max_activities)]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let running jobs finish for `grace` seconds, flush results."""
        for task in self.loops:
            task.cancel()
        if self.running_jobs:
            await asyncio.wait(list(self.running_jobs), timeout=grace)
        self.activities.flush()
        self.threads.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        job = asyncio.create_task(coro)
        self.running_jobs.add(job)
        job.add_done_callback(self.running_jobs.discard)

    def dispatch(self, wake: Wake) -> None:
        """Hand what a commit made ready to the runners that take it."""
        for iid in wake.instances:
            self.episodes.add(iid)
        for eid in wake.entities:
            self.entities.add(eid)
        self.activities.add(wake.work)
        self.timers.add(wake.timers)

    # ------------------------------------------------------------------ client operations
    def start_instance(self, iid: str, name: str, input_text: str | None,
                       version: str | None = None) -> bool:
        """Start orchestration `name` as instance `iid` (False: that id is running)."""
        with self.store.tx() as tx:
            created = self.episodes.create_instance(tx, iid, name, input_text, version)
        if created:
            self.dispatch(Wake(instances=[iid]))
        return created

    def send(self, iid: str, kind: MessageKind, payload: dict[str, Any]) -> None:
        """Queue a control message or an event for the current execution of an instance."""
        with self.store.tx() as tx:
            tx.add_messages([Message(iid, None, kind, payload)])
        self.dispatch(Wake(instances=[iid]))

    def signal_entity(self, entity_id: str, operation: str, input_text: str | None) -> None:
        with self.store.tx() as tx:
            tx.add_entity_messages([EntityMessage(entity_id, EntityOperation(
                op=operation, input=input_text, signal=True, id=str(uuid.uuid4())))])
        self.dispatch(Wake(entities=[entity_id]))

    def purge(self, ids: list[str]) -> int:
        with self.store.tx() as tx:
            for iid in ids:
                tx.delete_instance(iid)
                self.episodes.forget(iid)
        return len(ids)
