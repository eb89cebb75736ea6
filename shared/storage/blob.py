"""Blob Storage for image bytes, dataset archives and archived checkpoints.

Writes are content-addressed: ``put`` never rewrites an existing blob unless asked, so a
replayed activity stores nothing twice. Errors are ``shared.errors`` (see
``shared.storage.errors``): a missing blob is NotFound, an archived one Conflict
(``blob_archived``), an unreachable account ServiceUnavailable.

Example::

    store = BlobStore(blob_service_client(settings))
    created = await store.put("images", "images/j1/ab12.jpg", data, "image/jpeg")
    await store.set_tier("images", "images/j1/ab12.jpg", StandardBlobTier.COOL)
    url = await store.sas_url("images", "images/j1/ab12.jpg", timedelta(hours=1))
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    BlobProperties,
    BlobSasPermissions,
    BlobType,
    ContentSettings,
    StandardBlobTier,
    UserDelegationKey,
    generate_blob_sas,
)
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from shared.errors import NotFound
from shared.storage.errors import azure_errors

#: Clock skew allowed for a SAS's start time.
_SAS_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class BlobInfo:
    """What a listing tells about one blob."""

    name: str
    size: int
    content_type: str | None
    tier: StandardBlobTier | None
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)


def _tier(value: object) -> StandardBlobTier | None:
    return StandardBlobTier(str(value)) if value else None


def _info(blob: BlobProperties) -> BlobInfo:
    return BlobInfo(
        name=blob.name,
        size=blob.size,
        content_type=blob.content_settings.content_type,
        tier=_tier(blob.blob_tier),
        last_modified=blob.last_modified,
        metadata=dict(blob.metadata or {}),
    )


def _blob_errors(container: str, name: str) -> AbstractContextManager[None]:
    """Map SDK errors about one blob (``blob_not_found``, ``blob_archived`` ...)."""
    return azure_errors(f"blob {container}/{name}", "blob")


def _attachment(filename: str) -> str:
    safe = "".join(ch for ch in filename if ch.isprintable() and ch not in '"\\')
    return f'attachment; filename="{safe}"'


class StagedBlob:
    """A block blob written in staged blocks and made visible by one commit.

    Until ``commit_block_list`` the blob keeps its previous content: an archive whose build
    fails half-way never replaces a good one. Block ids must all have the same length (use
    :meth:`block_id`).

    Example::

        staged = store.staged("datasets", "datasets/d1.zip", "application/zip")
        await staged.stage_block(StagedBlob.block_id(0), part)
        await staged.commit_block_list([StagedBlob.block_id(0)])
    """

    def __init__(self, client: BlobClient, content_type: str) -> None:
        self.client = client
        self.content_type = content_type
        self._container, self._name = client.container_name, client.blob_name

    @property
    def name(self) -> str:
        """The blob's name in its container."""
        return self._name

    @staticmethod
    def block_id(index: int) -> str:
        """A fixed-length block id for block number ``index`` (base64 of ``%06d``)."""
        return base64.b64encode(f"{index:06d}".encode()).decode()

    async def stage_block(self, block_id: str, data: bytes | bytearray) -> None:
        """Upload one block (invisible until committed)."""
        with _blob_errors(self._container, self._name):
            await self.client.stage_block(block_id, data)

    async def commit_block_list(
        self, block_list: list[str], metadata: dict[str, str] | None = None
    ) -> None:
        """Make the blob the listed blocks, in order, with this writer's content type (and
        ``metadata``, replacing any the blob had)."""
        with _blob_errors(self._container, self._name):
            await self.client.commit_block_list(
                [BlobBlock(block_id) for block_id in block_list],
                content_settings=ContentSettings(content_type=self.content_type),
                metadata=metadata,
            )


