"""Rate limits per user and route, shared by every instance of the app.

Counters are fixed windows kept in Cosmos (container ``rate_limits``, partition key
``/user_id``): one document per user, rule and window, incremented with a server-side patch
``incr``, which is atomic, so two instances counting at once never lose a hit. Cosmos rather
than Table storage: it is already a dependency, the same emulator serves the tests, and a
point patch costs about one request unit. Windows carry a ``ttl`` so that Cosmos drops them
once the container has TTL enabled.

The rules of the API are defined here, once: the routes name them (``limit=JOB_RUNS``), and
routes that share a rule share its budget -- start, retry and resume all launch a run, so one
budget covers the three.

Example::

    usage = await hit(windows, JOB_RUNS, "alice", limit=10)  # RateLimited (429) on the 11th call
    usage.remaining                                          # calls left in this window
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import Conflict, NotFound, RateLimited
from shared.models import RateWindow
from shared.storage import Repo


@dataclass(frozen=True)
class RateRule:
    """A limit on one route: at most ``settings.<setting>`` calls per ``window`` seconds per
    user. ``name`` identifies the counter (two routes may share one rule)."""

    name: str
    setting: str
    window: int = 60

    def limit(self, settings: Any) -> int:
        """The allowed calls per window under ``settings``."""
        return int(getattr(settings, self.setting))

    def describe(self, limit: int | None = None) -> str:
        """Human text: "10 calls per 60 s per user" (the setting's name when no limit given).

        >>> RateRule("jobs.start", "rate_limit_start_per_minute").describe(10)
        '10 calls per 60 s per user'
        """
        count = str(limit) if limit is not None else f"PIXCRAWLER_{self.setting.upper()}"
        return f"{count} calls per {self.window} s per user"


#: Job starts, retries and resumes: one budget for the three (each launches a run).
JOB_RUNS = RateRule("jobs.start", "rate_limit_start_per_minute")
#: Job creations.
JOB_CREATES = RateRule("jobs.create", "rate_limit_job_creates_per_minute")
#: Dataset creations (each starts a build).
DATASET_CREATES = RateRule("datasets.create", "rate_limit_dataset_creates_per_minute")
#: Validation runs started.
VALIDATIONS = RateRule("validation.start", "rate_limit_validations_per_minute")
#: Verify runs started.
VERIFIES = RateRule("jobs.verify", "rate_limit_verifies_per_minute")


@dataclass(frozen=True)
class Usage:
    """Where a caller stands in the current window."""

    limit: int
    count: int
    reset_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` headers for a response."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at)),
        }


#: The ``rate_limits`` repository (``runtime.rate_limits``).
WindowRepo = Repo[RateWindow]

_INCREMENT = [{"op": "incr", "path": "/count", "value": 1}]


async def _increment(repo: WindowRepo, window: RateWindow) -> RateWindow:
    """Count one call in ``window``, creating the window on its first call."""
    try:
        return await repo.patch(window.id, window.user_id, _INCREMENT)
    except NotFound:
        try:
            return await repo.create(window)
        except Conflict:  # another instance created it meanwhile: count on theirs
            return await repo.patch(window.id, window.user_id, _INCREMENT)


async def hit(
    repo: WindowRepo,
    rule: RateRule,
    user_id: str,
    *,
    limit: int,
    clock: Callable[[], float] = time.time,
) -> Usage:
    """Count one call of ``user_id`` against ``rule``; :class:`RateLimited` (429, with the
    seconds until the window ends as ``retry_after``) once more than ``limit`` calls fell in
    the current window. Refused calls count too, so hammering does not shorten the wait."""
    now = clock()
    start = int(now // rule.window) * rule.window
    window = RateWindow(
        id=f"{rule.name}:{start}", user_id=user_id, rule=rule.name, window_start=start, count=1,
        ttl=2 * rule.window,
    )  # fmt: skip
    counted = await _increment(repo, window)
    usage = Usage(limit=limit, count=counted.count, reset_at=start + rule.window)
    if counted.count > limit:
        raise RateLimited(
            f"Rate limit exceeded: {rule.describe(limit)}.",
            retry_after=max(0.0, usage.reset_at - now),
            error_code="rate_limited",
        )
    return usage
