"""Every status a job enters is logged once as a `job_status` event (the monitoring queries count
jobs by it, docs/monitoring.md), whatever code changes the status; other updates log nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.logs import JsonFormatter
from shared.models import Job, JobStatus
from shared.storage import StorageContext

from .factories import make_job

pytestmark = pytest.mark.integration


class Lines(logging.Handler):
    """The JSON lines the app would write, kept in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def events() -> Iterator[list[dict]]:
    logger = logging.getLogger("pixcrawler.jobs")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def set_status(status: JobStatus, error: str | None = None):
    def mutate(job: Job) -> None:
        job.status = status
        job.error = error
    return mutate


async def test_each_status_is_one_event(storage: StorageContext, events: list[dict]) -> None:
    job = await storage.jobs.create(make_job())
    job = await storage.jobs.update(job, set_status(JobStatus.running))
    job = await storage.jobs.update(job, lambda j: j.task_ids.append("t1"))  # no status change
    await storage.jobs.update(job, set_status(JobStatus.failed, "all chunks failed"))

    mine = [e for e in events if e.get("job_id") == job.id]
    assert [e["status"] for e in mine] == ["pending", "running", "failed"]
    for event in mine:
        assert event["event"] == "job_status" and event["user_id"] == job.user_id
        assert event["message"] == f"job {job.id} is {event['status']}"
    assert mine[-1]["error"] == "all chunks failed"
    assert "error" not in mine[0], "a None field is left out"


async def test_a_lost_race_logs_the_winners_status_once(storage: StorageContext, events: list[dict]) -> None:
    """A writer whose etag is stale re-reads and re-applies its change: the event reflects what
    was saved, and an update that finds the status already set logs nothing more."""
    job = await storage.jobs.create(make_job())
    stale = await storage.jobs.get(job.id, job.user_id)
    await storage.jobs.update(job, set_status(JobStatus.running))
    await storage.jobs.update(stale, set_status(JobStatus.running))  # conflict, re-read, no change
    mine = [e["status"] for e in events if e.get("job_id") == job.id]
    assert mine == ["pending", "running"]
