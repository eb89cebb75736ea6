"""API keys of users: created with a random secret shown once, stored as a hash, listed
without it, revoked by deleting the record (the next request with the key is a 401).

Example::

    created = await create_key(repo, "alice", ApiKeyCreate(name="ci"), caller_is_admin=False)
    created.key                      # 'pxc_0f3a..._...' - give it to the CI, it is not shown again
    page = await list_keys(repo, "alice", PageQuery())
    await revoke_key(repo, "alice", created.id)
"""

from __future__ import annotations

from shared.accounts.keys import ADMIN_ROLE, new_api_key
from shared.errors import Forbidden
from shared.models import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage, PageQuery
from shared.storage import Repo
from shared.storage.cosmos import find_owned

#: Characters of a key kept (in clear) on its record, to recognise it in a list.
HINT_LENGTH = 12


#: The ``apikeys`` repository (``runtime.repo(...)``).
ApiKeyRepo = Repo[ApiKey]


async def create_key(
    repo: ApiKeyRepo, user_id: str, body: ApiKeyCreate, *, caller_is_admin: bool
) -> ApiKeyCreated:
    """A new key for ``user_id``. An admin key (``body.admin``) only for an admin caller (403
    otherwise); a key never carries more than the admin role its creator asked for."""
    if body.admin and not caller_is_admin:
        raise Forbidden(
            "Only admins can create admin API keys: leave 'admin' out or false.",
            error_code="admin_required",
            field="admin",
        )
    new = new_api_key()
    record = ApiKey(
        id=new.key_id,
        user_id=user_id,
        name=body.name,
        key_hash=new.key_hash,
        hint=new.key[:HINT_LENGTH] + "...",
        roles=[ADMIN_ROLE] if body.admin else [],
    )
    stored = await repo.create(record)
    return ApiKeyCreated(**stored.info().model_dump(), key=new.key)


async def list_keys(repo: ApiKeyRepo, user_id: str, query: PageQuery) -> ApiKeyPage:
    """One page of the user's keys, newest first."""
    sql = "SELECT * FROM c WHERE c.user_id = @pk ORDER BY c.created_at DESC"
    items, token = await repo.page(
        sql, pk=user_id, limit=query.limit, continuation=query.continuation
    )
    return ApiKeyPage(items=[item.info() for item in items], continuation=token)


async def revoke_key(repo: ApiKeyRepo, user_id: str, key_id: str, *, admin: bool = False) -> None:
    """Delete one of the user's keys (an admin may revoke anyone's); 404 for an unknown id,
    403 for another user's."""
    record = await find_owned(repo, key_id, user_id, what="API key", admin=admin)
    await repo.delete(record.id, record.user_id)
