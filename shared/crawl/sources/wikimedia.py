"""Wikimedia Commons: the MediaWiki Action API, no key needed.

One request per page: full-text search in the File namespace (``generator=search``,
``gsrnamespace=6``) with each file's ``imageinfo`` (URL, size, MIME type and the licence
metadata, ``extmetadata``) in the same answer. The offset is ``gsroffset``; the answer's
``continue.gsroffset`` is the next one, and its absence means the results are exhausted.
Files that are not images (PDF, video, audio) are left out.

Example::

    source = WikimediaSource(client, "https://commons.wikimedia.org")
    page = await source.search("red panda", offset=0, count=50)
    page.candidates[0].license        # "CC BY-SA 4.0"
"""

from __future__ import annotations

from typing import Any

from shared.errors import SourceError
from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource
from shared.crawl.sources._parse import (
    as_dict,
    as_int,
    as_list,
    as_str,
    http_url,
    require_object,
    slice_page,
    strip_html,
)

NAME = "wikimedia"
API_PATH = "/w/api.php"
#: The API's limit for clients without the bot right.
MAX_LIMIT = 50


def search_params(keyword: str, offset: int, count: int) -> dict[str, str]:
    """Query string of one search page."""
    return {
        "action": "query",
        "format": "json",
        "formatversion": "2",
        "generator": "search",
        "gsrsearch": keyword,
        "gsrnamespace": "6",
        "gsrlimit": str(min(count, MAX_LIMIT)),
        "gsroffset": str(offset),
        "prop": "imageinfo",
        "iiprop": "url|size|mime|extmetadata",
        "iiextmetadatafilter": "ObjectName|Artist|LicenseShortName",
    }


def _meta(extmetadata: dict[str, Any], key: str) -> str | None:
    return strip_html(as_dict(extmetadata.get(key)).get("value"))


def _candidate(page: dict[str, Any]) -> Candidate | None:
    info = as_dict(next(iter(as_list(page.get("imageinfo"))), None))
    url = http_url(info.get("url"))
    mime = as_str(info.get("mime")) or "image/"
    if url is None or not mime.startswith("image/"):
        return None
    ext = as_dict(info.get("extmetadata"))
    title = _meta(ext, "ObjectName") or (as_str(page.get("title")) or "").removeprefix("File:")
    return Candidate(
        url=url,
        page_url=http_url(info.get("descriptionurl")),
        title=title or None,
        width=as_int(info.get("width")),
        height=as_int(info.get("height")),
        license=_meta(ext, "LicenseShortName"),
        attribution=_meta(ext, "Artist"),
        source=NAME,
    )


def parse_page(payload: Any, offset: int, count: int) -> SearchPage:
    """A search answer (``formatversion`` 1 or 2) as a SearchPage.

    >>> parse_page({"batchcomplete": True}, offset=0, count=10)
    SearchPage(candidates=[], next_offset=None)
    """
    body = require_object(NAME, payload)
    if "error" in body:
        error = as_dict(body["error"])
        raise SourceError(
            f"{NAME} API error {as_str(error.get('code')) or '?'}: "
            f"{as_str(error.get('info')) or 'no details'}"
        )
    pages = as_dict(body.get("query")).get("pages")
    listed = list(pages.values()) if isinstance(pages, dict) else as_list(pages)
    ordered = sorted((as_dict(p) for p in listed), key=lambda p: as_int(p.get("index")) or 0)
    candidates = [c for c in map(_candidate, ordered) if c is not None]
    cont = as_dict(body.get("continue"))
    next_start = as_int(cont.get("gsroffset"))
    if cont and listed and (next_start is None or next_start <= offset):
        # Only imageinfo asked to continue: the search window itself is done all the same.
        next_start = offset + len(listed)
    # The API already returned exactly the window [offset, offset + gsrlimit).
    chosen, next_offset = slice_page(candidates, offset, offset, count, next_start)
    return SearchPage(candidates=chosen, next_offset=next_offset)


class WikimediaSource(HttpSource):
    """Wikimedia Commons file search (see the module docstring)."""

    name, path = NAME, API_PATH

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        payload = await self.client.get_json(self.url, search_params(keyword, offset, count))
        return parse_page(payload, offset, count)
