"""Calling a trigger function the way the Python worker does: keyword arguments per binding."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .appmodel import FunctionInfo


class InvocationContext:
    """The `context` argument functions may declare (a subset of azure.functions.Context)."""

    def __init__(self, info: FunctionInfo, app_dir: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = info.name
        self.function_directory = app_dir
        self.trace_context = None
        self.retry_context = None


async def invoke(info: FunctionInfo, trigger_value: Any, client_json: str,
                 app_dir: str) -> Any:
    """Call `info`'s user function with its trigger value, durable client and context.

    Sync functions run in the default thread pool (as the Python worker does), coroutines on
    the event loop.
    """
    kwargs: dict[str, Any] = {info.trigger_binding["name"]: trigger_value}
    for name in info.client_bindings:
        kwargs[name] = client_json
    if info.accepts_context:
        kwargs["context"] = InvocationContext(info, app_dir)
    if info.is_async:
        return await info.user_function(**kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: info.user_function(**kwargs))
