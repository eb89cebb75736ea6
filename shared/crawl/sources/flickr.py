"""Flickr: ``flickr.photos.search`` through the REST endpoint, JSON without callback.

Needs an API key (``PIXCRAWLER_FLICKR_API_KEY``). The answer is ``{"stat": "ok", "photos":
{"page", "pages", "perpage", "total", "photo": [{"id", "owner", "title", "license",
"ownername", "url_o", "width_o", "height_o", "url_l", ...}]}}``; errors come as HTTP 200
with ``{"stat": "fail", "code", "message"}``. The original (``url_o``) is preferred, the
large size (``url_l``) taken when the owner hides originals. Pages are fixed at 100.

Example::

    source = FlickrSource(client, "https://api.flickr.com", api_key="...")
    page = await source.search("tabby cat", offset=0, count=100)
    page.candidates[0].attribution    # the owner's name
"""

from __future__ import annotations

from typing import Any

from shared.errors import SourceError
from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource, SourceClient
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
)

NAME = "flickr"
API_PATH = "/services/rest/"
PAGE_SIZE = 100

#: flickr.photos.licenses.getInfo, by id.
LICENSES: dict[str, str] = {
    "0": "All Rights Reserved",
    "1": "CC BY-NC-SA 2.0",
    "2": "CC BY-NC 2.0",
    "3": "CC BY-NC-ND 2.0",
    "4": "CC BY 2.0",
    "5": "CC BY-SA 2.0",
    "6": "CC BY-ND 2.0",
    "7": "No known copyright restrictions",
    "8": "United States Government Work",
    "9": "CC0 1.0",
    "10": "Public Domain Mark 1.0",
}


def _candidate(photo: dict[str, Any]) -> Candidate | None:
    for size in ("o", "l"):
        url = http_url(photo.get(f"url_{size}"))
        if url is not None:
            break
    else:
        return None
    owner, photo_id = as_str(photo.get("owner")), as_str(photo.get("id"))
    license_id = as_str(photo.get("license"))
    return Candidate(
        url=url,
        page_url=f"https://www.flickr.com/photos/{owner}/{photo_id}"
        if owner and photo_id
        else None,
        title=as_str(photo.get("title")),
        width=as_int(photo.get(f"width_{size}")),
        height=as_int(photo.get(f"height_{size}")),
        license=LICENSES.get(license_id, license_id) if license_id else None,
        attribution=as_str(photo.get("ownername")),
        source=NAME,
    )


def parse_page(payload: Any, offset: int, count: int) -> SearchPage:
    """A ``flickr.photos.search`` answer for the page holding ``offset`` as a SearchPage."""
    body = require_object(NAME, payload)
    if body.get("stat") != "ok":
        raise SourceError(
            f"{NAME} API error {as_str(body.get('code')) or '?'}: "
            f"{as_str(body.get('message')) or 'no details'}"
            + (" (check PIXCRAWLER_FLICKR_API_KEY)" if as_str(body.get("code")) == "100" else "")
        )
    photos = as_dict(body.get("photos"))
    listed = [as_dict(p) for p in as_list(photos.get("photo"))]
    pages = as_int(photos.get("pages"))
    items, next_offset = numbered_page(listed, offset, count, PAGE_SIZE, pages)
    return build_page(items, _candidate, next_offset)


class FlickrSource(HttpSource):
    """Flickr photo search (see the module docstring)."""

    name, path = NAME, API_PATH

    def __init__(self, client: SourceClient, base_url: str, api_key: str) -> None:
        super().__init__(client, base_url)
        self.api_key = api_key

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        page, _ = page_window(offset, PAGE_SIZE)
        params = {
            "method": "flickr.photos.search",
            "api_key": self.api_key,
            "text": keyword,
            "sort": "relevance",
            "media": "photos",
            "content_type": "1",
            "extras": "url_o,url_l,license,owner_name",
            "per_page": str(PAGE_SIZE),
            "page": str(page),
            "format": "json",
            "nojsoncallback": "1",
        }
        return parse_page(await self.client.get_json(self.url, params), offset, count)
