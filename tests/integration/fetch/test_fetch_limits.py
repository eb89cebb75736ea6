"""The downloader's limits over real HTTP: byte cap, timeouts, global and per-host concurrency."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from fetch_server import FixedDNS, LocalServer, fetch_settings, png_bytes

from shared.fetch import Downloader
from shared.fetch.budget import ByteBudget
from shared.models import FailureReason

CAP = 64 * 1024


async def test_declared_content_length_over_the_cap_is_refused_before_the_body(
    server: LocalServer,
) -> None:
    big = png_bytes((1200, 1200)) + bytes(CAP)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="image/png")

    url = server.route("/big.png", handler)
    async with Downloader(fetch_settings(fetch_max_bytes=CAP)) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.too_large
    assert "Content-Length" in result.message
    assert downloader.stats.bytes == 0


async def test_streamed_body_is_cut_off_as_soon_as_it_passes_the_cap(server: LocalServer) -> None:
    sent = 0
    finished = asyncio.Event()

    async def endless_png(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()  # no Content-Length to check first
        await response.prepare(request)
        try:
            await response.write(png_bytes())
            for _ in range(400):  # 400 x 16 KiB = 6.4 MB, if nobody stops us
                await response.write(bytes(16 * 1024))
                sent += 16 * 1024
                await asyncio.sleep(0.005)
        finally:
            finished.set()
        return response

    url = server.route("/endless.png", endless_png)
    async with Downloader(fetch_settings(fetch_max_bytes=CAP)) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.too_large
    assert CAP < downloader.stats.bytes <= CAP + 64 * 1024
    await asyncio.wait_for(finished.wait(), 5)
    assert sent < 1024 * 1024  # the server was cut off long before 6.4 MB


async def test_slow_server_gives_a_timeout(server: LocalServer) -> None:
    async def stalls_after_headers(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(png_bytes()[:40])
        await asyncio.sleep(10)
        return response

    url = server.route("/slow.png", stalls_after_headers)
    started = time.monotonic()
    async with Downloader(fetch_settings(fetch_read_timeout=0.3)) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.timeout
    assert time.monotonic() - started < 2
    assert len(server.requests_to("/slow.png")) == 1  # a read timeout is not retried


async def test_trickling_server_hits_the_total_timeout(server: LocalServer) -> None:
    async def trickles(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(png_bytes())
        for _ in range(100):  # a byte every 50 ms: never idle long enough for the read timeout
            await response.write(b"\x00")
            await asyncio.sleep(0.05)
        return response

    url = server.route("/trickle.png", trickles)
    started = time.monotonic()
    settings = fetch_settings(fetch_read_timeout=1.0, fetch_total_timeout=0.5)
    async with Downloader(settings) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.timeout
    assert time.monotonic() - started < 2


async def test_per_host_limit_is_honoured(server: LocalServer) -> None:
    async def slow_png(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=png_bytes(), content_type="image/png")

    server.route("/img.png", slow_png)
    dns = FixedDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    urls = [server.url(f"/img.png?i={i}", host) for i in range(12) for host in ("a.test", "b.test")]
    settings = fetch_settings(fetch_concurrency=10, fetch_per_host=3)
    async with Downloader(settings, resolver=dns) as downloader:
        results = await downloader.fetch_many(urls)

    assert all(r.ok for r in results)
    assert server.max_in_flight_by_host == {"a.test": 3, "b.test": 3}
    assert server.max_in_flight == 6


async def test_global_limit_is_honoured_and_results_keep_their_order(server: LocalServer) -> None:
    async def numbered(request: web.Request) -> web.Response:
        await asyncio.sleep(0.02 * (int(request.query["i"]) % 3))
        return web.Response(body=png_bytes((10 + int(request.query["i"]), 10)))

    server.route("/n.png", numbered)
    urls = [server.url(f"/n.png?i={i}") for i in range(20)]
    async with Downloader(fetch_settings(fetch_concurrency=4, fetch_per_host=16)) as downloader:
        results = await downloader.fetch_many(urls)

    assert server.max_in_flight == 4
    assert [r.url for r in results] == urls
    assert [r.body == png_bytes((10 + i, 10)) for i, r in enumerate(results) if r.ok] == [True] * 20


async def test_bodies_held_never_exceed_the_memory_budget_and_all_come_back(server: LocalServer) -> None:
    """30 bodies of 40 KB through a 100 KB budget: at most two are held at once (the third
    waits for one to be released), every one arrives, and releasing gives every byte back."""
    body = png_bytes() + bytes(40_000 - len(png_bytes()))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/png")

    budget = ByteBudget(100_000)
    urls = [server.route(f"/held{n}.png", handler) for n in range(30)]
    peaks: list[int] = []

    async def take(downloader: Downloader, url: str) -> bool:
        result = await downloader.fetch(url)
        peaks.append(budget.used)
        await asyncio.sleep(0.01)  # the caller holds the bytes a while (checks, upload)
        result.release()
        return result.ok and len(result.body) == len(body)

    async with Downloader(fetch_settings(fetch_max_bytes=CAP), budget=budget) as downloader:
        results = await asyncio.gather(*(take(downloader, url) for url in urls))

    assert all(results)
    assert budget.peak <= 100_000 and max(peaks) <= 100_000
    assert budget.peak >= 80_000  # two at once: the budget was the bound, not the server
    assert budget.used == 0


async def test_a_body_larger_than_the_whole_budget_is_too_large(server: LocalServer) -> None:
    big = png_bytes() + bytes(50_000)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="image/png")

    url = server.route("/over-budget.png", handler)
    budget = ByteBudget(20_000)
    async with Downloader(fetch_settings(fetch_max_bytes=CAP), budget=budget) as downloader:
        result = await downloader.fetch(url)
    assert not result.ok and result.reason is FailureReason.too_large
    assert "memory budget" in result.message and budget.used == 0


async def test_a_body_without_content_length_reserves_the_cap_then_only_its_size(server: LocalServer) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(png_bytes())
        return response

    url = server.route("/chunked.png", chunked)
    budget = ByteBudget(CAP)
    async with Downloader(fetch_settings(fetch_max_bytes=CAP), budget=budget) as downloader:
        result = await downloader.fetch(url)
    assert result.ok and budget.used == len(png_bytes()) == len(result.body)
    result.release()
    result.release()  # idempotent
    assert budget.used == 0


async def test_waiting_for_the_memory_budget_does_not_count_against_the_total_timeout(
    server: LocalServer,
) -> None:
    """The second body waits 1.5 s for the first to be released, longer than the 1 s total
    timeout: the wait is not the server's time, so it still arrives."""
    body = png_bytes() + bytes(40_000 - len(png_bytes()))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="image/png")

    urls = [server.route(f"/waits{n}.png", handler) for n in range(2)]
    budget = ByteBudget(50_000)
    settings = fetch_settings(fetch_max_bytes=CAP, fetch_total_timeout=1.0, fetch_retries=0)
    async with Downloader(settings, budget=budget) as downloader:
        first = await downloader.fetch(urls[0])
        second_task = asyncio.create_task(downloader.fetch(urls[1]))
        await asyncio.sleep(1.5)
        assert not second_task.done()  # held back by the budget
        first.release()
        second = await second_task
    assert first.ok and second.ok and len(second.body) == len(body)
    second.release()
    assert budget.used == 0
