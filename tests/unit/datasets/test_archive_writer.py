"""write_archive: the zip, its manifest and the input records agree; memory stays flat."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import tempfile
import tracemalloc
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_records import BlobLikeStore, aiter_records
from shared.datasets import (
    METADATA_MEMBERS, BlobBlockSink, FileSink, is_safe_member, safe_label, split_for,
    write_archive,
)
from shared.models.base import Level
from shared.models.datasets import ArchiveSummary, DatasetMeta
from shared.models.images import ImageRecord
from shared.models.jobs import JobCreate

CREATED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
JOB = JobCreate.model_validate(
    {"name": "pets", "keywords": ["cat", "dog"], "sources": ["wikimedia", "openverse"]}
)


def meta(**overrides: object) -> DatasetMeta:
    fields: dict[str, object] = {
        "dataset_id": "ds-1", "name": "pets", "job_id": "job-1", "created": CREATED, "job": JOB,
    }
    fields.update(overrides)
    return DatasetMeta.model_validate(fields)


def build(store: BlobLikeStore, records: list[ImageRecord], path: Path, **kw: object) -> ArchiveSummary:
    return asyncio.run(write_archive(aiter_records(records), store.fetch, FileSink(path), meta(**kw)))


def read_manifest(archive: zipfile.ZipFile) -> list[dict[str, object]]:
    return [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]


label_text = st.one_of(
    st.sampled_from(["cat", "Cat", "..", ".", "a/b", "a\\b", "../../x", "猫", "é/é", "CON", " "]),
    st.text(min_size=0, max_size=20),
)


@given(
    labelled=st.lists(
        st.tuples(label_text, st.binary(min_size=1, max_size=300)), min_size=0, max_size=25
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_manifest_members_and_records_agree(labelled: list[tuple[str, bytes]]) -> None:
    store = BlobLikeStore()
    records: list[ImageRecord] = []
    seen: set[str] = set()
    for label, data in labelled:
        if hashlib.sha256(data).hexdigest() not in seen:
            seen.add(hashlib.sha256(data).hexdigest())
            records.append(store.add(data, label))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ds.zip"
        summary = build(store, records, path)
        raw = path.read_bytes()
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
            names = archive.namelist()
            manifest = read_manifest(archive)
            contents = {row["file"]: archive.read(str(row["file"])) for row in manifest}
            labels_rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
            described = json.loads(archive.read("dataset.json"))

    assert all(is_safe_member(name) for name in names)
    assert sorted(names) == sorted([str(row["file"]) for row in manifest] + list(METADATA_MEMBERS))
    assert len(manifest) == len(records) == summary.counts.total
    by_sha = {r.sha256: r for r in records}
    for row in manifest:
        record = by_sha[str(row["sha256"])]
        assert row["label"] == record.label
        assert row["file"] == f"{safe_label(record.label)}/{record.sha256}.jpg"
        assert row["split"] == split_for(record.sha256, meta().splits)
        assert contents[str(row["file"])] == store.blobs[record.sha256]
        assert row["bytes"] == len(store.blobs[record.sha256])
    assert summary.counts.per_label == dict(Counter(r.label for r in records))
    assert summary.counts.per_split == {
        s: sum(1 for row in manifest if row["split"] == s) for s in meta().splits
    }
    assert {text(row["label"]): int(row["images"]) for row in labels_rows} == summary.counts.per_label
    assert described["counts"] == summary.counts.model_dump()
    assert summary.size_bytes == len(raw)
    assert summary.sha256 == hashlib.sha256(raw).hexdigest()


def test_images_are_stored_and_text_is_deflated(tmp_path: Path, store: BlobLikeStore,
                                                random_bytes: Callable[[int], bytes]) -> None:
    records = [store.add(random_bytes(5000), "cat"), store.add(random_bytes(5000), "dog")]
    build(store, records, tmp_path / "ds.zip")
    with zipfile.ZipFile(tmp_path / "ds.zip") as archive:
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    for record in records:
        assert kinds[f"{record.label}/{record.sha256}.jpg"] == zipfile.ZIP_STORED
    for name in METADATA_MEMBERS:
        assert kinds[name] == zipfile.ZIP_DEFLATED


def test_the_card_and_dataset_json_describe_the_build(tmp_path: Path, store: BlobLikeStore,
                                                      random_bytes: Callable[[int], bytes]) -> None:
    records = [store.add(random_bytes(100), "cat"),
               store.add(random_bytes(100), "dog|pipe", license=None, source="openverse")]
    build(store, records, tmp_path / "ds.zip")
    with zipfile.ZipFile(tmp_path / "ds.zip") as archive:
        card = archive.read("README.md").decode()
        described = json.loads(archive.read("dataset.json"))
    assert card.startswith("# pets\n")
    assert "2 images in 2 labels" in card
    assert "dog\\|pipe" in card
    assert "| CC-BY-4.0 | 1 |" in card and "| unknown | 1 |" in card
    assert "| openverse | 1 |" in card and "| wikimedia | 1 |" in card
    assert "Keywords: cat, dog" in card
    assert described["name"] == "pets"
    assert described["created"] == CREATED.isoformat()
    assert described["job"]["keywords"] == ["cat", "dog"]
    assert described["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert [entry["label"] for entry in described["labels"]] == ["cat", "dog|pipe"]


def test_left_out_records_are_counted_by_reason(tmp_path: Path, store: BlobLikeStore,
                                                random_bytes: Callable[[int], bytes]) -> None:
    kept = store.add(random_bytes(100), "cat")
    invalid = store.add(random_bytes(100), "cat", is_valid=False)
    duplicate = store.add(random_bytes(100), "cat", is_duplicate=True, duplicate_of=kept.sha256)
    shallow = store.add(random_bytes(100), "cat", validation={"level": Level.fast})
    tampered = store.add(random_bytes(100), "cat")
    store.blobs[tampered.sha256] = b"not what the record says"
    records = [kept, invalid, duplicate, shallow, tampered, kept]

    summary = build(store, records, tmp_path / "a.zip", min_level=Level.medium)
    assert summary.counts.total == 1
    assert summary.skipped == {
        "below_min_level": 1, "bytes_mismatch": 1, "duplicate": 1, "invalid": 1, "repeated": 1,
    }
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert [row["sha256"] for row in read_manifest(archive)] == [kept.sha256]
        assert "Left out: below_min_level: 1" in archive.read("README.md").decode()

    with_dupes = build(store, [kept, duplicate, shallow], tmp_path / "b.zip", include_duplicates=True)
    assert with_dupes.counts.total == 3


def test_the_same_input_builds_the_same_archive(tmp_path: Path, store: BlobLikeStore,
                                                random_bytes: Callable[[int], bytes]) -> None:
    records = [store.add(random_bytes(1000), label) for label in ["cat", "dog", "cat", "猫"]]
    first = build(store, records, tmp_path / "a.zip")
    second = build(store, records, tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_an_empty_job_still_gives_a_readable_archive(tmp_path: Path, store: BlobLikeStore) -> None:
    summary = build(store, [], tmp_path / "empty.zip")
    assert summary.counts.total == 0
    with zipfile.ZipFile(tmp_path / "empty.zip") as archive:
        assert sorted(archive.namelist()) == sorted(METADATA_MEMBERS)


def test_a_failed_build_leaves_no_archive_behind(tmp_path: Path, store: BlobLikeStore,
                                                 random_bytes: Callable[[int], bytes]) -> None:
    records = [store.add(random_bytes(100), "cat") for _ in range(3)]

    async def flaky_fetch(record: ImageRecord) -> bytes:
        if record is records[2]:
            raise ConnectionError("blob storage went away")
        return await store.fetch(record)

    path = tmp_path / "broken.zip"
    with pytest.raises(ConnectionError):
        asyncio.run(write_archive(aiter_records(records), flaky_fetch, FileSink(path), meta()))
    assert not path.exists()


def test_memory_stays_flat_while_writing_200_mb(tmp_path: Path, store: BlobLikeStore,
                                               random_bytes: Callable[[int], bytes]) -> None:
    image_size, count = 2_000_000, 100
    labels = ["cat", "dog", "bird/..", "Ünïcode"]

    async def records() -> AsyncIterator[ImageRecord]:
        for i in range(count):
            yield store.add(random_bytes(image_size), labels[i % len(labels)])

    async def fetch_once(record: ImageRecord) -> bytes:
        return store.blobs.pop(record.sha256)

    path = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        summary = asyncio.run(write_archive(records(), fetch_once, FileSink(path), meta()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.size_bytes > image_size * count
    assert peak < 40_000_000, f"peak {peak / 1e6:.1f} MB while writing {summary.size_bytes / 1e6:.0f} MB"
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == summary.sha256
    with zipfile.ZipFile(path) as archive:
        assert len(archive.namelist()) == count + len(METADATA_MEMBERS)


class StagedBlockBlob:
    """Contract double of Azure's staged-block API (no Azure here): staged blocks are invisible
    until commit_block_list, ids must be base64 of equal length, and the committed blob is the
    listed blocks in order."""

    def __init__(self) -> None:
        self.staged: dict[str, bytes] = {}
        self.committed: bytes | None = None

    async def stage_block(self, block_id: str, data: bytes) -> None:
        base64.b64decode(block_id, validate=True)
        if self.staged and len(block_id) != len(next(iter(self.staged))):
            raise ValueError("The specified blob or block content is invalid (block id length)")
        self.staged[block_id] = bytes(data)

    async def commit_block_list(self, block_list: list[str]) -> None:
        self.committed = b"".join(self.staged[block_id] for block_id in block_list)


def test_blob_block_sink_commits_the_archive_in_fixed_blocks(
    tmp_path: Path, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    records = [store.add(random_bytes(300_000), f"label {i % 3}") for i in range(10)]
    blob = StagedBlockBlob()
    sink = BlobBlockSink(blob, block_size=256 * 1024)
    summary = asyncio.run(write_archive(aiter_records(records), store.fetch, sink, meta()))

    assert blob.committed is not None
    assert len(blob.committed) == summary.size_bytes
    assert hashlib.sha256(blob.committed).hexdigest() == summary.sha256
    assert all(len(blob.staged[b]) == 256 * 1024 for b in sink.block_ids[:-1])
    assert len(sink.block_ids) == -(-summary.size_bytes // (256 * 1024))
    with zipfile.ZipFile(io.BytesIO(blob.committed)) as archive:
        assert archive.testzip() is None


def test_blob_block_sink_commits_nothing_when_the_build_fails(
    store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    records = [store.add(random_bytes(300_000), "cat") for _ in range(4)]

    async def failing() -> AsyncIterator[ImageRecord]:
        for record in records:
            yield record
        raise RuntimeError("Cosmos query failed")

    blob = StagedBlockBlob()
    with pytest.raises(RuntimeError, match="Cosmos"):
        asyncio.run(write_archive(failing(), store.fetch, BlobBlockSink(blob, 256 * 1024), meta()))
    assert blob.committed is None


def text(cell: str) -> str:
    """A labels.csv text cell as written by the user (one leading quote neutralises formulas)."""
    return cell[1:] if cell.startswith("'") else cell


def test_labels_that_look_like_formulas_are_text_in_labels_csv(
    tmp_path: Path, store: BlobLikeStore, random_bytes: Callable[[int], bytes]
) -> None:
    """OWASP CSV injection: a spreadsheet opening labels.csv must not run a label."""
    labels = ['=HYPERLINK("http://evil.example","x")', "+1", "-2", "@SUM(A1)", "\tcmd", "'quoted", "cat"]
    build(store, [store.add(random_bytes(50), label) for label in labels], tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode(), newline="")))
    for row in rows:
        for cell in (row["label"], row["directory"]):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert sorted(text(row["label"]) for row in rows) == sorted(labels)


def test_labels_with_line_breaks_keep_one_csv_row_each(tmp_path: Path, store: BlobLikeStore,
                                                       random_bytes: Callable[[int], bytes]) -> None:
    labels = ["cr\rlabel", "lf\nlabel", 'quote"label', "comma,label"]
    build(store, [store.add(random_bytes(50), label) for label in labels], tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        text = archive.read("labels.csv").decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert sorted(row["label"] for row in rows) == sorted(labels)
