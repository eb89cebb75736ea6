"""The runners of the durable engine, one per kind of work.

* `episodes.EpisodeRunner`: orchestration episodes (replay, determinism, commit of decisions);
* `activities.ActivityRunner`: activity functions and the built-in HTTP activity;
* `entities.EntityRunner`: batches of entity operations;
* `timers.TimerRunner`: durable timers.

A runner commits what its work produced (through `Store.tx`) and then hands the `Wake` of
that commit to the engine, which passes each part to the runner that takes it: instances with
new messages to the episode runner, new work items to the activity runner, and so on. Runners
know the store and the app, never each other.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..store import DurableTimer, WorkItem

log = logging.getLogger("devhost.engine")

#: Starts a job on the event loop that the engine waits for when it stops.
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass
class Wake:
    """What a commit made ready: instances and entities with new messages, new activities,
    new durable timers."""

    instances: Iterable[str] = ()
    entities: Iterable[str] = ()
    work: list[WorkItem] = field(default_factory=list)
    timers: list[DurableTimer] = field(default_factory=list)


Dispatch = Callable[[Wake], None]


class KeyedQueue:
    """Keys with pending work: one job per key at a time, at most `limit` jobs at once."""

    def __init__(self, what: str, job: Callable[[str], Awaitable[None]], limit: int,
                 spawn: Spawn) -> None:
        self.what, self.job, self.limit, self.spawn = what, job, limit, spawn
        self.ready: set[str] = set()
        self.busy: set[str] = set()
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
