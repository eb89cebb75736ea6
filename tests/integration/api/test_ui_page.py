"""The review page is served by the app itself with no credentials, no CDN and a strict
Content-Security-Policy: every module it imports is served with a JavaScript type, nothing
outside the ui/ folder's own files is, and the page's calls go to /api/v1 only."""

from __future__ import annotations

import re

import httpx
import pytest
from _apitest import assert_error_shape

from http_triggers.ui import UI_DIR, asset_names


def test_the_page_and_every_module_it_imports_are_served(origin: str) -> None:
    page = httpx.get(f"{origin}/api/ui", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    pending = re.findall(r'(?:src|href)="(/api/ui/[^"]+)"', page.text)
    assert "/api/ui/app.js" in pending and "/api/ui/style.css" in pending
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        asset = httpx.get(f"{origin}{ref}", timeout=10)
        assert asset.status_code == 200, ref
        if ref.endswith(".js"):
            assert asset.headers["content-type"].startswith("text/javascript")
            pending += re.findall(r'from "(/api/ui/[^"]+)"', asset.text)
    assert {ref.rsplit("/", 1)[1] for ref in seen} == {n for n in asset_names() if n != "index.html"}


def test_no_other_host_is_named_by_the_page() -> None:
    for name in asset_names():
        text = (UI_DIR / name).read_text()
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), name
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, f"{name}: data never becomes markup"
    api = (UI_DIR / "api.js").read_text()
    assert 'const BASE = "/api/v1/"' in api and "sessionStorage" in api and "localStorage" not in api


@pytest.mark.parametrize("name", ["nope.js", ".env", "app.js.map", "UPPER.JS", "index.html~"])
def test_only_the_page_files_are_served(origin: str, name: str) -> None:
    response = httpx.get(f"{origin}/api/ui/{name}", timeout=10)
    assert response.status_code == 404
    assert assert_error_shape(response)["details"][0]["error_code"] == "asset_not_found"


@pytest.mark.parametrize("name", ["..%2Fhost.json", "..%2F..%2Ffunction_app.py", "%2E%2E/requirements.txt"])
def test_no_path_leaves_the_folder(origin: str, name: str) -> None:
    response = httpx.get(f"{origin}/api/ui/{name}", timeout=10)
    assert response.status_code == 404
    assert "extensionBundle" not in response.text and "DFApp" not in response.text
