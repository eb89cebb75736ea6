"""Bing: the HTML fragments that bing.com/images loads while scrolling (``/images/async``).

Why not the ``ddgs`` library: ``ddgs`` (PyPI) hard-codes ``https://www.bing.com`` and
``https://duckduckgo.com`` in its engines and is synchronous (``primp``), so it can be neither
pointed at a local server for offline tests nor share our aiohttp session and backoff. This
adapter reads the same endpoint ``ddgs`` reads, directly, with ``PIXCRAWLER_BING_BASE_URL``.

``GET /images/async?q=&first=&count=&async=1`` answers HTML in which each result is
``<a class="iusc" m="{...}">``: the ``m`` attribute is HTML-escaped JSON with ``murl`` (the
image), ``purl`` (the page) and ``t`` (the title); the size is the text ``1920 x 1080 ·
jpeg`` of a following ``<span class="nowrap">``. ``first`` is 1-based; Bing decides how many
results a fragment holds, and a fragment without results ends the search.

Example::

    source = BingSource(client, "https://www.bing.com")
    page = await source.search("snow leopard", offset=0, count=35)
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource
from shared.crawl.sources._parse import as_dict, as_str, build_page, http_url, slice_page, strip_html

NAME = "bing"
API_PATH = "/images/async"
#: Bing's own page size when scrolling.
PAGE_SIZE = 35

_SIZE = re.compile(r"(\d+)\s*[x\u00d7]\s*(\d+)")


class _ResultParser(HTMLParser):
    """Collects the ``m`` metadata of each result and the size shown under it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.results: list[dict[str, object]] = []
        self._in_size = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "a" and "iusc" in classes:
            try:
                meta = json.loads(attributes.get("m") or "")
            except ValueError:
                meta = None
            self.results.append(as_dict(meta))
        self._in_size = tag == "span" and "nowrap" in classes

    def handle_endtag(self, tag: str) -> None:
        self._in_size = False

    def handle_data(self, data: str) -> None:
        if not self._in_size or not self.results or "_size" in self.results[-1]:
            return
        match = _SIZE.search(data)
        if match:
            self.results[-1]["_size"] = (int(match.group(1)), int(match.group(2)))


def _candidate(meta: dict[str, object]) -> Candidate | None:
    url = http_url(meta.get("murl"))
    if url is None:
        return None
    size = meta.get("_size")
    width, height = size if isinstance(size, tuple) else (None, None)
    return Candidate(
        url=url,
        page_url=http_url(meta.get("purl")),
        title=strip_html(meta.get("t")) or as_str(meta.get("desc")),
        width=width,
        height=height,
        source=NAME,
    )


def parse_page(html_text: str, offset: int, count: int) -> SearchPage:
    """An ``/images/async`` fragment requested with ``first=offset + 1`` as a SearchPage.

    >>> parse_page("<html><body>No results</body></html>", offset=0, count=35)
    SearchPage(candidates=[], next_offset=None)
    """
    parser = _ResultParser()
    parser.feed(html_text)
    parser.close()
    results = parser.results
    chosen, next_offset = slice_page(
        results, offset, offset, count, offset + len(results) if results else None
    )
    return build_page(chosen, _candidate, next_offset)


class BingSource(HttpSource):
    """Bing image search (see the module docstring)."""

    name, path = NAME, API_PATH

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        params = {
            "q": keyword,
            "first": str(offset + 1),
            "count": str(max(count, PAGE_SIZE)),
            "async": "1",
        }
        return parse_page(await self.client.get_text(self.url, params), offset, count)
