"""Shared base classes and enumerations of the models."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter


def utcnow() -> datetime:
    """Aware UTC now (never call from an orchestrator: use context.current_utc_datetime)."""
    return datetime.now(timezone.utc)


_DATETIME = TypeAdapter(datetime)


def json_datetime(moment: datetime) -> str:
    """A datetime as documents store it (so that string comparisons in SQL hold).

    >>> json_datetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    '2026-01-02T03:04:05Z'
    """
    return str(_DATETIME.dump_python(moment, mode="json"))


class Model(BaseModel):
    """Base: unknown fields are rejected in requests, aliases allowed, enums kept as values."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


def body_optional(model: type[BaseModel]) -> bool:
    """True when every field of ``model`` has a default: a request may then leave its body out
    (an empty body is ``{}``), and the OpenAPI document says the body is optional.

    >>> class Body(Model):
    ...     level: str = "medium"
    >>> body_optional(Body)
    True
    """
    return not any(field.is_required() for field in model.model_fields.values())


class Document(Model):
    """A Cosmos document: unknown system fields (_rid, _ts, _etag ...) are ignored on read."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# --------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled: no run of the job is going on."""
        return self in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled)


class ChunkStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"


class Phase(StrEnum):
    """Where a job's run stands (the ``job_progress`` entity's ``phase``, the progress body's)."""

    crawling = "crawling"
    validating = "validating"
    done = "done"
    cancelled = "cancelled"


class Level(StrEnum):
    """Validation levels; each includes the checks of the ones before it."""

    fast = "fast"
    medium = "medium"
    slow = "slow"

    @property
    def rank(self) -> int:
        return {"fast": 0, "medium": 1, "slow": 2}[self.value]


#: The level a job validates at, and a validation request, when they name none.
DEFAULT_LEVEL = Level.medium


class ImageFormat(StrEnum):
    jpeg = "jpeg"
    png = "png"
    webp = "webp"
    gif = "gif"
    bmp = "bmp"
    tiff = "tiff"

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "tiff": "tif"}.get(self.value, self.value)

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"


class SourceType(StrEnum):
    wikimedia = "wikimedia"
    openverse = "openverse"
    flickr = "flickr"
    google = "google"
    bing = "bing"
    duckduckgo = "duckduckgo"
    baidu = "baidu"
    urls = "urls"


Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
