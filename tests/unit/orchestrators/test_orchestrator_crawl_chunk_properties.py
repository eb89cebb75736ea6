"""crawl_chunk's invariants, driven by the fake durable context: with several download batches
in flight, completing in any order, continuing as new every few pages, and the chunk
cancelled and resumed from its checkpoint at any point, it stores exactly the images an
uninterrupted run stores, counts each once, never counts nor stores more than its quota, and
an uninterrupted run never schedules a URL twice across its continue_as_new episodes.

The progress counters and the checkpoint are the app's own entity reducers."""

from __future__ import annotations

import random
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import DownloadBatch
from tests.unit.orchestrators._crawlworld import CHUNK, JOB, Source, chunk_run, progress, started
from tests.unit.orchestrators._durable import (
    DOWNLOAD, Cancel, Episode, FakeContext, Task, World, crawl_chunk, drive_through,
)


class Shuffled(World):
    """Completes what the chunk waits on in an order drawn from ``rng``: scheduled batches may
    finish while it waits on others; after ``stop_after`` waits the chunk is cancelled (some
    batches in flight ran, their results lost)."""

    def __init__(self, source: Source, rng: random.Random, stop_after: int | None) -> None:
        super().__init__(source.handlers(), lambda running: rng.choice(running))
        self.rng, self.stop_after, self.waits = rng, stop_after, 0
        self.most_running = 0

    def __call__(self, context: FakeContext, task: Task) -> None:
        self.waits += 1
        batches = context.running(DOWNLOAD)
        self.most_running = max(self.most_running, len(batches))
        if self.stop_after is not None and self.waits > self.stop_after:
            for call in batches:
                if self.rng.random() < 0.5:
                    self.run(call)
            raise Cancel
        for call in batches:
            if self.rng.random() < 0.2:
                self.run(call)
        super().__call__(context, task)


def urls(episodes: list[Episode]) -> list[str]:
    return [candidate.url for episode in episodes for call in episode.context.scheduled if call.name == DOWNLOAD
            for candidate in DownloadBatch.model_validate(call.payload).candidates]


def batches_valid(episodes: list[Episode]) -> int:
    return sum(call.result["valid"] for episode in episodes for call in episode.context.scheduled
               if call.name == DOWNLOAD and isinstance(call.result, dict))


@settings(max_examples=300)
@given(
    contents=st.lists(st.one_of(st.none(), st.integers(0, 40).map(str)), min_size=0, max_size=60),
    quota=st.integers(1, 40),
    batch_size=st.integers(1, 9),
    in_flight=st.integers(1, 4),
    history=st.integers(1, 8),
    cancels=st.lists(st.integers(2, 24), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_a_chunk_cancelled_and_resumed_anywhere_stores_and_counts_what_an_uninterrupted_one_does(
    contents: list[str | None], quota: int, batch_size: int, in_flight: int, history: int,
    cancels: list[int], seed: int,
) -> None:
    results = [(f"https://example.org/{i}", content) for i, content in enumerate(contents)]
    rng = random.Random(seed)
    unique = len({c for c in contents if c is not None})

    reference = Source(results)
    entities = started()
    world = Shuffled(reference, rng, None)
    episodes = drive_through(crawl_chunk, chunk_run(quota, batch_size=batch_size, in_flight=in_flight,
                                                    history=history).model_dump(mode="json"), world, entities)
    assert episodes[-1].output is not None
    expected = progress(entities)
    assert expected.valid == batches_valid(episodes) == len(reference.records) == min(quota, unique)
    assert expected.downloaded <= sum(1 for c in contents if c is not None)
    assert world.most_running <= in_flight
    scheduled_urls = urls(episodes)
    assert len(scheduled_urls) == len(set(scheduled_urls)), "a URL scheduled twice"
    assert all(len(e.context.calls(DOWNLOAD)) <= history for e in episodes)

    source = Source(results)
    entities = started()
    run = chunk_run(quota, batch_size=batch_size, in_flight=in_flight, history=history)
    for number, stop_after in enumerate([*cancels, None], start=1):
        episodes = drive_through(crawl_chunk, run.model_dump(mode="json"), Shuffled(source, rng, stop_after), entities)
        assert progress(entities).valid <= quota, "counted more than the quota"
        assert len(source.records) <= quota, "stored more than the quota"
        if not episodes[-1].cancelled:
            break
        point = entities.checkpoint(JOB).chunks.get(CHUNK)  # where a resume starts
        started(number + 1, entities)
        run = chunk_run(quota, batch_size=batch_size, in_flight=in_flight, history=history, run=number + 1)
        if point is not None:
            run.offset, run.seq = point.next_offset, point.next_seq
            run.valid, run.downloaded = point.valid, point.downloaded
        assert run.valid == progress(entities).valid, "the checkpoint agrees with the counters"
    assert set(source.records) == set(reference.records)
    assert progress(entities).valid == len(source.records) == expected.valid

