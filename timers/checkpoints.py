"""The checkpoint housekeeping timers. Schedules (NCRONTAB) are settings, read at indexing:

| function                    | default schedule  | does                                          |
|-----------------------------|-------------------|-----------------------------------------------|
| checkpoint_archive_completed| ``0 0 * * * *``   | completed > 1 h: snapshot to Blob, drop entity |
| checkpoint_archive_failed   | ``0 0 2 * * *``   | failed / cancelled > 7 days: the same         |
| checkpoint_tiering          | ``0 0 3 * * *``   | snapshots > 30 days to Cool (Cold / Archive)  |
| checkpoint_cleanup          | ``0 0 4 * * 0``   | snapshots > 90 days deleted                   |
| stale_job_detection         | ``0 */5 * * * *`` | running, no checkpoint move for 30 min, no    |
|                             |                   | orchestration running: marked failed          |

The work is ``shared.checkpoints.Housekeeping``'s; each function only builds it.
"""

import azure.durable_functions as df
import azure.functions as func

from shared.checkpoints import Housekeeping
from shared.models import utcnow
from shared.runtime import get_runtime
from shared.settings import get_settings
from timers import blueprint

_settings = get_settings()


async def _housekeeping(client: df.DurableOrchestrationClient) -> Housekeeping:
    runtime = await get_runtime()
    return Housekeeping(runtime.jobs, runtime.blobs, client, runtime.settings)


@blueprint.timer_trigger(schedule=_settings.checkpoint_archive_schedule, arg_name="timer")
@blueprint.durable_client_input(client_name="client")
async def checkpoint_archive_completed(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Hourly: archive the checkpoints of jobs completed more than an hour ago."""
    await (await _housekeeping(client)).archive_completed(utcnow())


@blueprint.timer_trigger(schedule=_settings.checkpoint_failed_archive_schedule, arg_name="timer")
@blueprint.durable_client_input(client_name="client")
async def checkpoint_archive_failed(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Daily 02:00: archive the checkpoints of jobs failed or cancelled a week ago."""
    await (await _housekeeping(client)).archive_failed(utcnow())


@blueprint.timer_trigger(schedule=_settings.checkpoint_tier_schedule, arg_name="timer")
@blueprint.durable_client_input(client_name="client")
async def checkpoint_tiering(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Daily 03:00: move aged snapshots to colder tiers."""
    await (await _housekeeping(client)).tier_snapshots(utcnow())


@blueprint.timer_trigger(schedule=_settings.checkpoint_delete_schedule, arg_name="timer")
@blueprint.durable_client_input(client_name="client")
async def checkpoint_cleanup(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Sunday 04:00: delete snapshots past their retention."""
    await (await _housekeeping(client)).delete_expired(utcnow())


@blueprint.timer_trigger(schedule=_settings.stale_job_schedule, arg_name="timer")
@blueprint.durable_client_input(client_name="client")
async def stale_job_detection(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Every 5 minutes: mark stale running jobs failed, so that they can be resumed."""
    await (await _housekeeping(client)).mark_stale(utcnow())
