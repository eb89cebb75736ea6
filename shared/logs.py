"""Structured logs: one JSON object per line, carrying the request, user and job being served.

The HTTP layer binds the request id and the caller; the jobs domain binds the job id. Every
record logged inside gets them, whichever logger wrote it::

    {"ts": "2026-11-24T03:40:00.123Z", "level": "INFO", "logger": "pixcrawler.http",
     "message": "POST /api/v1/jobs/j1/start -> 201 in 12.3 ms", "request_id": "4f...",
     "user_id": "alice", "job_id": "j1"}

When ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, records (with the same fields as custom
dimensions) also go to Application Insights through ``azure-monitor-opentelemetry``, imported
only then. Without it nothing leaves the process.

Example::

    configure_logging(os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"))
    with bind(request_id="r1", user_id="alice"):
        logging.getLogger("pixcrawler.jobs").info("job started")
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Any

#: The request id of the request being served.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
#: The authenticated user of that request.
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
#: The job the code is working on.
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

CONTEXT_FIELDS: dict[str, ContextVar[str | None]] = {
    "request_id": request_id_var,
    "user_id": user_id_var,
    "job_id": job_id_var,
}

#: Loggers of the app (the Application Insights exporter listens to this one and below).
APP_LOGGER = "pixcrawler"
#: The app setting Azure Functions uses for Application Insights.
CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

#: The field that names a structured event (``job_status``, ``batch_done``): the monitoring
#: queries (docs/monitoring.md, infra/monitoring/*.kql) select records by it.
EVENT_FIELD = "event"


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Attach context fields (``request_id``, ``user_id``, ``job_id``) to every record logged
    inside the block; the previous values come back afterwards.

    >>> with bind(job_id="j1"):
    ...     job_id_var.get()
    'j1'
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown log context fields {sorted(unknown)}; use {sorted(CONTEXT_FIELDS)}"
        )
    tokens = [
        (CONTEXT_FIELDS[name], CONTEXT_FIELDS[name].set(value)) for name, value in fields.items()
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def log_event(logger: logging.Logger, event: str, message: str, *args: Any, **fields: Any) -> None:
    """Log one structured event at INFO: ``event`` names it and each keyword becomes a field, a
    JSON key locally and a custom dimension in Application Insights. Dicts and lists are written
    as JSON text (custom dimensions hold scalars only); ``None`` fields are left out.

    >>> log_event(logging.getLogger("pixcrawler.jobs"), "job_status", "job %s is %s", "j1",
    ...           "running", job_id="j1", status="running")
    """
    extra: dict[str, Any] = {EVENT_FIELD: event}
    for name, value in fields.items():
        if value is None:
            continue
        extra[name] = json.dumps(value, default=str) if isinstance(value, (dict, list)) else value
    logger.info(message, *args, extra=extra)


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (a field set with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT_FIELDS.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context fields, extras and
    the exception's traceback when there is one.

    >>> record = logging.makeLogRecord({"msg": "hi", "levelname": "INFO", "name": "x"})
    >>> json.loads(JsonFormatter().format(record))["message"]
    'hi'
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = CONTEXT_FIELDS[name].get()
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if (
                key not in _STANDARD_ATTRS
                and key not in CONTEXT_FIELDS
                and key not in entry
                and not key.startswith("_")
            ):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_configured: dict[str, bool] = {}


def configure_logging(
    connection_string: str | None = None,
    *,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
) -> None:
    """Send the app's records as JSON lines to ``stream`` (stderr) with the context fields, and
    to Application Insights when there is a connection string (``connection_string``, else
    ``APPLICATIONINSIGHTS_CONNECTION_STRING``). Safe to call more than once: the first call
    wins.

    Example::

        configure_logging()     # JSON lines on stderr; Application Insights too when configured
    """
    if _configured:
        return
    connection_string = connection_string or os.environ.get(CONNECTION_STRING_ENV) or None
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    logger.propagate = False
    if connection_string:
        _configure_azure_monitor(connection_string, logger)
    _configured["done"] = True


def _configure_azure_monitor(connection_string: str, logger: logging.Logger) -> None:
    """Application Insights exporter for the app's loggers (imported only when configured)."""
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string, logger_name=APP_LOGGER)
    for handler in logger.handlers:
        handler.addFilter(ContextFilter())
