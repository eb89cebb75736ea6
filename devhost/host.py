"""The devhost process: one event loop serving HTTP and running the durable engine."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web

from .appmodel import AppModel, FunctionInfo, HostConfig, load_local_settings
from .cors import CorsPolicy
from .engine import Engine
from .errors import ErrorShaper, ShapedRunner
from .invoke import invoke
from .management import ManagementApi, client_binding
from .replay import Replayer
from .routing import Router
from .schedules import TimerTriggers
from .store import Store

log = logging.getLogger("devhost")


def _key_ok(request: web.Request, *settings: str) -> bool:
    """True when the request carries one of the configured keys (or none is configured)."""
    keys = [os.environ[s] for s in settings if os.environ.get(s)]
    if not keys:
        return True
    given = request.headers.get("x-functions-key") or request.query.get("code")
    return given in keys


def _joined(multi: Mapping[str, str], sep: str) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in multi.items():
        joined[key] = f"{joined[key]}{sep}{value}" if key in joined else value
    return joined


def to_web_response(result: Any) -> web.StreamResponse:
    """An HTTP function's return value as an aiohttp response (multi-valued headers kept)."""
    if result is None:
        return web.Response(status=204)
    if not isinstance(result, func.HttpResponse):
        if isinstance(result, (bytes, bytearray)):
            return web.Response(body=bytes(result), content_type="application/octet-stream")
        if isinstance(result, str):
            return web.Response(text=result, content_type="text/plain")
        return web.json_response(result)
    response = web.Response(status=result.status_code, body=result.get_body())
    for key, value in result.headers.items():
        response.headers.add(key, value)
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
    return response


class DevHost:
    """Loads the app, opens the state file and serves until asked to stop."""

    def __init__(self, app_dir: Path, host: str, port: int, state: Path | None,
                 workers: int) -> None:
        self.app_dir = app_dir.resolve()
        load_local_settings(self.app_dir)
        self.host, self.port = host, port
        self.config = HostConfig.load(self.app_dir)
        self.cors = CorsPolicy.load(self.app_dir)
        self.model = AppModel(self.app_dir)
        self.store = Store(state or self.app_dir / ".devhost" / "state.sqlite")
        self.replayer = Replayer(self.app_dir, self.model, workers)
        self.engine: Engine | None = None
        self.router = Router([(info.trigger_binding.get("route") or name, info)
                              for name, info in self.model.http.items()])
        self.origin = ""
        self.timers: TimerTriggers | None = None
        self.errors = ErrorShaper.from_env()

    def error(self, request: web.Request, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> web.Response:
        """One of the host's own error answers (see devhost/errors.py)."""
        return self.errors.response(status, code, message, request.headers, headers)

    @property
    def client_json(self) -> str:
        return client_binding(self.origin, self.config.hub_name)

    async def _run_function(self, info: FunctionInfo, trigger_value: Any) -> Any:
        return await invoke(info, trigger_value, self.client_json, str(self.app_dir))

    # ------------------------------------------------------------------ HTTP handlers
    async def host_status(self, request: web.Request) -> web.Response:
        return web.json_response({"state": "Running", "hubName": self.config.hub_name,
                                  "processId": os.getpid()})

    async def admin_invoke(self, request: web.Request) -> web.Response:
        if not _key_ok(request, "DEVHOST_MASTER_KEY"):
            return self.error(request, 401, "master_key_required", "The master key is required.")
        info = self.model.timers.get(request.match_info["name"])
        if info is None or self.timers is None:
            return self.error(request, 404, "route_not_found", "No timer function of that name.")
        asyncio.get_running_loop().create_task(self.timers.fire(info))
        return web.Response(status=202)

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        prefix = self.config.route_prefix
        path = request.path.strip("/")
        shown = f"{request.method} {request.path[:200]}"
        if prefix:
            if not (path == prefix or path.startswith(prefix + "/")):
                return self.error(request, 404, "route_not_found", f"No route {shown}.")
            path = path[len(prefix):]
        matches = self.router.find(path)
        if not matches:
            return self.error(request, 404, "route_not_found", f"No route {shown}.")
        allowed: list[str] = []
        for route, params in matches:
            info = route.target
            methods = [m.upper() for m in info.trigger_binding.get("methods") or []]
            if methods and request.method not in methods:
                allowed += methods
                continue
            return await self._call_http(info, request, params)
        allow = ", ".join(sorted(set(allowed)))
        return self.error(request, 405, "method_not_allowed",
                          f"{shown} is not supported: use {allow}.", {"Allow": allow})

    async def _call_http(self, info: FunctionInfo, request: web.Request,
                         params: dict[str, str]) -> web.StreamResponse:
        level = str(info.trigger_binding.get("authLevel", "function")).lower()
        if level == "function" and not _key_ok(request, "DEVHOST_FUNCTION_KEY",
                                               "DEVHOST_MASTER_KEY"):
            return self.error(request, 401, "function_key_required",
                              "A function key is required (x-functions-key or ?code=).")
        if level == "admin" and not _key_ok(request, "DEVHOST_MASTER_KEY"):
            return self.error(request, 401, "master_key_required", "The master key is required.")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self.error(request, 413, "body_too_large",
                              f"The request body is larger than {request.client_max_size} bytes.")
        req = func.HttpRequest(
            method=request.method, url=str(request.url),
            headers=_joined(request.headers, ", "), params=_joined(request.query, ","),
            route_params=params, body=body)
        try:
            result = await self._run_function(info, req)
            return to_web_response(result)
        except Exception:
            log.exception("function %s raised", info.name)
            return self.error(request, 500, "internal_error", f"Function {info.name} failed.")

    # ------------------------------------------------------------------ lifecycle
    async def serve(self, stop: asyncio.Event) -> None:
        self.engine = Engine(self.store, self.model, self.config, self.replayer)
        app = web.Application(client_max_size=64 * 1024 * 1024,
                              middlewares=[self.cors.middleware] if self.cors else [])
        app.add_routes([web.get("/admin/host/status", self.host_status),
                        web.post("/admin/functions/{name}", self.admin_invoke)])
        app.add_routes(ManagementApi(self.engine).routes())
        app.router.add_route("*", "/{tail:.*}", self.http_trigger)
        runner = ShapedRunner(app, self.errors, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self.origin = f"http://{self.host}:{self.port}"
        await self.engine.start()
        self.timers = TimerTriggers(self.store, self.model.timers, self._run_function)
        self.timers.start()
        for name in ("DEVHOST_FUNCTION_KEY", "DEVHOST_MASTER_KEY"):
            if not os.environ.get(name):
                log.warning("%s is not set: routes needing it are open", name)
        log.info("app %s: %d functions, hub %s", self.app_dir, len(self.model.functions),
                 self.config.hub_name)
        if self.cors:
            log.info("CORS origins: %s%s", ", ".join(self.cors.origins),
                     " (with credentials)" if self.cors.credentials else "")
        print(f"devhost listening on {self.origin}", flush=True)
        await stop.wait()
        log.info("shutting down")
        await self.timers.stop()
        await runner.shutdown()
        await self.engine.stop()
        await runner.cleanup()
        self.replayer.shutdown()
        self.store.close()
        log.info("stopped")


def run(app_dir: Path, host: str, port: int, state: Path | None, workers: int) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await DevHost(app_dir, host, port, state, workers).serve(stop)
    try:
        asyncio.run(main())
    except (FileNotFoundError, ValueError, KeyError) as exc:
        log.error("cannot start: %s", exc)
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    return 0
