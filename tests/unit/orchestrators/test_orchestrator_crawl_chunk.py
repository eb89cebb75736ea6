"""crawl_chunk driven by the fake durable context: backoff on a refusing source, prefetch of
pages while batches download, the quota, continue_as_new, failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orchestrators.crawl import MAX_BACKOFF_SECONDS, MAX_SOURCE_ATTEMPTS
from shared.models import (
    ChunkOutcome, ChunkRun, ChunkStatus, DiscoverRequest, DiscoverResult, DownloadBatch,
)
from tests.unit.orchestrators._crawlworld import (
    CHUNK, JOB, Source, chunk_run, distinct, progress, started,
)
from tests.unit.orchestrators._durable import (
    CHECKPOINT, DISCOVER, DOWNLOAD, START, ActivityFailed, Call, Entities, Episode, FakeContext, Task, World, WhenAny,
    crawl_chunk, drive_through,
)


def run_chunk(run: ChunkRun, source: Source, entities: Entities | None = None, respond: Any = None) -> list[Episode]:
    return drive_through(crawl_chunk, run.model_dump(mode="json"), respond or World(source.handlers()),
                         entities if entities is not None else started())


def outcome(episodes: list[Episode]) -> ChunkOutcome:
    last = episodes[-1]
    assert last.error is None and not last.cancelled and last.continued_with is None
    return ChunkOutcome.model_validate(last.output)


def scheduled(episodes: list[Episode]) -> list[Call]:
    return [call for episode in episodes for call in episode.context.scheduled]


def timers(episodes: list[Episode]) -> list[Call]:
    return [call for call in scheduled(episodes) if call.kind == "timer"]


def offsets(calls: list[Call]) -> list[int]:
    return [DiscoverRequest.model_validate(c.payload).offset for c in calls if c.name == DISCOVER]


def downloads(episodes: list[Episode]) -> list[DownloadBatch]:
    return [DownloadBatch.model_validate(c.payload) for c in scheduled(episodes) if c.name == DOWNLOAD]


def rate_limited(retry_after: float | None = None) -> DiscoverResult:
    return DiscoverResult(rate_limited=True, retry_after=retry_after)


# -- backoff on a refusing source ---------------------------------------------------------------


def test_a_refused_discovery_waits_on_a_durable_timer_then_asks_again_for_the_same_page() -> None:
    entities = started()
    seen: list[Any] = []

    def refuse(number: int) -> DiscoverResult | None:
        seen.append(entities.checkpoint(JOB).chunks.get(CHUNK))
        return rate_limited(retry_after=30) if number <= 2 else None

    source = Source(distinct(8), refuse=refuse)
    episodes = run_chunk(chunk_run(8, batch_size=4), source, entities)

    calls = scheduled(episodes)
    kinds = [(c.kind, c.name) for c in calls]
    timer = ("timer", "timer")
    assert kinds[:5] == [("activity", DISCOVER), timer, ("activity", DISCOVER), timer, ("activity", DISCOVER)]
    assert offsets(calls)[:3] == [0, 0, 0]
    assert [t.fire_at for t in timers(episodes)] == [START + timedelta(seconds=30), START + timedelta(seconds=60)]
    # while it waited, the checkpoint said why (a resume would know), then the chunk went on
    assert seen[1] is not None and seen[1].attempts == 1 and seen[1].last_error == "source rate limited"
    assert seen[1].status is ChunkStatus.in_progress
    result = outcome(episodes)
    assert result.status is ChunkStatus.completed and result.valid == 8
    assert entities.checkpoint(JOB).chunks[CHUNK].attempts == 0


def test_without_retry_after_the_pause_doubles_and_is_capped() -> None:
    refusals = MAX_SOURCE_ATTEMPTS - 1
    source = Source(distinct(4), refuse=lambda n: rate_limited() if n <= refusals else None)
    episodes = run_chunk(chunk_run(4), source)
    fire = [t.fire_at for t in timers(episodes)]
    pauses = [(b - a).total_seconds() for a, b in zip([START, *fire], fire)]
    assert pauses == [min(2.0**attempt, MAX_BACKOFF_SECONDS) for attempt in range(1, refusals + 1)]
    assert outcome(episodes).status is ChunkStatus.completed

    slow = Source(distinct(4), refuse=lambda n: rate_limited(retry_after=MAX_BACKOFF_SECONDS * 10) if n == 1 else None)
    [timer] = timers(run_chunk(chunk_run(4), slow))
    assert timer.fire_at == START + timedelta(seconds=MAX_BACKOFF_SECONDS)


@pytest.mark.parametrize("refusal", [rate_limited(retry_after=5), DiscoverResult(error="HTTP 403 from the source")])
def test_a_source_that_keeps_refusing_fails_its_chunk_after_a_bounded_number_of_tries(refusal: DiscoverResult) -> None:
    entities = started()
    source = Source(distinct(10), refuse=lambda n: refusal)
    episodes = run_chunk(chunk_run(10), source, entities)

    assert source.discovers == MAX_SOURCE_ATTEMPTS
    assert len(timers(episodes)) == MAX_SOURCE_ATTEMPTS - 1
    result = outcome(episodes)
    expected_error = refusal.error or "source rate limited"
    assert result.status is ChunkStatus.failed and result.error == expected_error and result.valid == 0
    assert progress(entities).chunks[CHUNK] is ChunkStatus.failed
    saved = entities.checkpoint(JOB).chunks[CHUNK]
    assert saved.status is ChunkStatus.failed and saved.last_error == expected_error
    assert saved.attempts == MAX_SOURCE_ATTEMPTS


def test_refusals_separated_by_pages_never_exhaust_the_tries() -> None:
    refusals = 2 * MAX_SOURCE_ATTEMPTS
    source = Source(distinct(40), refuse=lambda n: rate_limited(1) if n % 2 == 1 and n < 2 * refusals else None)
    episodes = run_chunk(chunk_run(40, batch_size=2), source)
    assert len(timers(episodes)) == refusals
    result = outcome(episodes)
    assert result.status is ChunkStatus.completed and result.valid == 40


def test_a_refusal_while_batches_download_counts_them_before_the_pause() -> None:
    entities = started()
    seen: list[Any] = []

    def refuse(number: int) -> DiscoverResult | None:
        seen.append(entities.checkpoint(JOB).chunks.get(CHUNK))
        return rate_limited(10) if number == 4 else None

    source = Source(distinct(30), refuse=refuse)
    episodes = run_chunk(chunk_run(30, batch_size=3, in_flight=3), source, entities, World(source.handlers(), _discover_first))

    calls = scheduled(episodes)
    [timer] = timers(episodes)
    before = calls[: calls.index(timer)]
    assert [c for c in before if c.name == DOWNLOAD], "batches were downloading when the source refused"
    assert all(c.is_completed and c.completed_at < timer.completed_at for c in before)
    # the first discover after the pause finds every batch before it counted and saved
    after_pause = seen[4]
    assert after_pause is not None and after_pause.valid == 9 and after_pause.next_offset == 9
    assert progress(entities).valid == outcome(episodes).valid == 30


# -- prefetch -----------------------------------------------------------------------------------


def _discover_first(running: list[Call]) -> Call:
    """Slow downloads: a discover completes before any download that runs beside it."""
    return next((c for c in running if c.name == DISCOVER), running[0])


class Watch(World):
    """Records, at every wait, which downloads and discovers are running together."""

    def __init__(self, source: Source, pick: Any) -> None:
        super().__init__(source.handlers(), pick)
        self.together: list[tuple[int, int]] = []  # (downloads running, discovers running)

    def __call__(self, context: FakeContext, task: Task) -> None:
        self.together.append((len(context.running(DOWNLOAD)), len(context.running(DISCOVER))))
        super().__call__(context, task)


@pytest.mark.parametrize("in_flight", [1, 2, 3, 4])
def test_batches_in_flight_download_together_while_the_next_page_is_discovered(in_flight: int) -> None:
    source = Source(distinct(60))
    watch = Watch(source, _discover_first)
    episodes = run_chunk(chunk_run(60, batch_size=3, in_flight=in_flight), source, respond=watch)

    assert max(d for d, _ in watch.together) == in_flight
    if in_flight > 1:  # the next page is asked for while the full set of other batches runs
        assert (in_flight - 1, 1) in watch.together
    assert outcome(episodes).valid == 60


def test_batches_finishing_out_of_order_are_counted_in_page_order() -> None:
    entities = started()
    source = Source(distinct(40))
    newest_first = World(source.handlers(), lambda running: running[-1])
    episodes = run_chunk(chunk_run(40, batch_size=2, in_flight=4), source, entities, newest_first)

    saves = [data["next_seq"] for episode in episodes for entity, _, _, data in episode.context.signals
             if entity == CHECKPOINT and "next_seq" in data]
    assert saves == sorted(saves)
    batches = downloads(episodes)
    assert progress(entities).applied[CHUNK] == len(batches) - 1
    assert progress(entities).valid == len(source.records) == 40


# -- quota --------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_flight", [1, 3])
def test_a_chunk_asks_for_no_more_than_its_quota(in_flight: int) -> None:
    source = Source(distinct(100))
    episodes = run_chunk(chunk_run(10, batch_size=4, in_flight=in_flight), source,
                         respond=World(source.handlers(), _discover_first))
    asked = [DiscoverRequest.model_validate(c.payload).count for c in scheduled(episodes) if c.name == DISCOVER]
    assert asked == [4, 4, 2]
    assert [len(b.candidates) for b in downloads(episodes)] == [4, 4, 2]
    assert len(source.records) == outcome(episodes).valid == 10


def test_failed_downloads_are_made_up_by_further_pages_up_to_the_quota_exactly() -> None:
    results = [(url, None if i % 3 == 0 else content) for i, (url, content) in enumerate(distinct(60))]
    source = Source(results)
    episodes = run_chunk(chunk_run(10, batch_size=4, in_flight=2), source,
                         respond=World(source.handlers(), _discover_first))
    assert len(source.records) == outcome(episodes).valid == 10
    assert outcome(episodes).status is ChunkStatus.completed


def test_a_chunk_with_no_quota_asks_the_source_nothing() -> None:
    source = Source(distinct(10))
    episodes = run_chunk(chunk_run(0), source)
    assert source.discovers == 0 and outcome(episodes).status is ChunkStatus.completed


# -- continue_as_new ----------------------------------------------------------------------------


def test_history_is_bounded_by_continuing_as_new_with_the_whole_state() -> None:
    entities = started()
    source = Source(distinct(21))
    first = chunk_run(100, batch_size=3, history=2)
    episodes = run_chunk(first, source, entities)

    assert len(episodes) == 4  # 7 pages, 2 per history
    assert [len(offsets(e.context.scheduled)) for e in episodes] == [2, 2, 2, 1]
    carried = ChunkRun.model_validate(episodes[0].continued_with)
    expected = first.model_copy(update={"offset": 6, "seq": 2, "pages": 2, "downloaded": 6, "valid": 6,
                                        "announced": True})
    assert carried == expected
    assert [offsets(e.context.scheduled)[0] for e in episodes] == [0, 6, 12, 18]
    assert outcome(episodes).valid == progress(entities).valid == 21
    assert entities.checkpoint(JOB).chunks[CHUNK].pages_fetched == 7


# -- failures -----------------------------------------------------------------------------------


def test_a_download_that_fails_after_its_retries_fails_the_chunk_not_the_orchestration() -> None:
    entities = started()
    source = Source(distinct(20))
    handlers = source.handlers()

    def download(payload: dict[str, Any]) -> dict[str, Any]:
        if DownloadBatch.model_validate(payload).seq == 2:
            raise ActivityFailed("blob storage unavailable")
        return source.download(payload)

    handlers[DOWNLOAD] = download
    episodes = run_chunk(chunk_run(20, batch_size=4), source, entities, World(handlers))
    result = outcome(episodes)
    assert result.status is ChunkStatus.failed and result.error == "blob storage unavailable"
    assert result.valid == progress(entities).valid == 8  # the two batches before it counted
    assert progress(entities).chunks[CHUNK] is ChunkStatus.failed
    saved = entities.checkpoint(JOB).chunks[CHUNK]
    assert saved.status is ChunkStatus.failed and saved.next_seq == 2 and saved.next_offset == 8


def test_a_discovery_that_fails_after_its_retries_fails_the_chunk() -> None:
    source = Source(distinct(20))
    handlers = source.handlers()
    handlers[DISCOVER] = lambda payload: (_ for _ in ()).throw(ActivityFailed("DNS failure"))
    episodes = run_chunk(chunk_run(20), source, respond=World(handlers))
    result = outcome(episodes)
    assert result.status is ChunkStatus.failed and result.error == "DNS failure"


def test_a_wait_on_several_tasks_resumes_with_the_first_to_complete() -> None:
    """The fake's task_any is the SDK's: the winner is the first to complete, not the first
    listed (crawl_chunk's prefetch relies on it)."""
    context = FakeContext({})
    a, b = context.call_activity("a"), context.call_activity("b")
    b.succeed(1)
    a.succeed(2)
    assert WhenAny(children=[a, b]).winner() is b
