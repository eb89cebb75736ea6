"""The calls of the first PixCrawler documents, as the OpenAPI document describes them: /stop
beside /cancel, a validation without a body, the job aliases and the per-source quota."""

from __future__ import annotations

import http_triggers  # noqa: F401  (registers every route)
from http_triggers._api import ROUTES
from http_triggers._openapi import openapi_document

DOC = openapi_document(ROUTES, version="1.0.0")


def test_stop_is_documented_as_cancel_with_the_same_answer() -> None:
    stop = DOC["paths"]["/api/v1/jobs/{job_id}/stop"]["post"]
    cancel = DOC["paths"]["/api/v1/jobs/{job_id}/cancel"]["post"]
    assert "cancel" in stop["summary"]
    assert stop["responses"].keys() == cancel["responses"].keys()
    assert stop["responses"]["200"]["content"] == cancel["responses"]["200"]["content"]


def test_a_validation_body_is_optional_and_a_job_body_is_not() -> None:
    validate = DOC["paths"]["/api/v1/validation/job/{job_id}"]["post"]["requestBody"]
    assert validate["required"] is False
    assert DOC["paths"]["/api/v1/jobs"]["post"]["requestBody"]["required"] is True
    level = DOC["components"]["schemas"]["ValidationRequest"]["properties"]["level"]
    assert level["default"] == "medium"


def test_the_quota_is_documented_per_keyword_and_source() -> None:
    assert "per keyword *and source*" in DOC["info"]["description"]
    body = DOC["components"]["schemas"]["JobCreate"]["properties"]
    assert "per keyword AND source" in body["max_images_per_keyword"]["description"]
    assert "alias" in body["engines"]["description"] and "alias" in body["max_images"]["description"]
    progress = DOC["components"]["schemas"]["JobProgress"]["properties"]
    assert progress["progress"]["type"] == "integer" and {"estimated_completion", "stored_images"} <= set(progress)
