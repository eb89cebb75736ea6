"""A memory budget: how many bytes of image data may be held at once.

A download reserves its body's size before reading it and gives the bytes back when they are
uploaded (staged in the shard blob) or rejected. Reservations are granted first come, first
served, so a large body is never starved by a stream of small ones; a reservation larger than
the whole budget is refused at once (:class:`OverBudget`), which the downloader counts as
``too_large``. Budgets nest: an activity's budget draws on its worker process's, so that
``memory_activity_bytes`` bounds one activity and ``memory_process_bytes`` all of them.

Every holder finishes without reserving more, so waiting never deadlocks.

Example::

    process = ByteBudget(192 * 2**20)
    activity = ByteBudget(64 * 2**20, parent=process)
    hold = await activity.reserve(5_000_000)   # waits while the budget is spent
    ...
    hold.release()                             # idempotent
"""

from __future__ import annotations

import asyncio
from collections import deque


class OverBudget(Exception):
    """A reservation larger than the whole budget: it could never be granted."""


class Hold:
    """Bytes reserved from a budget (and its parents) until :meth:`release`."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget: "ByteBudget", size: int) -> None:
        self._budget: ByteBudget | None = budget
        self.size = size

    def shrink(self, size: int) -> None:
        """Keep only ``size`` of the reserved bytes (a body smaller than reserved)."""
        if self._budget is not None and 0 <= size < self.size:
            self._budget._give_back(self.size - size)
            self.size = size

    def release(self) -> None:
        """Give the bytes back (a second call does nothing)."""
        budget, self._budget = self._budget, None
        if budget is not None:
            budget._give_back(self.size)


class ByteBudget:
    """At most ``limit`` bytes reserved at once, granted in arrival order."""

    def __init__(self, limit: int, parent: "ByteBudget | None" = None) -> None:
        if limit < 1:
            raise ValueError(f"a budget needs at least one byte, got {limit}")
        self.limit = limit
        self.parent = parent
        self.used = 0
        #: The most ever reserved at once (reported by benchmarks and tests).
        self.peak = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def fits(self, size: int) -> bool:
        """True when a reservation of ``size`` can ever be granted (here and in the parents)."""
        return size <= self.limit and (self.parent is None or self.parent.fits(size))

    async def reserve(self, size: int) -> Hold:
        """Reserve ``size`` bytes here and in every parent, waiting for room in turn."""
        if not self.fits(size):
            raise OverBudget(f"{size} bytes is more than the memory budget allows")
        await self._take(size)
        if self.parent is not None:
            try:
                await self.parent.reserve(size)
            except BaseException:
                self._give_back(size)
                raise
        return Hold(self, size)

    async def _take(self, size: int) -> None:
        if not self._waiters and self.used + size <= self.limit:
            self._grant(size)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((size, future))
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._give_back_here(size)  # granted just as we were cancelled
            else:
                if (size, future) in self._waiters:
                    self._waiters.remove((size, future))
                self._wake()
            raise

    def _grant(self, size: int) -> None:
        self.used += size
        self.peak = max(self.peak, self.used)

    def _wake(self) -> None:
        while self._waiters and (self._waiters[0][1].done() or self.used + self._waiters[0][0] <= self.limit):
            size, future = self._waiters.popleft()
            if future.done():  # cancelled while waiting: its turn passes
                continue
            self._grant(size)
            future.set_result(None)

    def _give_back_here(self, size: int) -> None:
        self.used -= size
        self._wake()

    def _give_back(self, size: int) -> None:
        self._give_back_here(size)
        if self.parent is not None:
            self.parent._give_back(size)
