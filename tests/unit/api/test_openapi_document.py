"""The OpenAPI document as a client generator or a reader of /api/docs sees it."""

from __future__ import annotations

from typing import Any

import pytest

import http_triggers  # noqa: F401  (registers every route)
import shared.models as models
from http_triggers._api import ROUTES, Auth
from shared.models import ErrorBody
from http_triggers._openapi import BODY_EXAMPLES, openapi_document

DOC = openapi_document(ROUTES, version="1.0.0", limits={"jobs.start": "10 calls per 60 s per user"})
SHOWN = [r for r in ROUTES if not r.hidden]


def _operation(path: str, method: str) -> dict[str, Any]:
    return dict(DOC["paths"][path][method.lower()])


def test_document_is_openapi_3_1_with_both_security_schemes() -> None:
    assert DOC["openapi"] == "3.1.0"
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["apiKey"]["name"] == "X-API-Key"


@pytest.mark.parametrize("route", SHOWN, ids=lambda r: f"{'/'.join(r.methods)} {r.route}")
def test_every_route_is_documented_with_auth_and_errors(route: Any) -> None:
    for method in route.methods:
        operation = _operation(route.path, method)
        if route.auth is Auth.none:
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
            assert {"401", "403"} <= set(operation["responses"])
        assert (operation.get("x-required-role") == "admin") == (route.auth is Auth.admin)
        for status in route.errors:
            body = operation["responses"][str(status)]["content"]["application/json"]
            assert body["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            ErrorBody.model_validate(body["example"])
        operation_ids = [
            op["operationId"] for item in DOC["paths"].values() for op in item.values()
        ]
        assert len(operation_ids) == len(set(operation_ids))


def test_hidden_routes_stay_out() -> None:
    assert "/api/v1/{*path}" not in DOC["paths"] and "/api/docs" not in DOC["paths"]


def test_rate_limited_start_documents_429_and_its_limit() -> None:
    start = _operation("/api/v1/jobs/{job_id}/start", "POST")
    assert "Retry-After" in start["responses"]["429"]["headers"]
    assert start["x-rate-limit"] == "10 calls per 60 s per user"


def test_query_models_become_parameters() -> None:
    params = {p["name"]: p for p in _operation("/api/v1/notifications", "GET")["parameters"]}
    assert set(params) == {"limit", "continuation", "unread"}
    assert params["limit"]["schema"]["maximum"] == 100 and not params["limit"]["required"]
    assert "anyOf" not in params["continuation"]["schema"], "absent already means null"


@pytest.mark.parametrize("name", sorted(BODY_EXAMPLES))
def test_body_examples_are_valid_requests(name: str) -> None:
    getattr(models, name).model_validate(BODY_EXAMPLES[name])
