"""The shard cleanup timer (``shard_cleanup_schedule``, hourly at :30 by default): deletes the
shard blobs that no image record points at, left by download attempts that died between
committing their shard and writing its records (see ``shared.storage.shards``)."""

from datetime import timedelta

import azure.functions as func

from shared.models import utcnow
from shared.runtime import get_runtime
from shared.settings import get_settings
from shared.storage.shards import ShardJanitor
from timers import blueprint


@blueprint.timer_trigger(schedule=get_settings().shard_cleanup_schedule, arg_name="timer")
async def shard_cleanup(timer: func.TimerRequest) -> None:
    runtime = await get_runtime()
    settings = runtime.settings
    janitor = ShardJanitor(runtime.blobs, runtime.images, timedelta(minutes=settings.shard_orphan_minutes))
    await janitor.sweep(
        runtime.jobs, utcnow(), timedelta(days=settings.checkpoint_lookback_days),
        settings.checkpoint_timer_max_jobs,
    )  # fmt: skip
