"""Property: whatever the route, method, ids, body and headers, an error answer has the one
documented shape, its request id is the X-Request-ID header, and nothing is a server error."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from _apitest import Api, assert_error_shape, new_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import http_triggers  # noqa: F401  (registers every route)
from http_triggers._api import ROUTES

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEMPLATES = sorted(
    {r.route for r in ROUTES if not r.hidden} | {"v1/nothing/{x}", "v1/jobs/{x}/nothing"}
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

ids = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda v: ("json", v)),
    st.binary(max_size=200).map(lambda b: ("raw", b)),
)
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)
credentials = st.sampled_from(["none", "user", "admin", "garbage-bearer", "garbage-key"])


def _path(template: str, values: list[str]) -> str:
    parts, index = [], 0
    for part in template.removeprefix("v1/").split("/"):
        if part.startswith("{"):
            parts.append(quote(values[index % len(values)], safe=""))
            index += 1
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def _headers(api: Api, credential: str, request_id: str | None, junk: str) -> dict[str, str]:
    headers = {"X-Junk": junk}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    if credential in ("user", "admin"):
        client = api.as_user(new_user(credential), admin=credential == "admin")
        headers.update(client.headers)
    elif credential == "garbage-bearer":
        headers["Authorization"] = f"Bearer {junk}".strip()
    elif credential == "garbage-key":
        headers["X-API-Key"] = junk
    return headers


@SETTINGS
@given(
    template=st.sampled_from(TEMPLATES),
    method=st.sampled_from(METHODS),
    values=st.lists(ids, min_size=1, max_size=3),
    body=bodies,
    credential=credentials,
    request_id=st.none() | header_values,
    junk=header_values,
)
def test_every_error_has_the_documented_shape(
    api: Api, template: str, method: str, values: list[str], body: Any, credential: str,
    request_id: str | None, junk: str,
) -> None:  # fmt: skip
    path = _path(template, values)
    headers = _headers(api, credential, request_id, junk)
    content: dict[str, Any] = {}
    if body is not None:
        kind, value = body
        content = {"json": value} if kind == "json" else {"content": value}
    response = api.anonymous.request(method, path, headers=headers, **content)
    assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
    assert response.headers.get("X-Request-ID"), "every answer carries its request id"
    if response.status_code >= 400:
        body_seen = assert_error_shape(response)
        if (
            request_id
            and all(c.isalnum() or c in "._:-" for c in request_id)
            and len(request_id) <= 128
        ):
            assert body_seen["request_id"] == request_id, "a valid X-Request-ID is echoed"


@SETTINGS
@given(
    field=st.sampled_from(["name", "sources", "keywords", "max_images_per_keyword"]),
    value=json_values,
)
def test_wrong_job_fields_are_422_naming_the_field(api: Api, field: str, value: Any) -> None:
    body: dict[str, Any] = {
        "name": "x",
        "keywords": ["cat"],
        "sources": ["wikimedia"],
        field: value,
    }
    response = api.as_user(new_user()).post("/jobs", json=body)
    if response.status_code == 201:
        return  # the random value happened to be valid
    assert response.status_code in (400, 422), response.text
    details = assert_error_shape(response)["details"]
    if response.status_code == 422:
        assert any((d["field"] or "").split(".")[0] in (field, "body") for d in details), details


def test_malformed_json_is_422_naming_the_body(api: Api) -> None:
    response = api.as_user(new_user()).post(
        "/jobs", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    detail = assert_error_shape(response)["details"][0]
    assert (detail["field"], detail["error_code"]) == ("body", "json_invalid")


def test_missing_field_is_422_naming_it(api: Api) -> None:
    response = api.as_user(new_user()).post(
        "/jobs", json={"keywords": ["cat"], "sources": ["wikimedia"]}
    )
    assert response.status_code == 422
    assert [d["field"] for d in assert_error_shape(response)["details"]] == ["name"]


def test_unknown_route_and_wrong_method_answer_the_documented_body(api: Api) -> None:
    unknown = api.anonymous.get("/no/such/route")
    assert unknown.status_code == 404
    assert assert_error_shape(unknown)["details"][0]["error_code"] == "route_not_found"
    wrong = api.anonymous.put("/health")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    assert assert_error_shape(wrong)["details"][0]["error_code"] == "method_not_allowed"


def test_request_id_is_echoed_or_made(api: Api) -> None:
    mine = api.anonymous.get("/jobs", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["X-Request-ID"] == "trace-42" == mine.json()["request_id"]
    injected = api.anonymous.get("/jobs", headers={"X-Request-ID": "x" * 500})
    assert len(injected.headers["X-Request-ID"]) == 32, "an unusable id is replaced, not echoed"
