"""Notifications: what happened to the caller's jobs; list them and mark them read."""

from http_triggers._api import ApiRequest, api
from shared.accounts import notifications
from shared.models import Notification, NotificationPage, NotificationQuery
from shared.runtime import get_runtime

TAGS = ("notifications",)


@api(
    "v1/notifications",
    ["GET"],
    query=NotificationQuery,
    response=NotificationPage,
    tags=TAGS,
    errors=(400,),
)
async def list_notifications(request: ApiRequest) -> NotificationPage:
    """List the caller's notifications, newest first (`?unread=true`: unread ones only)."""
    query = request.query(NotificationQuery)
    runtime = await get_runtime()
    repo = runtime.notifications
    return await notifications.list_notifications(repo, request.user.user_id, query)


@api(
    "v1/notifications/{notification_id}/read",
    ["POST"],
    response=Notification,
    tags=TAGS,
    errors=(404,),
)
async def read_notification(request: ApiRequest) -> Notification:
    """Mark a notification read (reading it again changes nothing)."""
    runtime = await get_runtime()
    caller = request.user
    repo = runtime.notifications
    return await notifications.mark_read(
        repo, caller.user_id, request.params["notification_id"], admin=caller.is_admin
    )
