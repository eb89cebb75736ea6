"""The HTTP glue every route shares: one decorator, one error body, one request id.

A route is a small async handler that takes an :class:`ApiRequest` and returns a pydantic
model, a dict, ``None`` (204) or an :class:`ApiResponse`. Errors are raised as
``shared.errors`` exceptions and become the documented body here, in one place::

    {"message": "...", "details": [{"detail", "error_code", "field"}], "request_id": "..."}

Example::

    @api("v1/jobs/{job_id}", ["GET"], response=Job, tags=("jobs",), errors=(404,))
    async def get_job(request: ApiRequest) -> Job:
        runtime = await get_runtime()
        return await jobs.get_owned_job(runtime.jobs, request.user.user_id, request.params["job_id"])

Every route is recorded in :data:`ROUTES` so the OpenAPI document is generated from the same
declarations that serve the requests. ``limit=RateRule(...)`` counts calls per user and route
(429 with ``Retry-After`` beyond); every response carries ``X-Request-ID`` and every log line
written while serving carries the request id and the caller (``shared.logs``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel, ValidationError

from http_triggers._blueprint import blueprint
from shared.errors import (
    ErrorDetail,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PixCrawlerError,
    RateLimited,
    StorageMissing,
    Unprocessable,
    status_for,
)
from shared.logs import bind, request_id_var, user_id_var
from shared.models.base import body_optional
from http_triggers._openapi import ID_SCHEMA
from http_triggers._ratelimit import RateRule, Usage
from shared.runtime import recover_storage
from shared.settings import get_settings

log = logging.getLogger("pixcrawler.http")

T = TypeVar("T", bound=BaseModel)

__all__ = [
    "REQUEST_ID_HEADER",
    "ROUTES",
    "ApiRequest",
    "ApiResponse",
    "Auth",
    "Caller",
    "RouteSpec",
    "api",
    "error_body",
    "error_response",
    "json_depth",
    "json_response",
    "request_id_var",
    "set_authenticator",
    "set_rate_limiter",
    "unprocessable",
    "validate",
]

REQUEST_ID_HEADER = "X-Request-ID"
#: What a resource id in a path (a route parameter ``*_id``) may be, as the OpenAPI document
#: says: anything else -- ``.``, ``..``, a slash, a space -- names nothing and is refused before
#: any storage call (a Cosmos point read of ``..`` would read the container instead).
RESOURCE_ID = re.compile(ID_SCHEMA["pattern"])
#: A client-supplied request id is kept only if it looks like one (no header injection, no
#: megabyte log lines); otherwise the service makes its own.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Auth(StrEnum):
    """Who may call a route."""

    none = "none"  # anyone (health, docs)
    user = "user"  # any authenticated caller
    admin = "admin"  # an authenticated caller with the admin role


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    user_id: str
    roles: frozenset[str] = frozenset()
    via: str = "jwt"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass
class ApiResponse:
    """An explicit response, when a handler needs a status or headers of its own."""

    body: BaseModel | dict[str, Any] | list[Any] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest:
    """What a handler sees: the raw request, its id, the caller and the durable client."""

    http: func.HttpRequest
    request_id: str
    caller: Caller | None
    client: df.DurableOrchestrationClient | None = None

    @property
    def params(self) -> dict[str, str]:
        return dict(self.http.route_params or {})

    @property
    def durable(self) -> df.DurableOrchestrationClient:
        """The durable client (routes declared with ``durable=True`` always have one)."""
        if self.client is None:
            raise RuntimeError("route declared without durable=True has no durable client")
        return self.client

    @property
    def user(self) -> Caller:
        """The authenticated caller (routes with Auth.user or Auth.admin always have one)."""
        if self.caller is None:
            raise RuntimeError("route declared without auth has no caller")
        return self.caller

    def json(self, model: type[T]) -> T:
        """The body parsed as ``model``, strictly: 413 beyond ``api_max_body_bytes``, 422
        naming the field on any other problem -- not JSON, nested deeper than
        ``api_max_json_depth``, or a value of the wrong JSON type (no string-to-number or
        string-to-bool coercion: ``"10"`` is not an integer, ``"yes"`` not a boolean). A model
        whose fields all have defaults takes an empty body as ``{}``."""
        raw = self.http.get_body() or b""
        settings = get_settings()
        if len(raw) > settings.api_max_body_bytes:
            raise PayloadTooLarge(
                f"The request body is {len(raw)} bytes; the most accepted is "
                f"{settings.api_max_body_bytes}.",
                field="body",
            )
        if not raw.strip():
            if body_optional(model):
                return validate(model, {}, where="body")
            raise Unprocessable(
                "The request body is empty: send a JSON object.",
                error_code="body_missing",
                field="body",
            )
        too_deep = Unprocessable(
            f"The request body nests deeper than {settings.api_max_json_depth} levels.",
            error_code="json_too_deep",
            field="body",
        )
        try:
            data = json.loads(raw)
        except RecursionError:
            raise too_deep from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unprocessable(
                f"The request body is not valid JSON: {exc}",
                error_code="json_invalid",
                field="body",
            ) from None
        if json_depth(data) > settings.api_max_json_depth:
            raise too_deep
        try:
            return model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            raise unprocessable(exc, "body") from None

    def query(self, model: type[T]) -> T:
        """The query string parsed as ``model``; 422 naming the parameter on any problem."""
        return validate(model, dict(self.http.params or {}), where="query")


def validate(model: type[T], data: Any, *, where: str) -> T:
    """Validate ``data`` into ``model``; a pydantic error becomes a 422 naming each field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unprocessable(exc, where) from None


