"""Schemathesis over the served OpenAPI document, against the live devhost: generated requests
(valid and invalid) to every operation with a valid bearer token; no server errors, and every
answer's status, content type, headers and body are the documented ones."""

from __future__ import annotations

import pytest
import schemathesis
from _apitest import new_user
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import http_triggers  # noqa: F401  (registers every route)
from http_triggers._api import ROUTES
from scripts.devtoken import LOCAL_SECRET
from http_triggers._tokens import issue_dev_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="session")
def served_schema(origin: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{origin}/api/v1/openapi.json")


@pytest.fixture(scope="session")
def token() -> str:
    return issue_dev_token(new_user("schemathesis"), secret=LOCAL_SECRET, admin=True)


#: (method, path) of every documented operation (schemathesis' own pytest loader does not
#: run under this pytest, so the operations are parametrized here and generated below).
OPERATIONS = sorted(
    {(m, r.path) for r in ROUTES if not r.hidden for m in r.methods}, key=lambda o: (o[1], o[0])
)


def test_the_served_document_lists_every_route(served_schema: schemathesis.BaseSchema) -> None:
    served = {
        (method.upper(), path)
        for path, item in served_schema.raw_schema["paths"].items()
        for method in item
    }
    assert served == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_conforms(
    served_schema: schemathesis.BaseSchema, origin: str, token: str, method: str, path: str
) -> None:
    operation = served_schema[path][method]

    @settings(
        max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=origin, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )

    check()
