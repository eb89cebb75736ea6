"""The module-level API, the jobs module, and where credentials come from."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import pixcrawler
from pixcrawler import jobs
from pixcrawler.config import resolve_settings, save_config
from sdk_contract_server import API_KEY, TOKEN, ContractServer, ContractState


@pytest.fixture
def module_api(api: ContractState, contract_server: ContractServer,
               sdk_env: dict[str, str]) -> Iterator[ContractState]:
    pixcrawler.auth(api_key=API_KEY, base_url=contract_server.base_url)
    yield api
    pixcrawler.auth(api_key="pxc_unset", base_url="http://127.0.0.1:9/api/v1")


def test_list_datasets_pages_over_continuation_tokens(module_api: ContractState,
                                                      contract_server: ContractServer) -> None:
    ids = [contract_server.seed_dataset({"cat": 1}, name=f"d{i}").id for i in range(5)]
    assert [d.id for d in pixcrawler.list_datasets(page=1, size=2)] == ids[:2]
    assert [d.id for d in pixcrawler.list_datasets(page=2, size=2)] == ids[2:4]
    assert [d.id for d in pixcrawler.list_datasets(page=3, size=2)] == ids[4:]
    assert pixcrawler.list_datasets(page=4, size=2) == []
    assert [d.id for d in pixcrawler.get_client().iter_datasets(page_size=2)] == ids


def test_get_info_download_and_load_at_module_level(module_api: ContractState,
                                                    contract_server: ContractServer,
                                                    tmp_path: Path) -> None:
    seeded = contract_server.seed_dataset({"cat": 2, "dog": 1})
    info = pixcrawler.get_dataset_info(seeded.id)
    assert info.status == "ready" and info.is_ready
    assert info.counts.total == 3 and info.counts.per_label == {"cat": 2, "dog": 1}
    path = pixcrawler.download_dataset(seeded.id, tmp_path / "pets.zip", progress=False)
    assert path.stat().st_size == info.size_bytes
    ds = pixcrawler.load_dataset(seeded.id, progress=False)
    assert len(ds) == 3 and ds.labels == ["cat", "dog"]
    ds.close()


def test_a_job_from_creation_to_dataset(module_api: ContractState) -> None:
    job = jobs.create(["cat", "dog"], ["wikimedia"], max_images_per_keyword=4)
    assert job.status == "pending" and job.keywords == ["cat", "dog"]
    started = jobs.start(job.id)
    assert started.total_chunks == 2
    final = jobs.wait(job.id, progress=False, poll_interval=0.01)
    assert final.status == "completed" and final.is_finished
    assert final.completed_chunks == 2 and final.valid_images == 4
    assert [c.status for c in jobs.logs(job.id)] == ["completed", "completed"]
    assert jobs.get(job.id).status == "completed"
    assert [j.id for j in jobs.list_jobs(status="completed")] == [job.id]

    client = pixcrawler.get_client()
    dataset = client.create_dataset(job.id, "pets", splits={"train": 0.5, "test": 0.5})
    assert dataset.status == "building"
    ready = client.wait_for_dataset(dataset.id, poll_interval=0.01)
    assert ready.status == "ready" and ready.counts.total == 4
    client.delete_dataset(dataset.id)
    with pytest.raises(pixcrawler.NotFoundError):
        pixcrawler.get_dataset_info(dataset.id)


def test_cancel_and_resume(module_api: ContractState) -> None:
    module_api.hold_jobs = True
    job = jobs.create(["cat", "dog", "bird"], ["wikimedia"])
    jobs.start(job.id)
    cancelled = jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.revoked_tasks == 3
    module_api.hold_jobs = False
    resumed = jobs.resume(job.id)
    assert resumed.status == "running" and resumed.chunks_to_resume == 3
    assert jobs.progress(job.id).completed_chunks == 1


def test_waiting_gives_up_after_the_timeout(module_api: ContractState) -> None:
    module_api.hold_jobs = True
    job = jobs.create(["cat"], ["wikimedia"])
    jobs.start(job.id)
    with pytest.raises(pixcrawler.WaitTimeoutError, match="still running"):
        jobs.wait(job.id, progress=False, poll_interval=0.01, timeout=0.05)


def test_wait_draws_overall_and_per_chunk_bars(module_api: ContractState,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    job = jobs.create(["cat", "dog"], ["wikimedia"])
    jobs.start(job.id)
    jobs.wait(job.id, chunks=True, poll_interval=0.01)
    err = capsys.readouterr().err
    assert f"job {job.id}" in err and "2/2" in err
    assert "cat [wikimedia]" in err and "dog [wikimedia]" in err


def test_credentials_come_from_args_then_env_then_saved_config(
    sdk_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert resolve_settings().api_key == API_KEY
    assert resolve_settings(api_key="pxc_arg").auth_headers() == {"X-API-Key": "pxc_arg"}
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    monkeypatch.setenv("PIXCRAWLER_TOKEN", TOKEN)
    assert resolve_settings().auth_headers() == {"Authorization": f"Bearer {TOKEN}"}
    monkeypatch.delenv("PIXCRAWLER_TOKEN")
    monkeypatch.delenv("PIXCRAWLER_BASE_URL")
    path = save_config({"api_key": "pxc_saved", "base_url": "https://pix.example/api/v1/"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"api_key": "pxc_saved",
                                            "base_url": "https://pix.example/api/v1/"}
    settings = resolve_settings()
    assert (settings.api_key, settings.base_url) == ("pxc_saved", "https://pix.example/api/v1")
    path.write_text("{broken")
    with pytest.raises(ValueError, match="pixcrawler login"):
        resolve_settings()


def test_without_credentials_the_401_says_none_were_configured(
    api: ContractState, sdk_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIXCRAWLER_API_KEY")
    with pixcrawler.Client() as client, pytest.raises(pixcrawler.AuthenticationError) as caught:
        client.list_datasets()
    assert "no API key or token was configured" in str(caught.value)


def test_ids_cannot_change_the_route(sdk_env: dict[str, str]) -> None:
    with pixcrawler.Client() as client:
        for bad in ["", "..", "a/b"]:
            with pytest.raises(ValueError, match="not a valid id"):
                client.get_dataset(bad)
