"""Models of the HTTP API's own concepts: error bodies, API keys, notifications, pages, rate
limit windows and health reports.

Example::

    from shared.models import ApiKeyCreate, NotificationKind
    ApiKeyCreate.model_validate({"name": "ci"})          # ApiKeyCreate(name='ci', admin=False)
    NotificationKind("job_completed")
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from shared.models.base import Document, Model, utcnow

__all__ = [
    "ActiveJobs",
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ApiKeyPage",
    "CheckStatus",
    "DependencyCheck",
    "ErrorBody",
    "ErrorDetailBody",
    "HealthReport",
    "Notification",
    "NotificationKind",
    "NotificationPage",
    "NotificationQuery",
    "PageQuery",
    "RateWindow",
    "SlotClaim",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


# --- the one error body -----------------------------------------------------------------------


class ErrorDetailBody(Model):
    """One problem: what is wrong, a stable code, and the field it concerns (if any)."""

    detail: str
    error_code: str
    field: str | None = None


class ErrorBody(Model):
    """The body of every error response, whatever the route and status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "Job 0f3a not found.",
                    "details": [
                        {
                            "detail": "Job 0f3a not found.",
                            "error_code": "job_not_found",
                            "field": None,
                        }
                    ],
                    "request_id": "6f1c2a9e0b7d4e21a3c5f8d9e0a1b2c3",
                }
            ]
        }
    )

    message: str
    details: list[ErrorDetailBody]
    request_id: str


# --- paging -----------------------------------------------------------------------------------


class PageQuery(Model):
    """``?limit=&continuation=``: one page of a list, and the token of the page after it."""

    limit: int = Field(default=20, ge=1, le=100, description="items per page")
    continuation: (
        Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x20-\x7e]+$")]
        | None
    ) = Field(default=None, description="the `continuation` of the previous page (printable ASCII)")


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyCreate(Model):
    """Body of ``POST /api/v1/api-keys``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ci pipeline"}]})

    name: Name
    admin: bool = Field(default=False, description="an admin key (only admins may create one)")


class ApiKeyInfo(Model):
    """An API key as listed: never the key itself."""

    id: str
    name: str
    admin: bool
    hint: str = Field(description="the key's first characters, to recognise it")
    created_at: datetime


class ApiKeyCreated(ApiKeyInfo):
    """The answer to creating a key: the only time the key is shown."""

    key: str = Field(description="send as `X-API-Key`; store it now, it is not shown again")


class ApiKeyPage(Model):
    items: list[ApiKeyInfo]
    continuation: str | None = None


class ApiKey(Document):
    """An API key record (Cosmos container ``api_keys``, partition key ``/user_id``)."""

    id: str
    user_id: str
    name: str
    key_hash: str = Field(description="sha256 of the whole key")
    hint: str
    roles: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    def info(self) -> ApiKeyInfo:
        """The listed form (no hash)."""
        return ApiKeyInfo(
            id=self.id, name=self.name, admin="admin" in self.roles, hint=self.hint,
            created_at=self.created_at,
        )  # fmt: skip


# --- notifications ----------------------------------------------------------------------------


class NotificationKind(StrEnum):
    job_completed = "job_completed"
    job_failed = "job_failed"
    job_cancelled = "job_cancelled"
    job_resumed = "job_resumed"


class Notification(Document):
    """A message to a user about one of their jobs (container ``notifications``, pk
    ``/user_id``)."""

    id: str
    user_id: str
    kind: NotificationKind
    job_id: str
    message: str
    created_at: datetime = Field(default_factory=utcnow)
    read: bool = False
    read_at: datetime | None = None


class NotificationPage(Model):
    items: list[Notification]
    continuation: str | None = None


class NotificationQuery(PageQuery):
    """``?limit=&continuation=&unread=true``."""

    unread: bool = Field(default=False, description="only notifications not yet read")


# --- rate limits ------------------------------------------------------------------------------


class RateWindow(Document):
    """One fixed-window counter: how often ``user_id`` called ``rule`` in one window
    (container ``rate_limits``, pk ``/user_id``, id ``<rule>:<window start>``)."""

    id: str
    user_id: str
    rule: str
    window_start: int = Field(description="unix seconds")
    count: int = 0
    ttl: int = Field(description="seconds Cosmos keeps the window (when the container has TTL on)")


class SlotClaim(Model):
    """A job's hold on one of its user's running-job slots: the run it launches, and when."""

    run: int
    at: datetime


class ActiveJobs(Document):
    """A user's running-job slots (container ``rate_limits``, pk ``/user_id``, id
    ``active_jobs``): which jobs hold one, for which run. A launch claims a slot by replacing
    this document with its etag, so two launches never both take the last one; a claim lapses
    once its run has ended (the job's record says so), or after a grace period when its launch
    never happened."""

    id: str = "active_jobs"
    user_id: str
    claims: dict[str, SlotClaim] = Field(default_factory=dict)
    etag: str | None = Field(default=None, exclude=True, description="Cosmos _etag on read")


# --- health -----------------------------------------------------------------------------------


class CheckStatus(StrEnum):
    ok = "ok"
    error = "error"


class DependencyCheck(Model):
    status: CheckStatus
    latency_ms: float
    error: str | None = None


class HealthReport(Model):
    """``GET /api/v1/health/detailed``: each backing service with its status and latency."""

    status: Literal["ok", "degraded"]
    checks: dict[str, DependencyCheck]
