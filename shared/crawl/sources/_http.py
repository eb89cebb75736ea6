"""HTTP for search sources: one GET with a timeout, bounded retries and polite backoff.

Every adapter talks to its service through :class:`SourceClient`, so all of them behave the
same way when a service pushes back:

* 429 and 403 are "slow down": wait (``Retry-After`` when the service sends one, otherwise
  exponential backoff with jitter) and try again, at most ``max_tries`` times in all; then
  raise :class:`~shared.errors.SourceRateLimited` carrying the wait the service asked for.
  A ``Retry-After`` longer than ``backoff_cap`` is not slept through: it is reported at once,
  so the caller (an orchestrator with durable timers) decides how to wait.
* 5xx answers, timeouts and connection failures are retried the same way, then raise
  :class:`~shared.errors.SourceError`.
* Any other 4xx raises :class:`~shared.errors.SourceError` at once, quoting the answer.

Example::

    client = SourceClient(session, "openverse", RetryPolicy(max_tries=3))
    payload = await client.get_json("https://api.openverse.org/v1/images/", {"q": "cat"})
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any, Mapping

import aiohttp

from shared.errors import SourceError, SourceRateLimited
from shared.fetch.headers import retry_after_seconds
from shared.settings import Settings

#: Statuses that mean "you are asking too often" (DuckDuckGo and Bing answer 403 for it).
RATE_LIMIT_STATUSES = frozenset({429, 403})
#: Longest body quoted in an error message.
_QUOTE_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a source is retried.

    >>> RetryPolicy(max_tries=3, backoff_base=0.5).delay(attempt=0, retry_after=2.0)
    2.0
    """

    max_tries: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(
            max_tries=settings.source_max_tries,
            backoff_base=settings.source_backoff_base,
            backoff_cap=settings.source_backoff_cap,
            timeout=settings.source_timeout,
        )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 2``: the server's word if it gave one,
        otherwise ``base * 2**attempt`` with "equal jitter" (half fixed, half random)."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class SourceHTTPError(SourceError):
    """A source refused a request with a 4xx other than 429/403. ``status`` is the code."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def quote_body(body: str) -> str:
    """A short, single-line excerpt of a response body for error messages."""
    flat = " ".join(body.split())
    return flat if len(flat) <= _QUOTE_CHARS else flat[:_QUOTE_CHARS] + "..."


class SourceClient:
    """GET requests to one search source, with the retry policy above.

    ``name`` is the source's name as users know it (``"flickr"``); it starts every error
    message so that a failed chunk says which source failed and why.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        name: str,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.session = session
        self.name = name
        self.policy = policy
        self.headers = dict(headers or {})

    async def get_text(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> str:
        """The body of a successful GET, decoded as UTF-8 (bad bytes replaced)."""
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        merged = {**self.headers, **(headers or {})}
        last_error: SourceError | None = None
        for attempt in range(self.policy.max_tries):
            final = attempt == self.policy.max_tries - 1
            retry_after: float | None = None
            try:
                async with self.session.get(
                    url, params=params, headers=merged, timeout=timeout
                ) as resp:
                    status = resp.status
                    body = (await resp.read()).decode("utf-8", errors="replace")
                    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                last_error = SourceError(f"{self.name}: cannot reach {url}: {reason}")
            else:
                if status < 400:
                    return body
                if status in RATE_LIMIT_STATUSES:
                    wait = self.policy.delay(attempt, retry_after)
                    if final or wait > self.policy.backoff_cap:
                        raise SourceRateLimited(
                            f"{self.name} is rate limiting us (HTTP {status}) after "
                            f"{attempt + 1} tries; retry in {wait:.1f} s",
                            retry_after=wait,
                        )
                    await asyncio.sleep(wait)
                    continue
                if status < 500:
                    raise SourceHTTPError(
                        f"{self.name} refused the search (HTTP {status}): {quote_body(body)}",
                        status=status,
                    )
                last_error = SourceError(
                    f"{self.name} failed (HTTP {status}) {attempt + 1} times: {quote_body(body)}"
                )
            if not final:
                await asyncio.sleep(self.policy.delay(attempt, retry_after))
        assert last_error is not None
        raise last_error

    async def get_json(
        self, url: str, params: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Any:
        """The body of a successful GET parsed as JSON; SourceError if it is not JSON."""
        body = await self.get_text(url, params, headers)
        return parse_json(self.name, body)


def parse_json(name: str, body: str) -> Any:
    """``json.loads`` that turns a bad body into a SourceError naming the source."""
    try:
        return json.loads(body)
    except ValueError as exc:
        raise SourceError(
            f"{name} answered something that is not JSON ({exc}): {quote_body(body)}"
        ) from None


class HttpSource:
    """Base of the sources that search one HTTP endpoint: ``path`` below the base URL.

    >>> class Example(HttpSource):
    ...     name, path = "example", "/api/search"
    >>> Example(client=None, base_url="http://127.0.0.1:8080/").url  # doctest: +SKIP
    'http://127.0.0.1:8080/api/search'
    """

    name: str = ""
    path: str = ""

    def __init__(self, client: SourceClient, base_url: str) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + self.path
