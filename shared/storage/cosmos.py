"""Typed async repositories over Cosmos DB containers.

:class:`Repo` maps one container to one pydantic model of ``shared.models``: documents go in as
``model_dump(mode="json")`` and come out validated, with Cosmos' ``_etag`` in the model's
``etag`` field when it has one. Errors are ``shared.errors`` (see ``shared.storage.errors``).

Queries filter on the partition key inside the SQL whenever one is known (the local emulator
ignores the partition-key header, and on Azure it keeps a query on one partition): a query
given ``pk`` must use the parameter ``@pk``, which the repo binds. Paging uses Cosmos
continuation tokens, never OFFSET/LIMIT.

Example::

    jobs = JobsRepo(database)
    job = await jobs.get("j1", "alice")
    job = await jobs.update(job, lambda j: j.model_copy(update={"status": JobStatus.running}))
    page, token = await jobs.page("SELECT * FROM c WHERE c.user_id = @pk", pk="alice", limit=20)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.cosmos.aio import ContainerProxy, DatabaseProxy
from azure.cosmos.exceptions import CosmosBatchOperationError
from pydantic import BaseModel

from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.logs import log_event
from shared.models import ActiveJobs, ImageRecord, Job, JobStatus, ValidationSummary, utcnow
from shared.names import COSMOS_CONTAINERS
from shared.storage.errors import azure_errors

T = TypeVar("T", bound=BaseModel)
Params = Mapping[str, Any]


class Repo(Generic[T]):
    """CRUD, queries and paging over one Cosmos container holding ``model`` documents.

    The partition-key field comes from ``shared.names.COSMOS_CONTAINERS``.
    """

    def __init__(self, database: DatabaseProxy, container: str, model: type[T]) -> None:
        self.container: ContainerProxy = database.get_container_client(container)
        self.model = model
        self.pk_field = COSMOS_CONTAINERS[container].lstrip("/")
        self.entity = container.removesuffix("s")  # "jobs" -> "job": names error codes
        self._has_etag = "etag" in model.model_fields

    # ------------------------------------------------------------------ conversion
    def to_document(self, item: T) -> dict[str, Any]:
        """The JSON document stored for ``item`` (without the read-only etag)."""
        return item.model_dump(mode="json", by_alias=True, exclude={"etag"})

    def from_document(self, doc: Mapping[str, Any]) -> T:
        """The model for a stored document: system fields dropped, ``_etag`` kept as ``etag``."""
        data = {key: value for key, value in doc.items() if not key.startswith("_")}
        if self._has_etag:
            data["etag"] = doc.get("_etag")
        return self.model.model_validate(data)

    def _what(self, item_id: str) -> str:
        return f"{self.entity} {item_id!r}"

    def _addressable(self, item_id: str) -> str:
        """``item_id``, if a point operation can name it; else NotFound before any request.
        Cosmos ids never hold '/', '\\', '?' or '#', and an id of '.' or '..' would turn the
        request's URL into one about the container itself."""
        if not item_id or item_id in (".", "..") or any(c in item_id for c in "/\\?#"):
            raise NotFound(f"{self._what(item_id)} not found", error_code=f"{self.entity}_not_found")
        return item_id

    @staticmethod
    def _id(item: T) -> str:
        return str(getattr(item, "id"))  # noqa: B009  (T is any document model: all have an id)

    # ------------------------------------------------------------------ point operations
    async def get(self, item_id: str, pk: Any) -> T:
        """The item, or :class:`NotFound`."""
        self._addressable(item_id)
        with azure_errors(self._what(item_id), self.entity):
            try:
                doc = await self.container.read_item(item_id, partition_key=pk)
            except HttpResponseError as exc:
                # Some emulator builds answer a read of a missing id with a 5xx: a query tells
                # a missing item (NotFound) from a real failure (re-raised, mapped).
                if (
                    exc.status_code
                    and exc.status_code >= 500
                    and not await self._exists(item_id, pk)
                ):
                    raise NotFound(
                        f"{self._what(item_id)} not found", error_code=f"{self.entity}_not_found"
                    ) from None
                raise
        return self.from_document(doc)

    async def _exists(self, item_id: str, pk: Any) -> bool:
        sql = f"SELECT VALUE COUNT(1) FROM c WHERE c.id = @id AND c.{self.pk_field} = @pk"
        return bool((await self.query_values(sql, {"@id": item_id}, pk))[0])

    async def find(self, item_id: str, pk: Any = None) -> T | None:
        """The item or None. Without ``pk`` it searches every partition by id (one query)."""
        if pk is not None:
            try:
                return await self.get(item_id, pk)
            except NotFound:
                return None
        found = await self.query("SELECT * FROM c WHERE c.id = @id", {"@id": item_id})
        return found[0] if found else None

    async def create(self, item: T) -> T:
        """Store a new item; :class:`Conflict` when its id exists in its partition."""
        with azure_errors(self._what(self._id(item)), self.entity, about_container=True):
            doc = await self.container.create_item(self.to_document(item))
        return self.from_document(doc)

    async def upsert(self, item: T) -> T:
        """Store the item whether or not it exists (last writer wins)."""
        with azure_errors(self._what(self._id(item)), self.entity, about_container=True):
            doc = await self.container.upsert_item(self.to_document(item))
        return self.from_document(doc)

    async def replace(self, item: T, etag: str | None = None) -> T:
        """Replace an existing item. With an etag (given, or the item's own) the write happens
        only if nobody changed the item since it was read, else :class:`Conflict`."""
        item_id = self._id(item)
        etag = etag if etag is not None else getattr(item, "etag", None)
        condition = MatchConditions.IfNotModified if etag else None
        with azure_errors(self._what(item_id), self.entity):
            doc = await self.container.replace_item(
                item_id, self.to_document(item), etag=etag, match_condition=condition
            )
        return self.from_document(doc)

    async def patch(
        self,
        item_id: str,
        pk: Any,
        operations: list[dict[str, Any]],
        *,
        filter_predicate: str | None = None,
    ) -> T:
        """Partial update (``[{"op": "set", "path": "/status", "value": "running"}]``).
        A ``filter_predicate`` (``"FROM c WHERE c.status = 'pending'"``) that does not hold
        raises :class:`Conflict`."""
        self._addressable(item_id)
        with azure_errors(self._what(item_id), self.entity):
            doc = await self.container.patch_item(
                item_id, pk, patch_operations=operations, filter_predicate=filter_predicate
            )
        return self.from_document(doc)

    async def delete(self, item_id: str, pk: Any) -> None:
        """Delete the item; :class:`NotFound` when it does not exist."""
        self._addressable(item_id)
        with azure_errors(self._what(item_id), self.entity):
            await self.container.delete_item(item_id, partition_key=pk)

    # ------------------------------------------------------------------ queries
    def _query(self, sql: str, params: Params | None, pk: Any, limit: int | None = None) -> Any:
        parameters = [{"name": name, "value": value} for name, value in (params or {}).items()]
        if pk is not None:
            if "@pk" not in sql:
                raise ValueError(
                    f"a query on one partition must filter on it in the SQL "
                    f"(c.{self.pk_field} = @pk): {sql}"
                )
            parameters.append({"name": "@pk", "value": pk})
        return self.container.query_items(
            sql, parameters=parameters, partition_key=pk, max_item_count=limit
        )

    async def iterate(
        self, sql: str, params: Params | None = None, pk: Any = None
    ) -> AsyncIterator[T]:
        """Every item the query returns, fetched page by page."""
        with azure_errors(f"{self.entity} query", self.entity, about_container=True):
            async for doc in self._query(sql, params, pk):
                yield self.from_document(doc)

    async def iterate_values(
        self, sql: str, params: Params | None = None, pk: Any = None
    ) -> AsyncIterator[Any]:
        """Raw results of a query (projections such as ``SELECT c.id``), page by page."""
        with azure_errors(f"{self.entity} query", self.entity):
            async for value in self._query(sql, params, pk):
                yield value

    async def query(self, sql: str, params: Params | None = None, pk: Any = None) -> list[T]:
        """Every item the query returns, as a list (use :meth:`page` for large results)."""
        return [item async for item in self.iterate(sql, params, pk)]

    async def query_values(
        self, sql: str, params: Params | None = None, pk: Any = None
    ) -> list[Any]:
        """Raw results of a ``SELECT VALUE ...`` query (counts, ids, maxima)."""
        with azure_errors(f"{self.entity} query", self.entity, about_container=True):
            return [value async for value in self._query(sql, params, pk)]

    async def page(
        self,
        sql: str,
        params: Params | None = None,
        pk: Any = None,
        limit: int = 100,
        continuation: str | None = None,
    ) -> tuple[list[T], str | None]:
        """One page of at most ``limit`` items and the token of the next page (None at the end).

        Pass the token back as ``continuation`` to get the next page; a token that Cosmos does
        not accept raises :class:`BadRequest`.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        pager = self._query(sql, params, pk, limit).by_page(continuation)
        items: list[T] = []
        with azure_errors(f"{self.entity} page", self.entity, about_container=True):
            try:
                async for page in pager:
                    items = [self.from_document(doc) async for doc in page]
                    if items:  # Cosmos may answer an empty page that still has a successor
                        break
            except HttpResponseError as exc:
                if continuation is not None and exc.status_code == 400:
                    raise BadRequest(
                        "the continuation token is not valid for this query; "
                        "start again without it",
                        error_code="invalid_continuation",
                        field="continuation",
                    ) from None
                raise
        return items, pager.continuation_token or None


async def find_owned(repo: Any, item_id: str, user_id: str, *, kind: str, admin: bool = False) -> Any:
    """The item of a user-owned container: NotFound (``{kind}_not_found``) when it does not
    exist, Forbidden when it belongs to someone else and the caller is not an admin.

    Example::

        job = await find_owned(jobs, job_id, caller.user_id, kind="job")
    """
    item = await repo.find(item_id)
    if item is None:
        raise NotFound(f"{kind.capitalize()} {item_id} not found.", error_code=f"{kind}_not_found")
    if item.user_id != user_id and not admin:
        raise Forbidden(f"{kind.capitalize()} {item_id} belongs to another user.", error_code="not_owner")
    return item


async def owned_page(
    repo: Repo[T], user_id: str, status: str | None, limit: int, continuation: str | None
) -> tuple[list[T], str | None]:
    """A user's items of a ``/user_id``-partitioned container, newest first, one page at a
    time, optionally of one ``status`` only."""
    sql = "SELECT * FROM c WHERE c.user_id = @pk"
    params: dict[str, Any] = {}
    if status is not None:
        sql += " AND c.status = @status"
        params["@status"] = status
    sql += " ORDER BY c.created_at DESC"
    return await repo.page(sql, params, pk=user_id, limit=limit, continuation=continuation)


log = logging.getLogger("pixcrawler.jobs")


def _status_event(job: Job) -> None:
    """The ``job_status`` event the monitoring queries count jobs by (docs/monitoring.md)."""
    status = getattr(job.status, "value", job.status)
    log_event(
        log, "job_status", "job %s is %s", job.id, status,
        job_id=job.id, user_id=job.user_id, status=status, run=job.run, error=job.error,
    )


class JobsRepo(Repo[Job]):
    """Jobs (partition key ``/user_id``) with optimistic-concurrency state changes. Every
    status a job enters is logged as a ``job_status`` event."""

    def __init__(self, database: DatabaseProxy) -> None:
        super().__init__(database, "jobs", Job)
        #: The users' running-job slots (shared.ratelimit.claim_running_slot).
        self.slots: Repo[ActiveJobs] = Repo(database, "rate_limits", ActiveJobs)

    async def create(self, item: Job) -> Job:
        created = await super().create(item)
        _status_event(created)
        return created

    async def update(self, job: Job, mutate: Callable[[Job], Job | None], attempts: int = 5) -> Job:
        """Read -> mutate -> replace with the etag; on a concurrent change read again and
        re-apply ``mutate``, up to ``attempts`` times, then :class:`Conflict`.

        ``mutate`` gets a copy of the current job and returns the changed job, or changes the
        copy in place and returns None. ``updated_at`` is set on every write.
        """
        current = job if job.etag else await self.get(job.id, job.user_id)
        for _ in range(attempts):
            draft = current.model_copy(deep=True)
            changed = mutate(draft) or draft
            changed.updated_at = utcnow()
            try:
                saved = await self.replace(changed, etag=current.etag)
            except Conflict:
                current = await self.get(job.id, job.user_id)
                continue
            if saved.status != current.status:
                _status_event(saved)
            return saved
        raise Conflict(
            f"job {job.id!r} kept changing concurrently ({attempts} attempts); retry",
            error_code="job_changed",
        )

    #: The name the design uses for job state changes.
    update_status = update

    async def run_states(self, user_id: str, job_ids: Iterable[str]) -> dict[str, tuple[int, JobStatus]]:
        """(run, status) of each of the user's jobs among ``job_ids`` that exists."""
        ids = list(job_ids)
        if not ids:
            return {}
        sql = "SELECT c.id, c.run, c.status FROM c WHERE c.user_id = @pk AND ARRAY_CONTAINS(@ids, c.id)"
        rows = await self.query_values(sql, {"@ids": ids}, pk=user_id)
        return {str(r["id"]): (int(r.get("run", 0)), JobStatus(r["status"])) for r in rows}

    async def list_by_user(
        self, user_id: str, limit: int = 50, continuation: str | None = None
    ) -> tuple[list[Job], str | None]:
        """A user's jobs, newest first, one page at a time."""
        sql = "SELECT * FROM c WHERE c.user_id = @pk ORDER BY c.created_at DESC"
        return await self.page(sql, pk=user_id, limit=limit, continuation=continuation)


