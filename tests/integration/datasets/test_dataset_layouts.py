"""Each layout built from a real job on the devhost (Azurite, the Cosmos emulator), downloaded
through the SDK and the CLI, and read with the library its users read it with: torchvision's
ImageFolder for ``imagefolder``, the ``webdataset`` package for ``webdataset``, zipfile and
``pixcrawler.load_dataset`` for all. Counts per label and split are checked against the job's
records in Cosmos."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import webdataset as wds
from _datasettest import ImageServer, build, run_job, stored_records, urls_job, user_client
from _loaders import read_imagefolder
from azure.storage.blob import BlobServiceClient, StandardBlobTier

import pixcrawler
from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, Stack
from shared.auth import issue_dev_token
from shared.datasets import safe_label, split_for
from shared.models import DEFAULT_SPLITS

pytestmark = pytest.mark.integration

LABELS = {"cat": range(200, 209), "dog/../x": range(209, 215), "Ünïcode.label": range(215, 218)}
#: PIXCRAWLER_DATASET_SHARD_IMAGES of the stack (conftest.py).
SHARD_IMAGES = 3


@pytest.fixture(scope="module")
def user() -> str:
    return f"layouts-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def api(stack: Stack, user: str) -> Iterator[httpx.Client]:
    with user_client(stack.base_url, user) as client:
        yield client


@pytest.fixture(scope="module")
def job_id(api: httpx.Client, images: ImageServer) -> str:
    return run_job(api, urls_job({label: images.urls(seeds) for label, seeds in LABELS.items()}))


@pytest.fixture(scope="module")
def records(stack: Stack, job_id: str) -> dict[str, dict[str, Any]]:
    """The job's records as Cosmos holds them, by sha256; all of them go in (valid, distinct)."""
    stored = {r["sha256"]: r for r in stored_records(stack.env, job_id)}
    assert len(stored) == sum(len(seeds) for seeds in LABELS.values())
    assert all(r["is_valid"] and not r["is_duplicate"] for r in stored.values())
    return stored


