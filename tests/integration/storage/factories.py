"""Valid model instances for the storage tests, each with fresh ids so tests never collide
on the session's shared emulators."""

from __future__ import annotations

import hashlib
import uuid

from shared.models import ImageFormat, ImageRecord, Job, Level, Origin, ValidationSummary


def new_id(prefix: str) -> str:
    """A unique id such as ``user-3f2a...``."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_job(user_id: str | None = None, **fields: object) -> Job:
    """A pending job of ``user_id`` (a fresh user when None)."""
    data: dict[str, object] = {
        "id": new_id("job"),
        "user_id": user_id or new_id("user"),
        "name": "pets",
        "keywords": ["cat"],
        "sources": ["wikimedia"],
    }
    data.update(fields)
    return Job.model_validate(data)


def make_image(job_id: str, n: int, batch_id: str = "batch-0", **fields: object) -> ImageRecord:
    """Image number ``n`` of a job: its id is the sha256 of ``n`` (content-addressed)."""
    sha = hashlib.sha256(f"{job_id}/{n}".encode()).hexdigest()
    data: dict[str, object] = {
        "id": sha,
        "job_id": job_id,
        "user_id": "user-images",
        "label": "cat",
        "source": "wikimedia",
        "url": f"https://example.org/{n}.jpg",
        "width": 640,
        "height": 480,
        "format": ImageFormat.jpeg,
        "content_type": "image/jpeg",
        "bytes": 1000 + n,
        "blob_name": f"images/{job_id}/{sha}.jpg",
        "sha256": sha,
        "phash": f"{n:016x}",
        "chunk_id": "c0",
        "origin": Origin(batch_id=batch_id, url=f"https://example.org/{n}.jpg"),
        "validation": ValidationSummary(level=Level.fast, checks={"decodes": True}),
    }
    data.update(fields)
    return ImageRecord.model_validate(data)
