"""Stream a dataset's images and metadata into a zip, part by part, into an :class:`ArchiveSink`.

Memory stays flat whatever the dataset's size: at most ``prefetch`` images, one part of the
zip (about 1 MiB) and the manifest's spool (on disk past 8 MiB) are held at once.

Example::

    async def fetch_bytes(record: ImageRecord) -> bytes:
        return await blobs.download("images", record.blob_name)

    summary = await write_archive(store.iter_images(job_id), fetch_bytes,
                                  BlobBlockSink(blob_client), meta)
    summary.sha256, summary.size_bytes, summary.counts.per_split
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from typing import IO, NamedTuple

from shared.datasets.card import ArchiveTally, dataset_json, labels_csv, render_card
from shared.datasets.curation import admit
from shared.datasets.layout import (
    CARD, DATASET_JSON, LABELS_CSV, MANIFEST, image_path, manifest_line, manifest_row,
)
from shared.datasets.sinks import ArchiveSink, abort_sink
from shared.datasets.splits import split_for
from shared.datasets.zipstream import ZipStream
from shared.models.datasets import ArchiveSummary, DatasetMeta
from shared.models.images import ImageRecord

__all__ = [
    "UNREADABLE", "Admitted", "ArchiveBuilder", "FetchBytes", "admitted", "fetched", "intact", "skip_reason",
    "write_archive", "zip_time",
]

#: Reads a record's bytes; None when they are not there (its shard, or the range, is gone).
FetchBytes = Callable[[ImageRecord], Awaitable[bytes | None]]
#: The reason a record whose bytes could not be read is left out.
UNREADABLE = "unreadable"

_MANIFEST_SPOOL = 8 * 1024 * 1024


def zip_time(meta: DatasetMeta) -> tuple[int, int, int, int, int, int]:
    """The date and time every member of the dataset's archive carries (its creation)."""
    created = meta.created
    return (
        max(created.year, 1980), created.month, created.day,
        created.hour, created.minute, created.second,
    )  # fmt: skip


def skip_reason(record: ImageRecord, meta: DatasetMeta) -> str | None:
    """Why a record stays out of the archive: ``"missing"``, ``"excluded"``, ``"invalid"``,
    ``"duplicate"`` or ``"below_min_level"``; None when it goes in (the rule is :func:`~shared.datasets.
    curation.admit`).

    Example::

        skip_reason(record.model_copy(update={"is_valid": False}), meta)   # "invalid"
    """
    return admit(record, meta)[1]


class Admitted(NamedTuple):
    """A record that goes into the dataset, with the split it goes into (its label is
    ``record.label``)."""

    record: ImageRecord
    split: str


def intact(record: ImageRecord, data: bytes | None, tally: ArchiveTally) -> bool:
    """True when ``data`` are the record's bytes (their sha256); else the record is left out
    and named: ``unreadable`` when there were no bytes to read, ``bytes_mismatch`` when they
    were others."""
    if data is None:
        tally.skip(record, UNREADABLE)
        return False
    if hashlib.sha256(data).hexdigest() == record.sha256:
        return True
    tally.skip(record, "bytes_mismatch")
    return False


