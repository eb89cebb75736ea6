"""Error answers become the documented exceptions; transient failures are retried."""

from __future__ import annotations

import socket
import time

import pytest

import pixcrawler
from pixcrawler import Client
from sdk_contract_server import ContractServer, ContractState, Fault

DATASET_PATH = "/api/v1/datasets/ds-1"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, pixcrawler.ValidationError),
        (401, pixcrawler.AuthenticationError),
        (403, pixcrawler.AuthenticationError),
        (404, pixcrawler.NotFoundError),
        (409, pixcrawler.APIError),
        (422, pixcrawler.ValidationError),
        (429, pixcrawler.RateLimitError),
        (500, pixcrawler.APIError),
        (503, pixcrawler.APIError),
    ],
)
def test_each_error_status_raises_its_exception(
    api: ContractState, sdk_env: dict[str, str], status: int, exception: type[Exception]
) -> None:
    api.faults.append(Fault("GET", DATASET_PATH, status, times=1, headers={"Retry-After": "7"}))
    with Client(max_retries=0) as client, pytest.raises(exception) as caught:
        client.get_dataset("ds-1")
    error = caught.value
    assert isinstance(error, pixcrawler.APIError) and isinstance(error, pixcrawler.PixCrawlerError)
    assert type(error) is exception
    assert error.status_code == status
    assert error.message == f"injected HTTP {status}"
    assert error.details[0]["error_code"] == f"injected_{status}"
    assert error.request_id and error.request_id.startswith("req-")
    assert error.request_id in str(error)
    if status == 429:
        assert isinstance(error, pixcrawler.RateLimitError) and error.retry_after == 7.0


def test_a_real_401_says_how_to_log_in(api: ContractState, sdk_env: dict[str, str]) -> None:
    with Client(api_key="pxc_wrong") as client, pytest.raises(pixcrawler.AuthenticationError) as caught:
        client.list_datasets()
    assert caught.value.status_code == 401
    assert "pixcrawler login" in str(caught.value)


def test_an_unknown_id_is_not_found(client: Client) -> None:
    with pytest.raises(pixcrawler.NotFoundError, match="ds-nope not found"):
        client.get_dataset("ds-nope")


def test_an_invalid_body_names_the_field(client: Client, api: ContractState) -> None:
    job = client.create_job(name="pets", keywords=["cat"], sources=["wikimedia"])
    with pytest.raises(pixcrawler.ValidationError) as caught:
        client.create_dataset(job.id, "pets", splits={"train": 0.5})
    assert caught.value.status_code == 422
    assert caught.value.details[0]["field"] == "splits"
    assert "add up to 1" in caught.value.details[0]["detail"]


def test_429_is_retried_after_retry_after_then_succeeds(
    api: ContractState, sdk_env: dict[str, str], contract_server: ContractServer
) -> None:
    dataset = contract_server.seed_dataset({"cat": 1})
    path = f"/api/v1/datasets/{dataset.id}"
    api.faults.append(Fault("GET", path, 429, times=1, headers={"Retry-After": "1"}))
    started = time.monotonic()
    with Client(max_retries=3, backoff=0.01) as client:
        info = client.get_dataset(dataset.id)
    assert info.id == dataset.id and info.status == "ready"
    assert time.monotonic() - started >= 1.0
    assert len(api.requests_to(path)) == 2


def test_5xx_on_get_is_retried_with_backoff(client: Client, api: ContractState) -> None:
    api.faults.append(Fault("GET", "/api/v1/datasets", 502, times=2))
    assert client.list_datasets() == []
    assert len(api.requests_to("/api/v1/datasets")) == 3


def test_retries_are_bounded(api: ContractState, sdk_env: dict[str, str]) -> None:
    api.faults.append(Fault("GET", "/api/v1/datasets", 503, times=10))
    with Client(max_retries=2, backoff=0.01) as client, pytest.raises(pixcrawler.APIError) as caught:
        client.list_datasets()
    assert caught.value.status_code == 503
    assert len(api.requests_to("/api/v1/datasets")) == 3


def test_a_post_that_may_have_acted_is_not_repeated(client: Client, api: ContractState) -> None:
    api.faults.append(Fault("POST", "/api/v1/jobs", 500, times=1))
    with pytest.raises(pixcrawler.APIError):
        client.create_job(name="pets", keywords=["cat"], sources=["wikimedia"])
    assert len(api.requests_to("/api/v1/jobs", "POST")) == 1
    assert api.jobs == {}


def test_a_post_refused_with_503_is_repeated(client: Client, api: ContractState) -> None:
    api.faults.append(Fault("POST", "/api/v1/jobs", 503, times=1))
    job = client.create_job(name="pets", keywords=["cat"], sources=["wikimedia"])
    assert list(api.jobs) == [job.id]


def test_an_unreachable_service_is_a_connection_error_naming_the_url(sdk_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1"
    with Client(base_url=url, max_retries=2, backoff=0.01) as client:
        with pytest.raises(pixcrawler.APIConnectionError, match="3 attempt") as caught:
            client.list_datasets()
    assert url in str(caught.value)


def test_a_non_json_error_body_still_gives_a_message(client: Client, api: ContractState) -> None:
    api.faults.append(Fault("GET", DATASET_PATH, 404, body={"unexpected": True}))
    with pytest.raises(pixcrawler.NotFoundError) as caught:
        client.get_dataset("ds-1")
    assert caught.value.message == "Not Found"
    assert caught.value.details == []
