"""The docs page works with no internet: every asset it loads is served by the app itself,
and it points at the served OpenAPI document."""

from __future__ import annotations

import re

import httpx
from _apitest import Api, assert_error_shape


def test_docs_page_loads_only_local_assets(origin: str) -> None:
    page = httpx.get(f"{origin}/api/docs", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references and all(ref.startswith("/api/") for ref in references), (
        "no CDN, no other host"
    )
    types = {}
    for ref in references:
        asset = httpx.get(f"{origin}{ref}", timeout=10)
        assert asset.status_code == 200, ref
        types[ref.rsplit(".", 1)[-1]] = asset.headers["content-type"]
    assert types["js"].startswith("text/javascript") and types["css"].startswith("text/css")
    assert (
        "SwaggerUIBundle" in httpx.get(f"{origin}/api/docs/swagger-ui-bundle.js", timeout=10).text
    )
    assert '"/api/v1/openapi.json"' in page.text


def test_openapi_json_is_public_and_lists_the_api(api: Api) -> None:
    document = api.anonymous.get("/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"] == "3.1.0"
    assert "/api/v1/jobs/{job_id}/start" in document.json()["paths"]


def test_only_bundle_assets_are_served(origin: str) -> None:
    for name in ("index.html", "swagger-ui.js.map"):
        response = httpx.get(f"{origin}/api/docs/{name}", timeout=10)
        assert response.status_code == 404, name
        assert_error_shape(response)
    escape = httpx.get(f"{origin}/api/docs/..%2F..%2Fhost.json", timeout=10)
    assert escape.status_code == 404 and "extensionBundle" not in escape.text