class ArchiveBuilder:
    """The synchronous half: lays records out (as ``meta.layout`` says: ``zip`` or
    ``imagefolder``), tallies them, and drives the zip."""

    def __init__(
        self,
        meta: DatasetMeta,
        spool: IO[bytes],
        *,
        zip_stream: ZipStream | None = None,
        tally: ArchiveTally | None = None,
    ) -> None:
        self.meta = meta
        self.tally = tally or ArchiveTally(splits=dict(meta.splits))
        self.zip = zip_stream or ZipStream(date_time=zip_time(meta))
        self.manifest = spool

    def add_image(self, record: ImageRecord, split: str, data: bytes | None) -> Iterator[bytes]:
        if not intact(record, data, self.tally):
            return
        assert data is not None
        member = image_path(self.meta.layout, record.label, split, record.sha256, record.format.extension)
        if member in self.zip.names:
            self.tally.skipped["repeated"] += 1
            return
        yield from self.zip.add_bytes(member, data, compress=False)
        row = manifest_row(record, member, split, len(data))
        self.manifest.write(manifest_line(row))
        self.tally.add(record, split)

    def _spooled_manifest(self) -> Iterator[bytes]:
        size = self.manifest.tell()
        self.manifest.seek(0)
        chunks = iter(lambda: self.manifest.read(self.zip.part_size), b"")
        yield from self.zip.add(MANIFEST, chunks, size=size, compress=True)

    def descriptions(self) -> Iterator[bytes]:
        """``labels.csv``, ``dataset.json`` and the card, from the tally."""
        for name, text in (
            (LABELS_CSV, labels_csv(self.tally)),
            (DATASET_JSON, dataset_json(self.meta, self.tally)),
            (CARD, render_card(self.meta, self.tally)),
        ):
            yield from self.zip.add_bytes(name, text.encode("utf-8"), compress=True)

    def finish(self) -> Iterator[bytes]:
        yield from self._spooled_manifest()
        yield from self.descriptions()
        yield from self.zip.finish()

    def summary(self) -> ArchiveSummary:
        return ArchiveSummary(
            counts=self.tally.counts(),
            size_bytes=self.zip.size,
            sha256=self.zip.sha256,
            members=len(self.zip.names),
            skipped=dict(sorted(self.tally.skipped.items())),
            left_out=self.tally.named(),
            licenses=dict(sorted(self.tally.licenses.items())),
        )


async def admitted(
    records: AsyncIterable[ImageRecord], meta: DatasetMeta, tally: ArchiveTally
) -> AsyncIterator[Admitted]:
    """The one rule of what goes into a dataset, the same for every layout: which records go
    in and under which label after review (:func:`~shared.datasets.curation.admit`; the others
    are counted in ``tally.skipped`` by reason), and in which split
    (:func:`~shared.datasets.splits.split_for`)."""
    async for record in records:
        packed, reason = admit(record, meta)
        if packed is not None:
            yield Admitted(packed, split_for(packed.sha256, meta.splits))
        else:
            tally.skip(record, reason or "unknown")


async def fetched(
    admitted: AsyncIterable[Admitted], fetch_bytes: FetchBytes, window: int
) -> AsyncIterator[tuple[Admitted, bytes | None]]:
    """Admitted records with their bytes (None: unreadable), in input order, fetching up to
    ``window`` ahead."""
    pending: deque[tuple[Admitted, asyncio.Task[bytes | None]]] = deque()
    try:
        async for entry in admitted:
            pending.append((entry, asyncio.ensure_future(fetch_bytes(entry.record))))
            if len(pending) >= window:
                ready, task = pending.popleft()
                yield ready, await task
        while pending:
            ready, task = pending.popleft()
            yield ready, await task
    finally:
        for _, task in pending:
            task.cancel()


async def write_archive(
    records: AsyncIterable[ImageRecord],
    fetch_bytes: FetchBytes,
    sink: ArchiveSink,
    meta: DatasetMeta,
    *,
    prefetch: int = 4,
) -> ArchiveSummary:
    """Write the dataset archive of ``records`` into ``sink`` and close it (layouts ``zip``
    and ``imagefolder``; a ``webdataset`` is built by :mod:`shared.datasets.webdataset`).

    Records whose bytes a verify found lost, that a reviewer excluded, invalid, flagged
    duplicates (unless ``meta.include_duplicates``), validated below ``meta.min_level``,
    repeated, whose bytes could not be read (``fetch_bytes`` answered None) or do not match
    their sha256 are left out and counted in ``summary.skipped`` (the lost ones also named in
    ``summary.left_out``). ``fetch_bytes`` runs for up to
    ``prefetch`` records at once; the archive keeps the input order.

    If anything fails, the sink is aborted (when it has ``abort()``) instead of closed, so a
    half-built archive is never committed, and the error propagates.
    """
    if prefetch < 1:
        raise ValueError(f"prefetch must be at least 1, got {prefetch}")
    with tempfile.SpooledTemporaryFile(max_size=_MANIFEST_SPOOL, mode="w+b") as spool:
        builder = ArchiveBuilder(meta, spool)
        try:
            packed = admitted(records, meta, builder.tally)
            async for (record, split), data in fetched(packed, fetch_bytes, prefetch):
                for part in builder.add_image(record, split, data):
                    await sink.write(part)
            for part in builder.finish():
                await sink.write(part)
            await sink.close()
        except BaseException:
            builder.zip.discard()
            await abort_sink(sink)
            raise
    return builder.summary()
