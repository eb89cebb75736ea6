"""A job whose shard was lost (deleted from Blob Storage under a completed job) still builds,
in every layout: the dataset is ready, holds every image it could read, and names the ones it
could not (``skipped["unreadable"]``, their ids in ``left_out``) in its record and in
``dataset.json``."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import httpx
import pytest
from _datasettest import ImageServer, build, run_job, stored_records, urls_job, user_client
from azure.storage.blob import BlobServiceClient

from scripts.stack import Stack
from shared.shards import split_blob_name

pytestmark = pytest.mark.integration

#: One urls source per label: one chunk, so one shard, each.
LABELS = {"cat": range(700, 707), "dog": range(707, 712)}


def dataset_json(api: httpx.Client, dataset: dict[str, Any]) -> dict[str, Any]:
    """``dataset.json`` as a user downloads it (from the zip, or beside a webdataset's shards)."""
    link = api.get(f"/datasets/{dataset['id']}/download").json()
    files = {f["name"]: f["url"] for f in link["files"]}
    if dataset["layout"] == "webdataset":
        return dict(httpx.get(files["dataset.json"], timeout=60).raise_for_status().json())
    with zipfile.ZipFile(io.BytesIO(httpx.get(link["url"], timeout=60).raise_for_status().content)) as archive:
        members = archive.namelist()
        facts = json.loads(archive.read("dataset.json"))
    facts["members"] = members
    return dict(facts)


def test_a_build_leaves_out_and_names_the_images_whose_shard_is_gone(stack: Stack, images: ImageServer) -> None:
    with user_client(stack.base_url, f"unreadable-{uuid.uuid4().hex[:8]}") as api:
        job_id = run_job(api, urls_job({label: images.urls(seeds) for label, seeds in LABELS.items()}))
        records = stored_records(stack.env, job_id)
        shard = next(r["blob_name"] for r in records if r["label"] == "dog")
        lost = {r["id"] for r in records if r["blob_name"] == shard}
        assert len(lost) == len(LABELS["dog"]) and len(records) == 12
        service = BlobServiceClient.from_connection_string(stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"])
        with service:
            service.get_blob_client(*split_blob_name(shard)).delete_blob()

        for layout in ("zip", "imagefolder", "webdataset"):
            dataset = build(api, job_id, name=f"lost {layout}", layout=layout)

            assert dataset["status"] == "ready", dataset
            assert dataset["counts"]["total"] == len(LABELS["cat"]) and dataset["counts"]["per_label"] == {"cat": 7}
            assert dataset["skipped"] == {"unreadable": len(lost)}
            assert set(dataset["left_out"]["unreadable"]) == lost
            facts = dataset_json(api, dataset)
            assert facts["skipped"] == {"unreadable": len(lost)}
            assert set(facts["left_out"]["unreadable"]) == lost
            assert facts["counts"]["total"] == 7
            assert not any(image_id in member for member in facts.get("members", []) for image_id in lost)
