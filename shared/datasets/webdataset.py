"""A dataset as WebDataset tar shards, built in parts: ``{split}-{000000}.tar`` in the
``datasets`` container under ``datasets/{dataset_id}/``, each holding at most
``shard_images`` images and ``shard_bytes`` bytes (a single image larger than that gets a
shard of its own), with ``dataset.json`` (which lists every shard), ``labels.csv`` and the
``README.md`` card beside them.

Per image a shard holds ``{sha256}.{ext}`` (the bytes) and ``{sha256}.json`` (its manifest
line: label, split, shard, source, url, license, ...): ``webdataset.WebDataset(urls)`` yields
one sample per image with keys ``__key__``, the extension and ``json``.

Every split has one open shard at a time. A part (one activity) appends its images to the
open shards as staged, uncommitted blocks whose ids carry the part's number; a shard that is
full is committed at once (its blocks from every part so far), with its sha256, image count
and split in its metadata. What the next part needs of each open shard (its number, size,
image count, running sha256 and how many blocks each part staged) is a small
:class:`~shared.models.ShardState`.
The last step commits the open shards and writes the three files. A retried part stages the
same blocks under the same ids, and a commit repeated lists the same blocks (committed or
not), so retries change nothing.

Memory per part: at most ``block_size`` bytes buffered across all open shards (the largest
buffer is staged whenever the total passes it), plus the ``prefetch`` images being read.

Example::

    state = await write_shards_part(records, fetch_bytes, blobs, build, block_size=8 << 20)
    ...
    summary = await finish_shards(blobs, build.model_copy(update={"state": state}), meta)
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from urllib.parse import quote, unquote

from shared.datasets.archive import FetchBytes, admitted, fetched, intact
from shared.datasets.card import ArchiveTally, dataset_json, labels_csv, render_card
from shared.datasets.layout import (
    CARD, DATASET_JSON, LABELS_CSV, image_path, manifest_line, manifest_row, shard_name,
)
from shared.datasets.parts import DATASETS_CONTAINER, delete_blobs
from shared.datasets.resumable import ResumableSha256
from shared.datasets.sinks import DEFAULT_BLOCK_SIZE, BlobBlockSink
from shared.models.datasets import (
    ArchiveSummary, DatasetBuild, DatasetBuildState, DatasetFile, DatasetLayout, DatasetMeta,
    ShardState, dataset_prefix,
)
from shared.models.images import ImageRecord
from shared.shards import TAR_CONTENT_TYPE, TAR_END, tar_header, tar_padding
from shared.storage import BlobStore, StagedBlob
from shared.storage.blob import BlobInfo

__all__ = [
    "SHA256_KEY", "DatasetFileInfo", "dataset_files", "finish_shards", "put_file",
    "remove_files", "write_shards_part",
]

#: Blob metadata of every file of a webdataset: its sha256 (and for a shard, images and split).
SHA256_KEY = "sha256"
_IMAGES_KEY = "images"
_SPLIT_KEY = "split"
_TYPES = {
    DATASET_JSON: "application/json",
    LABELS_CSV: "text/csv; charset=utf-8",
    CARD: "text/markdown; charset=utf-8",
}


def _member_size(size: int) -> int:
    return 512 + size + (-size % 512)


class _Shard:
    """One split's open shard, as this part writes it."""

    def __init__(self, blobs: BlobStore, meta: DatasetMeta, split: str, state: ShardState, part: int) -> None:
        self.split = split
        self.name = shard_name(split, state.index)
        self.staged = blobs.staged(DATASETS_CONTAINER, dataset_prefix(meta.dataset_id) + self.name, TAR_CONTENT_TYPE)
        self.state = state.model_copy(deep=True)
        self.hasher = ResumableSha256.resume(state.sha256_state) if state.sha256_state else ResumableSha256()
        self.part = part
        self.buffer = bytearray()

    def fits(self, size: int, build: DatasetBuild) -> bool:
        """Whether a sample of ``size`` tar bytes may join (an empty shard takes anything)."""
        if self.state.images == 0:
            return True
        within_bytes = self.state.size + size + len(TAR_END) <= build.shard_bytes
        return self.state.images < build.shard_images and within_bytes

    def append(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.buffer += piece
            self.hasher.update(piece)
            self.state.size += len(piece)

    async def stage(self) -> None:
        """Stage what is buffered as the next block of this part (uncommitted)."""
        if not self.buffer:
            return
        blocks = self.state.blocks
        here = blocks[-1][1] if blocks and blocks[-1][0] == self.part else 0
        await self.staged.stage_block(BlobBlockSink.part_block_id(self.part, here), bytes(self.buffer))
        if here:
            blocks[-1] = (self.part, here + 1)
        else:
            blocks.append((self.part, 1))
        self.buffer.clear()

    async def commit(self) -> None:
        """End the tar and commit every block staged for it, by every part."""
        self.append(TAR_END)
        await self.stage()
        metadata = {
            SHA256_KEY: self.hasher.hexdigest(), _IMAGES_KEY: str(self.state.images),
            _SPLIT_KEY: quote(self.split, safe=""),
        }  # fmt: skip
        ids = [BlobBlockSink.part_block_id(part, i) for part, count in self.state.blocks for i in range(count)]
        await self.staged.commit_block_list(ids, metadata)

    def saved(self) -> ShardState:
        return self.state.model_copy(update={"sha256_state": self.hasher.state()})


class _ShardSet:
    """The open shard of every split within one part (or the last step)."""

    def __init__(self, blobs: BlobStore, build: DatasetBuild, tally: ArchiveTally, block_size: int) -> None:
        self.blobs = blobs
        self.build = build
        self.tally = tally
        self.block_size = block_size
        self.mtime = int(build.meta.created.timestamp())
        self.open: dict[str, _Shard] = {}
        self.seen: set[str] = set()

    def shard(self, split: str) -> _Shard:
        if split not in self.open:
            state = self.build.state.shards.get(split, ShardState())
            self.open[split] = _Shard(self.blobs, self.build.meta, split, state, self.build.state.part)
        return self.open[split]

    async def add(self, record: ImageRecord, split: str, data: bytes | None) -> None:
        if not intact(record, data, self.tally):
            return
        assert data is not None
        if record.sha256 in self.seen:
            self.tally.skipped["repeated"] += 1
            return
        self.seen.add(record.sha256)
        key = image_path(DatasetLayout.webdataset, record.label, split, record.sha256, record.format.extension)
        shard = self.shard(split)
        row = manifest_line(manifest_row(record, key, split, len(data), shard=shard.name))
        if not shard.fits(_member_size(len(data)) + _member_size(len(row)), self.build):
            await shard.commit()
            next_state = ShardState(index=shard.state.index + 1)
            shard = self.open[split] = _Shard(self.blobs, self.build.meta, split, next_state, self.build.state.part)
            row = manifest_line(manifest_row(record, key, split, len(data), shard=shard.name))
        json_name = key.rsplit(".", 1)[0] + ".json"
        shard.append(
            tar_header(key, len(data), self.mtime), data, tar_padding(len(data)),
            tar_header(json_name, len(row), self.mtime), row, tar_padding(len(row)),
        )  # fmt: skip
        shard.state.images += 1
        self.tally.add(record, split)
        while sum(len(s.buffer) for s in self.open.values()) > self.block_size:
            await max(self.open.values(), key=lambda s: len(s.buffer)).stage()

    async def flush(self) -> dict[str, ShardState]:
        """Stage what every open shard buffers; the states the next part starts from."""
        for shard in self.open.values():
            await shard.stage()
        return {**self.build.state.shards, **{split: s.saved() for split, s in self.open.items()}}

    async def commit_all(self) -> None:
        """Commit every open shard that holds an image (the last step)."""
        for split, state in self.build.state.shards.items():
            if state.images:
                await self.shard(split).commit()


async def write_shards_part(
    records: AsyncIterable[ImageRecord],
    fetch_bytes: FetchBytes,
    blobs: BlobStore,
    build: DatasetBuild,
    *,
    prefetch: int = 4,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> DatasetBuildState:
    """Pack ``records`` into the open shards as part ``build.state.part``; the state the next
    part starts from (its ``continuation`` and ``done`` are the caller's to set)."""
    meta, state = build.meta, build.state
    tally = ArchiveTally.resume(meta.splits, state.tally)
    shards = _ShardSet(blobs, build, tally, block_size)
    async for (record, split), data in fetched(admitted(records, meta, tally), fetch_bytes, prefetch):
        await shards.add(record, split, data)
    saved = await shards.flush()
    return state.model_copy(update={"part": state.part + 1, "tally": tally.saved(), "shards": saved})


async def put_file(blobs: BlobStore, name: str, data: bytes, content_type: str) -> str:
    """Write a small file of a webdataset with its sha256 in its metadata; the sha256.
    (One staged block and a commit: a repeated call writes the same blob.)"""
    digest = hashlib.sha256(data).hexdigest()
    staged = blobs.staged(DATASETS_CONTAINER, name, content_type)
    await staged.stage_block(StagedBlob.block_id(0), data)
    await staged.commit_block_list([StagedBlob.block_id(0)], {SHA256_KEY: digest})
    return digest


class DatasetFileInfo:
    """A committed file of a webdataset: blob name, file name, size, sha256; for a shard its
    split and images."""

    def __init__(self, blob: BlobInfo) -> None:
        self.blob_name = blob.name
        self.name = blob.name.rsplit("/", 1)[-1]
        self.size_bytes = blob.size
        self.sha256 = blob.metadata.get(SHA256_KEY, "")
        split = blob.metadata.get(_SPLIT_KEY)
        self.split = unquote(split) if split is not None else None
        images = blob.metadata.get(_IMAGES_KEY)
        self.images = int(images) if images is not None else None

    @property
    def is_shard(self) -> bool:
        return self.name.endswith(".tar")

    def file(self) -> DatasetFile:
        """The file as the download route lists it (its URL is the caller's to sign)."""
        return DatasetFile(
            name=self.name, url="", size_bytes=self.size_bytes, sha256=self.sha256,
            split=self.split, images=self.images,
        )  # fmt: skip

    def row(self) -> dict[str, object]:
        """The shard as ``dataset.json`` lists it."""
        return {
            "name": self.name, "split": self.split, "images": self.images,
            "size_bytes": self.size_bytes, "sha256": self.sha256,
        }  # fmt: skip


async def dataset_files(blobs: BlobStore, dataset_id: str) -> AsyncIterator[DatasetFileInfo]:
    """The committed files of a webdataset, in name order (uncommitted blocks are invisible)."""
    async for blob in blobs.list(DATASETS_CONTAINER, dataset_prefix(dataset_id), metadata=True):
        info = DatasetFileInfo(blob)
        if info.sha256:
            yield info


async def finish_shards(
    blobs: BlobStore, build: DatasetBuild, meta: DatasetMeta, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> ArchiveSummary:
    """Commit the open shards, then write ``labels.csv``, the card and ``dataset.json`` (which
    lists every shard). ``meta`` is ``build.meta`` with the job's settings (for the card).
    The summary's ``sha256`` is ``dataset.json``'s (it pins every shard's), its size all files'."""
    tally = ArchiveTally.resume(meta.splits, build.state.tally)
    await _ShardSet(blobs, build, tally, block_size).commit_all()
    shards = [info async for info in dataset_files(blobs, meta.dataset_id) if info.is_shard]
    prefix = dataset_prefix(meta.dataset_id)
    size = sum(shard.size_bytes for shard in shards)
    digest = ""
    for name, text in (
        (LABELS_CSV, labels_csv(tally)),
        (CARD, render_card(meta, tally)),
        (DATASET_JSON, dataset_json(meta, tally, [shard.row() for shard in shards])),
    ):
        data = text.encode("utf-8")
        digest = await put_file(blobs, prefix + name, data, _TYPES[name])
        size += len(data)
    return ArchiveSummary(
        counts=tally.counts(), size_bytes=size, sha256=digest, members=len(shards) + 3,
        skipped=dict(sorted(tally.skipped.items())), left_out=tally.named(),
        licenses=dict(sorted(tally.licenses.items())),
    )  # fmt: skip


async def remove_files(blobs: BlobStore, dataset_id: str) -> None:
    """Delete every committed file of a webdataset (a failed or deleted dataset's)."""
    names = [blob.name async for blob in blobs.list(DATASETS_CONTAINER, dataset_prefix(dataset_id))]
    await delete_blobs(blobs, names)