@pytest.fixture(scope="module")
def expected(records: dict[str, dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Images per (label, split), from the records."""
    return Counter((r["label"], split_for(sha, DEFAULT_SPLITS)) for sha, r in records.items())


@pytest.fixture(scope="module")
def datasets(api: httpx.Client, job_id: str) -> dict[str, dict[str, Any]]:
    """A ready dataset of the job in every layout."""
    built = {layout: build(api, job_id, name=f"pets {layout}", layout=layout)
             for layout in ("zip", "imagefolder", "webdataset")}
    for layout, dataset in built.items():
        assert dataset["status"] == "ready", dataset
        assert dataset["layout"] == layout
    return built


def client(stack: Stack, user: str, tmp_path: Path) -> pixcrawler.Client:
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    return pixcrawler.Client(token=token, base_url=stack.base_url, cache_dir=tmp_path / "cache")


def cli(stack: Stack, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXCRAWLER_", "SERVICE_"))}
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    return subprocess.run(
        [sys.executable, "-m", "pixcrawler", "--base-url", stack.base_url, "--token", token, *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_every_layout_has_the_counts_of_the_jobs_records(
    datasets: dict[str, dict[str, Any]], expected: Counter[tuple[str, str]]
) -> None:
    per_label = Counter(label for label, _ in expected.elements())
    per_split = Counter(split for _, split in expected.elements())
    for dataset in datasets.values():
        assert dataset["counts"] == {
            "total": sum(expected.values()), "per_label": dict(per_label),
            "per_split": {name: per_split[name] for name in DEFAULT_SPLITS},
        }  # fmt: skip


@pytest.mark.timeout(900)  # the first run makes .venv-loaders (torch: ~75 s from the package mirror)
def test_imagefolder_reads_with_torchvision_image_folder(
    stack: Stack, user: str, datasets: dict[str, dict[str, Any]], records: dict[str, dict[str, Any]],
    expected: Counter[tuple[str, str]], tmp_path: Path,
) -> None:  # fmt: skip
    dataset = datasets["imagefolder"]
    with client(stack, user, tmp_path) as sdk:
        root = sdk.download_dataset(dataset["id"], tmp_path / "pets", progress=False)
    assert root == tmp_path / "pets"
    splits = sorted({split for _, split in expected})
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == splits  # a split without images has no folder
    assert {"manifest.jsonl", "labels.csv", "dataset.json", "README.md"} <= {p.name for p in root.iterdir()}

    read = read_imagefolder(root, splits)
    folders = {safe_label(label): label for label in LABELS}
    for split in splits:
        assert read[split]["classes"] == sorted({safe_label(label) for label, s in expected if s == split})
        got = Counter({(folders[folder], split): n for folder, n in read[split]["images"].items()})
        assert got == Counter({key: n for key, n in expected.items() if key[1] == split})
        assert read[split]["sizes"] == [[48, 40]]  # every image decoded (the test's 48x40 PNGs)
        assert read[split]["files"] == sorted(f"{sha}.png" for sha in records if split_for(sha, DEFAULT_SPLITS) == split)


def test_imagefolder_out_name_zip_is_the_tree_in_one_zip(
    stack: Stack, user: str, datasets: dict[str, dict[str, Any]], records: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    dataset = datasets["imagefolder"]
    result = cli(stack, user, "--json", "datasets", "download", dataset["id"], "--out", str(tmp_path / "pets.zip"))
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "pets.zip").read_bytes()
    assert hashlib.sha256(data).hexdigest() == dataset["sha256"]
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    for sha, record in records.items():
        assert f"{split_for(sha, DEFAULT_SPLITS)}/{safe_label(record['label'])}/{sha}.png" in names


def test_webdataset_lists_every_shard_and_streams_with_the_webdataset_package(
    stack: Stack, user: str, api: httpx.Client, datasets: dict[str, dict[str, Any]],
    records: dict[str, dict[str, Any]], expected: Counter[tuple[str, str]], tmp_path: Path,
) -> None:  # fmt: skip
    dataset = datasets["webdataset"]
    link = api.get(f"/datasets/{dataset['id']}/download").json()
    assert link["layout"] == "webdataset"
    files = link["files"]
    assert [f["name"] for f in files[:3]] == ["dataset.json", "README.md", "labels.csv"]
    assert (link["url"], link["sha256"], link["size_bytes"]) == (files[0]["url"], dataset["sha256"], files[0]["size_bytes"])
    shards = files[3:]
    for split, n in Counter(split for _, split in expected.elements()).items():
        mine = [f for f in shards if f["split"] == split]
        assert [f["name"] for f in mine] == [f"{split}-{i:06d}.tar" for i in range(len(mine))]
        assert [f["images"] for f in mine] == [min(SHARD_IMAGES, n - i * SHARD_IMAGES) for i in range(len(mine))]
    assert dataset["size_bytes"] == sum(f["size_bytes"] for f in files)

    result = cli(stack, user, "--json", "datasets", "download", dataset["id"], "--out", str(tmp_path / "pets"))
    assert result.returncode == 0, result.stderr
    root = Path(json.loads(result.stdout)["path"])
    assert sorted(p.name for p in root.iterdir()) == sorted(f["name"] for f in files)
    listed = json.loads((root / "dataset.json").read_bytes())["shards"]
    assert [(s["name"], s["sha256"]) for s in listed] == [(f["name"], f["sha256"]) for f in shards]

    seen: Counter[tuple[str, str]] = Counter()
    for split in sorted({split for _, split in expected}):
        urls = sorted(str(p) for p in root.glob(f"{split}-*.tar"))
        for sample in wds.WebDataset(urls, shardshuffle=False).decode("pil"):
            record = records[sample["__key__"]]
            row = sample["json"]
            assert sample["png"].size == (48, 40)
            assert (row["label"], row["split"], row["sha256"], row["url"]) == (
                record["label"], split, record["sha256"], record["url"]
            )
            assert sample["__url__"].endswith(row["shard"])
            seen[(row["label"], split)] += 1
    assert seen == expected


def test_a_webdataset_is_no_zip(stack: Stack, user: str, datasets: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    refused = cli(stack, user, "datasets", "download", datasets["webdataset"]["id"], "--out", str(tmp_path / "pets.zip"))
    assert refused.returncode == 2
    assert "not a zip: give a folder" in refused.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layout", ["zip", "imagefolder", "webdataset"])
def test_load_dataset_reads_every_layout(
    stack: Stack, user: str, datasets: dict[str, dict[str, Any]], records: dict[str, dict[str, Any]],
    expected: Counter[tuple[str, str]], tmp_path: Path, layout: str,
) -> None:  # fmt: skip
    dataset = datasets[layout]
    with client(stack, user, tmp_path) as sdk, sdk.load_dataset(dataset["id"], progress=False) as ds:
        assert ds.layout == layout and ds.info is not None and ds.info.layout == layout
        assert len(ds) == len(records)
        assert Counter((item.label, item.split) for item in ds) == expected
        assert all(hashlib.sha256(item.bytes).hexdigest() == item.sha256 for item in ds)
        assert ds.labels == sorted(LABELS)
        train = ds["train"]
        assert len(train) == sum(n for (_, split), n in expected.items() if split == "train")
        assert train[0].image().size == (48, 40)
        copy = ds.download(tmp_path / "copy")
        cached = sorted((p, p.stat().st_mtime_ns) for p in ds.path.parent.rglob("*") if p.is_file())
    with client(stack, user, tmp_path) as sdk, sdk.load_dataset(dataset["id"], progress=False) as ds:
        assert sorted((p, p.stat().st_mtime_ns) for p in ds.path.parent.rglob("*") if p.is_file()) == cached
    with pixcrawler.Dataset.open(copy) as again:
        assert Counter((item.label, item.split) for item in again) == expected
        assert all(hashlib.sha256(item.bytes).hexdigest() == item.sha256 for item in again)
        if layout == "webdataset":
            with pytest.raises(ValueError, match="not a zip"):
                again.download(tmp_path / "again.zip")
            return
        rezipped = again.download(tmp_path / "again.zip")
    with pixcrawler.Dataset.open(rezipped) as third:
        assert Counter((item.label, item.split) for item in third) == expected
        assert third.metadata["layout"] == layout


def test_a_failed_webdataset_build_and_a_deleted_webdataset_leave_no_files(
    api: httpx.Client, stack: Stack, images: ImageServer, job_id: str
) -> None:
    blobs = BlobServiceClient.from_connection_string(stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"])
    container = blobs.get_container_client("datasets")

    def files_of(dataset_id: str) -> list[str]:
        return [b.name for b in container.list_blobs(name_starts_with=f"datasets/{dataset_id}/")]

    job = run_job(api, urls_job({"bird": images.urls(range(300, 312))}))
    stored = stored_records(stack.env, job)
    victim = stored[-1]  # read by the last part: the parts before it committed full shards
    splits = Counter(split_for(r["sha256"], DEFAULT_SPLITS) for r in stored[:-1])
    assert max(splits.values()) > SHARD_IMAGES
    # Archived: unreadable until rehydrated, so the build fails (a shard that is gone is left out).
    blobs.get_blob_client(*victim["blob_name"].split("/", 1)).set_standard_blob_tier(StandardBlobTier.ARCHIVE)
    failed = build(api, job, name="broken shards", layout="webdataset")
    assert failed["status"] == "failed"
    assert victim["blob_name"].split("/", 1)[1] in failed["error"]
    assert files_of(failed["id"]) == []

    ready = build(api, job_id, name="to delete", layout="webdataset")
    assert ready["status"] == "ready" and len(files_of(ready["id"])) > 3
    url = api.get(f"/datasets/{ready['id']}/download").json()["files"][-1]["url"]
    assert api.delete(f"/datasets/{ready['id']}").status_code == 204
    assert files_of(ready["id"]) == []
    assert httpx.get(url).status_code == 404


def test_the_readme_webdataset_example_runs_as_written(
    stack: Stack, user: str, job_id: str, api: httpx.Client, tmp_path: Path
) -> None:
    section = (ROOT / "README.md").read_text().split("## Dataset layouts", 1)[1]
    script = section.split("```bash\n", 1)[1].split("\n```", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXCRAWLER_", "SERVICE_"))}
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    env.update(API=stack.base_url, AUTH=f"Authorization: Bearer {token}", JOB=job_id,
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.strip() == str(SHARD_IMAGES)  # samples in train-000000.tar
    listed = json.loads((tmp_path / "pets" / "dataset.json").read_bytes())
    for shard in listed["shards"]:
        assert hashlib.sha256((tmp_path / "pets" / shard["name"]).read_bytes()).hexdigest() == shard["sha256"]
