"""Verifying a job's stored images: every record's bytes are where it says, lost ones are
fetched again from their URL or marked, and the counts follow. The logic of the verify
activities and HTTP routes (``POST``/``GET /api/v1/jobs/{job_id}/verify``).

A record's bytes are present when its shard exists and is long enough to hold ``bytes`` bytes
at ``offset`` (the cheap check: the shard's size, one properties request per shard), and with
``deep`` also when they hash to the record's sha256 (one ranged read per image).

A run: :func:`plan_verify` counts the job's records and cuts the space of shard keys
(:func:`~shared.models.shard_key`, 32 bits) into ``batches`` ranges of about
``verify_batch_size`` records, so the orchestration passes batch numbers, never ids; then
:func:`verify_batch` verifies one range. A record's shard key comes from the shard that first
stored it, so a range holds whole shards and each is asked about once: a million-image job
costs about one request per 50 images (a download batch's shard), not one per image.

Repair, for each record whose bytes are lost: its URL is fetched again with the project's
downloader (SSRF guard, limits, the activity's memory budget) and checked as a crawl checks
a download (:func:`shared.crawl.fetch_checked`), and the bytes must hash to the record's id.
Good bytes go into a new shard (:class:`~shared.shards.ShardWriter`, a fresh name under
``images/{job_id}/shards/verify-{run}/``, committed ``records=pending``), and only then is the
record patched to point at it -- conditionally, on the pointer it had, so two verifies racing
never corrupt it (the loser's copy is left unreferenced, and its shard deleted or swept by
``shard_cleanup``). A record that cannot be repaired is marked ``missing`` with a reason;
:func:`shared.datasets.curation.admit` keeps it out of every dataset. A record marked before
whose bytes are found present is unmarked.

Counts: each batch reports what it found to the ``job_progress`` entity (operation
``verify``), once per run and batch; when the last batch of a run is counted, the records the
run left marked are what ``GET /jobs/{id}/progress`` leaves out of ``stored_images`` and
``valid_images`` (:meth:`~shared.models.ProgressState.report`). The marks are the records'
state, not a tally of events: running a verify again writes nothing and settles the same
numbers.

Memory per batch: ``verify_page_size`` records at a time, at most 1,024 shard sizes
remembered, and image bytes (fetched again, or read by a deep check) within the activity's
memory budget (``memory_activity_bytes``, which the settings keep above the largest image plus
a shard block, as for a crawl: the repair shard's writer always makes room again).

Example::

    plan = await plan_verify(runtime.images, settings, PlanVerify(job_id=j, run_id=r))
    for index in range(plan.batches):
        await verify_batch(runtime.images, runtime.blobs, downloader, settings, VerifyBatch(..., index=index),
                           budget=budget)
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

import azure.durable_functions as df

from shared.crawl import Fetcher, Refused, fetch_checked
from shared.durable import read_entity
from shared.errors import Conflict, NotFound
from shared.fetch.budget import ByteBudget
from shared.imaging import DecodeGate, decode_pool, sha256_hex
from shared.jobs import JobsStore, get_owned_job, rules_of
from shared.logs import log_event
from shared.models import (
    BatchVerification, ImageRecord, Job, PlanVerify, ProgressState, VerifyBatch, VerifyJobInput, VerifyPlan,
    VerifyProgress, VerifyReport, VerifyStarted, VerifyStatus, json_datetime, shard_blob_name, utcnow,
)
from shared.settings import Settings
from shared.shards import RECORDS_KEY, TAR_CONTENT_TYPE, WRITTEN, ShardWriter, read_image, split_blob_name
from shared.storage import BlobStore, ImagesRepo
from shared.dedupe_stages import gather_limited
from shared.validation import id_range

__all__ = [
    "CHANGED", "VERIFY_ORCHESTRATOR", "BatchVerifier", "batch_query", "key_range", "plan_verify",
    "start_verify", "verify_batch", "verify_instance_id", "verify_report",
]

log = logging.getLogger("pixcrawler.verify")

VERIFY_ORCHESTRATOR = "verify_job"
#: Why a lost image was not repaired when its URL now serves other bytes (besides the
#: :class:`~shared.models.FailureReason` of a failed download or check).
CHANGED = "changed"
#: Shard sizes one batch remembers, most recently used first: more than a page of records
#: (``verify_page_size``, at most 1,000) can name, so a page's sizes are all at hand.
_SIZES_KEPT = 1024
_RUNNING = ("Running", "Pending", "ContinuedAsNew")
_FAILED = ("Failed", "Terminated", "Canceled")
#: What a record's ``{sha256}.json`` member in a shard holds (as a crawl writes it).
_MEMBER_FIELDS = {
    "sha256", "label", "source", "url", "page_url", "title", "license", "attribution", "width", "height",
    "format", "mode", "phash", "job_id", "chunk_id",
}


def verify_instance_id(job_id: str) -> str:
    """Instance id of a job's verify (one at a time per job)."""
    return f"{job_id}:verify"


