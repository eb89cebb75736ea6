"""Curation in dataset archives: what a reviewer excluded stays out, what they moved is packed
under its new label, and the manifest, labels.csv, dataset.json and the data card all agree."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_records import BlobLikeStore, aiter_records
from shared.datasets import FileSink, admit, curated, safe_label, write_archive
from shared.models.datasets import DatasetMeta
from shared.models.images import ImageRecord

LABELS = ["cat", "dog", "bird"]
META = DatasetMeta(dataset_id="ds-1", name="pets", job_id="job-1", created=datetime(2025, 1, 2, tzinfo=timezone.utc))

curation = st.fixed_dictionaries({
    "label": st.sampled_from(LABELS),
    "excluded": st.booleans(),
    "moved_to": st.one_of(st.none(), st.sampled_from(LABELS)),
    "is_valid": st.booleans(),
    "is_duplicate": st.booleans(),
})


def records_for(store: BlobLikeStore, cases: list[dict[str, object]]) -> list[ImageRecord]:
    records = []
    for index, case in enumerate(cases):
        moved = case["moved_to"] if case["moved_to"] != case["label"] else None
        records.append(store.add(
            f"image {index}".encode(), str(case["label"]), excluded=case["excluded"], curated_label=moved,
            is_valid=case["is_valid"], is_duplicate=case["is_duplicate"],
        ))
    return records


@given(cases=st.lists(curation, max_size=30))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_archive_packs_what_review_kept_under_the_label_review_gave(cases: list[dict[str, object]]) -> None:
    store = BlobLikeStore()
    records = records_for(store, cases)
    packed = [r for r in records if not r.excluded and r.is_valid and not r.is_duplicate]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ds.zip"
        summary = asyncio.run(write_archive(aiter_records(records), store.fetch, FileSink(path), META))
        with zipfile.ZipFile(path) as archive:
            manifest = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
            rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
            facts = json.loads(archive.read("dataset.json"))
            card = archive.read("README.md").decode()
            names = set(archive.namelist())

    by_sha = {row["sha256"]: row for row in manifest}
    assert set(by_sha) == {r.sha256 for r in packed}
    for record in packed:
        label = record.curated_label or record.label
        assert by_sha[record.sha256]["label"] == label
        assert by_sha[record.sha256]["file"] == f"{safe_label(label)}/{record.sha256}.jpg"
        assert by_sha[record.sha256]["file"] in names
    per_label = Counter(r.curated_label or r.label for r in packed)
    assert summary.counts.per_label == dict(sorted(per_label.items()))
    assert {row["label"]: int(row["images"]) for row in rows} == dict(per_label)
    excluded = sum(r.excluded for r in records)
    moved = sum(r.curated_label is not None for r in packed)
    assert facts["skipped"].get("excluded", 0) == excluded
    assert facts["relabelled"] == moved
    assert facts["counts"]["per_label"] == dict(sorted(per_label.items()))
    if excluded or moved:
        assert f"Reviewed before the build: {excluded} images excluded, {moved} moved to another label" in card
    else:
        assert "Reviewed before the build" not in card
    for label, count in per_label.items():
        assert f"| {label} | `{safe_label(label)}/` | {count} |" in card


def test_exclusion_wins_over_every_other_reason_and_a_move_keeps_the_record_otherwise() -> None:
    store = BlobLikeStore()
    record = store.add(b"x", "cat", is_valid=False, is_duplicate=True, excluded=True, curated_label="dog")
    assert admit(record, META) == (None, "excluded")
    moved = record.model_copy(update={"excluded": False, "is_valid": True, "is_duplicate": False})
    packed, reason = admit(moved, META)
    assert reason is None and packed is not None
    assert (packed.label, packed.curated_label, packed.sha256) == ("dog", "dog", record.sha256)
    assert curated(store.add(b"y", "cat")).label == "cat"
    with_duplicates = META.model_copy(update={"include_duplicates": True})
    duplicate = store.add(b"z", "bird", is_duplicate=True, curated_label="cat")
    assert admit(duplicate, META) == (None, "duplicate")
    assert admit(duplicate, with_duplicates)[0].label == "cat"
