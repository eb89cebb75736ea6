"""Search sources: keywords in, pages of image URLs (:class:`~shared.models.Candidate`) out.

Every source has one method, ``search(keyword, offset, count) -> SearchPage``. ``offset``
counts results from 0 in the source's own order; the page's ``next_offset`` is where the
next call starts (None once the source has nothing more), so a chunk can stop anywhere and
resume from its checkpoint. Each source's base URL is a setting
(``PIXCRAWLER_<SOURCE>_BASE_URL``, the real service by default), which is how the tests and
the demo run every source against local servers.

=============  ==================================================  =========================
source         endpoint                                            needs
=============  ==================================================  =========================
wikimedia      Commons ``/w/api.php`` generator=search, imageinfo  —
openverse      ``/v1/images/``                                     —
flickr         ``/services/rest/`` flickr.photos.search            FLICKR_API_KEY
google         ``/customsearch/v1`` searchType=image               GOOGLE_API_KEY, GOOGLE_CX
bing           ``/images/async`` HTML                              —
duckduckgo     ``/`` (vqd token) then ``/i.js``                    —
baidu          ``/search/acjson``                                  —
urls           the job's own URL list                              —
=============  ==================================================  =========================

Example::

    async with aiohttp.ClientSession() as session:
        source = make_source(SourceSpec(type="openverse"), get_settings(), session)
        page = await source.search("lighthouse", offset=0, count=20)
        while page.next_offset is not None:
            page = await source.search("lighthouse", page.next_offset, 20)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import aiohttp

from shared.errors import ConfigurationError
from shared.fetch.downloader import user_agent
from shared.models import SearchPage, SourceSpec, SourceType
from shared.settings import ENV_PREFIX, Settings
from shared.crawl.sources._http import RetryPolicy, SourceClient
from shared.crawl.sources.baidu import BaiduSource
from shared.crawl.sources.bing import BingSource
from shared.crawl.sources.duckduckgo import DuckDuckGoSource
from shared.crawl.sources.flickr import FlickrSource
from shared.crawl.sources.google import GoogleSource
from shared.crawl.sources.openverse import OpenverseSource
from shared.crawl.sources.urls import UrlListSource
from shared.crawl.sources.wikimedia import WikimediaSource

__all__ = ["Source", "make_source", "missing_settings", "REQUIRED_SETTINGS"]


@runtime_checkable
class Source(Protocol):
    """One search source. ``name`` is the source's name (``"wikimedia"``)."""

    name: str

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        """Up to ``count`` candidates from result ``offset`` on, and the next offset."""
        ...


#: Settings fields each source cannot work without.
REQUIRED_SETTINGS: dict[SourceType, tuple[str, ...]] = {
    SourceType.flickr: ("flickr_api_key",),
    SourceType.google: ("google_api_key", "google_cx"),
}


def _value(settings: Settings, field: str) -> str | None:
    raw = getattr(settings, field)
    text = raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw
    return (text.strip() or None) if isinstance(text, str) else None


def missing_settings(spec: SourceSpec, settings: Settings) -> list[str]:
    """Environment variables ``spec``'s source needs that are not set, in a stable order.

    >>> missing_settings(SourceSpec(type="google"), settings)   # doctest: +SKIP
    ['PIXCRAWLER_GOOGLE_API_KEY', 'PIXCRAWLER_GOOGLE_CX']
    """
    return [
        ENV_PREFIX + field.upper()
        for field in REQUIRED_SETTINGS.get(spec.type, ())
        if _value(settings, field) is None
    ]


class _Checked:
    """Wraps a source to refuse nonsense arguments before any request is made."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.name = inner.name

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        if offset < 0 or count < 1:
            raise ValueError(f"offset must be >= 0 and count >= 1 (got {offset}, {count})")
        return await self.inner.search(keyword, offset, count)


def make_source(spec: SourceSpec, settings: Settings, session: aiohttp.ClientSession) -> Source:
    """The source ``spec`` names, talking through ``session`` with the settings' base URL,
    keys and retry policy. Raises ConfigurationError naming any missing setting."""
    missing = missing_settings(spec, settings)
    if missing:
        raise ConfigurationError(
            f"the {spec.name} source needs {', '.join(missing)}: set "
            f"{'it' if len(missing) == 1 else 'them'} in the Function App's settings"
        )
    client = SourceClient(
        session,
        spec.name,
        RetryPolicy.from_settings(settings),
        headers={"User-Agent": user_agent(settings.contact_url)},
    )
    s = settings
    match spec.type:
        case SourceType.wikimedia:
            source: Source = WikimediaSource(client, s.wikimedia_base_url)
        case SourceType.openverse:
            source = OpenverseSource(client, s.openverse_base_url)
        case SourceType.flickr:
            source = FlickrSource(client, s.flickr_base_url, _value(s, "flickr_api_key") or "")
        case SourceType.google:
            source = GoogleSource(
                client, s.google_base_url, _value(s, "google_api_key") or "", s.google_cx or ""
            )
        case SourceType.bing:
            source = BingSource(client, s.bing_base_url)
        case SourceType.duckduckgo:
            source = DuckDuckGoSource(client, s.duckduckgo_base_url)
        case SourceType.baidu:
            source = BaiduSource(client, s.baidu_base_url)
        case SourceType.urls:
            if spec.url_list is not None:
                raise ConfigurationError(
                    "a stored URL list is read part by part: use shared.crawl.sources.urls.read_url_part"
                )
            source = UrlListSource(spec.urls or [])
    return _Checked(source)
