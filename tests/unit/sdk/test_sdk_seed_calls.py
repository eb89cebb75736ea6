"""The SDK accepts the calls of the first PixCrawler documents as they are written: a key in
``auth(token=...)``, ``load_dataset(id, config)``, mapping access to infos and items,
``Dataset.download(output_path=...)``, ``ds["train"]``, ``PixCrawlerClient``, the
``SERVICE_*`` variables, and ``ConnectionError`` for an unreachable service."""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pixcrawler as pix
from pixcrawler.config import resolve_settings
from sdk_contract_server import API_KEY, TOKEN, ContractServer, ContractState


@pytest.fixture
def seeded(api: ContractState, contract_server: ContractServer, sdk_env: dict[str, str]) -> Iterator[str]:
    yield contract_server.seed_dataset({"cat": 6, "dog": 4}, name="pets").id
    pix.auth(api_key="pxc_unset", base_url="http://127.0.0.1:9/api/v1")


def headers_of_last(api: ContractState, path_end: str) -> dict[str, str]:
    seen = [s for s in api.seen if s.path.endswith(path_end)]
    return {k.lower(): v for k, v in seen[-1].headers.items()}


def test_a_key_given_as_token_is_sent_as_an_api_key(api: ContractState, contract_server: ContractServer,
                                                    seeded: str) -> None:
    api.keys["pxc_0123456789abcdef_" + "k" * 40] = "user-1"
    pix.auth(token="pxc_0123456789abcdef_" + "k" * 40, base_url=contract_server.base_url)
    assert pix.get_dataset_info(seeded)["name"] == "pets"
    sent = headers_of_last(api, f"/datasets/{seeded}")
    assert sent["x-api-key"].startswith("pxc_") and "authorization" not in sent
    pix.auth(token=TOKEN, base_url=contract_server.base_url)  # a JWT stays a bearer token
    pix.get_dataset_info(seeded)
    assert headers_of_last(api, f"/datasets/{seeded}")["authorization"] == f"Bearer {TOKEN}"


def test_the_service_variables_are_fallbacks_after_pixcrawler_ones(sdk_env: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_API_KEY", "pxc_service")
    assert resolve_settings().api_key == API_KEY  # PIXCRAWLER_API_KEY first
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    assert resolve_settings().auth_headers() == {"X-API-Key": "pxc_service"}
    monkeypatch.delenv("SERVICE_API_KEY")
    monkeypatch.setenv("SERVICE_API_TOKEN", TOKEN)
    assert resolve_settings().auth_headers() == {"Authorization": f"Bearer {TOKEN}"}
    monkeypatch.setenv("SERVICE_API_TOKEN", "pxc_in_a_token_variable")
    assert resolve_settings().auth_headers() == {"X-API-Key": "pxc_in_a_token_variable"}


def test_load_dataset_takes_a_config_as_second_argument(api: ContractState, contract_server: ContractServer,
                                                        seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    pix.auth(base_url=contract_server.base_url)  # no credential at all but the config's
    with pix.load_dataset(seeded, {"api_key": API_KEY}, progress=False) as ds:
        assert len(ds) == 10
    assert headers_of_last(api, f"/datasets/{seeded}/download")["x-api-key"] == API_KEY
    elsewhere = {"api_key": API_KEY, "base_url": "http://127.0.0.1:9/api/v1"}
    with pytest.raises(pix.APIConnectionError):
        pix.get_dataset_info(seeded, config={**elsewhere})
    with pytest.raises(ValueError, match="config accepts api_key, token, base_url; not timeout"):
        pix.load_dataset(seeded, {"timeout": 3})


def test_infos_items_and_metadata_read_like_mappings(contract_server: ContractServer, seeded: str) -> None:
    pix.auth(token=API_KEY, base_url=contract_server.base_url)
    info = pix.get_dataset_info(seeded)
    assert info["image_count"] == info.image_count == 10
    assert info["size_mb"] == info.size_mb == round(info.size_bytes / 2**20, 2) > 0
    assert info["labels"] == ["cat", "dog"] and info["name"] == "pets" and info["status"] == "ready"
    assert "image_count" in info and "nonsense" not in info and info.get("nonsense", 7) == 7
    with pytest.raises(KeyError, match="image_count"):
        info["nonsense"]
    listed = pix.list_datasets()
    assert [(d["id"], d["image_count"]) for d in listed] == [(seeded, 10)]

    ds = pix.load_dataset(seeded, progress=False)
    assert ds.metadata["image_count"] == len(ds) == 10
    assert ds.metadata["size_mb"] == round(ds.path.stat().st_size / 2**20, 2)
    assert ds.info is not None and ds.info["image_count"] == 10
    item = ds[0]
    assert (item["label"], item["url"], item.get("license")) == (item.label, item.metadata["url"], "CC-BY-SA-4.0")
    ds.close()


def test_splits_by_name_and_a_download_to_output_path(contract_server: ContractServer, seeded: str,
                                                      tmp_path: Path) -> None:
    pix.auth(token=API_KEY, base_url=contract_server.base_url)
    with pix.load_dataset(seeded, progress=False) as ds:
        train = ds["train"]
        assert len(train) == len(ds.split("train")) and all(i.split == "train" for i in train)
        assert sum(len(ds[name]) for name in ("train", "val", "test")) == len(ds)
        with pytest.raises(KeyError, match="train"):
            ds["holdout"]
        copy = ds.download(output_path=tmp_path / "backup" / "pets.zip")
        assert copy.read_bytes() == ds.path.read_bytes() and zipfile.is_zipfile(copy)
    path = pix.download_dataset(seeded, output_path=str(tmp_path / "my_dataset.zip"), progress=False)
    assert path == tmp_path / "my_dataset.zip"


def test_pixcrawler_client_is_the_client(contract_server: ContractServer, seeded: str) -> None:
    assert pix.PixCrawlerClient is pix.Client
    with pix.PixCrawlerClient(api_key=API_KEY, base_url=contract_server.base_url) as client:
        assert client.get_dataset(seeded)["image_count"] == 10


def test_an_unreachable_service_is_a_connection_error(sdk_env: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pix.Client(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/api/v1", max_retries=0) as client:
        with pytest.raises(ConnectionError) as caught:
            client.list_datasets()
    assert isinstance(caught.value, pix.APIConnectionError) and isinstance(caught.value, pix.PixCrawlerError)
    assert f"127.0.0.1:{port}" in str(caught.value)