def unprocessable(exc: ValidationError, where: str) -> Unprocessable:
    """A pydantic error as a 422 with one detail per problem, each naming its field."""
    errors = exc.errors(include_url=False, include_input=False)
    return Unprocessable(
        f"Invalid {where}: " + "; ".join(_describe(e) for e in errors),
        details=[
            ErrorDetail(
                detail=e["msg"],
                error_code=str(e["type"]),
                field=".".join(str(p) for p in e["loc"]) or str((e.get("ctx") or {}).get("field") or where),
            )
            for e in errors
        ],
    )


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0, ``[]`` 1),
    without recursion.

    >>> json_depth({"a": [1, [2]]})
    3
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _describe(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


def error_body(exc: PixCrawlerError, request_id: str) -> dict[str, Any]:
    """The documented error body."""
    return {
        "message": exc.message,
        "details": [d.as_dict() for d in exc.details],
        "request_id": request_id,
    }


def json_response(
    body: Any, status: int, request_id: str, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    all_headers = {REQUEST_ID_HEADER: request_id, **(headers or {})}
    if body is None:
        return func.HttpResponse(status_code=status if status != 200 else 204, headers=all_headers)
    if isinstance(body, BaseModel):
        text = body.model_dump_json()
    else:
        text = json.dumps(_jsonable(body))
    return func.HttpResponse(
        text, status_code=status, headers=all_headers, mimetype="application/json"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def error_response(exc: BaseException, request_id: str) -> func.HttpResponse:
    """One exception -> one documented error response (500s never leak internals)."""
    status = status_for(exc)
    if not isinstance(exc, PixCrawlerError) or status >= 500:
        if status >= 500:
            log.error("request %s failed", request_id, exc_info=exc)
        if not isinstance(exc, PixCrawlerError):
            exc = PixCrawlerError(
                f"Internal error. Quote request id {request_id} when reporting it.",
                error_code="internal_error",
            )
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    return json_response(error_body(exc, request_id), status, request_id, headers)


# --- authentication hook -------------------------------------------------------------------

Authenticator = Callable[[func.HttpRequest], Awaitable[Caller]]
_authenticator: list[Authenticator] = []


def set_authenticator(authenticator: Authenticator) -> None:
    """Install the function that turns a request's credentials into a Caller (or raises 401)."""
    _authenticator[:] = [authenticator]


def check_ids(params: dict[str, str]) -> None:
    """404 for a route parameter ``<kind>_id`` that cannot be an id (see :data:`RESOURCE_ID`)."""
    for name, value in params.items():
        if name.endswith("_id") and not RESOURCE_ID.match(value):
            kind = name.removesuffix("_id")
            raise NotFound(
                f"No {kind.replace('_', ' ')} {value[:64]!r}: ids are 1-128 letters, digits, '_', ':' and '-'.",
                error_code=f"{kind}_not_found",
                field=name,
            )


async def _authenticate(req: func.HttpRequest, auth: Auth) -> Caller | None:
    if auth is Auth.none:
        return None
    if not _authenticator:
        raise RuntimeError("no authenticator installed")
    caller = await _authenticator[0](req)
    if auth is Auth.admin and not caller.is_admin:
        raise Forbidden("This route needs the admin role.", error_code="admin_required")
    return caller


# --- rate limiting hook ----------------------------------------------------------------------

RateLimiter = Callable[[RateRule, Caller], Awaitable[Usage]]
_rate_limiter: list[RateLimiter] = []


def set_rate_limiter(limiter: RateLimiter) -> None:
    """Install the function that counts a caller's call of a rate-limited route (or raises
    ``RateLimited``)."""
    _rate_limiter[:] = [limiter]


async def _count(rule: RateRule | None, caller: Caller | None) -> Usage | None:
    if rule is None or caller is None:
        return None
    if not _rate_limiter:
        raise RuntimeError("no rate limiter installed")
    return await _rate_limiter[0](rule, caller)


# --- route registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteSpec:
    """A route as declared: serves the request and documents it in OpenAPI."""

    route: str
    methods: tuple[str, ...]
    auth: Auth
    name: str
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    limit: RateRule | None = None
    hidden: bool = False

    @property
    def path(self) -> str:
        """The URL path under the host, as clients call it: ``/api/v1/jobs/{job_id}``."""
        return "/api/" + self.route.strip("/")


ROUTES: list[RouteSpec] = []

Handler = Callable[[ApiRequest], Awaitable[Any]]


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _function_name(route: str, methods: list[str]) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "_", route).strip("_")
    return f"http_{'_'.join(m.lower() for m in methods)}_{slug}"


def api(
    route: str,
    methods: list[str],
    *,
    auth: Auth = Auth.user,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    summary: str = "",
    tags: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    durable: bool = False,
    limit: RateRule | None = None,
    hidden: bool = False,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as an HTTP function on the shared blueprint.

    The handler's return value becomes the response body (``status`` by default); raised
    ``shared.errors`` become the documented error body. ``limit`` rate-limits the route per
    caller; ``hidden`` leaves it out of the OpenAPI document.
    """

    def decorator(handler: Handler) -> Handler:
        name = _function_name(route, methods)
        # Authenticated routes read API keys (Cosmos) or the issuer's keys (JWKS): either may
        # be unreachable, which is a 503, not a 401.
        default_errors: tuple[int, ...] = (401, 403, 503) if auth is not Auth.none else ()
        if limit is not None:
            default_errors += (429,)
        if body is not None:
            default_errors += (413,)
        spec = RouteSpec(
            route=route,
            methods=tuple(methods),
            auth=auth,
            name=name,
            summary=summary or _first_line(handler.__doc__),
            tags=tags,
            body=body,
            query=query,
            response=response,
            status=status,
            errors=tuple(sorted(set(default_errors + errors + (422, 500)))),
            limit=limit,
            hidden=hidden,
        )
        ROUTES.append(spec)

        async def serve(req: func.HttpRequest, client: Any = None) -> func.HttpResponse:
            given = req.headers.get(REQUEST_ID_HEADER) or ""
            request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
            job_id = (req.route_params or {}).get("job_id")
            with bind(request_id=request_id, user_id=None, job_id=job_id):
                return await _serve(req, client, request_id)

        async def _serve(req: func.HttpRequest, client: Any, request_id: str) -> func.HttpResponse:
            started = time.perf_counter()
            response: func.HttpResponse | None = None
            try:
                caller = await _authenticate(req, auth)
                if caller is not None:
                    user_id_var.set(caller.user_id)  # undone when serve's bind() exits
                check_ids(dict(req.route_params or {}))
                try:
                    usage = await _count(limit, caller)
                    result = await handler(ApiRequest(req, request_id, caller, client))
                except StorageMissing:
                    if not await recover_storage():
                        raise
                    usage = await _count(limit, caller)  # the storage is new: count again
                    result = await handler(ApiRequest(req, request_id, caller, client))
                extra = usage.headers() if usage else {}
                if isinstance(result, func.HttpResponse):  # a page or a file, not JSON
                    result.headers[REQUEST_ID_HEADER] = request_id
                    response = result
                elif isinstance(result, ApiResponse):
                    headers = {**extra, **result.headers}
                    response = json_response(result.body, result.status, request_id, headers)
                else:
                    response = json_response(result, status, request_id, extra)
            except Exception as exc:  # noqa: BLE001 - the one place errors become responses
                response = error_response(exc, request_id)
            finally:
                log.info(
                    "%s %s -> %s in %.1f ms",
                    req.method,
                    urlsplit(req.url).path,
                    response.status_code if response is not None else "aborted",
                    (time.perf_counter() - started) * 1000,
                )
            assert response is not None
            return response

        if durable:

            async def entry(req: func.HttpRequest, client: Any) -> func.HttpResponse:
                return await serve(req, client)

        else:

            async def entry(req: func.HttpRequest) -> func.HttpResponse:  # type: ignore[misc]
                return await serve(req)

        entry.__name__ = name
        entry.__qualname__ = name
        entry.__doc__ = handler.__doc__
        decorated: Any = entry
        if durable:
            decorated = blueprint.durable_client_input(client_name="client")(decorated)
        decorated = blueprint.route(
            route=route, methods=methods, auth_level=func.AuthLevel.ANONYMOUS
        )(decorated)
        blueprint.function_name(name)(decorated)
        return handler

    return decorator
