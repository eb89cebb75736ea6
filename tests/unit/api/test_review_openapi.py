"""The review routes in the OpenAPI document: the thumbnail is documented as JPEG bytes, the
other routes as JSON, and the page's own routes stay out."""

from __future__ import annotations

import http_triggers  # noqa: F401  (registers every route)
from http_triggers._api import ROUTES
from http_triggers._openapi import openapi_document

DOC = openapi_document(ROUTES, version="1.0.0")


def test_the_thumbnail_is_documented_as_a_jpeg() -> None:
    ok = DOC["paths"]["/api/v1/jobs/{job_id}/images/{image_id}/thumbnail"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["image/jpeg"]
    assert ok["content"]["image/jpeg"]["schema"]["contentMediaType"] == "image/jpeg"
    assert "Thumbnail" not in DOC["components"]["schemas"]


def test_the_review_routes_are_json_and_the_page_is_not_in_the_document() -> None:
    image = DOC["paths"]["/api/v1/jobs/{job_id}/images/{image_id}"]
    assert set(image) == {"get", "patch"}
    assert image["patch"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CurationChange"
    }
    for path in ("images", "duplicates", "failures", "curation"):
        body = DOC["paths"][f"/api/v1/jobs/{{job_id}}/{path}"]["get"]["responses"]["200"]["content"]
        assert list(body) == ["application/json"]
    assert not any(path.startswith("/api/ui") for path in DOC["paths"])
