"""A source and an image store for driving crawl_chunk: the source's result list (URL ->
content, None for a URL whose download fails), which discover calls it refuses, and the store.

The download activity is a model of ``shared.crawl.BatchProcessor``'s rule: records keyed by
content, created if absent; a record found again from the same place (chunk, position, URL) is
the batch's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.models import (
    BatchResult, Candidate, ChunkRun, ChunkSpec, DiscoverRequest, DiscoverResult, DownloadBatch, ProgressState,
    SourceSpec, StartRun, ValidationRules,
)
from tests.unit.orchestrators._durable import DISCOVER, DOWNLOAD, Entities

JOB = "j"
CHUNK = "c0"


def chunk_run(quota: int, *, batch_size: int = 4, in_flight: int = 1, history: int = 1000, run: int = 1) -> ChunkRun:
    spec = ChunkSpec(chunk_id=CHUNK, job_id=JOB, index=0, label="cat", query="cat",
                     source=SourceSpec(type="wikimedia"), quota=quota)
    return ChunkRun(job_id=JOB, user_id="u", run=run, chunk=spec, rules=ValidationRules(min_width=64),
                    batch_size=batch_size, history_limit=history, batches_in_flight=in_flight)


def started(run: int = 1, entities: Entities | None = None) -> Entities:
    """The entities of a job whose run ``run`` has begun with the one chunk."""
    entities = entities if entities is not None else Entities()
    entities.progress_states[JOB] = entities.progress(JOB).start_run(
        StartRun(run=run, chunk_ids=[CHUNK], reset=run == 1)
    )
    return entities


def distinct(count: int) -> list[tuple[str, str | None]]:
    return [(f"https://example.org/{i}", str(i)) for i in range(count)]


@dataclass
class Source:
    results: list[tuple[str, str | None]]
    #: discover call number (from 1) -> the refusal it gets instead of a page
    refuse: Callable[[int], DiscoverResult | None] = lambda number: None
    records: dict[str, tuple[int, str]] = field(default_factory=dict)  # content -> (position, url)
    discovers: int = 0

    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        return {DISCOVER: self.discover, DOWNLOAD: self.download}

    def discover(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.discovers += 1
        refusal = self.refuse(self.discovers)
        if refusal is not None:
            return refusal.model_dump(mode="json")
        request = DiscoverRequest.model_validate(payload)
        end = request.offset + request.count
        page = [Candidate(url=url, source="test") for url, _ in self.results[request.offset:end]]
        return DiscoverResult(candidates=page, next_offset=end if end < len(self.results) else None).model_dump(
            mode="json"
        )

    def download(self, payload: dict[str, Any]) -> dict[str, Any]:
        batch = DownloadBatch.model_validate(payload)
        first: dict[str, tuple[int, str]] = {}
        failed = duplicates = 0
        for index, candidate in enumerate(batch.candidates):
            content = self.results[batch.offset + index][1]
            if content is None:
                failed += 1
            elif content in first:
                duplicates += 1
            else:
                first[content] = (batch.offset + index, candidate.url)
        valid = 0
        for content, place in first.items():
            stored = self.records.setdefault(content, place)
            if stored == place:
                valid += 1
            else:
                duplicates += 1
        return BatchResult(
            batch_id=batch.batch_id, chunk_id=batch.chunk_id, seq=batch.seq, run=batch.run,
            attempted=len(batch.candidates), downloaded=len(batch.candidates) - failed, valid=valid,
            duplicates=duplicates, failed={"http_error": failed} if failed else {},
        ).model_dump(mode="json")


def progress(entities: Entities) -> ProgressState:
    return entities.progress(JOB)
