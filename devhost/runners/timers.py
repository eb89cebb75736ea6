"""Durable timers (timer triggers are `schedules.py`): the `timers` table plus an in-memory
heap by due time; firing deletes the row and queues TimerFired in one transaction. A timer
whose row is gone (cancelled, or its instance finished) does not fire."""
from __future__ import annotations

import asyncio
import contextlib
import heapq

from ..protocol import EventType, event, parse_stamp, stamp, utcnow
from ..store import DurableTimer, Message, MessageKind, Store
from . import Dispatch, Wake


class TimerRunner:
    """Fires durable timers when they are due."""

    def __init__(self, store: Store, dispatch: Dispatch) -> None:
        self.store, self.dispatch = store, dispatch
        self.heap: list[tuple[str, int]] = []  # (fire_at, row id)
        self.wake = asyncio.Event()

    def add(self, timers: list[DurableTimer]) -> None:
        for timer in timers:
            heapq.heappush(self.heap, (timer.fire_at, timer.id))
        if timers:
            self.wake.set()

    async def loop(self) -> None:
        while True:
            delay = None
            if self.heap:
                delay = (parse_stamp(self.heap[0][0]) - utcnow()).total_seconds()
            if delay is None or delay > 0:
                self.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), delay)
                continue
            due = []
            now = stamp()
            while self.heap and self.heap[0][0] <= now:
                due.append(heapq.heappop(self.heap)[1])
            self.fire(due)

    def fire(self, row_ids: list[int]) -> None:
        touched = set()
        with self.store.tx() as tx:
            for row_id in row_ids:
                timer = tx.take_timer(row_id)
                if timer is None:  # cancelled, or the instance finished
                    continue
                fired = event(EventType.TIMER_FIRED, TimerId=timer.timer_id,
                              FireAt=timer.fire_at)
                tx.add_messages([Message(timer.instance_id, timer.gen, MessageKind.EVENT,
                                         fired)])
                touched.add(timer.instance_id)
        self.dispatch(Wake(instances=touched))
