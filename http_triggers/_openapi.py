"""The OpenAPI 3.1 document of the HTTP API, generated from the route declarations and the
pydantic models they name: the same objects that serve the requests describe them.

Every operation gets its auth requirement (``bearer`` JWT or ``apiKey`` header; none for
health and docs), its path and query parameters, its request body and success response
schemas with examples, its rate limit, and each error status it can answer with the one error
body (``ErrorBody``).

Example::

    from http_triggers._api import ROUTES
    document = openapi_document(ROUTES, version="1.0.0")
    document["paths"]["/api/v1/jobs"]["post"]["requestBody"]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any, Protocol

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.models import ErrorBody
from shared.models.base import body_optional

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT of the configured OIDC issuer (RS256) or, locally, of "
        "`scripts/dev-token USER [--admin]` (HS256).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key from `POST /api/v1/api-keys` (`pxc_...`).",
    },
}

#: Request examples of models that carry none themselves.
BODY_EXAMPLES: dict[str, Any] = {
    "JobCreate": {
        "name": "cats and dogs",
        "keywords": ["cat", "dog"],
        "sources": ["wikimedia", "openverse"],
        "max_images_per_keyword": 50,
        "validation_level": "medium",
    },
}

#: One example error body per status, as the service answers it.
ERROR_EXAMPLES: dict[int, tuple[str, str, str | None]] = {
    400: ("Cannot cancel job with status: completed", "invalid_job_status", None),
    401: (
        "Authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'.",
        "credentials_missing",
        None,
    ),
    403: ("Job 0f3a belongs to another user.", "not_owner", None),
    404: ("Job 0f3a not found.", "job_not_found", None),
    409: ("Job 0f3a changed while starting (now 'running').", "job_changed", None),
    413: ("The request body is 40000000 bytes; the most accepted is 33554432.", "body_too_large", "body"),
    422: ("Invalid body: name: Field required", "missing", "name"),
    429: (
        "Rate limit exceeded: 10 calls per 60 s per user. Retry after 37 s.",
        "rate_limited",
        None,
    ),
    500: ("Internal error. Quote request id 6f1c... when reporting it.", "internal_error", None),
    503: ("storage is unreachable; retry later", "service_unavailable", None),
}

#: Ids in paths: what the service makes (hex, uuids, ``n-<hex>``); Cosmos ids never hold
#: ``/ \\ ? #``, so nothing outside this can name a resource.
ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_:-]{1,128}$"}

REQUEST_ID_HEADER: dict[str, Any] = {
    "description": "The request id (yours, if you sent a valid X-Request-ID; quote it in reports)",
    "schema": {"type": "string"},
}


class RouteLike(Protocol):
    """What the generator reads of a route declaration (``http_triggers._api.RouteSpec``)."""

    @property
    def path(self) -> str: ...
    @property
    def methods(self) -> tuple[str, ...]: ...
    @property
    def auth(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def body(self) -> type[BaseModel] | None: ...
    @property
    def query(self) -> type[BaseModel] | None: ...
    @property
    def response(self) -> type[BaseModel] | None: ...
    @property
    def status(self) -> int: ...
    @property
    def errors(self) -> tuple[int, ...]: ...
    @property
    def hidden(self) -> bool: ...
    @property
    def limit(self) -> Any: ...


class _Schemas:
    """Every model's JSON schema, once, under ``components/schemas``."""

    def __init__(self, routes: Sequence[RouteLike]) -> None:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
        for route in routes:
            wanted += [(m, "validation") for m in (route.body, route.query) if m is not None]
            if route.response is not None and _media_type(route.response) is None:
                wanted.append((route.response, "serialization"))
        unique = list(dict.fromkeys(wanted))
        self.refs, top = models_json_schema(unique, ref_template=REF)
        self.components: dict[str, Any] = top.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def resolve(self, ref: dict[str, Any]) -> dict[str, Any]:
        return dict(self.components[ref["$ref"].rsplit("/", 1)[-1]])


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the ``null`` branch: absent already means null."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**rest, **kept[0]}
    return schema


def _parameters(route: RouteLike, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": dict(ID_SCHEMA)}
        for name in re.findall(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", route.path)
    ]
    if route.query is not None:
        model = schemas.resolve(schemas.ref(route.query, "validation"))
        required = set(model.get("required", []))
        for name, prop in model.get("properties", {}).items():
            schema = _non_null(copy.deepcopy(prop))
            description = schema.pop("description", None)
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
            }
            if description:
                parameter["description"] = description
            parameters.append(parameter)
    return parameters


