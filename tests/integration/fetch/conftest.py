"""Fixtures of the downloader's tests: real aiohttp servers on 127.0.0.1 (allowed) and
127.0.0.2 (not allowed), and a log of the IPs the client connects to."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fetch_server import LocalServer, start_server


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    """The allowed server, on 127.0.0.1."""
    local, runner = await start_server("127.0.0.1")
    yield local
    await runner.cleanup()


@pytest.fixture
async def forbidden_server() -> AsyncIterator[LocalServer]:
    """A server on 127.0.0.2: loopback, reachable on Linux, and NOT in the allow list. Tests
    assert that it never receives a request."""
    local, runner = await start_server("127.0.0.2")
    yield local
    await runner.cleanup()


@pytest.fixture
async def connect_log(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """Every IP the event loop opens a TCP connection to during the test (a spy: the real
    connect still happens)."""
    loop = asyncio.get_running_loop()
    log: list[str] = []
    original = loop.sock_connect

    async def sock_connect(sock: socket.socket, address: Any) -> None:
        log.append(address[0])
        await original(sock, address)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    yield log