def key_range(index: int, batches: int) -> tuple[int, int | None]:
    """Lowest (inclusive) and highest (exclusive, None for the last) shard key of batch
    ``index`` of ``batches``: the same cuts as validation's id ranges.

    >>> key_range(0, 2), key_range(1, 2)
    ((0, 2147483648), (2147483648, None))
    """
    low, high = id_range(index, batches)
    return int(low, 16), None if high is None else int(high, 16)


def batch_query(index: int, batches: int) -> tuple[str, dict[str, Any]]:
    """The SQL (and its parameters besides ``@pk``) of the records of batch ``index``, by id:
    those whose shard key is in the batch's range, and records written before shard keys
    existed whose id is in the same cut of the id space (as validation's batches take them).

    >>> batch_query(1, 2)[1]
    {'@low': 2147483648, '@idlow': '80000000'}
    """
    if batches == 1:
        return "SELECT * FROM c WHERE c.job_id = @pk ORDER BY c.id", {}
    low, high = key_range(index, batches)
    id_low, id_high = id_range(index, batches)
    keyed, legacy, params = [], ["NOT IS_DEFINED(c.shard_key)"], {}
    if low > 0:
        keyed.append("c.shard_key >= @low")
        legacy.append("c.id >= @idlow")
        params.update({"@low": low, "@idlow": id_low})
    if high is not None:
        keyed.append("c.shard_key < @high")
        legacy.append("c.id < @idhigh")
        params.update({"@high": high, "@idhigh": id_high})
    where = f"(({' AND '.join(keyed)}) OR ({' AND '.join(legacy)}))"
    return f"SELECT * FROM c WHERE c.job_id = @pk AND {where} ORDER BY c.id", params


async def plan_verify(images: ImagesRepo, settings: Settings, request: PlanVerify) -> VerifyPlan:
    """Count the job's records and cut them into batches of about ``verify_batch_size``."""
    count = await images.count_by_job(request.job_id)
    return VerifyPlan(
        run_id=request.run_id, images=count, batches=math.ceil(count / settings.verify_batch_size),
        parallel=settings.verify_parallel, waves_per_history=settings.verify_waves_per_history,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# One batch
# --------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What became of one record."""

    present = "present"
    repaired = "repaired"
    marked = "marked"
    gone = "gone"  # deleted meanwhile (its job was): not counted


@dataclass
class _Tally:
    checked: int = 0
    present: int = 0
    missing: int = 0
    repaired: int = 0
    marked: int = 0
    marked_kept: int = 0
    written: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, record: ImageRecord, outcome: Outcome, *, lost: bool) -> None:
        if outcome is Outcome.gone:
            return
        self.checked += 1
        if not lost:
            self.present += 1
            return
        self.missing += 1
        if outcome is Outcome.marked:
            self.marked += 1
            self.marked_kept += int(record.is_valid and not record.is_duplicate)
            reason = record.missing_reason or "unknown"
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        else:
            self.repaired += 1


def _pointing_at(record: ImageRecord) -> str:
    """A patch's filter predicate: the record still points where it did when it was read."""
    where = f"FROM c WHERE c.blob_name = {json.dumps(record.blob_name)}"
    return where + (f" AND c.offset = {int(record.offset)}" if record.offset is not None else "")


