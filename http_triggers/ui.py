"""The review page: a job's progress, images, near-duplicates, failures and dataset, in the
browser, served by the Function App itself (no CDN, no build step).

* ``GET /api/ui`` - the page (``ui/index.html``).
* ``GET /api/ui/{asset}`` - its static files from the ``ui/`` folder (HTML, CSS, JavaScript
  modules), by name: nothing outside that folder's own files is served.

The routes need no credentials: the page asks for an API key or a bearer token, keeps it in
the tab's ``sessionStorage`` only, and sends it with every call to ``/api/v1``, which checks it
as for any client. A Content-Security-Policy lets the page load nothing but its own files and
talk to nothing but this API.
"""

import re
from pathlib import Path

import azure.functions as func

from http_triggers._api import ApiRequest, Auth, api
from shared.errors import NotFound

TAGS = ("ui",)
UI_DIR = Path(__file__).resolve().parent.parent / "ui"
INDEX = "index.html"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|css|js|svg)$")
MEDIA_TYPES = {
    "html": "text/html",
    "css": "text/css",
    "js": "text/javascript",
    "svg": "image/svg+xml",
}
#: The page loads only its own files and calls only this origin; thumbnails are blob: URLs.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset_names() -> list[str]:
    """The files the page may load: those of ``ui/`` with a plain name and a known type."""
    return sorted(p.name for p in UI_DIR.iterdir() if p.is_file() and _NAME.match(p.name))


def _file(name: str) -> func.HttpResponse:
    if not _NAME.match(name) or name not in asset_names():
        raise NotFound(f"No page file {name!r}.", error_code="asset_not_found")
    media_type = MEDIA_TYPES[name.rsplit(".", 1)[1]]
    return func.HttpResponse(
        (UI_DIR / name).read_bytes(), mimetype=media_type, charset="utf-8", headers=dict(HEADERS)
    )


@api("ui", ["GET"], auth=Auth.none, tags=TAGS, hidden=True)
async def ui_page(request: ApiRequest) -> func.HttpResponse:
    """The review page."""
    return _file(INDEX)


@api("ui/{asset}", ["GET"], auth=Auth.none, tags=TAGS, hidden=True)
async def ui_asset(request: ApiRequest) -> func.HttpResponse:
    """A static file of the review page."""
    return _file(request.params["asset"])
