"""load_dataset: a real archive (built by the app's writer) read lazily, cached by sha256."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import pixcrawler
from pixcrawler import Client
from sdk_contract_server import ContractServer, ContractState

LABELS = {"cat": 5, "dog": 4, "../etc": 2, "Ünï/code": 1}


@pytest.fixture
def seeded(api: ContractState, contract_server: ContractServer) -> str:
    return contract_server.seed_dataset(LABELS, name="pets").id


def blob_hits(api: ContractState, dataset_id: str) -> int:
    return sum(1 for s in api.seen if s.path == f"/blob/datasets/{dataset_id}.zip")


def archive_members(api: ContractState, dataset_id: str) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(api.archives[f"datasets/{dataset_id}.zip"])) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_items_labels_splits_and_metadata(client: Client, api: ContractState, seeded: str) -> None:
    with client.load_dataset(seeded, progress=False) as ds:
        assert len(ds) == sum(LABELS.values())
        assert ds.labels == sorted(LABELS)
        assert ds.metadata["name"] == "pets"
        assert ds.metadata["counts"]["per_label"] == LABELS
        assert sum(len(ds.split(name)) for name in ("train", "val", "test")) == len(ds)
        assert all(item.split == "train" for item in ds.split("train"))
        assert {item.label for item in ds} == set(LABELS)
        members = archive_members(api, seeded)
        for item in ds:
            assert item.bytes == members[item.file]
            assert item.metadata["license"] == "CC-BY-SA-4.0"
            assert item.metadata["sha256"] == item.sha256


def test_image_gives_a_pil_image(client: Client, seeded: str) -> None:
    with client.load_dataset(seeded, progress=False) as ds:
        image = ds[0].image()
        assert isinstance(image, Image.Image)
        assert image.size == (ds[0].metadata["width"], ds[0].metadata["height"])
        assert image.format == "PNG"


def test_an_unknown_split_names_the_known_ones(client: Client, seeded: str) -> None:
    with client.load_dataset(seeded, progress=False) as ds, pytest.raises(KeyError, match="train"):
        ds.split("holdout")


def test_the_cache_serves_a_second_load(client: Client, api: ContractState, seeded: str,
                                        sdk_env: dict[str, str]) -> None:
    client.load_dataset(seeded, progress=False).close()
    with client.load_dataset(seeded, progress=False) as ds:
        assert len(ds) == sum(LABELS.values())
    assert blob_hits(api, seeded) == 1
    cached = list(Path(sdk_env["PIXCRAWLER_CACHE_DIR"]).rglob("*.zip"))
    assert [p.parent.name for p in cached] == [seeded]


def test_a_rebuilt_dataset_is_fetched_again_and_the_old_copy_dropped(
    client: Client, api: ContractState, contract_server: ContractServer, seeded: str,
    sdk_env: dict[str, str],
) -> None:
    client.load_dataset(seeded, progress=False).close()
    contract_server.seed_dataset({"cat": 2}, name="pets v2", dataset_id=seeded)
    with client.load_dataset(seeded, progress=False) as ds:
        assert len(ds) == 2 and ds.metadata["name"] == "pets v2"
    assert blob_hits(api, seeded) == 2
    assert len(list(Path(sdk_env["PIXCRAWLER_CACHE_DIR"]).rglob("*.zip"))) == 1


def test_the_memory_guard_refuses_before_downloading(client: Client, api: ContractState,
                                                     seeded: str) -> None:
    with pytest.raises(pixcrawler.DatasetTooLargeError, match="in_memory=False"):
        client.load_dataset(seeded, progress=False, in_memory=True, max_memory_bytes=10_000)
    assert blob_hits(api, seeded) == 0


def test_in_memory_loading_under_the_limit_reads_everything_up_front(
    client: Client, api: ContractState, seeded: str
) -> None:
    ds = client.load_dataset(seeded, progress=False, in_memory=True)
    ds.close()  # the file handle is gone; the bytes were read already
    members = archive_members(api, seeded)
    assert all(item.bytes == members[item.file] for item in ds)


def test_download_copies_the_archive(client: Client, seeded: str, tmp_path: Path) -> None:
    with client.load_dataset(seeded, progress=False) as ds:
        copy = ds.download(tmp_path / "exports" / "pets.zip")
        assert copy.read_bytes() == ds.path.read_bytes()


def test_a_zip_that_is_not_a_dataset_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(pixcrawler.PixCrawlerError, match="not a PixCrawler dataset"):
        pixcrawler.Dataset.open(path)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(pixcrawler.PixCrawlerError, match="download the dataset again"):
        pixcrawler.Dataset.open(tmp_path / "broken.zip")


def test_a_manifest_naming_missing_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truncated.zip"
    row = {"file": "cat/" + "a" * 64 + ".png", "label": "cat", "split": "train", "sha256": "a" * 64}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.jsonl", json.dumps(row) + "\n")
    with pytest.raises(pixcrawler.PixCrawlerError, match="lists 1 files its zip lacks"):
        pixcrawler.Dataset.open(path)
