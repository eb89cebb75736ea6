"""The one error hierarchy of PixCrawler, and the one map from errors to HTTP statuses.

Every error a user can see is a :class:`PixCrawlerError`. HTTP handlers never build error
bodies by hand: they raise, and the HTTP layer turns the exception into the documented body::

    {"message": "...", "details": [{"detail": "...", "error_code": "...", "field": "..."}],
     "request_id": "..."}

Example::

    raise NotFound(f"Job {job_id} not found", error_code="job_not_found")
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ErrorDetail:
    """One line of an error's ``details``: what is wrong, a stable code, and the field if any."""

    detail: str
    error_code: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"detail": self.detail, "error_code": self.error_code, "field": self.field}


class PixCrawlerError(Exception):
    """Base of every PixCrawler error. ``error_code`` is stable and documented."""

    error_code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        details: list[ErrorDetail] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_code:
            self.error_code = error_code
        self.details = details or [ErrorDetail(message, self.error_code, field)]


class ConfigurationError(PixCrawlerError):
    """A setting is missing or wrong. Raised at start-up, naming the setting."""

    error_code = "configuration_error"


class BadRequest(PixCrawlerError):
    """The request is well-formed but not allowed in the current state (HTTP 400)."""

    error_code = "bad_request"


class Unauthorized(PixCrawlerError):
    """No valid credential (HTTP 401)."""

    error_code = "unauthorized"


class Forbidden(PixCrawlerError):
    """The caller may not touch this resource (HTTP 403)."""

    error_code = "forbidden"


class NotFound(PixCrawlerError):
    """The resource does not exist (HTTP 404)."""

    error_code = "not_found"


class MethodNotAllowed(PixCrawlerError):
    """The path exists but not with this method (HTTP 405); ``allowed`` lists the methods."""

    error_code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: list[str], **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.allowed = sorted(set(allowed))


class Conflict(PixCrawlerError):
    """The resource changed underneath, or is in a state that conflicts (HTTP 409)."""

    error_code = "conflict"


class Unprocessable(PixCrawlerError):
    """The body or query does not match the schema (HTTP 422)."""

    error_code = "validation_error"


class RateLimited(PixCrawlerError):
    """Too many requests (HTTP 429). ``retry_after`` is in seconds; the message ends with the
    whole seconds to wait, the value of the ``Retry-After`` header."""

    error_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(f"{message} Retry after {self.retry_after_seconds} s.", **kwargs)  # type: ignore[arg-type]

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds to wait, at least 1."""
        return max(1, int(self.retry_after + 0.999))


class PayloadTooLarge(PixCrawlerError):
    """The request body is larger than the service accepts (HTTP 413)."""

    error_code = "body_too_large"


class ServiceUnavailable(PixCrawlerError):
    """A backing service (Cosmos, Blob, the durable runtime) is unreachable (HTTP 503)."""

    error_code = "service_unavailable"


class StorageMissing(ServiceUnavailable):
    """A database or container the app stores into does not exist (any more): made again by
    ``shared.runtime.recover_storage`` when the app may create it (HTTP 503 otherwise)."""

    error_code = "storage_missing"


class SourceError(PixCrawlerError):
    """A search source failed (bad response, unreachable). Not an HTTP error of ours."""

    error_code = "source_error"


class SourceRateLimited(SourceError):
    """A search source answered 429/403: back off and report it in the chunk's status."""

    error_code = "source_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


@dataclass
class _StatusMap:
    """Ordered map from error class to HTTP status: the first matching base class wins."""

    entries: list[tuple[type[PixCrawlerError], int]] = field(default_factory=list)

    def status_for(self, error: BaseException) -> int:
        for cls, status in self.entries:
            if isinstance(error, cls):
                return status
        return 500


#: The one place where errors become HTTP statuses.
HTTP_STATUS = _StatusMap(
    [
        (BadRequest, 400),
        (Unauthorized, 401),
        (Forbidden, 403),
        (NotFound, 404),
        (MethodNotAllowed, 405),
        (Conflict, 409),
        (PayloadTooLarge, 413),
        (Unprocessable, 422),
        (RateLimited, 429),
        (ServiceUnavailable, 503),
        (ConfigurationError, 500),
        (PixCrawlerError, 500),
    ]
)


def status_for(error: BaseException) -> int:
    """HTTP status for an exception (500 for anything that is not a known PixCrawlerError)."""
    return HTTP_STATUS.status_for(error)
