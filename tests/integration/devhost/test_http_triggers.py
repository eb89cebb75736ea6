"""HTTP triggers: routes, methods, auth levels, request/response fidelity, failures."""
import json
import socket
import urllib.parse
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


def _raw_answer(host, request: bytes) -> tuple:
    """Send bytes as they are; (status, headers, JSON body) of the answer."""
    address = urllib.parse.urlsplit(host.base)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_the_hosts_own_errors_are_json_by_default(host):
    """No template set: a generic JSON body; the request id is made, or kept when usable."""
    for method, path, status, code in [("GET", "/api/nothing/here", 404, "route_not_found"),
                                       ("DELETE", "/api/echo/1", 405, "method_not_allowed"),
                                       ("GET", "/api/boom", 500, "internal_error"),
                                       ("GET", "/api/secure", 401, "function_key_required")]:
        got, headers, data = host.request(method, path, headers={"X-Request-ID": "abc-1"})
        body = json.loads(data)
        assert (got, body["code"]) == (status, code)
        assert body["request_id"] == headers["X-Request-ID"] == "abc-1" and body["message"]
    request = b"GET /api/echo/1?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body = _raw_answer(host, request)
    assert (status, body["code"]) == (414, "uri_too_long")
    assert body["request_id"] == headers["x-request-id"]
    request = b"GET /api/echo/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 9000 + b"\r\n\r\n"
    assert _raw_answer(host, request)[2]["code"] == "headers_too_large"
    status, _, body = _raw_answer(host, b"NOT HTTP AT ALL\r\n\r\n")
    assert (status, body["code"]) == (400, "bad_request")


def test_the_apps_template_shapes_the_hosts_errors(fresh_host):
    template = {"error": {"text": "{message}", "kind": "{code}", "status": "{status}"},
                "trace": "id {request_id}", "fixed": [1, None]}
    host = fresh_host(DEVHOST_ERROR_BODY=json.dumps(template),
                      DEVHOST_REQUEST_ID_HEADER="X-Trace").start()
    status, headers, data = host.request("GET", "/api/nothing")
    body = json.loads(data)
    assert status == 404 and body["error"]["kind"] == "route_not_found"
    assert body["error"]["status"] == 404, "a string that is exactly {status} becomes a number"
    assert body["trace"] == f"id {headers['X-Trace']}" and body["fixed"] == [1, None]
    assert "No route GET /api/nothing" in body["error"]["text"]
    request = b"GET /api/echo/1 HTTP/1.1\r\nHost: x\r\nX-Trace: mine\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n"
    status, headers, body = _raw_answer(host, request)
    assert (status, body["error"]["kind"]) == (431, "headers_too_large")


def test_a_template_that_is_not_json_stops_the_start(fresh_host):
    host = fresh_host(DEVHOST_ERROR_BODY="{not json")
    with pytest.raises(RuntimeError, match="did not start"):
        host.start()
