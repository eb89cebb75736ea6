"""CORS, as `func start` applies it: origins from local.settings.json Host.CORS (or DEVHOST_CORS),
preflights answered by the host, Access-Control-Allow-Origin on responses to allowed origins."""
import json
import shutil

import pytest

from devhost_harness import APP, FUNCTION_KEY

pytestmark = pytest.mark.integration

SPA = "https://app.example.com"
VITE = "http://localhost:5173"
EVIL = "https://evil.example.com"


@pytest.fixture
def cors_host(fresh_host, tmp_path):
    """A devhost whose app folder has local.settings.json with Host.CORS and CORSCredentials."""
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    (app / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        "Values": {},
        "Host": {"CORS": f"{SPA}, {VITE}/", "CORSCredentials": True},
    }))
    return fresh_host(app=app).start()


def preflight(host, path, origin, method="PUT", headers="content-type, x-functions-key"):
    return host.request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})


def test_preflight_of_an_allowed_origin(cors_host):
    # No function key: browsers send none on a preflight, and the host answers before any function.
    status, headers, body = preflight(cors_host, "/api/echo/1", SPA)
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == SPA
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-functions-key"
    assert "Origin" in headers["Vary"]
    status, headers, _ = preflight(cors_host, "/api/echo/1", VITE)  # listed with a trailing slash
    assert status == 204 and headers["Access-Control-Allow-Origin"] == VITE


def test_response_to_an_allowed_origin(cors_host):
    status, headers, data = cors_host.request(
        "GET", "/api/echo/7", headers={"Origin": SPA, "x-functions-key": FUNCTION_KEY})
    assert status == 201 and json.loads(data)["route"] == {"id": "7"}
    assert headers["Access-Control-Allow-Origin"] == SPA
    assert headers["Access-Control-Allow-Credentials"] == "true"
    # An error response carries the headers too, so the browser can show it.
    status, headers, _ = cors_host.request("GET", "/api/nowhere", headers={"Origin": SPA})
    assert status == 404 and headers["Access-Control-Allow-Origin"] == SPA


def test_other_origins_get_no_cors_headers(cors_host):
    status, headers, _ = preflight(cors_host, "/api/echo/1", EVIL)
    assert status == 204 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = cors_host.request(
        "GET", "/api/echo/7", headers={"Origin": EVIL, "x-functions-key": FUNCTION_KEY})
    assert status == 201 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = cors_host.request("GET", "/api/echo/7", headers={"x-functions-key": FUNCTION_KEY})
    assert status == 201 and "Access-Control-Allow-Origin" not in headers


def test_devhost_variable_wins_and_allows_any_origin(fresh_host):
    host = fresh_host(DEVHOST_CORS="*").start()
    status, headers, _ = preflight(host, "/api/async/echo", EVIL, method="POST")
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers
    status, headers, _ = host.request("POST", "/api/async/echo", body={"a": 1},
                                      headers={"Origin": EVIL, "x-functions-key": FUNCTION_KEY})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"


def test_any_origin_with_credentials_does_not_start(fresh_host, tmp_path):
    host = fresh_host(DEVHOST_CORS="*", DEVHOST_CORS_CREDENTIALS="true")
    with pytest.raises(RuntimeError, match="did not start"):
        host.start()
    assert host.proc.wait(timeout=30) == 2
    log = (tmp_path / "devhost-1.log").read_text()
    assert "credentials cannot be allowed for the '*' origin" in log


def test_no_cors_without_origins(host):
    """Without Host.CORS the host adds nothing and a preflight reaches the routes like any request."""
    status, headers, _ = preflight(host, "/api/echo/1", SPA)
    assert status == 405 and "Access-Control-Allow-Origin" not in headers
