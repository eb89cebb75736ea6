"""Timer triggers: checkpoint archival and cleanup, cold-tier moves, stale-job detection,
orphan shard cleanup."""

import azure.durable_functions as df

blueprint = df.Blueprint()

from timers import checkpoints  # noqa: E402,F401  (register on the blueprint)
from timers import shards  # noqa: E402,F401

__all__ = ["blueprint"]
