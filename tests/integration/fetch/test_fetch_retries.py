"""Retries over real HTTP: what is retried, how long the downloader waits, and what is not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from fetch_server import LocalServer, fetch_settings, png_bytes, serve_png

from shared.fetch import Downloader
from shared.models import FailureReason


def fails_then_serves(
    failures: list[tuple[int, dict[str, str]]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering with each (status, headers) of ``failures`` in turn, then a PNG."""
    remaining = list(failures)

    async def handler(request: web.Request) -> web.Response:
        if remaining:
            status, headers = remaining.pop(0)
            return web.Response(status=status, headers=headers)
        return await serve_png(request)

    return handler


async def test_server_failing_twice_with_retry_after_is_retried_after_the_delay(
    server: LocalServer,
) -> None:
    url = server.route("/flaky.png", fails_then_serves([
        (503, {"Retry-After": "1"}),
        (429, {"Retry-After": "1"}),
    ]))
    async with Downloader(fetch_settings(fetch_retries=3)) as downloader:
        result = await downloader.fetch(url)

    assert result.ok and result.attempts == 3 and result.body == png_bytes()
    times = [seen.at for seen in server.requests_to("/flaky.png")]
    assert len(times) == 3
    assert all(later - earlier >= 0.95 for earlier, later in zip(times, times[1:]))
    assert downloader.stats.retries == 2 and downloader.stats.outcomes == {"ok": 1}


async def test_retries_give_up_with_the_last_reason(server: LocalServer) -> None:
    url = server.route("/down.png", fails_then_serves([(502, {})] * 10))
    async with Downloader(fetch_settings(fetch_retries=2)) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.http_error
    assert result.status == 502 and result.attempts == 3
    assert len(server.requests_to("/down.png")) == 3


async def test_not_found_is_not_retried(server: LocalServer) -> None:
    async with Downloader(fetch_settings(fetch_retries=3)) as downloader:
        result = await downloader.fetch(server.url("/missing.png"))

    assert not result.ok and result.reason is FailureReason.http_error
    assert result.status == 404 and "404" in result.message
    assert len(server.requests_to("/missing.png")) == 1
    assert downloader.stats.retries == 0


async def test_retry_after_longer_than_the_cap_gives_up_at_once(server: LocalServer) -> None:
    url = server.route("/busy.png", fails_then_serves(
        [(429, {"Retry-After": "3600"})]
    ))
    settings = fetch_settings(fetch_retries=3, fetch_max_retry_after=5)
    async with Downloader(settings) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.rate_limited
    assert "3600" in result.message and "fetch_max_retry_after" in result.message
    assert len(server.requests_to("/busy.png")) == 1


async def test_dropped_connection_is_retried(server: LocalServer) -> None:
    drops = 2  # aiohttp itself resends a GET once on a dropped connection; we retry after that

    async def drops_once(request: web.Request) -> web.Response:
        nonlocal drops
        if drops:
            drops -= 1
            assert request.transport is not None
            request.transport.close()  # the connection dies before any response
        return await serve_png(request)

    url = server.route("/drop.png", drops_once)
    async with Downloader(fetch_settings(fetch_retries=2)) as downloader:
        result = await downloader.fetch(url)

    assert result.ok and result.attempts == 2
    assert downloader.stats.retries == 1
    assert len(server.requests_to("/drop.png")) == 3


async def test_refused_connection_fails_as_connection_after_retries(server: LocalServer) -> None:
    closed_port_url = "http://127.0.0.1:9/a.png"  # discard port: nothing listens
    async with Downloader(fetch_settings(fetch_retries=1)) as downloader:
        result = await downloader.fetch(closed_port_url)

    assert not result.ok and result.reason is FailureReason.connection
    assert result.attempts == 2
