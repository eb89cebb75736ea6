"""DuckDuckGo images: a ``vqd`` token from the search page, then the ``i.js`` JSON.

Why not the ``ddgs`` library: see :mod:`shared.crawl.sources.bing` (fixed hosts, synchronous
client). This adapter follows the same two steps directly, with
``PIXCRAWLER_DUCKDUCKGO_BASE_URL``:

1. ``GET /?q=KEYWORD`` answers HTML whose scripts carry ``vqd="4-123..."``; the token is
   kept per keyword for the adapter's lifetime.
2. ``GET /i.js?o=json&q=&vqd=&s=OFFSET&l=us-en&p=1&f=,,,,,`` (with a ``Referer``) answers
   ``{"results": [{"image", "url", "title", "width", "height", "thumbnail", "source"}],
   "next": "i.js?...&s=100..."}``. Pages hold 100 results; no ``next`` ends the search.

Example::

    source = DuckDuckGoSource(client, "https://duckduckgo.com")
    page = await source.search("hedgehog", offset=0, count=100)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.errors import SourceError
from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource, SourceClient
from shared.crawl.sources._parse import (
    build_page,
    as_dict,
    as_int,
    as_list,
    as_str,
    http_url,
    page_window,
    require_object,
    slice_page,
    strip_html,
)

NAME = "duckduckgo"
PAGE_SIZE = 100

_VQD = re.compile(r"""vqd["']?\s*[=:]\s*["']?([0-9][0-9-]*)""")


def extract_vqd(html_text: str) -> str:
    """The search token from DuckDuckGo's search page.

    >>> extract_vqd('<script>DDG.deep.initialize("/d.js?q=cat&vqd=4-1234&p=1");</script>')
    '4-1234'
    """
    match = _VQD.search(html_text)
    if match is None:
        raise SourceError(
            f"{NAME}: no search token (vqd) in its search page; the page layout may have "
            "changed or the request was blocked"
        )
    return match.group(1)


def _next_start(next_link: Any) -> int | None:
    link = as_str(next_link)
    if link is None:
        return None
    values = parse_qs(urlsplit(link).query).get("s")
    return as_int(values[0]) if values else None


def _candidate(item: dict[str, Any]) -> Candidate | None:
    url = http_url(item.get("image"))
    if url is None:
        return None
    return Candidate(
        url=url,
        page_url=http_url(item.get("url")),
        title=strip_html(item.get("title")),
        width=as_int(item.get("width")),
        height=as_int(item.get("height")),
        source=NAME,
    )


def parse_page(payload: Any, offset: int, count: int) -> SearchPage:
    """An ``i.js`` answer for the page holding ``offset`` as a SearchPage."""
    body = require_object(NAME, payload)
    _, page_start = page_window(offset, PAGE_SIZE)
    results = [as_dict(r) for r in as_list(body.get("results"))]
    next_start = None
    if results and "next" in body:
        next_start = _next_start(body.get("next")) or page_start + len(results)
    items, next_offset = slice_page(results, offset, page_start, count, next_start)
    return build_page(items, _candidate, next_offset)


class DuckDuckGoSource(HttpSource):
    """DuckDuckGo image search (see the module docstring)."""

    name = NAME

    def __init__(self, client: SourceClient, base_url: str) -> None:
        super().__init__(client, base_url)
        self._tokens: dict[str, str] = {}

    async def _token(self, keyword: str) -> str:
        if keyword not in self._tokens:
            page = await self.client.get_text(self.url + "/", {"q": keyword})
            self._tokens[keyword] = extract_vqd(page)
        return self._tokens[keyword]

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        _, page_start = page_window(offset, PAGE_SIZE)
        params = {
            "o": "json",
            "q": keyword,
            "l": "us-en",
            "vqd": await self._token(keyword),
            "p": "1",
            "f": ",,,,,",
            "s": str(page_start),
        }
        payload = await self.client.get_json(
            self.url + "/i.js", params, headers={"Referer": self.url + "/"}
        )
        return parse_page(payload, offset, count)
