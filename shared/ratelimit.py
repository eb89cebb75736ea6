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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.errors import Conflict, NotFound, RateLimited
from shared.models import ActiveJobs, JobStatus, RateWindow, SlotClaim, utcnow
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


#: The ``rate_limits`` repository (``runtime.repo("rate_limits", RateWindow)``).
WindowRepo = Repo[RateWindow]

#: Seconds a claimed running-job slot is held for a launch that has not (yet) made its job
#: running; a claim whose run has started holds until that run ends.
CLAIM_GRACE = 60.0
#: Retry-After (s) of a launch refused for the running-job cap: a hint, the real condition is
#: one of the user's jobs finishing or being cancelled.
SLOTS_RETRY_AFTER = 60.0


class RunStates(Protocol):
    """What claiming a slot needs to know of the user's jobs: their run and status."""

    async def run_states(self, user_id: str, job_ids: Iterable[str]) -> dict[str, tuple[int, JobStatus]]: ...


def _holds(claim: SlotClaim, state: tuple[int, JobStatus] | None, now: datetime) -> bool:
    """Whether a claim still holds its slot, given its job's (run, status) now."""
    if state is None:
        return False  # the job was deleted
    run, status = state
    if run == claim.run:
        return status is JobStatus.running
    if run > claim.run:
        return False  # a later run replaced it (and claimed for itself)
    return (now - claim.at).total_seconds() < CLAIM_GRACE  # launching, or a launch that failed


async def claim_running_slot(
    slots: Repo[ActiveJobs],
    jobs: RunStates,
    user_id: str,
    job_id: str,
    run: int,
    *,
    cap: int,
    clock: Callable[[], datetime] = utcnow,
    attempts: int = 10,
) -> None:
    """Claim one of ``user_id``'s ``cap`` running-job slots for ``run`` of ``job_id``, or raise
    :class:`RateLimited` (429) when every slot is held by a run that is still going.

    The claims live in one document per user, replaced with its etag: of two launches that
    read the same claims, one writes and the other reads again, so the cap holds however many
    launch at once (:class:`Conflict` after ``attempts`` lost races)."""
    for _ in range(attempts):
        current = await slots.find(ActiveJobs.model_fields["id"].default, user_id)
        now = clock()
        claims = dict(current.claims) if current is not None else {}
        claims.pop(job_id, None)  # a job holds one slot: its new run replaces its old claim
        states = await jobs.run_states(user_id, claims)
        held = {other: claim for other, claim in claims.items() if _holds(claim, states.get(other), now)}
        if len(held) >= cap:
            raise RateLimited(
                f"You have {len(held)} running jobs, the most allowed per user: cancel one or "
                "wait until one finishes.",
                retry_after=SLOTS_RETRY_AFTER,
                error_code="too_many_active_jobs",
            )
        held[job_id] = SlotClaim(run=run, at=now)
        try:
            if current is None:
                await slots.create(ActiveJobs(user_id=user_id, claims=held))
            else:
                await slots.replace(current.model_copy(update={"claims": held}))
            return
        except Conflict:
            continue  # another launch wrote first: read its claims and decide again
    raise Conflict(
        f"Jobs of user {user_id} are being started concurrently; retry.", error_code="slots_busy"
    )


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
