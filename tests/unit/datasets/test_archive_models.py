"""The dataset models: request defaults, the Cosmos document, the download answer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.models.base import Level
from shared.models.datasets import Dataset, DatasetCreate, DatasetPage, DatasetStatus


def test_a_request_needs_only_a_job_and_a_name() -> None:
    body = DatasetCreate.model_validate({"job_id": " job-1 ", "name": " pets "})
    assert (body.job_id, body.name) == ("job-1", "pets")
    assert body.splits == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert body.include_duplicates is False and body.min_level is Level.fast


def test_unknown_fields_and_bad_split_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        DatasetCreate.model_validate({"job_id": "j", "name": "n", "shuffle": True})
    with pytest.raises(ValidationError, match="splits"):
        DatasetCreate.model_validate({"job_id": "j", "name": "n", "splits": {"../x": 1.0}})


def test_the_document_reads_back_from_cosmos() -> None:
    stored = {
        "id": "ds-1", "user_id": "u-1", "job_id": "job-1", "name": "pets",
        "status": "ready", "counts": {"total": 3, "per_label": {"cat": 3}, "per_split": {"train": 3}},
        "size_bytes": 1234, "sha256": "ab" * 32,
        "_rid": "x", "_etag": "\"0\"", "_ts": 1700000000,
    }
    dataset = Dataset.model_validate(stored)
    assert dataset.status is DatasetStatus.ready
    assert dataset.blob_name == "datasets/ds-1.zip"
    assert dataset.counts.per_label == {"cat": 3}
    assert "_rid" not in dataset.model_dump()
    page = DatasetPage(items=[dataset], continuation=None).model_dump(mode="json")
    assert page["items"][0]["min_level"] == "fast"
