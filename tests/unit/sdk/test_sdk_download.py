"""download_dataset: streamed from the signed URL, resumed by Range, verified by sha256."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

import pixcrawler
from pixcrawler import Client
from pixcrawler.download import extract_zip
from sdk_contract_server import ContractServer, ContractState, Fault

#: About 1.2 MB of incompressible PNGs: many chunks on the wire.
LABELS = {"cat": 6, "dog": 6}


@pytest.fixture
def dataset(api: ContractState, contract_server: ContractServer) -> pixcrawler.DatasetInfo:
    seeded = contract_server.seed_dataset(LABELS, image_size=180)
    return pixcrawler.DatasetInfo.model_validate(seeded.model_dump(mode="json"))


def blob_requests(api: ContractState, dataset: pixcrawler.DatasetInfo) -> list[dict[str, str]]:
    return [s.headers for s in api.seen if s.path == f"/blob/datasets/{dataset.id}.zip"]


def test_download_to_a_zip_writes_the_verified_archive(client: Client, api: ContractState,
                                                       dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    path = client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert path == tmp_path / "pets.zip"
    assert path.read_bytes() == api.archives[f"datasets/{dataset.id}.zip"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dataset.sha256
    assert [p.name for p in tmp_path.iterdir()] == ["pets.zip"]


def test_download_to_a_folder_unpacks_the_archive(client: Client, api: ContractState,
                                                 dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = client.download_dataset(dataset.id, tmp_path / "data", progress=False)
    assert path == tmp_path / "data"
    archive = zipfile.ZipFile(io.BytesIO(api.archives[f"datasets/{dataset.id}.zip"]))
    unpacked = {f.relative_to(path).as_posix(): f.read_bytes() for f in path.rglob("*") if f.is_file()}
    assert unpacked == {name: archive.read(name) for name in archive.namelist()}  # no zip left behind
    with pixcrawler.Dataset.open(path) as ds:
        assert len(ds) == sum(LABELS.values()) and ds.labels == ["cat", "dog"]
        assert all(hashlib.sha256(item.bytes).hexdigest() == item.sha256 for item in ds)


def test_a_zip_with_a_member_outside_its_folder_is_not_unpacked(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("cat/1.png", b"fine")
        archive.writestr("../escaped.txt", b"outside")
    with pytest.raises(pixcrawler.IntegrityError, match="outside its folder"):
        extract_zip(evil, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out").exists()


def test_a_cut_connection_is_resumed_with_range(client: Client, api: ContractState,
                                                dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    assert dataset.size_bytes and dataset.size_bytes > 1_000_000
    api.cut_after[f"datasets/{dataset.id}.zip"] = 300_000
    path = client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == dataset.sha256
    first, second = blob_requests(api, dataset)
    assert "Range" not in first
    resumed_at = int(second["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 300_000


def test_a_partial_file_from_an_earlier_run_is_continued(client: Client, api: ContractState,
                                                         dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    archive = api.archives[f"datasets/{dataset.id}.zip"]
    (tmp_path / "pets.zip.part").write_bytes(archive[:500_000])
    path = client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert path.read_bytes() == archive
    [only] = blob_requests(api, dataset)
    assert only["Range"] == "bytes=500000-"


def test_a_corrupt_download_is_refused_and_removed(client: Client, api: ContractState,
                                                   dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    name = f"datasets/{dataset.id}.zip"
    tampered = bytearray(api.archives[name])
    tampered[1000] ^= 0xFF
    api.archives[name] = bytes(tampered)
    with pytest.raises(pixcrawler.IntegrityError, match="sha256") as caught:
        client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert "Download again" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_download_of_the_wrong_size_is_refused(client: Client, api: ContractState,
                                                 dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    name = f"datasets/{dataset.id}.zip"
    api.archives[name] = api.archives[name] + b"trailing garbage"
    with pytest.raises(pixcrawler.IntegrityError, match="bytes but the dataset has"):
        client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_expired_link_is_renewed_once(client: Client, api: ContractState,
                                         dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    api.faults.append(Fault("GET", f"/blob/datasets/{dataset.id}.zip", 403))
    path = client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dataset.sha256
    assert len(api.requests_to(f"/api/v1/datasets/{dataset.id}/download")) == 2


def test_credentials_never_reach_blob_storage(client: Client, api: ContractState,
                                              dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    client.download_dataset(dataset.id, tmp_path, progress=False)
    [headers] = blob_requests(api, dataset)
    assert "X-API-Key" not in headers and "Authorization" not in headers


def test_a_finished_download_is_not_fetched_again(client: Client, api: ContractState,
                                                  dataset: pixcrawler.DatasetInfo, tmp_path: Path) -> None:
    client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    client.download_dataset(dataset.id, tmp_path / "pets.zip", progress=False)
    assert len(blob_requests(api, dataset)) == 1


def test_off_a_terminal_the_progress_is_one_plain_line(client: Client, dataset: pixcrawler.DatasetInfo,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client.download_dataset(dataset.id, tmp_path / "data", progress=True)  # stderr is captured: no terminal
    err = capsys.readouterr().err
    assert err == f"{dataset.name}.zip: {dataset.size_bytes:,} bytes downloaded, sha256 verified\n"
