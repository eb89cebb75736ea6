"""Google: the Custom Search JSON API with ``searchType=image``.

Needs an API key and a Programmable Search Engine id (``PIXCRAWLER_GOOGLE_API_KEY``,
``PIXCRAWLER_GOOGLE_CX``). ``start`` is 1-based, ``num`` at most 10, and the API never goes
past result 100, so offsets from 100 on are exhausted without asking. The answer is
``{"items": [{"link", "title", "image": {"contextLink", "width", "height"}}], "queries":
{"nextPage": [{"startIndex"}]}}``; no ``nextPage`` means no more results.

Example::

    source = GoogleSource(client, "https://www.googleapis.com", api_key="...", cx="...")
    page = await source.search("barn owl", offset=0, count=10)
"""

from __future__ import annotations

from typing import Any

from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource, SourceClient
from shared.crawl.sources._parse import (
    build_page,
    as_dict,
    as_int,
    as_list,
    as_str,
    http_url,
    require_object,
    slice_page,
)

NAME = "google"
API_PATH = "/customsearch/v1"
MAX_NUM = 10
#: The API serves results 1..100 only.
MAX_RESULTS = 100


def _candidate(item: dict[str, Any]) -> Candidate | None:
    url = http_url(item.get("link"))
    if url is None:
        return None
    image = as_dict(item.get("image"))
    return Candidate(
        url=url,
        page_url=http_url(image.get("contextLink")),
        title=as_str(item.get("title")),
        width=as_int(image.get("width")),
        height=as_int(image.get("height")),
        source=NAME,
    )


def parse_page(payload: Any, offset: int, count: int) -> SearchPage:
    """A Custom Search answer for the request starting at ``offset + 1`` as a SearchPage."""
    body = require_object(NAME, payload)
    items = [as_dict(i) for i in as_list(body.get("items"))]
    next_page = as_dict(next(iter(as_list(as_dict(body.get("queries")).get("nextPage"))), None))
    start_index = as_int(next_page.get("startIndex"))
    next_start = start_index - 1 if items and start_index and start_index <= MAX_RESULTS else None
    chosen, next_offset = slice_page(items, offset, offset, count, next_start)
    return build_page(chosen, _candidate, next_offset)


class GoogleSource(HttpSource):
    """Google Custom Search, images (see the module docstring)."""

    name, path = NAME, API_PATH

    def __init__(self, client: SourceClient, base_url: str, api_key: str, cx: str) -> None:
        super().__init__(client, base_url)
        self.api_key = api_key
        self.cx = cx

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        if offset >= MAX_RESULTS:
            return SearchPage(candidates=[], next_offset=None)
        params = {
            "key": self.api_key,
            "cx": self.cx,
            "q": keyword,
            "searchType": "image",
            "start": str(offset + 1),
            "num": str(min(count, MAX_NUM, MAX_RESULTS - offset)),
        }
        return parse_page(await self.client.get_json(self.url, params), offset, count)
