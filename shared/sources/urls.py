"""The user's own URL list (a ``urls`` source): no search, the list is the result.

The offset is a position in the list; the label travels with the chunk, not with each URL.

Example::

    source = UrlListSource(["https://example.org/a.jpg", "https://example.org/b.png"])
    page = await source.search("ignored", offset=1, count=10)
    [c.url for c in page.candidates], page.next_offset     # (['https://example.org/b.png'], None)
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.models import Candidate, SearchPage

NAME = "urls"


class UrlListSource:
    """A fixed list of image URLs, sliced by offset and count."""

    name = NAME

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = [u.strip() for u in urls if u.strip()]

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        end = offset + count
        return SearchPage(
            candidates=[Candidate(url=u, source=NAME) for u in self.urls[offset:end]],
            next_offset=end if end < len(self.urls) else None,
        )
