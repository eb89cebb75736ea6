"""Openverse: openly licensed images, anonymous access (no key).

``GET /v1/images/?q=&page=&page_size=`` answers ``{"result_count", "page_count", "page",
"results": [{"url", "foreign_landing_url", "title", "width", "height", "license",
"license_version", "attribution", "creator", ...}]}``. Anonymous clients get at most 20 per
page, so pages are fixed at 20 and an offset inside a page skips into it. Past the last page
(and past the results anonymous clients may see) it answers 400/401: the end.

Example::

    source = OpenverseSource(client, "https://api.openverse.org")
    page = await source.search("lighthouse", offset=0, count=20)
    page.candidates[0].license        # "CC BY 2.0"
"""

from __future__ import annotations

from typing import Any

from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource, SourceHTTPError
from shared.crawl.sources._parse import (
    build_page,
    numbered_page,
    as_dict,
    as_int,
    as_list,
    as_str,
    http_url,
    page_window,
    require_object,
    strip_html,
)

NAME = "openverse"
API_PATH = "/v1/images/"
#: Largest page an anonymous client may ask for.
PAGE_SIZE = 20


def license_name(code: Any, version: Any) -> str | None:
    """Openverse's licence code and version as people write them.

    >>> license_name("by-sa", "4.0"), license_name("cc0", "1.0"), license_name("pdm", "")
    ('CC BY-SA 4.0', 'CC0 1.0', 'PDM')
    """
    text = as_str(code)
    if text is None:
        return None
    name = text.upper() if text.lower() in ("cc0", "pdm") else f"CC {text.upper()}"
    ver = as_str(version)
    return f"{name} {ver}" if ver else name


def _candidate(item: dict[str, Any]) -> Candidate | None:
    url = http_url(item.get("url"))
    if url is None:
        return None
    return Candidate(
        url=url,
        page_url=http_url(item.get("foreign_landing_url")),
        title=strip_html(item.get("title")),
        width=as_int(item.get("width")),
        height=as_int(item.get("height")),
        license=license_name(item.get("license"), item.get("license_version")),
        attribution=as_str(item.get("attribution")) or as_str(item.get("creator")),
        source=NAME,
    )


def parse_page(payload: Any, offset: int, count: int) -> SearchPage:
    """An ``/v1/images/`` answer for the page holding ``offset`` as a SearchPage."""
    body = require_object(NAME, payload)
    results = [as_dict(r) for r in as_list(body.get("results"))]
    page_count = as_int(body.get("page_count"))
    items, next_offset = numbered_page(results, offset, count, PAGE_SIZE, page_count)
    return build_page(items, _candidate, next_offset)


class OpenverseSource(HttpSource):
    """Openverse image search (see the module docstring)."""

    name, path = NAME, API_PATH

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        page, _ = page_window(offset, PAGE_SIZE)
        params = {"q": keyword, "page": str(page), "page_size": str(PAGE_SIZE)}
        try:
            payload = await self.client.get_json(self.url, params)
        except SourceHTTPError as exc:
            # Past the last page (or past what anonymous clients may see) Openverse answers
            # 400/401 instead of an empty page; page 1 failing is a real error.
            if page > 1 and exc.status in (400, 401):
                return SearchPage(candidates=[], next_offset=None)
            raise
        return parse_page(payload, offset, count)
