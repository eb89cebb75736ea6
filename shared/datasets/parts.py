"""A dataset zip (layouts ``zip`` and ``imagefolder``) built in parts: one activity per part,
each well within functionTimeout.

Every part streams its share of the images into uncommitted blocks of the one archive blob
(block ids carry the part's number), and leaves two small blobs behind: its members'
central-directory entries and its manifest lines. What the next part needs (offset, running
sha256, block counts, the tally) is a small :class:`~shared.models.DatasetBuildState`.
The last step writes the manifest, ``labels.csv``, ``dataset.json``, the card and the central
directory of every member, then commits all blocks at once: until then readers see nothing
(or the previous archive), and the bytes are exactly those of :func:`write_archive` for the
same records.

Example::

    state = await write_part(records, fetch_bytes, staged, blobs, build)
    ...
    summary = await finish_parts(staged, blobs, build.model_copy(update={"state": state}), meta)
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable

from shared.datasets.archive import ArchiveBuilder, FetchBytes, admitted, fetched, zip_time
from shared.datasets.card import ArchiveTally
from shared.datasets.layout import MANIFEST
from shared.datasets.resumable import ResumableSha256
from shared.datasets.sinks import DEFAULT_BLOCK_SIZE, BlobBlockSink
from shared.datasets.zipdir import CentralDirectory, ZipEntry
from shared.datasets.zipstream import ZipStream
from shared.models.datasets import ArchiveSummary, DatasetBuild, DatasetBuildState, DatasetMeta
from shared.models.images import ImageRecord
from shared.names import DATASETS_CONTAINER, NDJSON_CONTENT_TYPE
from shared.storage import BlobStore, StagedBlob

__all__ = ["delete_blobs", "finish_parts", "part_blob", "remove_parts", "write_part"]



def part_blob(dataset_id: str, part: int, kind: str) -> str:
    """Blob name of a part's ``entries`` or ``manifest`` (container ``datasets``).

    >>> part_blob("d1", 3, "entries")
    'parts/d1/000003.entries.jsonl'
    """
    return f"parts/{dataset_id}/{part:06d}.{kind}.jsonl"


def _stream(meta: DatasetMeta, state: DatasetBuildState) -> ZipStream:
    hasher = ResumableSha256.resume(state.sha256_state) if state.sha256_state else ResumableSha256()
    return ZipStream(zip_time(meta), start=state.offset, hasher=hasher)


async def write_part(
    records: AsyncIterable[ImageRecord],
    fetch_bytes: FetchBytes,
    staged: StagedBlob,
    blobs: BlobStore,
    build: DatasetBuild,
    *,
    prefetch: int = 4,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> DatasetBuildState:
    """Pack ``records`` as part ``build.state.part``; the state the next part starts from
    (its ``continuation`` and ``done`` are the caller's to set). Run again with the same
    input, it stages the same blocks and blobs: a retried part changes nothing."""
    meta, state = build.meta, build.state
    stream = _stream(meta, state)
    tally = ArchiveTally.resume(meta.splits, state.tally)
    manifest = io.BytesIO()
    builder = ArchiveBuilder(meta, manifest, zip_stream=stream, tally=tally)
    sink = BlobBlockSink(staged, block_size, part=state.part)
    try:
        async for (record, split), data in fetched(admitted(records, meta, tally), fetch_bytes, prefetch):
            for piece in builder.add_image(record, split, data):
                await sink.write(piece)
        await sink.flush()
    finally:
        stream.discard()
    entries = stream.entries()
    dataset_id = meta.dataset_id
    lines = "".join(entry.to_json() + "\n" for entry in entries).encode()
    await blobs.put(DATASETS_CONTAINER, part_blob(dataset_id, state.part, "entries"), lines, NDJSON_CONTENT_TYPE, overwrite=True)
    text = manifest.getvalue()
    await blobs.put(DATASETS_CONTAINER, part_blob(dataset_id, state.part, "manifest"), text, NDJSON_CONTENT_TYPE, overwrite=True)
    assert isinstance(stream.hasher, ResumableSha256)
    return state.model_copy(update={
        "part": state.part + 1, "offset": stream.size, "sha256_state": stream.hasher.state(),
        "blocks": [*state.blocks, len(sink.block_ids)], "members": state.members + len(entries),
        "manifest_bytes": state.manifest_bytes + len(text), "tally": tally.saved(),
    })  # fmt: skip


class _Tail:
    """The last step's output: blocks of the sink, hashed on the way (the directory is
    written here, not through the zip stream)."""

    def __init__(self, stream: ZipStream, sink: BlobBlockSink) -> None:
        self.stream = stream
        self.sink = sink

    async def write(self, data: bytes, *, hashed: bool = True) -> None:
        if not hashed:
            self.stream.hasher.update(data)
        await self.sink.write(data)


async def finish_parts(
    staged: StagedBlob,
    blobs: BlobStore,
    build: DatasetBuild,
    meta: DatasetMeta,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> ArchiveSummary:
    """Write the manifest, the descriptions and the central directory after the last part,
    and commit every part's blocks. ``meta`` is ``build.meta`` with the job's settings (for
    the card)."""
    state, dataset_id = build.state, meta.dataset_id
    stream = _stream(meta, state)
    tally = ArchiveTally.resume(meta.splits, state.tally)
    builder = ArchiveBuilder(meta, io.BytesIO(), zip_stream=stream, tally=tally)
    out = _Tail(stream, BlobBlockSink(staged, block_size, part=state.part))
    member = stream.open_member(MANIFEST, size=state.manifest_bytes, compress=True)
    for part in range(state.part):
        lines = await blobs.get(DATASETS_CONTAINER, part_blob(dataset_id, part, "manifest"))
        await out.write(member.write(lines))
    await out.write(member.close())
    for piece in builder.descriptions():
        await out.write(piece)
    directory = CentralDirectory(start=stream.size)
    stream.discard()
    for part in range(state.part):
        lines = await blobs.get(DATASETS_CONTAINER, part_blob(dataset_id, part, "entries"))
        entries = (ZipEntry.from_json(line) for line in lines.decode().splitlines())
        await out.write(directory.records(entries), hashed=False)
    last = directory.records(stream.entries())
    end = directory.end()
    await out.write(last + end, hashed=False)
    await out.sink.flush()
    blocks = [*state.blocks, len(out.sink.block_ids)]
    ids = [BlobBlockSink.part_block_id(p, i) for p, n in enumerate(blocks) for i in range(n)]
    await staged.commit_block_list(ids)
    size = directory.start + directory.size + len(end)
    return builder.summary().model_copy(update={"size_bytes": size, "members": directory.count})


async def remove_parts(blobs: BlobStore, dataset_id: str, parts: int) -> None:
    """Delete the parts' entries and manifest blobs (they are not needed once committed)."""
    await delete_blobs(blobs, [part_blob(dataset_id, p, kind) for p in range(parts) for kind in ("entries", "manifest")])


async def delete_blobs(blobs: BlobStore, names: list[str]) -> None:
    """Delete blobs of the ``datasets`` container, 32 at a time (a missing one is no error)."""
    for start in range(0, len(names), 32):
        await asyncio.gather(*(blobs.delete(DATASETS_CONTAINER, n) for n in names[start : start + 32]))
