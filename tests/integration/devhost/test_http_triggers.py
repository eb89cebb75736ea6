"""HTTP triggers: routes, methods, auth levels, request/response fidelity, failures."""
import json
import uuid

import pytest

from devhost_harness import FUNCTION_KEY, MASTER_KEY

pytestmark = pytest.mark.integration


def test_host_status_is_running(host):
    status, body = host.json("GET", "/admin/host/status")
    assert status == 200 and body["state"] == "Running"


def test_request_is_carried_faithfully(host):
    status, headers, data = host.request(
        "POST", "/api/echo/42/tail?x=1&x=2&y=z", raw=b"payload bytes",
        headers={"X-One": "1", "Content-Type": "text/plain"})
    assert status == 201
    body = json.loads(data)
    assert body["method"] == "POST"
    assert body["route"] == {"id": "42", "rest": "tail"}
    assert body["params"] == {"x": "1,2", "y": "z"}
    assert body["headers"]["x-one"] == "1"
    assert body["body"] == "payload bytes"
    assert body["url"].endswith("/api/echo/42/tail?x=1&x=2&y=z")
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["X-Echo"] == "yes"
    assert headers["Content-Type"].startswith("application/json")


def test_optional_parameter_may_be_absent(host):
    status, body = host.json("GET", "/api/echo/7")
    assert status == 201 and body["route"] == {"id": "7"}


def test_constraints_reject_non_matching_values(host):
    assert host.request("GET", "/api/echo/notanint")[0] == 404
    good = str(uuid.uuid4())
    status, _, data = host.request("GET", f"/api/items/{good}")
    assert (status, data.decode()) == (200, f"guid {good}")
    assert host.request("GET", "/api/items/not-a-guid")[0] == 404


def test_literal_route_wins_over_template(host):
    assert host.request("GET", "/api/jobs/stats")[2] == b"stats"
    assert host.request("GET", "/api/jobs/abc")[2] == b"job abc"


def test_methods_are_enforced(host):
    status, headers, _ = host.request("DELETE", "/api/echo/1")
    assert status == 405 and "GET" in headers["Allow"]


def test_async_function(host):
    status, headers, data = host.request("POST", "/api/async/echo", raw=b"hello")
    assert (status, data, headers["X-Async"]) == (200, b"hello", "1")


def test_function_auth_level(host):
    assert host.request("GET", "/api/secure")[0] == 401
    assert host.request("GET", "/api/secure?code=wrong")[0] == 401
    assert host.request("GET", f"/api/secure?code={FUNCTION_KEY}")[2] == b"secret"
    assert host.request("GET", "/api/secure", headers={"x-functions-key": MASTER_KEY})[0] == 200


def test_admin_auth_level(host):
    assert host.request("GET", f"/api/adminonly?code={FUNCTION_KEY}")[0] == 401
    assert host.request("GET", "/api/adminonly",
                        headers={"x-functions-key": MASTER_KEY})[2] == b"admin"


def test_exception_gives_500_and_host_survives(host):
    assert host.request("GET", "/api/boom")[0] == 500
    assert host.json("GET", "/admin/host/status")[0] == 200


def test_unknown_route_is_404(host):
    assert host.request("GET", "/api/nothing/here")[0] == 404
    assert host.request("GET", "/elsewhere")[0] == 404
