"""Activities: `maxConcurrentActivityFunctions` workers take work items in order; sync
activities run in the thread pool, async ones on the loop, `call_http` through aiohttp. The
results of all activities that finished meanwhile are committed in ONE transaction (their
completion messages and the deletion of their work items)."""
from __future__ import annotations

import asyncio
import json
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.functions._durable_functions import df_dumps, df_loads

from ..appmodel import AppModel, HostConfig
from ..protocol import HTTP_ACTIVITY, completion_event
from ..store import Message, MessageKind, Store, WorkItem
from . import Dispatch, Wake

log = logging.getLogger("devhost.engine")


class ActivityRunner:
    """The activity queue, its workers and the batched commit of their results."""

    def __init__(self, store: Store, model: AppModel, config: HostConfig,
                 threads: ThreadPoolExecutor, dispatch: Dispatch) -> None:
        self.store, self.model, self.config = store, model, config
        self.threads, self.dispatch = threads, dispatch
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        self.finished: list[tuple[int, Message]] = []
        self.wake_flush = asyncio.Event()

    def add(self, items: list[WorkItem]) -> None:
        for item in items:
            self.queue.put_nowait(item)

    async def worker(self) -> None:
        while True:
            item = await self.queue.get()
            message = await self._run(item)
            self.finished.append((item.id, message))
            self.wake_flush.set()

    async def _run(self, item: WorkItem) -> Message:
        name, iid = item.name, item.instance_id

        def done(ok: bool, result: str | None, reason: str = "") -> Message:
            return Message(iid, item.gen, MessageKind.EVENT,
                           completion_event(item.task_id, ok, result, reason))
        try:
            if name == HTTP_ACTIVITY:
                value = await call_http(json.loads(item.input or "null"))
            else:
                value = await asyncio.wait_for(self._invoke(name, item.input),
                                               self.config.function_timeout)
            return done(True, df_dumps(value))
        except asyncio.TimeoutError:
            reason = (f"Timeout value of {self.config.function_timeout} seconds was exceeded "
                      f"by function: Functions.{name}")
            log.warning("activity %s of %s timed out", name, iid)
        except Exception as exc:
            reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
            log.warning("activity %s of %s failed:\n%s", name, iid, traceback.format_exc())
        return done(False, None, reason)

    async def _invoke(self, name: str, input_text: str | None) -> Any:
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

    async def flush_loop(self) -> None:
        while True:
            await self.wake_flush.wait()
            self.wake_flush.clear()
            await asyncio.sleep(0)
            self.flush()

    def flush(self) -> None:
        """Commit all finished activities in one transaction."""
        if not self.finished:
            return
        batch, self.finished = self.finished, []
        with self.store.tx() as tx:
            tx.add_messages([m for _, m in batch])
            tx.delete_work(i for i, _ in batch)
        self.dispatch(Wake(instances={m.instance_id for _, m in batch}))


async def call_http(request: dict[str, Any]) -> dict[str, Any]:
    """The built-in activity behind context.call_http."""
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.request(request["method"], request["uri"],
                                   data=request.get("content"),
                                   headers=request.get("headers") or {}) as response:
            return {"statusCode": response.status, "headers": dict(response.headers),
                    "content": await response.text()}
