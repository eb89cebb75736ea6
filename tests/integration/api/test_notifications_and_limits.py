"""Notifications as the job lifecycle writes them and a user reads them; rate limits shared by
every instance (the devhost and this test process count in the same Cosmos container)."""

from __future__ import annotations

import asyncio
import time

import pytest
from _apitest import Api, error_code, iter_pages, job_body, new_user

from shared.models import Notification, NotificationKind, RateWindow
from shared.accounts.notifications import notify
from http_triggers._ratelimit import RateRule, hit
from shared.settings import Settings
from shared.storage import Repo, StorageContext

START = RateRule("jobs.start", "rate_limit_start_per_minute")


def _same_window(needed: float = 10.0) -> None:
    """Wait for the next one-minute window when fewer than ``needed`` seconds are left in
    this one, so that all the calls of a test fall into one window."""
    left = START.window - time.time() % START.window
    if left < needed:
        time.sleep(left + 0.1)


def _notify_all(
    settings: Settings, user: str, events: list[tuple[NotificationKind, str, str | None]]
) -> list[str]:
    async def run() -> list[str]:
        async with StorageContext(settings) as storage:
            repo = Repo(storage.database, "notifications", Notification)
            made = [
                await notify(repo, user, kind, job, f"{kind.value} {job}", key=key)
                for kind, job, key in events
            ]
            return [item.id for item in made]

    return asyncio.run(run())


def test_notifications_listed_newest_first_paged_filtered_and_marked_read(
    api: Api, stack_settings: Settings
) -> None:
    user = new_user()
    kinds = list(NotificationKind)
    ids = _notify_all(stack_settings, user, [(kinds[i % 4], f"job-{i}", None) for i in range(5)])
    client = api.as_user(user)

    listed = list(iter_pages(client, "/notifications", limit=2))
    assert [n["id"] for n in listed] == list(reversed(ids)), "newest first, each once"
    assert [n["kind"] for n in listed] == [kinds[i % 4].value for i in reversed(range(5))]
    assert all(not n["read"] for n in listed)

    read = client.post(f"/notifications/{ids[1]}/read")
    assert read.status_code == 200 and read.json()["read"] is True
    first_read_at = read.json()["read_at"]
    again = client.post(f"/notifications/{ids[1]}/read")
    assert again.status_code == 200 and again.json()["read_at"] == first_read_at

    unread = list(iter_pages(client, "/notifications", unread="true", limit=3))
    assert {n["id"] for n in unread} == set(ids) - {ids[1]}
    assert api.as_user(new_user()).get("/notifications").json()["items"] == []


def test_notify_with_a_key_notifies_once(api: Api, stack_settings: Settings) -> None:
    user = new_user()
    event = (NotificationKind.job_failed, "job-x", "run-1")
    ids = _notify_all(stack_settings, user, [event, event, event])
    assert len(set(ids)) == 1
    assert len(api.as_user(user).get("/notifications").json()["items"]) == 1


def test_someone_elses_notification_is_403_and_stays_unread(
    api: Api, stack_settings: Settings
) -> None:
    owner = new_user()
    (item,) = _notify_all(stack_settings, owner, [(NotificationKind.job_cancelled, "j", None)])
    response = api.as_user(new_user()).post(f"/notifications/{item}/read")
    assert response.status_code == 403 and error_code(response) == "not_owner"
    assert (
        api.as_user(owner).get("/notifications", params={"unread": "true"}).json()["items"][0]["id"]
        == item
    )


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"unread": "maybe"}, {"colour": "red"}],
)
def test_bad_list_queries_are_422_naming_the_parameter(api: Api, query: dict[str, str]) -> None:
    response = api.as_user(new_user()).get("/notifications", params=query)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == next(iter(query))


def test_start_is_limited_per_user_with_retry_after(api: Api) -> None:
    user, other = api.as_user(new_user()), api.as_user(new_user())
    job = user.post("/jobs", json=job_body(["http://127.0.0.1:9/a.png"])).json()["id"]
    _same_window()
    statuses = [user.post(f"/jobs/{job}/start") for _ in range(11)]
    assert [r.status_code for r in statuses[:10]] == [200] * 10, statuses[0].text
    assert statuses[9].headers["X-RateLimit-Remaining"] == "0"
    limited = statuses[10]
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60

    other_job = other.post("/jobs", json=job_body(["http://127.0.0.1:9/a.png"])).json()["id"]
    assert other.post(f"/jobs/{other_job}/start").status_code == 200, "limits are per user"


def test_limit_is_shared_with_other_instances(api: Api, stack_settings: Settings) -> None:
    """Calls counted by another process (here: this test, on the same Cosmos container) use up
    the devhost's budget too: the counter is not in any process's memory."""
    user = new_user()

    async def elsewhere() -> None:
        async with StorageContext(stack_settings) as storage:
            windows = Repo(storage.database, "rate_limits", RateWindow)
            for _ in range(10):
                await hit(windows, START, user, limit=10)

    client = api.as_user(user)
    job = client.post("/jobs", json=job_body(["http://127.0.0.1:9/a.png"])).json()["id"]
    _same_window()
    asyncio.run(elsewhere())
    response = client.post(f"/jobs/{job}/start")
    assert response.status_code == 429, response.text
