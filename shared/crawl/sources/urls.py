"""The user's own URL list (a ``urls`` source): no search, the list is the result.

A job's list is stored once, when the job is created: in Blob Storage, cut into parts of
``url_chunk_size`` URLs (one blob per part, one URL per line), and the job keeps only a
:class:`~shared.models.UrlList` saying where. Each part is a chunk of its own, so a long list
is crawled by many chunks in parallel, and what travels through the orchestrations is a part
number and an offset, never the list.

The offset is a position in the part; the label travels with the chunk, not with each URL.

Example::

    job = await store_url_lists(blobs, job, chunk_size=1000)   # urls -> url_list
    urls = await read_url_part(blobs, chunk)                   # the chunk's part
    page = await UrlListSource(urls).search("ignored", offset=0, count=50)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from shared.models import Candidate, ChunkSpec, Job, SearchPage, SourceType, UrlList

NAME = "urls"
_CONTENT_TYPE = "text/plain; charset=utf-8"
_PARALLEL_PUTS = 16


class UrlListSource:
    """A fixed list of image URLs, sliced by offset and count."""

    name = NAME

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = [u.strip() for u in urls if u.strip()]

    async def search(self, keyword: str, offset: int, count: int) -> SearchPage:
        end = offset + count
        return SearchPage(
            candidates=[Candidate(url=u, source=NAME) for u in self.urls[offset:end]],
            next_offset=end if end < len(self.urls) else None,
        )


class PartStore(Protocol):
    async def put(
        self, container: str, name: str, data: bytes, content_type: str, overwrite: bool = False
    ) -> bool: ...

    async def get(self, container: str, name: str) -> bytes: ...


def _split(blob_name: str) -> tuple[str, str]:
    container, _, name = blob_name.partition("/")
    return container, name


async def store_url_lists(blobs: PartStore, job: Job, chunk_size: int) -> Job:
    """Store every inline ``urls`` list of ``job`` in parts and return the job with each
    such source's ``urls`` replaced by its ``url_list``."""
    puts = []
    sources = []
    for index, source in enumerate(job.sources):
        if source.type is not SourceType.urls or not source.urls:
            sources.append(source)
            continue
        stored = UrlList(prefix=f"images/{job.id}/urls/{index}/", count=len(source.urls), chunk_size=chunk_size)
        for part in range(stored.parts):
            lines = source.urls[part * chunk_size : (part + 1) * chunk_size]
            puts.append((stored.part_blob(part), "\n".join(lines).encode()))
        sources.append(source.model_copy(update={"urls": None, "url_list": stored}))
    gate = asyncio.Semaphore(_PARALLEL_PUTS)

    async def put(blob_name: str, data: bytes) -> None:
        async with gate:
            await blobs.put(*_split(blob_name), data, _CONTENT_TYPE, overwrite=True)

    await asyncio.gather(*(put(name, data) for name, data in puts))
    return job.model_copy(update={"sources": sources})


async def read_url_part(blobs: PartStore, chunk: ChunkSpec) -> list[str]:
    """The URLs of a chunk of a stored ``urls`` list (its part's blob)."""
    stored = chunk.source.url_list
    if stored is None or chunk.part is None:
        return list(chunk.source.urls or [])
    data = await blobs.get(*_split(stored.part_blob(chunk.part)))
    return data.decode().splitlines()
