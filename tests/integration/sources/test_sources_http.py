"""Every search source against its local stand-in, over real HTTP on 127.0.0.1: what a page
holds, paging to the end and resuming from a saved offset, backoff on 429/403, and the
errors a user sees when a service misbehaves or a key is missing."""

from __future__ import annotations

import socket
import time

import aiohttp
import pytest
from source_services import KEYWORD, RESULT_COUNT, Result, Services, local_settings

from shared.errors import ConfigurationError, SourceError, SourceRateLimited
from shared.models import Candidate, SourceSpec, SourceType
from shared.settings import Settings
from shared.crawl.sources import Source, make_source, missing_settings

#: The path each source searches (DuckDuckGo's second step is the one that pages).
PATHS = {
    "wikimedia": "/w/api.php",
    "openverse": "/v1/images/",
    "flickr": "/services/rest/",
    "google": "/customsearch/v1",
    "bing": "/images/async",
    "duckduckgo": "/i.js",
    "baidu": "/search/acjson",
}
JSON_SOURCES = [name for name in PATHS if name != "bing"]


def source(name: str, settings: Settings, session: aiohttp.ClientSession) -> Source:
    return make_source(SourceSpec(type=SourceType(name)), settings, session)


def expected_urls(name: str) -> list[str]:
    reachable = min(RESULT_COUNT, 100) if name == "google" else RESULT_COUNT
    return [Result(i).url for i in range(reachable)]


async def walk(src: Source, count: int, offset: int = 0) -> tuple[list[Candidate], list[int]]:
    """Search page after page until the source is exhausted; the offsets asked for."""
    found: list[Candidate] = []
    offsets: list[int] = []
    next_offset: int | None = offset
    while next_offset is not None:
        offsets.append(next_offset)
        page = await src.search(KEYWORD, next_offset, count)
        found.extend(page.candidates)
        next_offset = page.next_offset
        assert len(offsets) < 200, "paging does not end"
    return found, offsets


EXPECTED_SECOND = {
    "wikimedia": {"title": "Tabby cat 1.jpg", "license": "CC BY 4.0", "attribution": "Artist 1"},
    "openverse": {
        "title": "Tabby cat 1",
        "license": "CC BY-SA 4.0",
        "attribution": '"Tabby cat 1" by photographer1 is licensed under CC BY-SA 4.0.',
    },
    "flickr": {
        "title": "Tabby cat 1",
        "license": "CC BY-NC-SA 2.0",
        "attribution": "owner 1",
        "page_url": "https://www.flickr.com/photos/12341@N05/52000001",
    },
    "google": {"title": "Tabby cat 1"},
    "bing": {"title": "Tabby cat 1"},
    "duckduckgo": {"title": "Tabby cat 1"},
    "baidu": {"title": "Tabby cat 1 it's here"},
}


@pytest.mark.parametrize("name", PATHS)
async def test_a_page_carries_url_page_title_size_and_licence(
    name: str, settings: Settings, session: aiohttp.ClientSession
) -> None:
    page = await source(name, settings, session).search(KEYWORD, 0, 5)
    assert [c.url for c in page.candidates] == expected_urls(name)[:5]
    second = page.candidates[1]
    wanted = {
        "url": Result(1).url,
        "page_url": Result(1).page_url,
        "width": 641,
        "height": 480,
        "license": None,
        "attribution": None,
        "source": name,
        **EXPECTED_SECOND[name],
    }
    assert second.model_dump() == wanted
    assert page.next_offset == 5


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("count", [7, 50])
async def test_paging_returns_every_result_once_then_ends(
    name: str, count: int, settings: Settings, session: aiohttp.ClientSession
) -> None:
    found, offsets = await walk(source(name, settings, session), count)
    assert [c.url for c in found] == expected_urls(name)
    assert offsets == sorted(set(offsets)), "offsets must only move forward"
    assert all(b - a <= count for a, b in zip(offsets, offsets[1:])), "a page over count"


@pytest.mark.parametrize("name", PATHS)
async def test_a_resumed_search_continues_exactly_where_the_checkpoint_left(
    name: str, settings: Settings, session: aiohttp.ClientSession
) -> None:
    first_run = source(name, settings, session)
    seen: list[str] = []
    offset: int | None = 0
    for _ in range(3):
        assert offset is not None
        page = await first_run.search(KEYWORD, offset, 9)
        seen.extend(c.url for c in page.candidates)
        offset = page.next_offset
    assert offset is not None and offset == len(seen) >= 20
    # A new activity, a new source object, a different page size: nothing lost, nothing twice.
    rest, _ = await walk(source(name, settings, session), 40, offset=offset)
    assert seen + [c.url for c in rest] == expected_urls(name)