class ImageValidation(NamedTuple):
    """The validation outcome of one image, as written onto its record."""

    image_id: str
    validation: ValidationSummary
    is_valid: bool
    duplicate_of: str | None = None


#: SQL condition: the record's bytes were not found lost by a verify (``missing``, which
#: records written before it existed do not have).
NOT_MISSING = "(NOT IS_DEFINED(c.missing) OR c.missing = false)"

#: Operations per Cosmos transactional batch (the service's limit).
BATCH_LIMIT = 100


def _where(record: ImageRecord) -> tuple[object, ...]:
    """Who stored a record and where its bytes are: equal means it is this writer's own."""
    return record.origin, record.chunk_id, record.blob_name, record.offset


class ImagesRepo(Repo[ImageRecord]):
    """Image records (partition key ``/job_id``, id = sha256: content-addressed)."""

    def __init__(self, database: DatabaseProxy) -> None:
        super().__init__(database, "images", ImageRecord)

    async def create_if_absent(self, record: ImageRecord) -> tuple[ImageRecord, bool]:
        """Store the record unless its id exists in the job: (stored record, created?).

        A replayed batch gets the first writer's record back with ``created=False``."""
        try:
            return await self.create(record), True
        except Conflict:
            return await self.get(record.id, record.job_id), False

    async def existing(self, job_id: str, ids: list[str]) -> dict[str, ImageRecord]:
        """The records of ``ids`` that exist in the job (one query), by id."""
        if not ids:
            return {}
        names = [f"@id{i}" for i in range(len(ids))]
        sql = f"SELECT * FROM c WHERE c.job_id = @pk AND c.id IN ({', '.join(names)})"
        return {r.id: r for r in await self.query(sql, dict(zip(names, ids)), pk=job_id)}

    async def create_many(self, job_id: str, records: list[ImageRecord]) -> list[tuple[ImageRecord, bool]]:
        """Store the records of one job that do not exist yet: (stored record, created?) for
        each, in order. One query finds those that exist; the new ones go in transactional
        batches of :data:`BATCH_LIMIT` creates (one request each). A batch that conflicts (a
        concurrent writer created one of its ids meanwhile) falls back to one create at a
        time, so the answer is the same as :meth:`create_if_absent` record by record."""
        found = await self.existing(job_id, [r.id for r in records])
        new = [r for r in records if r.id not in found]
        for start in range(0, len(new), BATCH_LIMIT):
            part = new[start : start + BATCH_LIMIT]
            operations = [("create", (self.to_document(record),)) for record in part]
            with azure_errors(f"{len(part)} image records", self.entity):
                try:
                    await self.container.execute_item_batch(operations, partition_key=job_id)
                    continue
                except CosmosBatchOperationError as exc:
                    if exc.status_code != 409:
                        raise
            for record in part:  # the batch may have applied some creates (the emulator's
                stored, created = await self.create_if_absent(record)  # are not atomic)
                if not created and _where(stored) != _where(record):
                    found[record.id] = stored
        return [(found[r.id], False) if r.id in found else (r, True) for r in records]

    async def count_in_blob(self, job_id: str, blob_name: str) -> int:
        """How many of the job's records keep their bytes in ``blob_name`` (a shard)."""
        sql = "SELECT VALUE COUNT(1) FROM c WHERE c.job_id = @pk AND c.blob_name = @blob"
        return int((await self.query_values(sql, {"@blob": blob_name}, pk=job_id))[0])

    async def list_by_job(
        self,
        job_id: str,
        limit: int = 100,
        continuation: str | None = None,
        *,
        valid_only: bool = False,
    ) -> tuple[list[ImageRecord], str | None]:
        """One page of a job's images (valid, non-duplicate ones whose bytes are there with
        ``valid_only``)."""
        return await self.page(
            self._job_sql("SELECT * FROM c", valid_only), pk=job_id, limit=limit,
            continuation=continuation,
        )  # fmt: skip

    async def count_by_job(self, job_id: str, *, valid_only: bool = False) -> int:
        """How many images the job has (valid, non-duplicate ones whose bytes are there with
        ``valid_only``)."""
        sql = self._job_sql("SELECT VALUE COUNT(1) FROM c", valid_only)
        return int((await self.query_values(sql, pk=job_id))[0])

    @staticmethod
    def _job_sql(select: str, valid_only: bool) -> str:
        sql = f"{select} WHERE c.job_id = @pk"
        return sql + f" AND c.is_valid = true AND c.is_duplicate = false AND {NOT_MISSING}" if valid_only else sql

    async def record_validation(self, job_id: str, outcome: ImageValidation) -> ImageRecord:
        """Write one image's validation fields (a patch: the rest of the record is untouched)."""
        operations: list[dict[str, Any]] = [
            {
                "op": "set",
                "path": "/validation",
                "value": outcome.validation.model_dump(mode="json"),
            },
            {"op": "set", "path": "/is_valid", "value": outcome.is_valid},
            {"op": "set", "path": "/is_duplicate", "value": outcome.duplicate_of is not None},
            {"op": "set", "path": "/duplicate_of", "value": outcome.duplicate_of},
        ]
        return await self.patch(outcome.image_id, job_id, operations)

    async def record_validations(
        self, job_id: str, outcomes: Iterable[ImageValidation], concurrency: int = 16
    ) -> int:
        """Write many images' validation fields, ``concurrency`` at a time. Images deleted in
        the meantime are skipped; returns how many records were updated."""
        gate = asyncio.Semaphore(concurrency)

        async def one(outcome: ImageValidation) -> bool:
            async with gate:
                try:
                    await self.record_validation(job_id, outcome)
                except NotFound:
                    return False
                return True

        return sum(await asyncio.gather(*(one(outcome) for outcome in outcomes)))
