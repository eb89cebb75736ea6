"""Notifications: what happened to a user's jobs, listed newest first and marked read.

The job lifecycle calls :func:`notify` when a job completes, fails, is cancelled or resumed;
users read them through ``GET /api/v1/notifications`` and ``POST .../{id}/read``.

Example::

    await notify(repo, "alice", NotificationKind.job_completed, "j1", "Job 'pets' completed: 412 images.")
    page = await list_notifications(repo, "alice", NotificationQuery(unread=True))
    await mark_read(repo, "alice", page.items[0].id)
"""

from __future__ import annotations

import hashlib
import uuid

from shared.errors import Conflict
from shared.models import (
    Notification,
    NotificationKind,
    NotificationPage,
    NotificationQuery,
    utcnow,
)
from shared.storage import Repo
from shared.storage.cosmos import find_owned, set_fields

#: The ``notifications`` repository (``runtime.repo(...)``).
NotificationRepo = Repo[Notification]


def notification_id(user_id: str, kind: NotificationKind, job_id: str, key: str) -> str:
    """Deterministic id of the notification about one event (``key`` names the event, e.g.
    the job's run), so a retried activity or a replayed orchestration notifies once.

    >>> notification_id("alice", NotificationKind.job_failed, "j1", "run-2")[:2]
    'n-'
    """
    digest = hashlib.sha256(f"{user_id}|{kind.value}|{job_id}|{key}".encode()).hexdigest()
    return f"n-{digest[:32]}"


async def notify(
    repo: NotificationRepo,
    user_id: str,
    kind: NotificationKind | str,
    job_id: str,
    message: str,
    *,
    key: str | None = None,
) -> Notification:
    """Tell ``user_id`` about ``job_id``. With ``key`` (e.g. ``f"run-{job.run}"``) the same
    event notifies once however often this is called; without it every call notifies.

    Example::

        await notify(repo, job.user_id, "job_failed", job.id, f"Job failed: {job.error}",
                     key=f"run-{job.run}")
    """
    kind = NotificationKind(kind)
    item_id = notification_id(user_id, kind, job_id, key) if key is not None else uuid.uuid4().hex
    item = Notification(id=item_id, user_id=user_id, kind=kind, job_id=job_id, message=message)
    try:
        return await repo.create(item)
    except Conflict:
        return await repo.get(item_id, user_id)


async def list_notifications(
    repo: NotificationRepo, user_id: str, query: NotificationQuery
) -> NotificationPage:
    """One page of the user's notifications, newest first (only unread ones with
    ``query.unread``)."""
    unread = " AND c.read = false" if query.unread else ""
    sql = f"SELECT * FROM c WHERE c.user_id = @pk{unread} ORDER BY c.created_at DESC"
    items, token = await repo.page(
        sql, pk=user_id, limit=query.limit, continuation=query.continuation
    )
    return NotificationPage(items=items, continuation=token)


async def mark_read(
    repo: NotificationRepo, user_id: str, notification_id: str, *, admin: bool = False
) -> Notification:
    """Mark one of the user's notifications read (idempotent: reading it again keeps the
    first ``read_at``); 404 for an unknown id, 403 for someone else's."""
    item = await find_owned(repo, notification_id, user_id, what="Notification", admin=admin)
    if item.read:
        return item
    operations = set_fields(read=True, read_at=utcnow().isoformat())
    return await repo.patch(item.id, item.user_id, operations)
