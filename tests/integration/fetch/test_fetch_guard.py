"""The SSRF guard, over real sockets: refused addresses are never connected to, on the first
request and on every redirect hop, whether the address is a literal or a DNS answer."""

from __future__ import annotations

import time

from aiohttp import web
from fetch_server import FixedDNS, LocalServer, fetch_settings, serve_png

from shared.fetch import Downloader
from shared.models import FailureReason


def redirect_to(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


async def test_redirect_to_loopback_outside_allow_list_is_refused_and_never_requested(
    server: LocalServer, forbidden_server: LocalServer, connect_log: list[str]
) -> None:
    forbidden_server.route("/secret.png", serve_png)

    async def hop(request: web.Request) -> web.Response:
        return redirect_to(forbidden_server.url("/secret.png"))

    url = server.route("/hop", hop)
    async with Downloader(fetch_settings()) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok
    assert result.reason is FailureReason.blocked_address
    assert "127.0.0.2" in result.message and "loopback" in result.message
    assert forbidden_server.seen == []
    assert "127.0.0.2" not in connect_log
    assert downloader.stats.outcomes == {"blocked_address": 1}


async def test_redirect_to_metadata_address_is_refused_without_connecting(
    server: LocalServer, connect_log: list[str]
) -> None:
    async def hop(request: web.Request) -> web.Response:
        return redirect_to("http://169.254.169.254/latest/meta-data/iam/")

    url = server.route("/hop", hop)
    started = time.monotonic()
    async with Downloader(fetch_settings()) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.blocked_address
    assert "metadata" in result.message
    assert connect_log == ["127.0.0.1"]  # the first hop only
    assert time.monotonic() - started < 1.0


async def test_first_request_to_refused_literals_is_refused(connect_log: list[str]) -> None:
    urls = [
        "http://10.1.2.3/a.jpg",
        "http://[::1]/a.jpg",
        "http://[::ffff:169.254.169.254]/a.jpg",
        "http://[fd00:ec2::254]/latest",
        "http://100.100.100.200/latest",
        "http://0.0.0.0/a.jpg",
        "http://224.0.0.1/a.jpg",
        "file:///etc/passwd",
    ]
    async with Downloader(fetch_settings()) as downloader:
        results = await downloader.fetch_many(urls)

    assert [r.reason for r in results if not r.ok] == [FailureReason.blocked_address] * len(urls)
    assert connect_log == []


async def test_host_name_resolving_to_refused_addresses_is_refused(
    server: LocalServer, forbidden_server: LocalServer, connect_log: list[str]
) -> None:
    forbidden_server.route("/a.png", serve_png)
    dns = FixedDNS({"rebind.test": ["127.0.0.2", "169.254.169.254"]})

    async with Downloader(fetch_settings(), resolver=dns) as downloader:
        result = await downloader.fetch(f"http://rebind.test:{forbidden_server.port}/a.png")

    assert not result.ok and result.reason is FailureReason.blocked_address
    assert "rebind.test" in result.message and "169.254.169.254" in result.message
    assert dns.asked == ["rebind.test"]
    assert forbidden_server.seen == [] and connect_log == []


async def test_redirect_to_a_host_name_is_checked_at_connection_time(
    server: LocalServer, forbidden_server: LocalServer, connect_log: list[str]
) -> None:
    forbidden_server.route("/a.png", serve_png)

    async def hop(request: web.Request) -> web.Response:
        return redirect_to(f"http://internal.test:{forbidden_server.port}/a.png")

    url = server.route("/hop", hop)
    dns = FixedDNS({"internal.test": ["127.0.0.2"]})
    async with Downloader(fetch_settings(), resolver=dns) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.blocked_address
    assert forbidden_server.seen == [] and "127.0.0.2" not in connect_log


async def test_only_the_allowed_answer_of_a_mixed_dns_answer_is_connected_to(
    server: LocalServer, connect_log: list[str]
) -> None:
    server.route("/a.png", serve_png)
    dns = FixedDNS({"mixed.test": ["169.254.169.254", "127.0.0.2", "127.0.0.1"]})

    async with Downloader(fetch_settings(), resolver=dns) as downloader:
        result = await downloader.fetch(f"http://mixed.test:{server.port}/a.png")

    assert result.ok
    assert connect_log == ["127.0.0.1"]


async def test_without_an_allow_list_even_the_local_server_is_refused(
    server: LocalServer, connect_log: list[str]
) -> None:
    url = server.route("/a.png", serve_png)
    async with Downloader(fetch_settings(fetch_allow_networks=[])) as downloader:
        result = await downloader.fetch(url)

    assert not result.ok and result.reason is FailureReason.blocked_address
    assert server.seen == [] and connect_log == []
