"""Tolerant readers for the loosely typed answers of search services, and paging arithmetic.

Services omit fields, send numbers as strings and wrap titles in HTML. These helpers turn
"whatever came" into ``str | None`` / ``int | None`` without raising, so that one odd result
never sinks a page.

Example::

    as_int("640")                          # 640
    as_str({"oops": 1})                    # None
    strip_html("<b>Cat</b> &amp; dog")     # "Cat & dog"
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Sequence, TypeVar

from shared.errors import SourceError
from shared.models import Candidate, SearchPage

T = TypeVar("T")

_TAG = re.compile(r"<[^>]*>")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """A non-empty, stripped string, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def as_int(value: Any) -> int | None:
    """A non-negative integer from an int, a float or a numeric string, or None.

    >>> as_int("1024"), as_int(3.0), as_int("n/a"), as_int(-1)
    (1024, 3, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        value = int(value)
    if isinstance(value, int) and value >= 0:
        return value
    return None


def strip_html(value: Any) -> str | None:
    """Text of an HTML fragment (tags removed, entities decoded, spaces collapsed), or None.

    >>> strip_html('<a href="//x">Jane</a> &amp; co')
    'Jane & co'
    """
    text = as_str(value)
    if text is None:
        return None
    return as_str(" ".join(html.unescape(_TAG.sub(" ", text)).split()))


def http_url(value: Any) -> str | None:
    """An absolute http(s) URL, or None (protocol-relative ``//host/x`` becomes https)."""
    text = as_str(value)
    if text is None:
        return None
    if text.startswith("//"):
        text = "https:" + text
    return text if text.lower().startswith(("http://", "https://")) else None


def require_object(name: str, payload: Any) -> dict[str, Any]:
    """The top level of a JSON answer, which must be an object."""
    if not isinstance(payload, dict):
        raise SourceError(
            f"{name} answered JSON of an unexpected shape (a {type(payload).__name__}, "
            "not an object): its API may have changed"
        )
    return payload


def page_window(offset: int, page_size: int) -> tuple[int, int]:
    """The 1-based page holding item ``offset`` and the offset of that page's first item.

    >>> page_window(45, 20)
    (3, 40)
    """
    page = offset // page_size + 1
    return page, (page - 1) * page_size


def slice_page(
    items: Sequence[T], offset: int, page_start: int, count: int, next_start: int | None
) -> tuple[list[T], int | None]:
    """Take up to ``count`` items from a fetched page, starting at item ``offset``.

    ``items`` are the page's results, the first of which is item ``page_start`` of the
    source; ``next_start`` is where the source's next page starts (None when there is no
    next page). Returns the items and the next offset, which always moves past what was
    returned (a ``next_start`` that would not move at all is taken as the end).

    >>> slice_page(["a", "b", "c"], offset=11, page_start=10, count=1, next_start=13)
    (['b'], 12)
    >>> slice_page(["a", "b", "c"], offset=11, page_start=10, count=5, next_start=None)
    (['b', 'c'], None)
    """
    skip = max(0, offset - page_start)
    chosen = list(items[skip : skip + count])
    if skip + count < len(items):
        return chosen, offset + len(chosen)
    if next_start is None:
        return chosen, None
    # Never hand out a position twice, even if the service's "next" points back.
    next_offset = max(next_start, offset + len(chosen))
    return chosen, next_offset if next_offset > offset else None


def build_page(
    items: Sequence[T], to_candidate: Callable[[T], Candidate | None], next_offset: int | None
) -> SearchPage:
    """A SearchPage of the items that make a candidate (the others are skipped)."""
    found = (to_candidate(item) for item in items)
    return SearchPage(candidates=[c for c in found if c is not None], next_offset=next_offset)


def numbered_page(
    items: Sequence[T], offset: int, count: int, page_size: int, page_count: int | None
) -> tuple[list[T], int | None]:
    """:func:`slice_page` for services paged by number (``page`` of ``page_count``, fixed
    ``page_size``): ``items`` are the page holding ``offset``.

    >>> numbered_page(["u", "v"], offset=21, count=5, page_size=20, page_count=2)
    (['v'], None)
    """
    page, page_start = page_window(offset, page_size)
    more = bool(items) and (page_count is None or page < page_count)
    return slice_page(items, offset, page_start, count, page * page_size if more else None)