class BatchVerifier:
    """Verifies (and repairs) the records of one batch, a page at a time.

    ``fetcher`` is the downloader a repair fetches with, ``budget`` the memory budget it draws
    on (a deep check's reads draw on it too)."""

    def __init__(
        self, images: ImagesRepo, blobs: BlobStore, fetcher: Fetcher, settings: Settings, batch: VerifyBatch,
        *, budget: ByteBudget, gate: DecodeGate | None = None,
    ) -> None:  # fmt: skip
        self._images = images
        self._blobs = blobs
        self._fetcher = fetcher
        self._settings = settings
        self._batch = batch
        self._budget = budget
        self._gate = gate
        self._sizes: OrderedDict[str, int | None] = OrderedDict()
        #: Shard size requests made (one per shard of the batch, unless it holds more than
        #: the 1,024 remembered).
        self.size_requests = 0

    async def run(self) -> BatchVerification:
        batch = self._batch
        sql, params = batch_query(batch.index, batch.batches)
        tally = _Tally()
        continuation: str | None = None
        while True:
            records, continuation = await self._images.page(
                sql, params, pk=batch.job_id, limit=self._settings.verify_page_size, continuation=continuation
            )
            await self._page(records, tally)
            if continuation is None:
                break
        result = BatchVerification(
            run_id=batch.run_id, index=batch.index, checked=tally.checked, present=tally.present,
            missing=tally.missing, repaired=tally.repaired, marked=tally.marked, marked_kept=tally.marked_kept,
            written=tally.written,
        )  # fmt: skip
        log_event(
            log, "verify_batch_done", "verify batch %d/%d of job %s: %d checked, %d missing, %d repaired",
            batch.index + 1, batch.batches, batch.job_id, tally.checked, tally.missing, tally.repaired,
            job_id=batch.job_id, run_id=batch.run_id, checked=tally.checked, present=tally.present,
            missing=tally.missing, repaired=tally.repaired, marked=tally.marked, reasons=tally.reasons,
            size_requests=self.size_requests,
        )  # fmt: skip
        return result

    # ---------------------------------------------------------------- checking
    async def _page(self, records: list[ImageRecord], tally: _Tally) -> None:
        unknown = list(dict.fromkeys(r.blob_name for r in records if r.blob_name not in self._sizes))
        sizes = await gather_limited([partial(self._size, name) for name in unknown])
        for name, size in zip(unknown, sizes):
            self._remember(name, size)
        fits = [self._fits(record) for record in records]
        if self._batch.deep:
            whole = [i for i, ok in enumerate(fits) if ok]
            intact = await gather_limited([partial(self._intact, records[i]) for i in whole], self._settings.verify_reads)
            for i, ok in zip(whole, intact):
                fits[i] = ok
        present = [r for r, ok in zip(records, fits) if ok]
        lost = [r for r, ok in zip(records, fits) if not ok]
        unmarked = await gather_limited([partial(self._unmark, r) for r in present if r.missing])
        tally.written += sum(unmarked)
        for record in present:
            tally.count(record, Outcome.present, lost=False)
        if lost:
            for record, outcome in await self._repair(lost, tally):
                tally.count(record, outcome, lost=True)

    async def _size(self, blob_name: str) -> int | None:
        self.size_requests += 1
        container, name = split_blob_name(blob_name)
        return await self._blobs.size(container, name)

    def _remember(self, blob_name: str, size: int | None) -> None:
        self._sizes[blob_name] = size
        self._sizes.move_to_end(blob_name)
        while len(self._sizes) > _SIZES_KEPT:
            self._sizes.popitem(last=False)

    def _fits(self, record: ImageRecord) -> bool:
        """The cheap check: the shard exists and is long enough for the record's bytes."""
        size = self._sizes.get(record.blob_name)
        if size is None:
            return False
        if record.offset is None:
            return size == record.bytes
        return record.offset + record.bytes <= size

    async def _intact(self, record: ImageRecord) -> bool:
        """The deep check: the bytes read back hash to the record's id."""
        hold = await self._budget.reserve(record.bytes)
        try:
            try:
                data = await read_image(self._blobs, record)
            except NotFound:
                return False
            loop = asyncio.get_running_loop()
            return len(data) == record.bytes and await loop.run_in_executor(decode_pool(), sha256_hex, data) == record.id
        finally:
            hold.release()

    # ---------------------------------------------------------------- writing
    async def _unmark(self, record: ImageRecord) -> bool:
        """A record marked missing whose bytes are there after all: no longer missing."""
        operations = [
            {"op": "set", "path": "/missing", "value": False},
            {"op": "set", "path": "/missing_reason", "value": None},
            {"op": "set", "path": "/missing_at", "value": None},
        ]
        try:
            await self._images.patch(record.id, record.job_id, operations, filter_predicate=_pointing_at(record))
        except (NotFound, Conflict):
            return False  # deleted, or moved by another verify meanwhile
        return True

    async def _repair(self, lost: list[ImageRecord], tally: _Tally) -> list[tuple[ImageRecord, Outcome]]:
        """Fetch the lost records' images again into one new shard, commit it, point the
        records at it; mark the others. Each record with what became of it."""
        batch = self._batch
        shard = shard_blob_name(batch.job_id, f"verify-{batch.run_id[:12]}", batch.index, uuid.uuid4().hex[:12])
        container, name = split_blob_name(shard)
        writer = ShardWriter(
            self._blobs.staged(container, name, TAR_CONTENT_TYPE), block_size=self._settings.shard_block_bytes,
            mtime=utcnow(),
        )  # fmt: skip
        offsets: dict[str, int] = {}
        reasons: dict[str, str] = {}
        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                for record in lost:
                    group.create_task(self._fetch(record, writer, offsets, reasons))
            if writer.members:
                await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        # Only now, with the shard committed, may a record point at it.
        calls = [
            partial(self._repoint, r, shard, offsets[r.id]) if r.id in offsets else partial(self._mark, r, reasons[r.id])
            for r in lost
        ]
        outcomes: list[tuple[ImageRecord, Outcome, bool]] = await gather_limited(calls)
        tally.written += sum(wrote for _, _, wrote in outcomes)
        if writer.members:
            pointed = any(wrote and r.id in offsets for r, _, wrote in outcomes)
            if pointed:
                await self._blobs.set_metadata(container, name, {RECORDS_KEY: WRITTEN})
            else:  # every record was repaired by another verify meanwhile (or deleted)
                await self._blobs.delete(container, name)
        return [(record, outcome) for record, outcome, _ in outcomes]

    async def _fetch(self, record: ImageRecord, writer: ShardWriter, offsets: dict[str, int], reasons: dict[str, str]) -> None:
        checked = await fetch_checked(self._fetcher, record.url, self._batch.rules, self._gate)
        if isinstance(checked, Refused):
            reasons[record.id] = checked.reason.value
            return
        handed = False
        try:
            if checked.info.sha256 != record.id:
                reasons[record.id] = CHANGED
                return
            metadata = record.model_dump(mode="json", include=_MEMBER_FIELDS)
            offsets[record.id] = await writer.add(
                record.id, checked.info.format.extension, checked.outcome.body, metadata,
                release=checked.outcome.release,
            )  # fmt: skip
            handed = True
        finally:
            if not handed:
                checked.outcome.release()

    async def _repoint(self, record: ImageRecord, shard: str, offset: int) -> tuple[ImageRecord, Outcome, bool]:
        operations = [
            {"op": "set", "path": "/blob_name", "value": shard},
            {"op": "set", "path": "/offset", "value": offset},
            {"op": "set", "path": "/missing", "value": False},
            {"op": "set", "path": "/missing_reason", "value": None},
            {"op": "set", "path": "/missing_at", "value": None},
        ]
        return await self._write(record, operations, Outcome.repaired)

    async def _mark(self, record: ImageRecord, reason: str) -> tuple[ImageRecord, Outcome, bool]:
        if record.missing and record.missing_reason == reason:
            return record, Outcome.marked, False  # marked already, for the same reason: no write
        now = utcnow()
        operations = [
            {"op": "set", "path": "/missing", "value": True},
            {"op": "set", "path": "/missing_reason", "value": reason},
            {"op": "set", "path": "/missing_at", "value": json_datetime(now)},
        ]
        marked = record.model_copy(update={"missing": True, "missing_reason": reason, "missing_at": now})
        return await self._write(marked, operations, Outcome.marked)

    async def _write(
        self, record: ImageRecord, operations: list[dict[str, Any]], outcome: Outcome
    ) -> tuple[ImageRecord, Outcome, bool]:
        """Patch the record if it still points where it did; else it was repaired meanwhile
        (another verify won the race) or deleted."""
        try:
            await self._images.patch(record.id, record.job_id, operations, filter_predicate=_pointing_at(record))
        except Conflict:
            now = await self._images.find(record.id, record.job_id)
            if now is None:
                return record, Outcome.gone, False
            return now, Outcome.marked if now.missing else Outcome.repaired, False
        except NotFound:
            return record, Outcome.gone, False
        return record, outcome, True


