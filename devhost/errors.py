"""The devhost's own error answers, in the app's error shape when the app names one.

The host answers some requests itself, before or instead of a function: no route (404), a
method the route does not take (405), a body over the host's limit (413), a URL or headers
over 8 KB (414, 431), a request it cannot parse (400), a function key missing (401), a
function that raised (500). The Functions host answers those in its own way, which no app
controls; the devhost answers them in JSON, shaped by a template the app's settings give, so
that a client sees one error shape whatever answered:

* ``DEVHOST_ERROR_BODY``: a JSON template. Every string in it that is exactly ``"{status}"``
  becomes the status as a number; in every other string ``{message}``, ``{code}``,
  ``{status}`` and ``{request_id}`` are replaced by their text. Default:
  ``{"message": "{message}", "code": "{code}", "request_id": "{request_id}"}``.
* ``DEVHOST_REQUEST_ID_HEADER`` (default ``X-Request-ID``): the header that carries the
  request id both ways; a client's own id is kept when it looks like one (1-128 characters of
  letters, digits and ``._:-``), else the host makes one.

``code`` is one of: route_not_found, method_not_allowed, body_too_large, uri_too_long,
headers_too_large, bad_request, function_key_required, master_key_required, internal_error.

Example::

    shaper = ErrorShaper.from_env()
    return shaper.response(404, "route_not_found", "No route GET /api/v2/x.", request.headers)
"""
from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("devhost.http")

DEFAULT_TEMPLATE = {"message": "{message}", "code": "{code}", "request_id": "{request_id}"}
DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PLACEHOLDER = re.compile(r"\{(message|code|status|request_id)\}")

#: The longest request line (method, URL, version) and header field the host reads: 8 KB,
#: like the Functions host. Distinct numbers, so that a LineTooLong says which one it was.
MAX_URL_LINE = 8192
MAX_HEADER_FIELD = 8190


class ErrorShaper:
    """Turns (status, code, message) into a JSON response shaped by the app's template."""

    def __init__(self, template: Any = None,
                 request_id_header: str = DEFAULT_REQUEST_ID_HEADER) -> None:
        self.template = DEFAULT_TEMPLATE if template is None else template
        self.request_id_header = request_id_header

    @classmethod
    def from_env(cls) -> "ErrorShaper":
        """The shaper the app's settings ask for (ValueError naming a bad template)."""
        text = os.environ.get("DEVHOST_ERROR_BODY")
        template = None
        if text:
            try:
                template = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"DEVHOST_ERROR_BODY is not JSON: {exc}") from None
        header = os.environ.get("DEVHOST_REQUEST_ID_HEADER") or DEFAULT_REQUEST_ID_HEADER
        return cls(template, header)

    def request_id(self, headers: Mapping[str, str] | None) -> str:
        given = (headers or {}).get(self.request_id_header) or ""
        return given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    def body(self, status: int, code: str, message: str, request_id: str) -> Any:
        values = {"message": message, "code": code, "status": str(status), "request_id": request_id}

        def fill(node: Any) -> Any:
            if isinstance(node, dict):
                return {key: fill(value) for key, value in node.items()}
            if isinstance(node, list):
                return [fill(value) for value in node]
            if node == "{status}":
                return status
            if isinstance(node, str):
                return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
            return node

        return fill(self.template)

    def response(self, status: int, code: str, message: str,
                 request_headers: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> web.Response:
        request_id = self.request_id(request_headers)
        response = web.json_response(self.body(status, code, message, request_id), status=status,
                                     headers={self.request_id_header: request_id, **(headers or {})})
        return response


def protocol_error(status: int, exc: BaseException | None) -> tuple[int, str, str]:
    """(status, code, message) for a request the host could not read."""
    if isinstance(exc, LineTooLong):
        if str(exc.args[1]) == str(MAX_URL_LINE):
            return 414, "uri_too_long", f"The URL is longer than {MAX_URL_LINE} bytes."
        return 431, "headers_too_large", f"A header is longer than {MAX_HEADER_FIELD} bytes."
    if isinstance(exc, HttpProcessingError) and "Too many headers" in str(exc):
        return 431, "headers_too_large", "The request has too many headers."
    if status >= 500:
        return status, "internal_error", "The host failed to serve the request."
    detail = getattr(exc, "message", None) or "The request is not valid HTTP."
    return status, "bad_request", " ".join(str(detail).split())[:500]  # one line, bounded


class _ShapedRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse through the shaper."""

    __slots__ = ()
    shaper: ErrorShaper = ErrorShaper()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # part of an answer went out: nothing to fix
            raise ConnectionError("response already started: cannot answer the error")
        status, code, text = protocol_error(status, exc)
        log.info("refused a request: %s %s (%s)", status, code, exc)
        response = self.shaper.response(status, code, text, request.headers)
        response.force_close()
        return response


class ShapedRunner(web.AppRunner):
    """An AppRunner whose connections answer protocol errors (URL or headers too long, bad
    requests, failures outside any route) through ``shaper``, not as aiohttp's plain text."""

    def __init__(self, app: web.Application, shaper: ErrorShaper, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_URL_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        super().__init__(app, **kwargs)
        self.shaper = shaper

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        handler: type[_ShapedRequestHandler] = type(
            "ShapedRequestHandler", (_ShapedRequestHandler,),
            {"__slots__": (), "shaper": self.shaper})

        def make_handler(this: web.Server) -> RequestHandler:
            return handler(this, loop=this._loop, **this._kwargs)

        server.__class__ = type("ShapedServer", (type(server),), {"__call__": make_handler})
        return server
