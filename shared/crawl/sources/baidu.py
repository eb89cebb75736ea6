"""Baidu images: the JSON endpoint its result page scrolls with (``/search/acjson``).

``GET /search/acjson?tn=resultjson_com&ipn=rj&word=&queryWord=&pn=OFFSET&rn=30`` answers
``{"listNum", "displayNum", "data": [{"objURL", "middleURL", "thumbURL", "fromURL",
"fromPageTitleEnc", "width", "height", "replaceUrl": [{"ObjURL", "FromURL"}]}, ..., {}]}``.
Its quirks, all handled here:

* the body is not always valid JSON: strings carry ``\\'`` and other escapes JSON does not
  know (they are repaired before parsing);
* ``objURL`` and ``fromURL`` are often obfuscated (``ippr_z2C$qAzdH3FAzdH3F...``): a fixed
  substitution (:func:`decode_url`) recovers them; otherwise ``replaceUrl`` holds a plain
  copy, and ``middleURL``/``thumbURL`` (Baidu's own resized copies) are the last resort;
* ``data`` ends with an empty object, and titles carry ``<strong>`` highlighting;
* a blocked client gets ``{"antiFlag": 1, "message": "Forbid spider access"}``.

Example::

    source = BaiduSource(client, "https://image.baidu.com")
    page = await source.search("熊猫", offset=0, count=30)
"""

from __future__ import annotations

import re
from typing import Any

from shared.errors import SourceRateLimited
from shared.models import Candidate, SearchPage
from shared.crawl.sources._http import HttpSource, parse_json
from shared.crawl.sources._parse import (
    build_page,
    as_dict,
    as_int,
    as_list,
    as_str,
    http_url,
    require_object,
    slice_page,
    strip_html,
)

NAME = "baidu"
API_PATH = "/search/acjson"
PAGE_SIZE = 30

_TOKENS = (("_z2C$q", ":"), ("_z&e3B", "."), ("AzdH3F", "/"))
_CIPHER = str.maketrans("wkv1ju2it3hs4g5rq6fp7eo8dn9cmb0la", "abcdefghijklmnopqrstuvw1234567890")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def decode_url(value: str) -> str:
    """Undo Baidu's URL obfuscation; plain URLs are returned unchanged.

    >>> decode_url("ippr_z2C$qAzdH3FAzdH3Fooo_z&e3Bkwt17_z&e3Bv54AzdH3F")
    'http://www.baidu.com/'
    """
    if value.lower().startswith(("http://", "https://")):
        return value
    for token, plain in _TOKENS:
        value = value.replace(token, plain)
    return value.translate(_CIPHER)


def repair_json(body: str) -> str:
    """Make Baidu's almost-JSON parseable: an escaped single quote becomes a plain one, and
    any other escape JSON does not know keeps its backslash as a literal one.

    >>> import json
    >>> json.loads(repair_json('{"t": "it' + chr(92) + "'s " + chr(92) + 'x"}'))["t"]
    "it's \\\\x"
    """

    def fix(match: re.Match[str]) -> str:
        char = match.group(1)
        if char in '"\\/bfnrtu':
            return match.group(0)
        return "'" if char == "'" else "\\\\" + char

    return _ESCAPE.sub(fix, body)


def _candidate(item: dict[str, Any]) -> Candidate | None:
    replace = as_dict(next(iter(as_list(item.get("replaceUrl"))), None))
    original = http_url(decode_url(as_str(item.get("objURL")) or "")) or http_url(
        replace.get("ObjURL") or replace.get("ObjUrl")
    )
    url = original or http_url(item.get("middleURL")) or http_url(item.get("thumbURL"))
    if url is None:
        return None
    page = http_url(decode_url(as_str(item.get("fromURL")) or "")) or http_url(
        replace.get("FromURL") or replace.get("FromUrl")
    )
    return Candidate(
        url=url,
        page_url=page,
        title=strip_html(item.get("fromPageTitleEnc")) or strip_html(item.get("fromPageTitle")),
        width=as_int(item.get("width")) if original else None,
        height=as_int(item.get("height")) if original else None,
        source=NAME,
    )


def parse_page(body_text: str, offset: int, count: int) -> SearchPage:
    """An ``acjson`` answer requested with ``pn=offset`` as a SearchPage."""
    body = require_object(NAME, parse_json(NAME, repair_json(body_text)))
    if as_int(body.get("antiFlag")):
        raise SourceRateLimited(
            f"{NAME} blocked the search: {as_str(body.get('message')) or 'antiFlag set'}"
        )
    entries = [d for d in map(as_dict, as_list(body.get("data"))) if d]
    total = as_int(body.get("listNum")) or as_int(body.get("displayNum"))
    end = offset + len(entries)
    next_start = end if entries and (total is None or end < total) else None
    items, next_offset = slice_page(entries, offset, offset, count, next_start)
    return build_page(items, _candidate, next_offset)


class BaiduSource(HttpSource):
    """Baidu image search (see the module docstring)."""

    name, path = NAME, API_PATH

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        params = {
            "tn": "resultjson_com",
            "ipn": "rj",
            "ct": "201326592",
            "fp": "result",
            "word": keyword,
            "queryWord": keyword,
            "ie": "utf-8",
            "oe": "utf-8",
            "pn": str(offset),
            "rn": str(min(max(count, 1), PAGE_SIZE)),
        }
        return parse_page(await self.client.get_text(self.url, params), offset, count)
