"""CORS, as `func start` applies it from local.settings.json (and App Service from its CORS
settings): allowed origins get `Access-Control-Allow-Origin` on every response, and preflight
requests (OPTIONS with `Access-Control-Request-Method`) are answered by the host before any
function runs. Nothing of the app is involved.

Settings (a DEVHOST_ variable wins over local.settings.json):

    Host.CORS / DEVHOST_CORS                        comma-separated origins, or "*"
    Host.CORSCredentials / DEVHOST_CORS_CREDENTIALS  true = Access-Control-Allow-Credentials

Example local.settings.json::

    {"Values": {...}, "Host": {"CORS": "http://localhost:5173", "CORSCredentials": false}}
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .appmodel import local_settings

ANY = "*"
#: How long a browser may cache a preflight answer (seconds).
PREFLIGHT_MAX_AGE = "3600"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class CorsPolicy:
    """The allowed origins (exact, without a trailing slash, or "*") and whether credentials
    are allowed."""

    origins: tuple[str, ...]
    credentials: bool = False

    @classmethod
    def load(cls, app_dir: Path) -> CorsPolicy | None:
        """The policy of DEVHOST_CORS / local.settings.json Host.CORS; None when no origin is set.
        Raises ValueError for "*" with credentials, which browsers refuse (func refuses it too)."""
        host = local_settings(app_dir).get("Host", {})
        text = os.environ.get("DEVHOST_CORS", host.get("CORS", ""))
        credentials = _truthy(os.environ.get("DEVHOST_CORS_CREDENTIALS", host.get("CORSCredentials", False)))
        origins = tuple(o.strip().rstrip("/") for o in str(text).split(",") if o.strip())
        if not origins:
            return None
        if credentials and ANY in origins:
            raise ValueError("CORS: credentials cannot be allowed for the '*' origin; list the origins")
        return cls(origins, credentials)

    def allows(self, origin: str) -> bool:
        return ANY in self.origins or origin.rstrip("/") in self.origins

    def headers(self, origin: str) -> dict[str, str]:
        """The CORS headers of a response to an allowed ``origin``."""
        headers = {"Vary": "Origin"}
        if ANY in self.origins and not self.credentials:
            headers["Access-Control-Allow-Origin"] = ANY
        else:
            headers["Access-Control-Allow-Origin"] = origin
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight(self, request: web.Request) -> web.Response:
        """204 with the CORS headers when the origin is allowed; without them (the browser then
        blocks the call) when it is not."""
        origin = request.headers["Origin"]
        if not self.allows(origin):
            return web.Response(status=204, headers={"Vary": "Origin"})
        headers = self.headers(origin)
        headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"]
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            headers["Access-Control-Allow-Headers"] = requested
        headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return web.Response(status=204, headers=headers)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return self.preflight(request)
        response = await handler(request)
        if self.allows(origin) and not response.prepared:
            response.headers.update(self.headers(origin))
        return response
