"""Crawl jobs: create, start, watch, cancel and resume them. Kept apart from the
dataset-focused top level of :mod:`pixcrawler`.

Example::

    from pixcrawler import jobs
    job = jobs.create(keywords=["cat", "dog"], sources=["wikimedia"], max_images_per_keyword=50)
    jobs.start(job.id)
    final = jobs.wait(job.id)              # a live progress bar until it ends
    final.status, final.valid_images
"""

from __future__ import annotations

from typing import Any

from pixcrawler._default import get_client
from pixcrawler._progress import JobDisplay
from pixcrawler.client import Client
from pixcrawler.models import (
    ChunkLog, Job, JobCancelled, JobProgress, JobResumed, JobStarted, ValidationStarted,
)

__all__ = [
    "cancel", "create", "get", "list_jobs", "logs", "progress", "resume", "retry", "start",
    "validate", "wait",
]


def create(
    keywords: list[str],
    sources: list[str | dict[str, Any]],
    *,
    name: str | None = None,
    max_images_per_keyword: int = 100,
    validation_level: str = "medium",
    **options: Any,
) -> Job:
    """Create a crawl job (not started yet: call :func:`start`).

    ``sources`` are source names (``"wikimedia"``, ``"openverse"``...) or source objects;
    ``options`` are the other fields of the service's JobCreate (``variations``,
    ``min_width``, ``min_height``, ``formats``).
    """
    body: dict[str, Any] = {
        "name": name or ", ".join(keywords) or "crawl",
        "keywords": keywords,
        "sources": sources,
        "max_images_per_keyword": max_images_per_keyword,
        "validation_level": validation_level,
        **options,
    }
    return get_client().create_job(**body)


def list_jobs(status: str | None = None, limit: int = 20) -> list[Job]:
    """Your most recent jobs, optionally only those with ``status``."""
    return get_client().list_jobs(status=status, limit=limit)


def get(job_id: str) -> Job:
    """One job."""
    return get_client().get_job(job_id)


def start(job_id: str) -> JobStarted:
    """Start a job: its chunks are crawled in parallel."""
    return get_client().start_job(job_id)


def progress(job_id: str) -> JobProgress:
    """The job's counters now."""
    return get_client().job_progress(job_id)


def cancel(job_id: str) -> JobCancelled:
    """Stop a running job; what it stored so far stays."""
    return get_client().cancel_job(job_id)


def retry(job_id: str) -> JobStarted:
    """Run a failed or cancelled job again from scratch."""
    return get_client().retry_job(job_id)


def validate(job_id: str, level: str | None = None) -> ValidationStarted:
    """Validate the job's images at ``level`` (fast, medium or slow; medium when None)."""
    return get_client().validate_job(job_id, level)


def resume(job_id: str) -> JobResumed:
    """Continue a cancelled or failed job from its checkpoints: finished chunks are skipped."""
    return get_client().resume_job(job_id)


def logs(job_id: str) -> list[ChunkLog]:
    """Each chunk of the job with its status, counts and last error."""
    return get_client().job_logs(job_id)


def wait(
    job_id: str,
    progress: bool = True,
    *,
    chunks: bool = False,
    poll_interval: float = 2.0,
    timeout: float | None = None,
    client: Client | None = None,
) -> JobProgress:
    """Block until the job is completed, failed or cancelled; return its last progress.

    Shows a progress bar (chunks finished, images found) unless ``progress=False``, and one
    bar per chunk with ``chunks=True`` (plain lines instead when stdout or stderr is not a
    terminal: a log gets no ANSI escapes); ``timeout`` (seconds) raises
    :class:`~pixcrawler.WaitTimeoutError` when reached. ``client`` defaults to the shared one.

    Example::

        final = jobs.wait(job.id, chunks=True, timeout=3600)
    """
    client = client or get_client()
    display = JobDisplay(job_id, enabled=progress)

    def draw(current: JobProgress) -> None:
        display.update(current, client.job_logs(job_id) if chunks and progress else None)

    try:
        return client.wait_for_job(
            job_id, poll_interval=poll_interval, timeout=timeout, on_update=draw
        )
    finally:
        display.close()
