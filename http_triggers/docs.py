"""What the API says about itself: the OpenAPI document, the docs page, and the documented
error body for paths it does not have.

* ``GET /api/v1/openapi.json`` - OpenAPI 3.1, generated from the route declarations.
* ``GET /api/docs`` - Swagger UI from the pinned ``swagger-ui-bundle-v2`` package: no CDN,
  works offline.
* any other path under ``/api/v1`` - 404 (or 405 when the path exists with other methods)
  with the one error body, instead of the host's own answer.
"""

import mimetypes
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import azure.functions as func
import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no types (its one attribute: the assets folder)

from http_triggers._api import ROUTES, ApiRequest, Auth, api
from shared.errors import MethodNotAllowed, NotFound
from http_triggers._openapi import openapi_document
from shared.settings import get_settings

TAGS = ("docs",)
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
#: The files of the bundle the page loads (nothing else of the package is served).
ASSET_NAMES = frozenset(
    {"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
     "favicon-32x32.png", "favicon-16x16.png"}
)  # fmt: skip
API_VERSION = "1.0.0"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>PixCrawler API</title>
  <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="stylesheet" href="/api/docs/index.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/api/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/api/v1/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    });
  </script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def api_document() -> dict[str, Any]:
    """The OpenAPI document of every registered route (built once per process)."""
    settings = get_settings()
    limits = {r.limit.name: r.limit.describe(r.limit.limit(settings)) for r in ROUTES if r.limit}
    return openapi_document(ROUTES, version=API_VERSION, limits=limits)


@api("v1/openapi.json", ["GET"], auth=Auth.none, tags=TAGS, hidden=True)
async def openapi_json(request: ApiRequest) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API."""
    return api_document()


@api("docs", ["GET"], auth=Auth.none, tags=TAGS, hidden=True)
async def docs_page(request: ApiRequest) -> func.HttpResponse:
    """Swagger UI over /api/v1/openapi.json."""
    return func.HttpResponse(PAGE, mimetype="text/html", charset="utf-8")


@api("docs/{asset}", ["GET"], auth=Auth.none, tags=TAGS, hidden=True)
async def docs_asset(request: ApiRequest) -> func.HttpResponse:
    """A static file of the Swagger UI bundle."""
    name = request.params["asset"]
    if name not in ASSET_NAMES:
        raise NotFound(f"No docs asset {name!r}.", error_code="asset_not_found")
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return func.HttpResponse(
        (ASSETS / name).read_bytes(),
        mimetype=mimetype,
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _template_regex(route: str) -> re.Pattern[str]:
    parts = [
        r"[^/]+" if re.fullmatch(r"\{[^}]+\}", seg) else re.escape(seg)
        for seg in route.strip("/").split("/")
    ]
    return re.compile("^" + "/".join(parts) + "/?$", re.IGNORECASE)


@api("v1/{*path}", ALL_METHODS, auth=Auth.none, tags=TAGS, hidden=True)
async def unknown_route(request: ApiRequest) -> None:
    """Any path under /api/v1 that no route serves: 404, or 405 naming the allowed methods."""
    path = ("v1/" + request.params.get("path", "")).rstrip("/")
    allowed = [
        method
        for route in ROUTES
        if not route.hidden and _template_regex(route.route).match(path)
        for method in route.methods
    ]
    shown = f"{request.http.method} /api/{path}"
    if allowed:
        raise MethodNotAllowed(
            f"{shown} is not supported: use {', '.join(sorted(set(allowed)))}.", allowed=allowed
        )
    raise NotFound(
        f"No route {shown}. The routes are listed at /api/v1/openapi.json.",
        error_code="route_not_found",
    )
