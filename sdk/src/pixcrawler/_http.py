"""Requests to the service: authentication headers, retries with backoff, error mapping.

Retried: 429 (after its ``Retry-After``), 5xx and connection failures, at most
``max_retries`` times. A request that may change something (POST) is retried only when the
service surely did not act on it: a refused connection, a 429, or a 503.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from pixcrawler._version import __version__
from pixcrawler.config import Settings
from pixcrawler.exceptions import APIConnectionError, APIError, RateLimitError, error_class_for

__all__ = ["RetryPolicy", "Transport", "error_from_response", "parse_retry_after"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SAFE_RETRY_STATUSES = frozenset({429, 503})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    >>> parse_retry_after("3"), parse_retry_after(None), parse_retry_after("soon")
    (3.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = (now or (lambda: datetime.now(timezone.utc)))()
    return max(0.0, (when - current).total_seconds())


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer, with the body's message, details and request id."""
    message = response.reason_phrase or f"HTTP {response.status_code}"
    details: list[dict[str, Any]] = []
    request_id = response.headers.get("X-Request-ID")
    try:
        body = response.json()
    except ValueError:
        body = None
        text = response.text.strip()
        if text:
            message = text[:500]
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        raw = body.get("details")
        details = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
        request_id = body.get("request_id") or request_id
    cls = error_class_for(response.status_code)
    if cls is RateLimitError:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitError(
            response.status_code, message, details, request_id, retry_after=retry_after
        )
    return cls(response.status_code, message, details, request_id)


class RetryPolicy:
    """How often and how long to wait: exponential backoff with jitter, capped.

    Example::

        RetryPolicy(max_retries=5, backoff=0.5, max_wait=30.0)
    """

    def __init__(self, max_retries: int = 3, backoff: float = 0.5, max_wait: float = 60.0) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        return min(self.backoff * 2.0**attempt + random.uniform(0, self.backoff), self.max_wait)


class Transport:
    """One authenticated HTTP client for the API, with retries. Used by :class:`Client`."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.http = httpx.Client(
            base_url=settings.base_url + "/",
            timeout=timeout,
            headers={"User-Agent": f"pixcrawler-python/{__version__}", **settings.auth_headers()},
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx answer or raise the mapped :class:`APIError`."""
        idempotent = method.upper() in _IDEMPOTENT
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path.lstrip("/"), params=clean_params, json=json)
            except httpx.TransportError as exc:
                if attempt < self.retry.max_retries and (idempotent or isinstance(exc, _NOT_SENT)):
                    self.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(
                    f"Could not reach PixCrawler at {self.settings.base_url} ({exc!r}) after "
                    f"{attempt + 1} attempt(s). Check the URL (PIXCRAWLER_BASE_URL or "
                    f"--base-url) and that the service is running."
                ) from exc
            if response.status_code < 400:
                return response
            error = error_from_response(response)
            allowed = _RETRY_STATUSES if idempotent else _SAFE_RETRY_STATUSES
            if attempt < self.retry.max_retries and response.status_code in allowed:
                retry_after = error.retry_after if isinstance(error, RateLimitError) else None
                self.sleep(self.retry.delay(attempt, retry_after))
                attempt += 1
                continue
            if response.status_code == 401 and not self.settings.has_credentials:
                error.message += " (no API key or token was configured)"
                error.args = (error._describe(),)
            raise error
