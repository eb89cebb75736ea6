"""Helpers of the downloader's tests: a real aiohttp server, settings, a fixed DNS.

Each test registers its own handlers on :class:`LocalServer`; the server records every request
it receives (path, headers, time) and the most requests it ever had in flight.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from shared.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


async def serve_png(request: web.Request) -> web.Response:
    """A handler answering with :func:`png_bytes`."""
    return web.Response(body=png_bytes(), content_type="image/png")


def fetch_settings(**overrides: Any) -> Settings:
    """Settings as tests and the demo use them: only 127.0.0.1 allowed, short timeouts."""
    values: dict[str, Any] = {
        "cosmos_endpoint": "https://localhost:8081/",
        "blob_connection_string": "UseDevelopmentStorage=true",
        "fetch_allow_networks": ["127.0.0.1/32"],
        "fetch_connect_timeout": 2.0,
        "fetch_read_timeout": 2.0,
        "fetch_total_timeout": 5.0,
        "fetch_backoff_base": 0.05,
        "contact_url": "https://example.org/pixcrawler-contact",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Seen:
    path: str
    host: str
    headers: dict[str, str]
    at: float


@dataclass
class LocalServer:
    """An aiohttp app on ``host``; ``route(path, handler)`` adds a handler before or during a
    test. ``url(path)`` is the address to fetch."""

    host: str
    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    max_in_flight_by_host: dict[str, int] = field(default_factory=dict)
    _by_host: dict[str, int] = field(default_factory=dict)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        name = request.host.split(":")[0]
        self.seen.append(Seen(request.path, name, dict(request.headers), time.monotonic()))
        self.in_flight += 1
        self._by_host[name] = self._by_host.get(name, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_in_flight_by_host[name] = max(
            self.max_in_flight_by_host.get(name, 0), self._by_host[name]
        )
        try:
            handler = self.routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="no such route")
            return await handler(request)
        finally:
            self.in_flight -= 1
            self._by_host[name] -= 1


async def start_server(host: str) -> tuple[LocalServer, web.AppRunner]:
    server = LocalServer(host)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._dispatch)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    server.port = runner.addresses[0][1]
    return server, runner


class FixedDNS(AbstractResolver):
    """A DNS that answers from a table: stands in for answers a test cannot get from the real
    DNS (a name that resolves to a metadata or loopback address)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no DNS answer for {host}")
        return [
            ResolveResult(hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST)
            for ip in self.answers[host]
        ]

    async def close(self) -> None:
        return None
