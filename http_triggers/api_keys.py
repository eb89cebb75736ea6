"""API keys: create (the key is shown once), list (never the key), revoke."""

from http_triggers._api import ApiRequest, ApiResponse, api
from shared.accounts import apikeys
from shared.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPage, PageQuery
from shared.runtime import get_runtime

TAGS = ("api-keys",)


@api("v1/api-keys", ["POST"], body=ApiKeyCreate, response=ApiKeyCreated, status=201, tags=TAGS)
async def create_api_key(request: ApiRequest) -> ApiResponse:
    """Create an API key; the answer is the only time the key is shown."""
    body = request.json(ApiKeyCreate)
    runtime = await get_runtime()
    caller = request.user
    repo = runtime.api_keys
    created = await apikeys.create_key(repo, caller.user_id, body, caller_is_admin=caller.is_admin)
    return ApiResponse(created, status=201, headers={"Location": f"/api/v1/api-keys/{created.id}"})


@api("v1/api-keys", ["GET"], query=PageQuery, response=ApiKeyPage, tags=TAGS, errors=(400,))
async def list_api_keys(request: ApiRequest) -> ApiKeyPage:
    """List the caller's API keys (names and hints, never the keys)."""
    query = request.query(PageQuery)
    runtime = await get_runtime()
    return await apikeys.list_keys(runtime.api_keys, request.user.user_id, query)


@api("v1/api-keys/{key_id}", ["DELETE"], status=204, tags=TAGS, errors=(404,))
async def revoke_api_key(request: ApiRequest) -> None:
    """Revoke an API key: it stops working at once."""
    runtime = await get_runtime()
    caller = request.user
    repo = runtime.api_keys
    await apikeys.revoke_key(repo, caller.user_id, request.params["key_id"], admin=caller.is_admin)