def _error_response(status: int, schemas: _Schemas) -> dict[str, Any]:
    message, code, field = ERROR_EXAMPLES.get(status, (HTTPStatus(status).phrase, "error", None))
    example = {
        "message": message,
        "details": [{"detail": message, "error_code": code, "field": field}],
        "request_id": "6f1c2a9e0b7d4e21a3c5f8d9e0a1b2c3",
    }
    headers: dict[str, Any] = {"X-Request-ID": REQUEST_ID_HEADER}
    if status == 429:
        headers["Retry-After"] = {
            "description": "seconds until the window resets",
            "schema": {"type": "integer"},
        }
    return {
        "description": HTTPStatus(status).phrase,
        "headers": headers,
        "content": {
            "application/json": {
                "schema": schemas.ref(ErrorBody, "serialization"),
                "example": example,
            }
        },
    }


def _media_type(model: type[BaseModel]) -> str | None:
    """The media type of a response model that stands for bytes (``shared.models.BinaryBody``),
    None for a JSON body."""
    value = getattr(model, "media_type", None)
    return value if isinstance(value, str) else None


def _success_response(route: RouteLike, schemas: _Schemas) -> tuple[str, dict[str, Any]]:
    headers = {"X-Request-ID": REQUEST_ID_HEADER}
    if route.response is None:
        status = 204 if route.status == 200 else route.status
        return str(status), {"description": HTTPStatus(status).phrase, "headers": headers}
    media_type = _media_type(route.response)
    if media_type is not None:
        schema = {"type": "string", "contentMediaType": media_type, "description": route.response.__doc__ or ""}
        return str(route.status), {
            "description": HTTPStatus(route.status).phrase,
            "headers": headers,
            "content": {media_type: {"schema": schema}},
        }
    return str(route.status), {
        "description": HTTPStatus(route.status).phrase,
        "headers": headers,
        "content": {"application/json": {"schema": schemas.ref(route.response, "serialization")}},
    }


def _operation(
    route: RouteLike, method: str, schemas: _Schemas, limit_text: str | None
) -> dict[str, Any]:
    description = [route.summary]
    operation: dict[str, Any] = {
        "operationId": route.name if len(route.methods) == 1 else f"{route.name}_{method}",
        "summary": route.summary,
        "tags": list(route.tags),
        "parameters": _parameters(route, schemas),
    }
    if route.auth == "none":
        operation["security"] = []
    else:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        if route.auth == "admin":
            operation["x-required-role"] = "admin"
            description.append("Needs the **admin** role.")
    if limit_text:
        operation["x-rate-limit"] = limit_text
        description.append(f"Rate limit: {limit_text}; beyond it 429 with `Retry-After`.")
    operation["description"] = "\n\n".join(description)
    if route.body is not None:
        media: dict[str, Any] = {"schema": schemas.ref(route.body, "validation")}
        if route.body.__name__ in BODY_EXAMPLES:
            media["example"] = BODY_EXAMPLES[route.body.__name__]
        operation["requestBody"] = {
            "required": not body_optional(route.body), "content": {"application/json": media},
        }
    status, success = _success_response(route, schemas)
    responses = {status: success}
    for error in route.errors:
        responses[str(error)] = _error_response(error, schemas)
    operation["responses"] = responses
    return operation


def openapi_document(
    routes: Iterable[RouteLike],
    *,
    version: str,
    title: str = "PixCrawler API",
    limits: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (hidden ones left out). ``limits`` maps a rate
    rule's name to its description under the running settings ("10 calls per 60 s per user")."""
    shown = [route for route in routes if not route.hidden]
    schemas = _Schemas(shown)
    paths: dict[str, dict[str, Any]] = {}
    for route in shown:
        limit_text = None
        if route.limit is not None:
            limit_text = (limits or {}).get(route.limit.name) or route.limit.describe()
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = _operation(
                route, method, schemas, limit_text
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Build image datasets: create a crawl job, start it, follow its progress, "
            "download the dataset. A job's `max_images_per_keyword` is a quota per keyword *and "
            "source*: 30 images for 2 keywords from 2 sources asks for up to 120. Every error has "
            "the same body: `{message, details: [{detail, error_code, field}], request_id}`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": SECURITY_SCHEMES},
    }
