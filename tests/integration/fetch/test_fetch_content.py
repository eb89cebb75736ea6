"""What the downloader makes of responses: sniffed formats, noai, redirects, who it says it is."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

from aiohttp import web
from fetch_server import LocalServer, fetch_settings, png_bytes, serve_png
from PIL import Image

from shared.fetch import Downloader
from shared.models import FailureReason, ImageFormat


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_format_comes_from_the_bytes_not_the_content_type(server: LocalServer) -> None:
    async def jpeg_said_to_be_html(request: web.Request) -> web.Response:
        return web.Response(body=jpeg_bytes(), content_type="text/html")

    async def html_said_to_be_png(request: web.Request) -> web.Response:
        body = b"<!doctype html><html><body>" + b"x" * 5_000_000 + b"</body></html>"
        return web.Response(body=body, content_type="image/png")

    urls = [server.route("/a", jpeg_said_to_be_html), server.route("/b", html_said_to_be_png)]
    async with Downloader(fetch_settings()) as downloader:
        jpeg, html = await downloader.fetch_many(urls)

    assert jpeg.ok and jpeg.format is ImageFormat.jpeg and jpeg.body == jpeg_bytes()
    assert jpeg.headers["content-type"].startswith("text/html")
    assert not html.ok and html.reason is FailureReason.not_an_image
    assert "image/png" in html.message
    assert downloader.stats.bytes < 1_000_000  # the HTML was dropped after its first bytes


async def test_short_body_that_is_not_an_image_is_not_an_image(server: LocalServer) -> None:
    async def tiny(request: web.Request) -> web.Response:
        return web.Response(body=b"GIF8", content_type="image/gif")

    async with Downloader(fetch_settings()) as downloader:
        result = await downloader.fetch(server.route("/t.gif", tiny))

    assert not result.ok and result.reason is FailureReason.not_an_image


async def test_noai_header_is_respected_unless_turned_off(server: LocalServer) -> None:
    async def noai(request: web.Request) -> web.Response:
        return web.Response(body=png_bytes(), content_type="image/png",
                            headers={"X-Robots-Tag": "noindex, noimageai"})

    async def other_bot(request: web.Request) -> web.Response:
        return web.Response(body=png_bytes(), headers={"X-Robots-Tag": "somebot: noai"})

    urls = [server.route("/noai.png", noai), server.route("/other.png", other_bot)]
    async with Downloader(fetch_settings()) as downloader:
        refused, allowed = await downloader.fetch_many(urls)
    async with Downloader(fetch_settings(fetch_respect_noai=False)) as downloader:
        taken = await downloader.fetch(urls[0])

    assert not refused.ok and refused.reason is FailureReason.robots_noai
    assert allowed.ok
    assert taken.ok and taken.body == png_bytes()


async def test_user_agent_names_pixcrawler_and_its_contact(server: LocalServer) -> None:
    async with Downloader(fetch_settings()) as downloader:
        await downloader.fetch(server.url("/anything"))

    agent = server.seen[0].headers["User-Agent"]
    assert agent.startswith("PixCrawler/")
    assert "https://example.org/pixcrawler-contact" in agent


async def test_redirects_are_followed_up_to_five_hops(server: LocalServer) -> None:
    def hop_to(location: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=301, headers={"Location": location})
        return handler

    server.route("/img.png", serve_png)
    for i in range(1, 7):  # /r1 -> /r2 -> ... -> /r6 -> /img.png (relative Locations)
        server.route(f"/r{i}", hop_to(f"r{i + 1}" if i < 6 else "/img.png"))

    async with Downloader(fetch_settings()) as downloader:
        five_hops, six_hops = await downloader.fetch_many([server.url("/r2"), server.url("/r1")])

    assert five_hops.ok and five_hops.final_url == server.url("/img.png")
    assert not six_hops.ok and six_hops.reason is FailureReason.http_error
    assert "more than 5 redirects" in six_hops.message
    assert downloader.stats.redirects == 5 + 6


async def test_stats_count_outcomes_and_bytes(server: LocalServer) -> None:
    url = server.route("/p.png", serve_png)
    async with Downloader(fetch_settings()) as downloader:
        await downloader.fetch_many([url, url, server.url("/nope"), "not a url at all"])

    stats = downloader.stats.as_dict()
    assert stats["attempted"] == 4
    assert stats["outcomes"] == {"ok": 2, "http_error": 2}
    assert stats["bytes"] == 2 * len(png_bytes())