class BlobStore:
    """Typed, error-mapped operations on the account's blob containers."""

    def __init__(self, client: BlobServiceClient) -> None:
        self.client = client

    def _blob(self, container: str, name: str) -> BlobClient:
        return self.client.get_blob_client(container, name)

    async def put(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        """Write a blob (with ``metadata``, if given); True when written, False when it existed
        and ``overwrite`` is off (then the existing bytes stay, as content addressing wants)."""
        settings = ContentSettings(content_type=content_type)
        with _blob_errors(container, name):
            try:
                await self._blob(container, name).upload_blob(
                    data, blob_type=BlobType.BLOCKBLOB, overwrite=overwrite,
                    content_settings=settings, metadata=metadata,
                )  # fmt: skip
            except ResourceExistsError:
                return False
        return True

    async def get(self, container: str, name: str) -> bytes:
        """The blob's bytes (NotFound; Conflict ``blob_archived`` in the Archive tier)."""
        with _blob_errors(container, name):
            stream = await self._blob(container, name).download_blob()
            return await stream.readall()

    async def get_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the blob from ``offset`` (one ranged GET): an image of a shard.
        A range past the blob's end is NotFound (``blob_range_missing``), never short bytes."""
        if length <= 0:
            return b""
        with _blob_errors(container, name):
            try:
                stream = await self._blob(container, name).download_blob(offset=offset, length=length)
                data = await stream.readall()
            except HttpResponseError as exc:
                if exc.status_code != 416:
                    raise
                data = b""
        if len(data) != length:
            raise NotFound(
                f"blob {container}/{name} has no bytes {offset}-{offset + length - 1}",
                error_code="blob_range_missing",
            )
        return data

    async def set_metadata(self, container: str, name: str, metadata: dict[str, str]) -> None:
        """Replace the blob's metadata (its bytes and tier stay)."""
        with _blob_errors(container, name):
            await self._blob(container, name).set_blob_metadata(metadata)

    async def content_type(self, container: str, name: str) -> str | None:
        """The blob's stored content type."""
        with _blob_errors(container, name):
            props = await self._blob(container, name).get_blob_properties()
        return props.content_settings.content_type

    async def size(self, container: str, name: str) -> int | None:
        """The blob's size in bytes, None when it does not exist (one request: its properties)."""
        with _blob_errors(container, name):
            try:
                props = await self._blob(container, name).get_blob_properties()
            except ResourceNotFoundError:
                return None
        return int(props.size)

    async def exists(self, container: str, name: str) -> bool:
        """True when the blob exists (in any tier)."""
        with _blob_errors(container, name):
            return await self._blob(container, name).exists()

    async def delete(self, container: str, name: str) -> bool:
        """Delete the blob; False when it was already gone."""
        with _blob_errors(container, name):
            try:
                await self._blob(container, name).delete_blob()
            except ResourceNotFoundError:
                return False
        return True

    async def list(
        self, container: str, prefix: str = "", *, metadata: bool = False
    ) -> AsyncIterator[BlobInfo]:
        """The container's blobs whose names start with ``prefix``, in name order (with their
        metadata when asked)."""
        client = self.client.get_container_client(container)
        include = ["metadata"] if metadata else None
        with azure_errors(f"container {container}", "container"):
            async for blob in client.list_blobs(name_starts_with=prefix or None, include=include):
                yield _info(blob)

    async def list_page(
        self, container: str, prefix: str, *, size: int, marker: str | None = None,
        metadata: bool = False,
    ) -> tuple[list[BlobInfo], str | None]:
        """One listing page: at most ``size`` blobs whose names start with ``prefix``, in name
        order, from ``marker`` (the token a previous page returned) on; and the token of the
        next page (None at the end). One request, whatever the container holds."""
        client = self.client.get_container_client(container)
        include = ["metadata"] if metadata else None
        pager = client.list_blobs(
            name_starts_with=prefix or None, include=include, results_per_page=size
        ).by_page(continuation_token=marker)
        with azure_errors(f"container {container}", "container"):
            try:
                page = await pager.__anext__()
            except StopAsyncIteration:
                return [], None
            blobs = [_info(blob) async for blob in page]
        return blobs, pager.continuation_token or None

    async def set_tier(self, container: str, name: str, tier: StandardBlobTier | str) -> None:
        """Move the blob to Hot, Cool, Cold or Archive (the enum: the SDK sends the string
        ``"Cold"`` wrongly)."""
        with _blob_errors(container, name):
            await self._blob(container, name).set_standard_blob_tier(StandardBlobTier(tier))

    async def get_tier(self, container: str, name: str) -> StandardBlobTier | None:
        """The blob's access tier."""
        with _blob_errors(container, name):
            props = await self._blob(container, name).get_blob_properties()
        return _tier(props.blob_tier)

    def staged(self, container: str, name: str, content_type: str) -> StagedBlob:
        """A writer that stages blocks and commits them at once (large archives)."""
        return StagedBlob(self._blob(container, name), content_type)

    async def sas_url(
        self,
        container: str,
        name: str,
        expires_in: timedelta,
        *,
        filename: str | None = None,
    ) -> str:
        """A read-only URL for one blob, valid for ``expires_in``.

        Signed with the account key when the client was built from a connection string
        (Azurite), else with a user-delegation key from the managed identity (Azure).
        ``filename`` makes browsers save the download under that name.
        """
        [url] = await self.sas_urls(container, [(name, filename)], expires_in)
        return url

    async def sas_urls(
        self, container: str, blobs: list[tuple[str, str | None]], expires_in: timedelta
    ) -> list[str]:
        """Read-only URLs for several blobs of one container, each ``(name, filename)``, as
        :meth:`sas_url` makes them, with one user-delegation key for all (Azure)."""
        start = datetime.now(UTC) - _SAS_SKEW
        expiry = start + _SAS_SKEW + expires_in
        account_key: str | None = getattr(self.client.credential, "account_key", None)
        delegation: UserDelegationKey | None = None
        if account_key is None and blobs:
            with azure_errors("user delegation key", "sas"):
                delegation = await self.client.get_user_delegation_key(start, expiry)
        urls = []
        for name, filename in blobs:
            blob = self._blob(container, name)
            sas = generate_blob_sas(
                account_name=blob.account_name or "",
                container_name=container,
                blob_name=name,
                account_key=account_key,
                user_delegation_key=delegation,
                permission=BlobSasPermissions(read=True),
                start=start,
                expiry=expiry,
                content_disposition=_attachment(filename) if filename else None,
            )
            urls.append(f"{blob.url}?{sas}")
        return urls
