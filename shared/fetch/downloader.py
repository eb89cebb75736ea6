"""The downloader: fetches image URLs in parallel, within limits, behind the SSRF guard.

One :class:`Downloader` owns one aiohttp session for the life of an activity. ``fetch`` never
raises for a per-URL problem: it returns :class:`FetchOk` or :class:`FetchFailure` with a
:class:`~shared.models.FailureReason` that the batch result counts.

What it guarantees, per URL:

* at most ``fetch_concurrency`` requests in flight, at most ``fetch_per_host`` per host (a
  request waiting for a slot is not yet timed);
* connect, read and total timeouts per attempt (``fetch_connect_timeout``,
  ``fetch_read_timeout``, ``fetch_total_timeout``; with a memory budget the total runs to the
  headers, stops while the body waits for room, and starts again for the body);
* at most ``fetch_max_bytes`` read: a larger Content-Length is refused before the body, and a
  body that grows past it is cut off as soon as it does;
* with a memory budget (:mod:`shared.fetch.budget`), a body's bytes are reserved before it is
  read (its Content-Length, or ``fetch_max_bytes`` when the server sends none, shrunk to the
  real size once read) and stay reserved in the :class:`FetchOk`'s ``hold`` until the caller
  releases them;
* ``fetch_retries`` retries on connection errors, 429 and 5xx, with exponential backoff and
  jitter (``fetch_backoff_base``), honouring Retry-After up to ``fetch_max_retry_after``;
* redirects followed by hand (at most 5), each hop checked by the SSRF guard (see
  :mod:`shared.fetch.guard`) before anything is sent;
* ``X-Robots-Tag: noai`` / ``noimageai`` respected (``fetch_respect_noai``);
* the body's format sniffed from its magic bytes (Content-Type is not trusted); a body that is
  not an image is dropped after its first bytes.

Example::

    async with Downloader(settings) as downloader:
        results = await downloader.fetch_many(["https://example.org/cat.jpg"])
    for result in results:
        if result.ok:
            result.body, result.format, result.final_url
        else:
            result.reason, result.message
    downloader.stats.as_dict()   # {"attempted": 1, "outcomes": {"ok": 1}, "bytes": ..., ...}
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType, TracebackType
from typing import Literal, Mapping

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from shared.fetch.budget import ByteBudget, Hold, OverBudget
from shared.fetch.guard import AddressPolicy, BlockedAddressError, GuardedResolver
from shared.fetch.headers import forbids_ai, retry_after_seconds
from shared.imaging.decode import sniff_format
from shared.models import FailureReason, ImageFormat
from shared.settings import Settings

MAX_REDIRECTS = 5
USER_AGENT_PRODUCT = "PixCrawler/0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Response headers a FetchOk keeps (lowercase).
KEPT_HEADERS = ("content-type", "content-length", "etag", "last-modified", "link",
                "x-robots-tag")
_ACCEPT = "image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8"
_SNIFF_BYTES = 32


def user_agent(contact_url: str) -> str:
    """The User-Agent every request sends: names PixCrawler and where to reach its operators.

    >>> user_agent("https://example.org/contact")
    'PixCrawler/0.1 (+https://example.org/contact)'
    """
    return f"{USER_AGENT_PRODUCT} (+{contact_url})"


@dataclass(frozen=True, slots=True)
class FetchOk:
    """A downloaded image: ``body`` sniffed as ``format``; ``headers`` is a lowercase subset
    (:data:`KEPT_HEADERS`) of the final response's headers. ``hold`` is the body's share of
    the downloader's memory budget (None without one): :meth:`release` it once the bytes are
    stored or dropped."""

    url: str
    final_url: str
    status: int
    body: bytes | bytearray
    format: ImageFormat
    headers: Mapping[str, str]
    attempts: int = 1
    hold: Hold | None = None
    ok: Literal[True] = True

    def release(self) -> None:
        """Give the body's bytes back to the memory budget (idempotent)."""
        if self.hold is not None:
            self.hold.release()


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A URL that gave no image: why (``reason``), in words (``message``), and the last HTTP
    status and URL reached, if any."""

    url: str
    reason: FailureReason
    message: str
    status: int | None = None
    final_url: str | None = None
    attempts: int = 1
    ok: Literal[False] = False

    def release(self) -> None:
        """Nothing to give back: a failure holds no bytes."""


FetchResult = FetchOk | FetchFailure


@dataclass
class DownloaderStats:
    """What one downloader did: results by outcome (``ok`` or a FailureReason value), body
    bytes read, retries made, redirects followed.

    Example::

        stats.as_dict()
        # {"attempted": 3, "outcomes": {"ok": 2, "http_error": 1}, "bytes": 81234,
        #  "retries": 1, "redirects": 0}
    """

    attempted: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    retries: int = 0
    redirects: int = 0

    def record(self, result: FetchResult) -> None:
        self.outcomes["ok" if result.ok else result.reason.value] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "attempted": self.attempted,
            "outcomes": dict(self.outcomes),
            "bytes": self.bytes,
            "retries": self.retries,
            "redirects": self.redirects,
        }


@dataclass(frozen=True, slots=True)
class _Retryable:
    """An attempt that failed in a way worth trying again (after ``retry_after`` if given)."""

    failure: FetchFailure
    retry_after: float | None = None


class _Slots:
    """Global and per-host concurrency limits. The host slot is taken first, so a request
    queued behind a busy host does not hold one of the global slots meanwhile."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._waiting: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        self._waiting[host] += 1
        try:
            async with semaphore, self._total:
                yield
        finally:
            self._waiting[host] -= 1
            if not self._waiting[host]:
                del self._waiting[host], self._hosts[host]


