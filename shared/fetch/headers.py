"""Reading the response headers the downloader obeys: ``X-Robots-Tag`` and ``Retry-After``.

Example::

    forbids_ai(["noindex, noai"])                 # True
    forbids_ai(["otherbot: noai"])                # False: aimed at another crawler
    retry_after_seconds("120")                    # 120.0
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

#: The X-Robots-Tag directives that forbid using an image for AI training.
NOAI_DIRECTIVES = frozenset({"noai", "noimageai"})

#: The user-agent token PixCrawler answers to in X-Robots-Tag (``pixcrawler: noai``).
ROBOTS_AGENT = "pixcrawler"

_KNOWN_DIRECTIVES = NOAI_DIRECTIVES | {
    "all", "none", "noindex", "nofollow", "noarchive", "nosnippet", "noimageindex",
    "notranslate", "indexifembedded", "unavailable_after", "max-snippet", "max-image-preview",
    "max-video-preview", "nocache",
}


def forbids_ai(values: Iterable[str], agent: str = ROBOTS_AGENT) -> bool:
    """True if any X-Robots-Tag value says ``noai`` or ``noimageai`` to every crawler or to
    ``agent``. A value may start with ``botname:``; the directives after it (up to the next
    ``botname:``) are for that bot only.

    >>> forbids_ai(["noindex", "NoImageAI"])
    True
    >>> forbids_ai(["googlebot: noai, noindex"]), forbids_ai(["PixCrawler: noai"])
    (False, True)
    """
    agent = agent.lower()
    for value in values:
        target: str | None = None  # None: every crawler
        for part in value.split(","):
            token = part.strip().lower()
            if ":" in token:
                head, rest = (p.strip() for p in token.split(":", 1))
                if head not in _KNOWN_DIRECTIVES and " " not in head:
                    target, token = head, rest
            if token in NOAI_DIRECTIVES and target in (None, "*", agent):
                return True
    return False


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None when
    absent or unreadable. Never negative.

    >>> retry_after_seconds("3"), retry_after_seconds("soon")
    (3.0, None)
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                     datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc))
    30.0
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
