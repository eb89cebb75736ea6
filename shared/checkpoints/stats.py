"""The admin statistics of checkpoints (``GET /api/v1/checkpoints/stats``): jobs by status,
chunks by status over the newest jobs' live checkpoints, archived snapshots by tier, and the
checkpoint write latency.

Example::

    stats = await checkpoint_stats(runtime.jobs, runtime.blobs, client, runtime.settings)
    stats.write_latency_ms.p95
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable

import azure.durable_functions as df

from shared.checkpoints.snapshots import SnapshotStore
from shared.models import ChunkStatus, JobStatus
from shared.models.checkpoints import CheckpointStats, Percentiles, TierUsage
from shared.settings import Settings
from shared.storage import BlobStore, JobsRepo
from shared.workflow import read_checkpoint


def percentiles(values: Iterable[float]) -> Percentiles:
    """Nearest-rank p50/p95/p99 of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles(samples=0)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]

    return Percentiles(samples=len(ordered), p50=rank(50), p95=rank(95), p99=rank(99))


async def checkpoint_stats(
    jobs: JobsRepo, blobs: BlobStore, client: df.DurableOrchestrationClient, settings: Settings
) -> CheckpointStats:
    """Counts by job and chunk status, archived snapshots by tier, write latencies."""
    count_sql = "SELECT VALUE COUNT(1) FROM c WHERE c.status = @status"
    counts = await asyncio.gather(
        *(jobs.query_values(count_sql, {"@status": s.value}) for s in JobStatus)
    )
    by_tier: dict[str, TierUsage] = {}
    async for info in SnapshotStore(blobs).list():
        usage = by_tier.setdefault(info.tier, TierUsage())
        usage.count += 1
        usage.bytes += info.size
    recent, _ = await jobs.page(
        "SELECT * FROM c ORDER BY c.updated_at DESC", limit=settings.checkpoint_stats_sample_jobs
    )
    states = [
        s for s in await asyncio.gather(*(read_checkpoint(client, j.id) for j in recent)) if s is not None
    ]
    chunks: dict[ChunkStatus, int] = {}
    for state in states:
        for status, n in state.summary().chunks_by_status.items():
            chunks[status] = chunks.get(status, 0) + n
    return CheckpointStats(
        jobs_by_status={s: int(c[0]) for s, c in zip(JobStatus, counts)},
        live_checkpoints_sampled=len(states),
        chunks_by_status=chunks,
        archived=TierUsage(
            count=sum(u.count for u in by_tier.values()), bytes=sum(u.bytes for u in by_tier.values())
        ),
        archived_by_tier=by_tier,
        write_latency_ms=percentiles(v for s in states for v in s.write_latency_ms),
    )