class Downloader:
    """Downloads URLs within the limits of ``settings`` (see the module documentation).

    ``resolver`` is the DNS resolver behind the SSRF guard (aiohttp's default if None);
    ``budget`` bounds the body bytes held at once (see the module documentation).

    Example::

        async with Downloader(get_settings()) as downloader:
            result = await downloader.fetch("https://upload.wikimedia.org/.../cat.jpg")
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: AbstractResolver | None = None,
        budget: ByteBudget | None = None,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.stats = DownloaderStats()
        self.policy = AddressPolicy.from_networks(settings.fetch_allow_networks)
        self._resolver = GuardedResolver(self.policy, resolver)
        self._random = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._slots: _Slots | None = None

    async def __aenter__(self) -> "Downloader":
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.fetch_concurrency,
            limit_per_host=s.fetch_per_host,
            resolver=self._resolver,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": user_agent(s.contact_url), "Accept": _ACCEPT},
            # fetch_total_timeout is applied by _attempt itself (not by aiohttp), so that the
            # wait for the memory budget between the headers and the body is not counted.
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=s.fetch_connect_timeout,
                sock_read=s.fetch_read_timeout,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # a proxy from the environment would bypass the guard
        )
        self._slots = _Slots(s.fetch_concurrency, s.fetch_per_host)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._resolver.close()

    async def fetch_many(self, urls: Sequence[str]) -> list[FetchResult]:
        """Fetch all ``urls`` concurrently within the limits; results in the order of ``urls``."""
        return list(await asyncio.gather(*(self.fetch(url) for url in urls)))

    async def fetch(self, url: str) -> FetchResult:
        """Fetch one URL, retrying what is worth retrying. Never raises for a per-URL problem."""
        if self._session is None:
            raise RuntimeError("use the Downloader inside 'async with Downloader(...)'")
        self.stats.attempted += 1
        result = await self._fetch_with_retries(url)
        self.stats.record(result)
        return result

    async def _fetch_with_retries(self, url: str) -> FetchResult:
        s = self.settings
        for attempt in range(s.fetch_retries + 1):
            outcome = await self._attempt(url)
            if not isinstance(outcome, _Retryable):
                return outcome if attempt == 0 else replace(outcome, attempts=attempt + 1)
            failure = replace(outcome.failure, attempts=attempt + 1)
            if attempt == s.fetch_retries:
                return failure
            delay = outcome.retry_after
            if delay is None:
                step = s.fetch_backoff_base * 2**attempt
                delay = step / 2 + self._random.uniform(0, step / 2)
            elif delay > s.fetch_max_retry_after:
                return replace(failure, message=(
                    f"{failure.message}; the server asks to retry after {delay:.0f}s, more than "
                    f"fetch_max_retry_after ({s.fetch_max_retry_after:.0f}s)"))
            self.stats.retries += 1
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    async def _attempt(self, url: str) -> FetchResult | _Retryable:
        """One attempt: the request and its redirects, each hop checked before it is sent."""
        assert self._session is not None and self._slots is not None
        try:
            current = URL(url)
        except (ValueError, TypeError) as exc:
            return FetchFailure(url, FailureReason.http_error, f"not a valid URL: {exc}")
        if not current.scheme:
            return FetchFailure(url, FailureReason.http_error, "not an absolute URL")
        for _hop in range(MAX_REDIRECTS + 1):
            refusal = self.policy.check_url(current)
            if refusal is not None:
                return FetchFailure(url, FailureReason.blocked_address, refusal,
                                    final_url=str(current))
            try:
                async with self._slots.hold(current.host or ""):
                    async with asyncio.timeout(self.settings.fetch_total_timeout) as deadline:
                        async with self._session.get(current, allow_redirects=False) as response:
                            location = response.headers.get("Location")
                            if response.status not in REDIRECT_STATUSES or not location:
                                return await self._read(url, current, response, deadline)
                next_url = current.join(URL(location))
            except Exception as exc:  # aiohttp, asyncio and OS errors of this URL only
                return _failure_from_exception(url, current, exc)
            self.stats.redirects += 1
            current = next_url
        return FetchFailure(url, FailureReason.http_error,
                            f"more than {MAX_REDIRECTS} redirects", final_url=str(current))

    async def _read(
        self, url: str, current: URL, response: aiohttp.ClientResponse, deadline: asyncio.Timeout
    ) -> FetchResult | _Retryable:
        status, final = response.status, str(current)
        if status >= 300:
            failure = FetchFailure(
                url,
                FailureReason.rate_limited if status == 429 else FailureReason.http_error,
                f"HTTP {status} {response.reason or ''}".rstrip(), status, final,
            )
            if status in (408, 429) or (status >= 500 and status != 501):
                return _Retryable(failure, retry_after_seconds(response.headers.get("Retry-After")))
            return failure
        if self.settings.fetch_respect_noai and forbids_ai(response.headers.getall("X-Robots-Tag", [])):
            return FetchFailure(url, FailureReason.robots_noai,
                                "X-Robots-Tag forbids AI use (noai/noimageai)", status, final)
        limit = self.settings.fetch_max_bytes
        if response.content_length is not None and response.content_length > limit:
            return FetchFailure(url, FailureReason.too_large,
                                f"Content-Length {response.content_length} is over {limit} bytes",
                                status, final)
        expected = response.content_length
        hold: Hold | None = None
        if self.budget is not None:
            deadline.reschedule(None)  # waiting for room is not the server's time
            try:
                hold = await self.budget.reserve(limit if expected is None else expected)
            except OverBudget as exc:
                return FetchFailure(url, FailureReason.too_large, str(exc), status, final)
            deadline.reschedule(asyncio.get_running_loop().time() + self.settings.fetch_total_timeout)
        try:
            read = await self._body(url, response, status, final, expected, limit)
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        if isinstance(read, FetchFailure):
            if hold is not None:
                hold.release()
            return read
        body, fmt = read
        if hold is not None and hold.size > len(body):
            hold.shrink(len(body))
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        return FetchOk(url, final, status, body, fmt, MappingProxyType(headers), hold=hold)

    async def _body(
        self, url: str, response: aiohttp.ClientResponse, status: int, final: str,
        expected: int | None, limit: int,
    ) -> tuple[bytearray, ImageFormat] | FetchFailure:
        """Read the body into one buffer (sized from Content-Length when given, so the bytes
        are never held twice), sniffing its format from the first bytes."""
        body = bytearray(expected) if expected is not None else bytearray()
        size = 0
        fmt: ImageFormat | None = None
        async for chunk in response.content.iter_any():
            end = size + len(chunk)
            self.stats.bytes += len(chunk)
            if end > limit:
                response.close()
                return FetchFailure(url, FailureReason.too_large,
                                    f"body grew past {limit} bytes", status, final)
            if expected is not None:
                body[size:end] = chunk
            else:
                body += chunk
            size = end
            if fmt is None and size >= _SNIFF_BYTES:
                fmt = sniff_format(body[:_SNIFF_BYTES])
                if fmt is None:
                    response.close()
                    return _not_an_image(url, response, status, final)
        del body[size:]  # a server may close early without aiohttp noticing (no length check)
        fmt = fmt or sniff_format(body)
        if fmt is None:
            return _not_an_image(url, response, status, final)
        return body, fmt


def _not_an_image(url: str, response: aiohttp.ClientResponse, status: int, final: str
                  ) -> FetchFailure:
    claimed = response.headers.get("Content-Type", "no Content-Type")
    return FetchFailure(url, FailureReason.not_an_image,
                        f"the body is not a known image format (server said {claimed})",
                        status, final)


def _failure_from_exception(url: str, current: URL, exc: Exception) -> FetchResult | _Retryable:
    """Map what aiohttp raised for one hop to a failure, retryable or not."""
    final = str(current)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        cause = exc.os_error
        if isinstance(cause, BlockedAddressError):
            return FetchFailure(url, FailureReason.blocked_address, str(cause), final_url=final)
        failure = FetchFailure(url, FailureReason.connection,
                               f"cannot resolve {current.host}: {cause}", final_url=final)
        temporary = isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_AGAIN
        return _Retryable(failure) if temporary else failure
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _Retryable(FetchFailure(url, FailureReason.timeout,
                                       f"connecting to {current.host} timed out", final_url=final))
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return FetchFailure(url, FailureReason.timeout,
                            f"timed out reading {final} ({type(exc).__name__})", final_url=final)
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return _Retryable(FetchFailure(url, FailureReason.connection,
                                       f"{type(exc).__name__}: {exc}", final_url=final))
    if isinstance(exc, (aiohttp.InvalidURL, ValueError)):
        return FetchFailure(url, FailureReason.http_error, f"not a valid URL: {exc}",
                            final_url=final)
    return FetchFailure(url, FailureReason.http_error, f"{type(exc).__name__}: {exc}",
                        final_url=final)