async def verify_batch(
    images: ImagesRepo, blobs: BlobStore, fetcher: Fetcher, settings: Settings, batch: VerifyBatch,
    *, budget: ByteBudget, gate: DecodeGate | None = None,
) -> BatchVerification:  # fmt: skip
    """Verify (and repair) the records of one batch."""
    return await BatchVerifier(images, blobs, fetcher, settings, batch, budget=budget, gate=gate).run()


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _runtime_name(status: Any) -> str | None:
    runtime = getattr(status, "runtime_status", None)
    return runtime.name if runtime is not None else None


def _input_of(status: Any) -> VerifyJobInput | None:
    data = getattr(status, "input_", None)
    if not data:
        return None
    return VerifyJobInput.model_validate_json(data) if isinstance(data, str) else VerifyJobInput.model_validate(data)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _earlier_run(run: VerifyProgress, status: Any) -> bool:
    """True when ``run`` (the progress entity's) is not the orchestration's but an earlier
    one: the orchestration planned another run, or began after ``run`` started."""
    started = _input_of(status)
    if started is not None and started.plan is not None:
        return started.plan.run_id != run.run_id
    created = getattr(status, "created_time", None)
    return created is not None and run.started_at is not None and _utc(run.started_at) < _utc(created)


async def _running(client: df.DurableOrchestrationClient, instance_id: str) -> VerifyJobInput | None:
    """The input of the job's verify, if one is running."""
    status = await client.get_status(instance_id, show_input=True)
    return _input_of(status) if _runtime_name(status) in _RUNNING else None


