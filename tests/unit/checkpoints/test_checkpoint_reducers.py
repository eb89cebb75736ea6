"""The checkpoint entity's state: job summary, write-latency sample, reopening chunks on resume,
and the pure parts of the housekeeping (percentiles, which tier an age calls for)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import StandardBlobTier

from shared.checkpoints.housekeeping import _target_tier
from shared.checkpoints.stats import percentiles
from shared.models import LATENCY_SAMPLE, CheckpointState, ChunkCheckpoint, ChunkStatus
from shared.settings import Settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def point(chunk_id: str, seq: int, *, status: ChunkStatus = ChunkStatus.in_progress, valid: int = 0,
          run: int = 1, at: datetime = T0) -> ChunkCheckpoint:
    return ChunkCheckpoint(
        chunk_id=chunk_id, run=run, label="cat", query="cat", source="wikimedia", next_offset=seq * 50,
        next_seq=seq, pages_fetched=seq, downloaded=valid + 1, valid=valid, status=status, updated_at=at,
    )


def test_summary_counts_chunks_by_status_and_adds_up_their_images() -> None:
    state = CheckpointState().begin("j", 1, [point(c, 0, status=ChunkStatus.pending) for c in "abcd"])
    state = state.save(point("a", 3, status=ChunkStatus.completed, valid=30))
    state = state.save(point("b", 2, valid=12))
    state = state.save(point("c", 1, status=ChunkStatus.failed, valid=4))
    summary = state.summary()
    assert summary.total_chunks == 4
    assert summary.chunks_by_status == {
        ChunkStatus.completed: 1, ChunkStatus.in_progress: 1, ChunkStatus.failed: 1, ChunkStatus.pending: 1,
    }
    assert summary.images_so_far == 46
    assert summary.downloaded == 31 + 13 + 5 + 1
    assert summary.pages_fetched == 6


def test_each_applied_save_adds_its_latency_and_the_sample_keeps_the_newest() -> None:
    state = CheckpointState().begin("j", 1, [point("a", 0)])
    for seq in range(1, LATENCY_SAMPLE + 11):
        state = state.save(point("a", seq), applied_at=T0 + timedelta(milliseconds=seq))
    assert len(state.write_latency_ms) == LATENCY_SAMPLE
    assert state.write_latency_ms[-1] == LATENCY_SAMPLE + 10
    assert state.write_latency_ms[0] == 11
    stale = state.save(point("a", 1), applied_at=T0 + timedelta(seconds=5))
    assert stale.write_latency_ms == state.write_latency_ms  # an ignored write is no write


def test_a_resumed_run_reopens_its_chunks_at_their_saved_positions() -> None:
    state = CheckpointState().begin("j", 1, [point("a", 0), point("b", 0)])
    state = state.save(point("a", 4, status=ChunkStatus.failed, valid=20))
    state = state.save(point("b", 2, status=ChunkStatus.completed, valid=9))
    resumed = state.begin("j", 2, [point("a", 4, run=2, valid=20)])
    assert resumed.chunks["a"].status is ChunkStatus.pending
    assert (resumed.chunks["a"].next_seq, resumed.chunks["a"].valid, resumed.chunks["a"].run) == (4, 20, 2)
    assert resumed.chunks["b"].status is ChunkStatus.completed  # skipped, untouched
    assert resumed.summary().images_so_far == 29


def test_percentiles_are_nearest_rank() -> None:
    stats = percentiles(float(v) for v in range(1, 101))
    assert (stats.samples, stats.p50, stats.p95, stats.p99) == (100, 50.0, 95.0, 99.0)
    assert percentiles([7.0]).p99 == 7.0
    assert percentiles([]).samples == 0 and percentiles([]).p50 is None


@pytest.mark.parametrize(
    ("days", "cold", "archive", "expected"),
    [
        (10, 0, 0, None),
        (30, 0, 0, StandardBlobTier.COOL),
        (89, 0, 0, StandardBlobTier.COOL),
        (45, 40, 0, StandardBlobTier.COLD),
        (70, 40, 60, StandardBlobTier.ARCHIVE),
        (50, 40, 60, StandardBlobTier.COLD),
    ],
)
def test_the_tier_an_age_calls_for(days: int, cold: int, archive: int, expected: StandardBlobTier | None) -> None:
    settings = Settings(
        cosmos_endpoint="https://x", blob_connection_string="UseDevelopmentStorage=true",
        checkpoint_cold_after_days=cold, checkpoint_archive_tier_after_days=archive,
    )  # type: ignore[call-arg]
    assert _target_tier(settings, timedelta(days=days)) == expected
