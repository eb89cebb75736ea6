"""No input makes a server error: every request an attacker or a careless client could send gets
a 4xx in the documented error body -- deep or large bodies, bytes that are not UTF-8 in a
credential, ids that are path tricks, mistyped fields, requests the host itself refuses -- and
the per-user limits hold (one budget for start, retry and resume; creations per minute; running
jobs per user, also when two starts race)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _apitest import (
    API_MAX_BODY_BYTES, MAX_ACTIVE_JOBS, Api, SlowImages, assert_error_shape, error_code, job_body,
    new_user, wait_for,
)

from scripts.devtoken import LOCAL_SECRET
from http_triggers._tokens import issue_dev_token

JOB = {"name": "x", "keywords": ["cat"], "sources": ["wikimedia"]}
#: (route, body) of every route that reads a JSON body; {job_id} is filled with a real job.
JSON_ROUTES = [
    ("/jobs", JOB),
    ("/datasets", {"job_id": "{job_id}", "name": "d"}),
    ("/validation/job/{job_id}", {"level": "fast"}),
    ("/api-keys", {"name": "k"}),
]
#: Every route with an id in its path (method, route).
ID_ROUTES = [
    ("GET", "/jobs/{}"), ("DELETE", "/jobs/{}"), ("POST", "/jobs/{}/start"), ("POST", "/jobs/{}/cancel"),
    ("POST", "/jobs/{}/retry"), ("POST", "/jobs/{}/resume"), ("GET", "/jobs/{}/progress"),
    ("GET", "/jobs/{}/logs"), ("GET", "/jobs/{}/stats"), ("GET", "/jobs/{}/checkpoint"),
    ("GET", "/datasets/{}"), ("DELETE", "/datasets/{}"), ("GET", "/datasets/{}/download"),
    ("DELETE", "/api-keys/{}"), ("POST", "/notifications/{}/read"), ("GET", "/validation/stats/{}"),
    ("GET", "/validation/results/{}"), ("POST", "/validation/job/{}"),
]  # fmt: skip
#: Path tricks, percent-encoded as a client sends them: Cosmos would read the container.
BAD_IDS = ["%2E", "%2E%2E", "a%2Fb", "a%3Fb", "a%23b", "%20", "x" * 200]


def _fill(value: Any, job_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, job_id) for k, v in value.items()}
    return value.replace("{job_id}", job_id) if isinstance(value, str) else value


@pytest.fixture
def owner(api: Api) -> tuple[httpx.Client, str]:
    client = api.as_user(new_user())
    job = client.post("/jobs", json=JOB)
    assert job.status_code == 201, job.text
    return client, job.json()["id"]


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("route, body", JSON_ROUTES, ids=[r for r, _ in JSON_ROUTES])
def test_deeply_nested_json_is_422_on_every_json_route(owner: tuple[httpx.Client, str], route: str,
                                                       body: dict[str, Any]) -> None:  # fmt: skip
    client, job_id = owner
    path = route.replace("{job_id}", job_id)
    for nested in (b"[" * 2048, b"[" * 200 + b"]" * 200, b'{"a":' * 100 + b"1" + b"}" * 100):
        response = client.post(path, content=nested, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        detail = assert_error_shape(response)["details"][0]
        assert (detail["field"], detail["error_code"]) in {("body", "json_too_deep"), ("body", "json_invalid")}
    ok = client.post(path, json=_fill(body, job_id))
    assert ok.status_code < 500, ok.text


def test_a_body_over_the_limit_is_413_and_one_under_it_is_read(owner: tuple[httpx.Client, str]) -> None:
    client, _ = owner
    urls = [f"http://127.0.0.1:9/{i:07d}.png" for i in range(API_MAX_BODY_BYTES // 24)]
    big = client.post("/jobs", json=job_body(urls))
    assert big.status_code == 413, big.text[:300]
    assert error_code(big) == "body_too_large"
    small = client.post("/jobs", json=job_body(urls[: len(urls) // 2]))
    assert small.status_code == 201, small.text[:300]


@pytest.mark.parametrize(
    "field, value",
    [("max_images_per_keyword", "10"), ("max_images_per_keyword", True), ("max_images_per_keyword", 10.5),
     ("min_width", "0"), ("keywords", "cat"), ("name", 5), ("validation_level", 1)],
)  # fmt: skip
def test_job_fields_are_not_coerced(api: Api, field: str, value: Any) -> None:
    response = api.as_user(new_user()).post("/jobs", json={**JOB, field: value})
    assert response.status_code == 422, response.text
    assert [d["field"] for d in assert_error_shape(response)["details"]] == [field]


@pytest.mark.parametrize("value", ["yes", "true", 1, None])
def test_dataset_booleans_are_not_coerced(owner: tuple[httpx.Client, str], value: Any) -> None:
    client, job_id = owner
    response = client.post("/datasets", json={"job_id": job_id, "name": "d", "include_duplicates": value})
    assert response.status_code == 422, response.text
    assert [d["field"] for d in assert_error_shape(response)["details"]] == ["include_duplicates"]


def test_the_same_source_twice_is_422_naming_sources(api: Api) -> None:
    client = api.as_user(new_user())
    for sources in (["wikimedia", "wikimedia"], ["openverse", {"type": "openverse"}],
                    [{"type": "urls", "label": "a", "urls": ["http://x/1"]}] * 2):  # fmt: skip
        response = client.post("/jobs", json={**JOB, "sources": sources})
        assert response.status_code == 422, response.text
        assert [d["field"] for d in assert_error_shape(response)["details"]] == ["sources"]
    two_lists = [{"type": "urls", "label": "a", "urls": ["http://x/1"]}, {"type": "urls", "label": "a", "urls": ["http://x/2"]}]
    assert client.post("/jobs", json={**JOB, "sources": two_lists}).status_code == 201


@pytest.mark.parametrize(
    "field, value",
    [("splits", {f"s{i}": 1 / 5000 for i in range(5000)}), ("splits", {f"s{i}": 1 / 21 for i in range(21)})],
    ids=["5000 splits", "21 splits"],
)
def test_lists_and_maps_in_bodies_are_bounded(owner: tuple[httpx.Client, str], field: str, value: Any) -> None:
    client, job_id = owner
    response = client.post("/datasets", json={"job_id": job_id, "name": "d", field: value})
    assert response.status_code == 422, response.text[:300]
    assert [d["field"] for d in assert_error_shape(response)["details"]] == [field]
    options = {f"k{i}": "v" for i in range(21)}
    job = client.post("/jobs", json={**JOB, "sources": [{"type": "wikimedia", "options": options}]})
    assert job.status_code == 422 and assert_error_shape(job)["details"][0]["field"] == "sources.0.options"
    formats = client.post("/jobs", json={**JOB, "formats": ["jpeg"] * 100})
    assert formats.status_code == 422 and assert_error_shape(formats)["details"][0]["field"] == "formats"


# --- credentials and ids ------------------------------------------------------------------


def _raw(origin: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (httpx would refuse them) and read the whole answer."""
    address = urlsplit(origin)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize("credential", [b"Authorization: Bearer ab\xffcd", b"Authorization: Bearer \xc3\x28",
                                        b"X-API-Key: pxc_\xff_x", b"Authorization: \xff"])  # fmt: skip
