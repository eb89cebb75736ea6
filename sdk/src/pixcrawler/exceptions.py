"""Every error the SDK raises is a :class:`PixCrawlerError`; every error the service answered
is an :class:`APIError` with its status, message, details and request id.

Example::

    import pixcrawler
    try:
        pixcrawler.get_dataset_info("ds_missing")
    except pixcrawler.NotFoundError as exc:
        print(exc.status_code, exc.message, exc.request_id)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "DatasetTooLargeError",
    "IntegrityError",
    "NotFoundError",
    "PixCrawlerError",
    "RateLimitError",
    "ValidationError",
    "WaitTimeoutError",
]


class PixCrawlerError(Exception):
    """Base of every error of the SDK."""


class APIConnectionError(PixCrawlerError, ConnectionError):
    """The service could not be reached (after the retries). Also a built-in
    ``ConnectionError``, so ``except ConnectionError`` catches it."""


class IntegrityError(PixCrawlerError):
    """A downloaded file does not match the size or sha256 the service announced."""


class DatasetTooLargeError(PixCrawlerError):
    """A dataset is larger than the limit for loading it into memory."""


class WaitTimeoutError(PixCrawlerError, TimeoutError):
    """A job or dataset did not finish within the time given to wait for it."""


class APIError(PixCrawlerError):
    """The service answered with an error status.

    ``details`` is the service's list of ``{"detail", "error_code", "field"}``;
    ``request_id`` identifies the request in the service's logs: quote it when reporting.
    """

    hint = ""

    def __init__(
        self,
        status_code: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.details = details or []
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.message} (HTTP {self.status_code}"
        text += f", request id {self.request_id})" if self.request_id else ")"
        fields = [d.get("field") for d in self.details if d.get("field")]
        if fields:
            text += f"; fields: {', '.join(str(f) for f in fields)}"
        return f"{text}. {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data (what ``pixcrawler --json`` prints)."""
        return {
            "type": type(self).__name__,
            "status_code": self.status_code,
            "message": self.message,
            "details": self.details,
            "request_id": self.request_id,
        }


class AuthenticationError(APIError):
    """401 or 403: no valid credential, or not allowed to touch this resource."""

    hint = (
        "Check your credentials: run `pixcrawler login`, set PIXCRAWLER_API_KEY, or call "
        "pixcrawler.auth(api_key=...)"
    )


class NotFoundError(APIError):
    """404: no such dataset or job (for this user)."""

    hint = "Check the id: `pixcrawler datasets list` and `pixcrawler jobs list` show yours"


class ValidationError(APIError):
    """400 or 422: the request was refused as invalid; ``details`` name the fields."""


class RateLimitError(APIError):
    """429: too many requests. ``retry_after`` is the number of seconds the service asked for."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)
        if retry_after is not None:
            self.args = (f"{self.args[0]}. Retry in {retry_after:g} s",)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> type[APIError]:
    """The exception class the SDK raises for an HTTP error status.

    >>> error_class_for(404).__name__, error_class_for(503).__name__
    ('NotFoundError', 'APIError')
    """
    return _BY_STATUS.get(status_code, APIError)