async def start_verify(
    images: ImagesRepo, client: df.DurableOrchestrationClient, settings: Settings, job: Job, deep: bool
) -> VerifyStarted:
    """Start verifying a job's images (the caller has checked that ``job`` is theirs); while a
    verify of the job runs, answer with that one instead."""
    count = await images.count_by_job(job.id)
    instance_id = verify_instance_id(job.id)
    running = await _running(client, instance_id)
    if running is None:
        payload = VerifyJobInput(job_id=job.id, user_id=job.user_id, deep=deep, rules=rules_of(job, settings))
        try:
            await client.start_new(VERIFY_ORCHESTRATOR, instance_id, payload.model_dump(mode="json"))
        except Exception:
            running = await _running(client, instance_id)  # a concurrent request started it
            if running is None:
                raise
        else:
            kind = "deep verify" if deep else "verify"
            return VerifyStarted(
                job_id=job.id, images_count=count, deep=deep, task_ids=[instance_id],
                message=f"A {kind} of {count} images started: follow it at GET /jobs/{job.id}/verify.",
            )  # fmt: skip
    return VerifyStarted(
        job_id=job.id, images_count=count, deep=running.deep, task_ids=[instance_id],
        message=f"A verify of job {job.id} is already running: follow it at GET /jobs/{job.id}/verify.",
    )  # fmt: skip


async def verify_report(
    jobs: JobsStore, client: df.DurableOrchestrationClient, user_id: str, job_id: str
) -> VerifyReport:
    """The job's latest verify: its counts from the progress entity, whether it still runs
    from its orchestration. 404 ``verify_not_found`` when the job was never verified.

    ``completed`` once every batch of the run is counted (the orchestration may end a moment
    before its last counts arrive: ``running`` until then); ``failed`` when the orchestration
    failed or was terminated before that."""
    job = await get_owned_job(jobs, user_id, job_id)
    instance_id = verify_instance_id(job.id)
    status = await client.get_status(instance_id, show_input=True)
    runtime = _runtime_name(status)
    run = ProgressState.model_validate(await read_entity(client, "job_progress", job.id) or {}).verification
    if run is None and runtime is None:
        raise NotFound(
            f"Job {job.id} has not been verified: POST /jobs/{job.id}/verify starts a verify.",
            error_code="verify_not_found",
        )
    if run is not None and runtime is not None and _earlier_run(run, status):
        run = None  # the orchestration's own run has not been announced (yet)
    error = None
    if run is not None and run.finished:
        state = VerifyStatus.completed
    elif runtime in _RUNNING or runtime == "Completed":
        state = VerifyStatus.running
    else:
        state = VerifyStatus.failed
        output = getattr(status, "output", None)
        error = str(output) if output else f"the verify stopped before it finished ({runtime or 'no history left'})"
    started = _input_of(status)
    report = VerifyReport(
        job_id=job.id, status=state, deep=run.deep if run is not None else bool(started and started.deep),
        error=error, task_ids=[instance_id],
    )  # fmt: skip
    if run is not None:
        counts = run.model_dump(include={"checked", "present", "missing", "repaired", "marked", "images", "batches"})
        report = report.model_copy(update={
            **counts, "batches_done": len(run.batches_done), "started_at": run.started_at,
            "finished_at": run.finished_at,
        })  # fmt: skip
    return report