def test_a_credential_that_is_not_utf8_is_401(origin: str, credential: bytes) -> None:
    status, headers, body = _raw(
        origin, b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n" + credential + b"\r\nConnection: close\r\n\r\n"
    )
    assert status == 401, body
    assert headers["content-type"].startswith("application/json")
    assert httpx.Response(401, headers=headers, content=body).json()["request_id"] == headers["x-request-id"]


@pytest.mark.parametrize("method, route", ID_ROUTES, ids=[f"{m} {r}" for m, r in ID_ROUTES])
def test_ids_that_are_path_tricks_are_404_before_any_storage_call(api: Api, method: str, route: str) -> None:
    client = api.as_user(new_user(), admin=True)
    for bad in BAD_IDS:
        response = client.request(method, route.format(bad), json={"level": "fast"} if method == "POST" else None)
        assert response.status_code == 404, f"{bad}: {response.text}"
        detail = assert_error_shape(response)["details"][0]
        assert detail["error_code"].endswith("_not_found"), detail


# --- the host's own answers ------------------------------------------------------------------


def test_the_hosts_own_errors_have_the_documented_shape(api: Api, origin: str) -> None:
    host = httpx.Client(base_url=origin, timeout=60)
    cases = [
        (host.get("/api/v2/jobs"), 404, "route_not_found"),
        (host.get("/nothing/here"), 404, "route_not_found"),
        (host.request("TRACE", "/api/v1/jobs"), 405, "method_not_allowed"),
        (host.get("/api/v1/jobs", params={"q": "x" * 9000}), 414, "uri_too_long"),
        (host.get("/api/v1/jobs", headers={"X-Big": "x" * 9000}), 431, "headers_too_large"),
        (host.get("/api/v1/jobs", headers={f"X-H{i}": "v" for i in range(200)}), 431, "headers_too_large"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text[:200]
        assert error_code(response) == code
    mine = host.get("/api/v2/x", headers={"X-Request-ID": "trace-7"})
    assert mine.headers["X-Request-ID"] == "trace-7" == mine.json()["request_id"]
    assert "Allow" in cases[2][0].headers


def test_a_body_over_the_hosts_limit_is_413_in_the_documented_shape(origin: str) -> None:
    response = httpx.post(f"{origin}/api/v1/jobs", content=b" " * (64 * 1024 * 1024 + 1), timeout=120)
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"


# --- limits -------------------------------------------------------------------------------


def _wait_for_next_window(needed: float) -> None:
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.1)


def _assert_429(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    body = assert_error_shape(response)
    seconds = int(response.headers["Retry-After"])
    assert body["details"][0]["error_code"] == code
    assert f"Retry after {seconds} s" in body["message"], "the wait is in the body too"


def test_start_retry_and_resume_share_one_budget(api: Api) -> None:
    """Cancel + retry in a loop used to bypass start's limit (15 cycles in 0.9 s)."""
    client = api.as_user(new_user())
    job = client.post("/jobs", json=job_body(["http://127.0.0.1:9/a.png"])).json()["id"]
    _wait_for_next_window(20)
    launches = [client.post(f"/jobs/{job}/start")]
    for action in ["retry", "resume"] * 5:
        client.post(f"/jobs/{job}/cancel")
        launches.append(client.post(f"/jobs/{job}/{action}"))
    assert [r.status_code for r in launches[:10]] == [200] * 10, [r.text for r in launches if r.status_code != 200]
    _assert_429(launches[10], "rate_limited")


@pytest.mark.parametrize(
    "route, body, limit",
    [("/jobs", JOB, 30), ("/datasets", {"job_id": "0" * 32, "name": "d"}, 10),
     ("/validation/job/" + "0" * 32, {"level": "fast"}, 10)],
    ids=["jobs", "datasets", "validations"],
)  # fmt: skip
def test_creations_per_minute_are_limited_per_user(api: Api, route: str, body: dict[str, Any], limit: int) -> None:
    client, other = api.as_user(new_user()), api.as_user(new_user())
    _wait_for_next_window(20)
    answers = [client.post(route, json=body) for _ in range(limit + 1)]
    assert all(r.status_code != 429 for r in answers[:limit]), [r.text for r in answers if r.status_code == 429]
    _assert_429(answers[limit], "rate_limited")
    assert other.post(route, json=body).status_code != 429, "limits are per user"


def test_running_jobs_per_user_are_capped(api: Api, slow_images: SlowImages) -> None:
    client = api.as_user(new_user())
    jobs = [client.post("/jobs", json=job_body(slow_images.urls(2))).json()["id"] for _ in range(MAX_ACTIVE_JOBS + 1)]
    for job in jobs[:MAX_ACTIVE_JOBS]:
        assert client.post(f"/jobs/{job}/start").status_code == 200
    refused = client.post(f"/jobs/{jobs[-1]}/start")
    _assert_429(refused, "too_many_active_jobs")
    assert client.get(f"/jobs/{jobs[-1]}").json()["status"] == "pending", "a refused start changes nothing"
    assert client.post(f"/jobs/{jobs[0]}/cancel").status_code == 200
    assert client.post(f"/jobs/{jobs[-1]}/start").status_code == 200
    for job in jobs[1:]:
        client.post(f"/jobs/{job}/cancel")


def test_two_starts_racing_for_the_last_slot_get_one_run(api: Api, slow_images: SlowImages) -> None:
    user = new_user()
    client = api.as_user(user)
    jobs = [client.post("/jobs", json=job_body(slow_images.urls(2))).json()["id"] for _ in range(MAX_ACTIVE_JOBS + 1)]
    for job in jobs[: MAX_ACTIVE_JOBS - 1]:
        assert client.post(f"/jobs/{job}/start").status_code == 200
    racers = jobs[MAX_ACTIVE_JOBS - 1 :]
    answers: dict[str, int] = {}
    gate = threading.Barrier(len(racers))

    def start(job: str) -> None:
        with api.as_user(user) as own:  # one connection each: the requests really overlap
            gate.wait()
            answers[job] = own.post(f"/jobs/{job}/start").status_code

    threads = [threading.Thread(target=start, args=(job,)) for job in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers.values()) == [200, 429], answers
    running = [j for j in jobs if client.get(f"/jobs/{j}").json()["status"] == "running"]
    assert len(running) == MAX_ACTIVE_JOBS
    wait_for(lambda: all(client.post(f"/jobs/{j}/cancel").status_code in (200, 400) for j in jobs))


def test_a_user_token_with_a_bad_byte_never_reaches_a_handler(origin: str) -> None:
    """The same check with a valid token around the bad byte: still 401, not a 500."""
    token = issue_dev_token("alice", secret=LOCAL_SECRET).encode()
    status, _, _ = _raw(origin, b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token[:10]
                        + b"\x80" + token[10:] + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    assert status == 401