@pytest.mark.parametrize("name", PATHS)
async def test_past_the_end_is_an_empty_exhausted_page(
    name: str, settings: Settings, session: aiohttp.ClientSession
) -> None:
    page = await source(name, settings, session).search(KEYWORD, 400, 10)
    assert page.candidates == [] and page.next_offset is None


@pytest.mark.parametrize("name", PATHS)
async def test_unknown_keyword_finds_nothing(
    name: str, settings: Settings, session: aiohttp.ClientSession
) -> None:
    page = await source(name, settings, session).search("no such thing", 0, 10)
    assert page.candidates == [] and page.next_offset is None


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("status", [429, 403])
async def test_being_told_to_slow_down_twice_then_served_succeeds(
    name: str,
    status: int,
    search_services: Services,
    settings: Settings,
    session: aiohttp.ClientSession,
) -> None:
    search_services.throttle(PATHS[name], times=2, status=status, retry_after="0")
    page = await source(name, settings, session).search(KEYWORD, 0, 5)
    assert [c.url for c in page.candidates] == expected_urls(name)[:5]
    assert len(search_services.calls(PATHS[name])) == 3


@pytest.mark.parametrize("name", PATHS)
async def test_always_429_gives_up_after_the_tries_with_rate_limited(
    name: str, search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.throttle(PATHS[name], times=None, status=429, retry_after="0")
    with pytest.raises(SourceRateLimited) as caught:
        await source(name, settings, session).search(KEYWORD, 0, 5)
    assert caught.value.retry_after == 0
    assert len(search_services.calls(PATHS[name])) == settings.source_max_tries
    assert name in caught.value.message and "429" in caught.value.message


async def test_backoff_without_retry_after_waits_longer_each_time(
    search_services: Services, session: aiohttp.ClientSession
) -> None:
    settings = local_settings(search_services.base_url, source_backoff_base=0.2, source_max_tries=3)
    search_services.throttle("/v1/images/", times=None, status=429, retry_after=None)
    started = time.perf_counter()
    with pytest.raises(SourceRateLimited) as caught:
        await source("openverse", settings, session).search(KEYWORD, 0, 5)
    elapsed = time.perf_counter() - started
    # Equal jitter: the waits are in [0.1, 0.2] then [0.2, 0.4] seconds.
    assert 0.3 <= elapsed < 2.0
    assert caught.value.retry_after is not None and 0.4 <= caught.value.retry_after <= 0.8


async def test_a_retry_after_longer_than_the_cap_is_reported_at_once(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.throttle("/services/rest/", times=None, status=429, retry_after="3600")
    started = time.perf_counter()
    with pytest.raises(SourceRateLimited) as caught:
        await source("flickr", settings, session).search(KEYWORD, 0, 5)
    assert time.perf_counter() - started < 1.0
    assert caught.value.retry_after == 3600
    assert len(search_services.calls("/services/rest/")) == 1


async def test_server_errors_are_retried_then_reported(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.throttle("/customsearch/v1", times=None, status=503, retry_after=None)
    with pytest.raises(SourceError) as caught:
        await source("google", settings, session).search(KEYWORD, 0, 5)
    assert not isinstance(caught.value, SourceRateLimited)
    assert "HTTP 503" in caught.value.message
    assert len(search_services.calls("/customsearch/v1")) == settings.source_max_tries


async def test_one_server_error_then_success_is_invisible(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.throttle("/search/acjson", times=1, status=502, retry_after=None)
    page = await source("baidu", settings, session).search(KEYWORD, 0, 3)
    assert len(page.candidates) == 3


@pytest.mark.parametrize("name", JSON_SOURCES)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "<html><body>Service temporarily moved</body></html>",
            "answered something that is not JSON",
        ),
        ('["not", "an", "object"]', "answered JSON of an unexpected shape"),
    ],
)
async def test_a_malformed_answer_is_a_clear_source_error(
    name: str,
    body: str,
    message: str,
    search_services: Services,
    settings: Settings,
    session: aiohttp.ClientSession,
) -> None:
    search_services.malformed[PATHS[name]] = body
    with pytest.raises(SourceError, match=rf"^{name} {message}"):
        await source(name, settings, session).search(KEYWORD, 0, 5)


@pytest.mark.parametrize("name", JSON_SOURCES)
async def test_results_missing_every_field_are_skipped_not_a_crash(
    name: str, search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.malformed[PATHS[name]] = (
        '{"stat": "ok", "photos": {"photo": [{}, null, 3]}, "results": [{}, null, 3],'
        ' "items": [{}, null, 3], "data": [{"objURL": 5}, null, 3], "query": {"pages": [{}, 3]}}'
    )
    page = await source(name, settings, session).search(KEYWORD, 0, 5)
    assert page.candidates == []


async def test_bing_without_results_markup_is_the_end_not_an_error(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.malformed["/images/async"] = "<html><body><div>Captcha</div></body></html>"
    page = await source("bing", settings, session).search(KEYWORD, 0, 5)
    assert page.candidates == [] and page.next_offset is None


async def test_duckduckgo_without_a_search_token_says_so(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    search_services.malformed["/"] = "<html><body>Please try again</body></html>"
    with pytest.raises(SourceError, match="no search token"):
        await source("duckduckgo", settings, session).search(KEYWORD, 0, 5)


async def test_duckduckgo_fetches_its_token_once_per_keyword(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    await walk(source("duckduckgo", settings, session), 60)
    assert len(search_services.calls("/")) == 1
    assert [q["s"] for q in search_services.calls("/i.js")] == ["0", "0", "100"]


async def test_a_wrong_flickr_key_names_the_setting(
    search_services: Services, session: aiohttp.ClientSession
) -> None:
    settings = local_settings(search_services.base_url, flickr_api_key="wrong")
    with pytest.raises(SourceError, match="Invalid API Key.*PIXCRAWLER_FLICKR_API_KEY"):
        await source("flickr", settings, session).search(KEYWORD, 0, 5)


async def test_a_wrong_google_key_quotes_google(
    search_services: Services, session: aiohttp.ClientSession
) -> None:
    settings = local_settings(search_services.base_url, google_api_key="wrong")
    with pytest.raises(SourceError, match=r"HTTP 400.*API key not valid"):
        await source("google", settings, session).search(KEYWORD, 0, 5)
    assert len(search_services.calls("/customsearch/v1")) == 1


async def test_google_never_asks_past_result_100(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    page = await source("google", settings, session).search(KEYWORD, 95, 10)
    assert [c.url for c in page.candidates] == [Result(i).url for i in range(95, 100)]
    assert page.next_offset is None
    assert search_services.calls("/customsearch/v1")[-1]["num"] == "5"


async def test_an_unreachable_source_is_a_source_error(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = local_settings(f"http://127.0.0.1:{port}", source_max_tries=2)
    with pytest.raises(SourceError, match=f"openverse: cannot reach http://127.0.0.1:{port}"):
        await source("openverse", settings, session).search(KEYWORD, 0, 5)


@pytest.mark.parametrize(
    ("name", "overrides", "missing"),
    [
        ("flickr", {"flickr_api_key": None}, ["PIXCRAWLER_FLICKR_API_KEY"]),
        ("flickr", {"flickr_api_key": "  "}, ["PIXCRAWLER_FLICKR_API_KEY"]),
        (
            "google",
            {"google_api_key": None, "google_cx": None},
            ["PIXCRAWLER_GOOGLE_API_KEY", "PIXCRAWLER_GOOGLE_CX"],
        ),
        ("google", {"google_cx": None}, ["PIXCRAWLER_GOOGLE_CX"]),
        ("google", {}, []),
        ("wikimedia", {"flickr_api_key": None, "google_api_key": None}, []),
        ("duckduckgo", {}, []),
    ],
)
async def test_missing_settings_names_the_environment_variables(
    name: str,
    overrides: dict[str, object],
    missing: list[str],
    search_services: Services,
    session: aiohttp.ClientSession,
) -> None:
    settings = local_settings(search_services.base_url, **overrides)
    spec = SourceSpec(type=SourceType(name))
    assert missing_settings(spec, settings) == missing
    if missing:
        with pytest.raises(ConfigurationError) as caught:
            make_source(spec, settings, session)
        assert all(variable in caught.value.message for variable in missing)
        assert search_services.requests == []
    else:
        assert make_source(spec, settings, session).name == name


async def test_a_url_list_is_sliced_by_offset_and_count(
    settings: Settings, session: aiohttp.ClientSession
) -> None:
    urls = [f"https://example.org/{i}.jpg" for i in range(5)]
    src = make_source(SourceSpec(type=SourceType.urls, label="mine", urls=urls), settings, session)
    found, offsets = await walk(src, 2)
    assert [c.url for c in found] == urls and offsets == [0, 2, 4]
    assert {c.source for c in found} == {"urls"}


async def test_nonsense_paging_arguments_are_refused_before_any_request(
    search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(ValueError, match="count >= 1"):
        await source("openverse", settings, session).search(KEYWORD, 0, 0)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        await source("openverse", settings, session).search(KEYWORD, -1, 5)
    assert search_services.requests == []


@pytest.mark.parametrize("name", PATHS)
async def test_every_request_identifies_pixcrawler(
    name: str, search_services: Services, settings: Settings, session: aiohttp.ClientSession
) -> None:
    await source(name, settings, session).search(KEYWORD, 0, 5)
    assert search_services.user_agents
    assert all(
        ua == f"PixCrawler/0.1 (+{settings.contact_url})" for ua in search_services.user_agents
    )
