"""The checkpoint housekeeping timers. Schedules (NCRONTAB) are settings, read at indexing:

| function                    | default schedule  | does                                          |
|-----------------------------|-------------------|-----------------------------------------------|
| checkpoint_archive_completed| ``0 0 * * * *``   | completed > 1 h: snapshot to Blob, drop entity |
| checkpoint_archive_failed   | ``0 0 2 * * *``   | failed / cancelled > 7 days: the same         |
| checkpoint_tiering          | ``0 0 3 * * *``   | snapshots > 30 days to Cool (Cold / Archive)  |
| checkpoint_cleanup          | ``0 0 4 * * 0``   | snapshots > 90 days deleted                   |
| stale_job_detection         | ``0 */5 * * * *`` | running, no checkpoint move for 30 min, no    |
|                             |                   | orchestration running: marked failed          |

The work is ``shared.checkpoints.housekeeping.Housekeeping``'s; each function only builds it and calls
its method with the current time.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared.checkpoints.housekeeping import Housekeeping
from shared.models import utcnow
from shared.runtime import get_runtime
from shared.settings import get_settings
from timers import blueprint

Work = Callable[[Housekeeping, datetime], Awaitable[Any]]

_settings = get_settings()

#: function name -> (NCRONTAB schedule, the housekeeping it runs, what it does).
TIMERS: dict[str, tuple[str, Work, str]] = {
    "checkpoint_archive_completed": (
        _settings.checkpoint_archive_schedule, Housekeeping.archive_completed,
        "Hourly: archive the checkpoints of jobs completed more than an hour ago.",
    ),
    "checkpoint_archive_failed": (
        _settings.checkpoint_failed_archive_schedule, Housekeeping.archive_failed,
        "Daily 02:00: archive the checkpoints of jobs failed or cancelled a week ago.",
    ),
    "checkpoint_tiering": (
        _settings.checkpoint_tier_schedule, Housekeeping.tier_snapshots,
        "Daily 03:00: move aged snapshots to colder tiers.",
    ),
    "checkpoint_cleanup": (
        _settings.checkpoint_delete_schedule, Housekeeping.delete_expired,
        "Sunday 04:00: delete snapshots past their retention.",
    ),
    "stale_job_detection": (
        _settings.stale_job_schedule, Housekeeping.mark_stale,
        "Every 5 minutes: mark stale running jobs failed, so that they can be resumed.",
    ),
}  # fmt: skip


def _register(name: str, schedule: str, work: Work, doc: str) -> None:
    """One timer function on the blueprint: builds the housekeeping and runs ``work`` now."""

    async def timer_function(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        runtime = await get_runtime()
        await work(Housekeeping(runtime.jobs, runtime.blobs, client, runtime.settings), utcnow())

    timer_function.__name__ = timer_function.__qualname__ = name
    timer_function.__doc__ = doc
    decorated: Any = blueprint.durable_client_input(client_name="client")(timer_function)
    decorated = blueprint.timer_trigger(schedule=schedule, arg_name="timer")(decorated)
    blueprint.function_name(name)(decorated)


for _name, (_schedule, _work, _doc) in TIMERS.items():
    _register(_name, _schedule, _work, _doc)
