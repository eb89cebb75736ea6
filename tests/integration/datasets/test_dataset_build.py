"""Datasets over HTTP on the devhost, against Azurite and the Cosmos emulator: an archive built
in parts is the one-pass archive of the job's records, byte for byte; counts, download link,
listing, deletion, and every refusal a user can meet."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from _datasettest import ImageServer, build, run_job, stored_records, urls_job, user_client
from azure.storage.blob import BlobServiceClient, StandardBlobTier

from scripts.stack import Stack
from shared.datasets import METADATA_MEMBERS, image_member, split_for, write_archive
from shared.models import DEFAULT_SPLITS, DatasetMeta, ImageRecord, JobCreate, Level
from shared.settings import ENV_PREFIX, Settings
from shared.shards import read_image
from shared.storage import StorageContext

pytestmark = pytest.mark.integration

LABELS = {"cat": range(0, 7), "dog/../x": range(7, 12), "Ünïcode.label": range(12, 14)}


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with user_client(stack.base_url, f"ds-{uuid.uuid4().hex[:8]}") as client:
        yield client


@pytest.fixture(scope="module")
def job_id(api: httpx.Client, images: ImageServer) -> str:
    return run_job(api, urls_job({label: images.urls(seeds) for label, seeds in LABELS.items()}))


def _settings(stack: Stack) -> Settings:
    return Settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in stack.env.items() if k.startswith(ENV_PREFIX)})


async def _one_pass_archive(settings: Settings, job_id: str, dataset: dict[str, Any]) -> str:
    """sha256 of the archive the one-pass writer makes of the job's records, read in the
    order a build reads them."""
    async with StorageContext(settings) as storage:
        job = await storage.jobs.get(job_id, dataset["user_id"])

        async def records() -> AsyncIterator[ImageRecord]:
            token = None
            while True:
                page, token = await storage.images.list_by_job(job_id, 200, token)
                for record in page:
                    yield record
                if token is None:
                    return

        async def fetch(record: ImageRecord) -> bytes:
            return await read_image(storage.blobs, record)

        meta = DatasetMeta(
            dataset_id=dataset["id"], name=dataset["name"], job_id=job_id,
            created=datetime.fromisoformat(dataset["created_at"]),
            job=JobCreate.model_validate(job.model_dump(include=set(JobCreate.model_fields))),
        )  # fmt: skip

        class Discard:
            async def write(self, part: bytes) -> None:
                """Only the hash matters here."""

            async def close(self) -> None:
                """Nothing to commit."""

        return (await write_archive(records(), fetch, Discard(), meta)).sha256


def test_a_dataset_built_in_parts_is_the_archive_of_the_jobs_records(
    api: httpx.Client, job_id: str, stack: Stack
) -> None:
    records = stored_records(stack.env, job_id)
    assert len(records) == 14
    dataset = build(api, job_id)

    assert dataset["status"] == "ready", dataset
    expected_splits = Counter(split_for(r["sha256"], DEFAULT_SPLITS) for r in records)
    assert dataset["counts"] == {
        "total": 14,
        "per_label": dict(Counter(r["label"] for r in records)),
        "per_split": {name: expected_splits[name] for name in DEFAULT_SPLITS},
    }
    link = api.get(f"/datasets/{dataset['id']}/download")
    assert link.status_code == 200, link.text
    body = link.json()
    assert (body["size_bytes"], body["sha256"]) == (dataset["size_bytes"], dataset["sha256"])
    assert datetime.fromisoformat(body["expires_at"]) > datetime.fromisoformat(dataset["updated_at"])
    data = httpx.get(body["url"]).content
    assert len(data) == body["size_bytes"]
    assert hashlib.sha256(data).hexdigest() == body["sha256"]

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    ext = {"png": "png", "jpeg": "jpg"}
    members = {image_member(r["label"], r["sha256"], ext[r["format"]]): r for r in records}
    assert set(archive.namelist()) == set(members) | set(METADATA_MEMBERS)
    for name, record in members.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == record["sha256"]
    rows = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
    assert {(row["file"], row["label"], row["split"]) for row in rows} == {
        (name, r["label"], split_for(r["sha256"], DEFAULT_SPLITS)) for name, r in members.items()
    }
    assert json.loads(archive.read("dataset.json"))["counts"] == dataset["counts"]
    one_pass = asyncio.run(_one_pass_archive(_settings(stack), job_id, dataset))
    assert one_pass == dataset["sha256"]


def test_a_dataset_below_its_min_level_is_empty_and_says_why(api: httpx.Client, job_id: str) -> None:
    dataset = build(api, job_id, name="strict", min_level=Level.slow.value, splits={"train": 0.5, "test": 0.5})
    assert dataset["status"] == "ready"
    assert dataset["counts"] == {"total": 0, "per_label": {}, "per_split": {"train": 0, "test": 0}}
    data = httpx.get(api.get(f"/datasets/{dataset['id']}/download").json()["url"]).content
    described = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("dataset.json"))
    assert described["skipped"] == {"below_min_level": 14}


def test_datasets_list_newest_first_page_by_page_and_delete_removes_record_and_archive(
    api: httpx.Client, job_id: str
) -> None:
    ids = [build(api, job_id, name=f"list {n}")["id"] for n in range(3)]
    first = api.get("/datasets", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["continuation"]
    rest = api.get("/datasets", params={"limit": 100, "continuation": first["continuation"]}).json()
    listed = [d["id"] for d in first["items"] + rest["items"]]
    assert listed[:3] == ids[::-1]
    assert [d["status"] for d in api.get("/datasets", params={"status": "ready"}).json()["items"]]

    url = api.get(f"/datasets/{ids[0]}/download").json()["url"]
    assert httpx.get(url).status_code == 200
    assert api.delete(f"/datasets/{ids[0]}").status_code == 204
    assert api.get(f"/datasets/{ids[0]}").status_code == 404
    assert httpx.get(url).status_code == 404
    assert ids[0] not in [d["id"] for d in api.get("/datasets", params={"limit": 100}).json()["items"]]


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["details"][0]["error_code"], body["message"]


def test_refusals_name_the_problem(api: httpx.Client, job_id: str, stack: Stack, images: ImageServer) -> None:
    pending = api.post("/jobs", json=urls_job({"cat": images.urls([1])})).json()["id"]
    status, code, message = _error(api.post("/datasets", json={"job_id": pending, "name": "x"}))
    assert (status, code) == (400, "invalid_job_status")
    assert "status 'pending'" in message and "Only completed jobs" in message
    with user_client(stack.base_url, "someone-else") as other:
        assert _error(other.post("/datasets", json={"job_id": job_id, "name": "x"}))[:2] == (403, "not_owner")
    assert _error(api.post("/datasets", json={"job_id": "no-such-job", "name": "x"}))[:2] == (404, "job_not_found")
    bad_splits = api.post("/datasets", json={"job_id": job_id, "name": "x", "splits": {"train": 0.5, "val": 0.4}})
    assert bad_splits.status_code == 422
    assert "add up to 0.9" in bad_splits.json()["message"]
    assert _error(api.get(f"/datasets/{uuid.uuid4().hex}/download"))[:2] == (404, "dataset_not_found")


def test_a_build_that_cannot_read_an_image_yet_fails_and_cannot_be_downloaded(
    api: httpx.Client, stack: Stack, images: ImageServer
) -> None:
    """A shard in the Archive tier can be read again once rehydrated: the build fails, naming
    it, rather than leave its images out (a shard that is gone is left out and named:
    test_dataset_unreadable.py)."""
    job = run_job(api, urls_job({"bird": images.urls(range(100, 106))}))
    victim = stored_records(stack.env, job)[-1]
    blobs = BlobServiceClient.from_connection_string(stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"])
    blobs.get_blob_client(*victim["blob_name"].split("/", 1)).set_standard_blob_tier(StandardBlobTier.ARCHIVE)

    dataset = build(api, job, name="broken")
    assert dataset["status"] == "failed"
    assert victim["blob_name"].split("/", 1)[1] in dataset["error"]
    status, code, message = _error(api.get(f"/datasets/{dataset['id']}/download"))
    assert (status, code) == (409, "dataset_not_ready")
    assert "failed" in message
    assert api.delete(f"/datasets/{dataset['id']}").status_code == 204
