"""Running-job slots: at most ``max_active_jobs_per_user`` runs of a user's jobs go on at once.
A launch (start, retry, resume) claims a slot in the user's ``ActiveJobs`` document (container
``rate_limits``) before it starts the run; a run that ends frees its slot by itself, since a
claim holds only while its job is running that run.

Example::

    await claim_running_slot(store.slots, store, "alice", job.id, run, cap=10)   # RateLimited (429) beyond
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from shared.errors import Conflict, RateLimited
from shared.models import ActiveJobs, JobStatus, SlotClaim, utcnow
from shared.storage import Repo

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
