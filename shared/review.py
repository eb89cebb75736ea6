"""Reviewing a job before its dataset is built: list its images by label and state, curate them
(exclude one, move one to another label), group its near-duplicates, and sum up what a
dataset build would pack. The HTTP routes of ``http_triggers/review.py`` call these; every
rule about review lives here, and the rule of what a build packs lives in
:mod:`shared.datasets.curation`.

Curation is stored on the image record (``excluded``, ``curated_label``, ``curated_by``,
``curated_at``) with a partial update, so it survives validation runs (which patch other
fields) and is read by every dataset build started after it.

Example::

    page = await list_images(jobs, images, "alice", job_id, ImageQuery(label="cat", state="kept"))
    image = await curate(jobs, images, "alice", job_id, page.items[0].id, CurationChange(excluded=True))
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from shared.errors import BadRequest, NotFound
from shared.jobs import JobsStore, get_owned_job
from shared.logs import log_event
from shared.models import (
    CurationChange,
    CurationSummary,
    DuplicateGroupPage,
    DuplicateGroupQuery,
    ImagePage,
    ImageQuery,
    ImageRecord,
    ImageState,
    Job,
    NearDuplicateGroup,
    ReviewImage,
    json_datetime,
    utcnow,
)
from shared.storage import ImagesRepo
from shared.storage.cosmos import NOT_MISSING

__all__ = [
    "GROUP_MEMBERS", "SCAN_LIMIT", "curate", "curation_summary", "duplicate_groups", "find_image",
    "get_image", "is_image_id", "job_labels", "list_images",
]

log = logging.getLogger("pixcrawler.review")

#: Duplicates shown per near-duplicate group (the group's ``size`` counts them all).
GROUP_MEMBERS = 24
#: Duplicate records a page of groups looks at, at most (a projection of one field each).
SCAN_LIMIT = 2000

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NOT_EXCLUDED = "(NOT IS_DEFINED(c.excluded) OR c.excluded = false)"
#: ``state`` -> SQL condition; ``kept`` is exactly what a default dataset build packs.
STATE_SQL: dict[str, str] = {
    "all": "",
    "kept": f" AND c.is_valid = true AND c.is_duplicate = false AND {_NOT_EXCLUDED} AND {NOT_MISSING}",
    "excluded": " AND c.excluded = true",
    "duplicate": " AND c.is_duplicate = true",
    "invalid": " AND c.is_valid = false",
    "relabelled": " AND IS_STRING(c.curated_label)",
    "missing": " AND c.missing = true",
}
#: Images whose label after review is ``@label``.
_LABEL_SQL = " AND (c.curated_label = @label OR (c.label = @label AND NOT IS_STRING(c.curated_label)))"


def job_labels(job: Job) -> list[str]:
    """The job's labels in order: its keywords, then the labels of its ``urls`` sources."""
    return list(dict.fromkeys([*job.keywords, *(s.label for s in job.sources if s.label)]))


def _where(state: ImageState, label: str | None) -> tuple[str, dict[str, Any]]:
    sql = "WHERE c.job_id = @pk" + STATE_SQL[state]
    if label is None:
        return sql, {}
    return sql + _LABEL_SQL, {"@label": label}


def is_image_id(image_id: str) -> bool:
    """True for what an image id is: the lower-case hex sha256 of its bytes."""
    return bool(_SHA256.match(image_id))


async def find_image(images: ImagesRepo, job_id: str, image_id: str) -> ImageRecord:
    """The job's image, or NotFound (``image_not_found``)."""
    record = await images.find(image_id, job_id) if is_image_id(image_id) else None
    if record is None:
        raise NotFound(f"Image {image_id} not found in job {job_id}.", error_code="image_not_found")
    return record


async def list_images(
    jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str, query: ImageQuery
) -> ImagePage:
    """A page of the caller's job's images, of one label after review and one state."""
    job = await get_owned_job(jobs, user_id, job_id)
    where, params = _where(query.state, query.label)
    items, token = await images.page(
        f"SELECT * FROM c {where}", params, pk=job.id, limit=query.limit, continuation=query.continuation
    )
    return ImagePage(items=[ReviewImage.of(record) for record in items], continuation=token)


async def get_image(jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str, image_id: str) -> ReviewImage:
    """One image of the caller's job."""
    job = await get_owned_job(jobs, user_id, job_id)
    return ReviewImage.of(await find_image(images, job.id, image_id))


async def curate(
    jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str, image_id: str, change: CurationChange
) -> ReviewImage:
    """Exclude or include an image, or move it to another of the job's labels (or back to its
    own); 400 ``unknown_label`` for a label the job does not have."""
    job = await get_owned_job(jobs, user_id, job_id)
    record = await find_image(images, job.id, image_id)
    operations: list[dict[str, Any]] = []
    if "excluded" in change.model_fields_set:
        operations.append({"op": "set", "path": "/excluded", "value": bool(change.excluded)})
    if "label" in change.model_fields_set:
        labels = job_labels(job)
        if change.label is not None and change.label not in labels:
            raise BadRequest(
                f"'{change.label}' is not a label of job {job.id}: use one of {', '.join(labels)}.",
                error_code="unknown_label", field="label",
            )  # fmt: skip
        moved = None if change.label in (None, record.label) else change.label
        operations.append({"op": "set", "path": "/curated_label", "value": moved})
    operations += [
        {"op": "set", "path": "/curated_by", "value": user_id},
        {"op": "set", "path": "/curated_at", "value": json_datetime(utcnow())},
    ]
    updated = await images.patch(record.id, job.id, operations)
    log_event(
        log, "image_curated", "image %s of job %s: excluded=%s label=%s", updated.id, job.id,
        updated.excluded, updated.effective_label, job_id=job.id, image_id=updated.id,
        excluded=updated.excluded, label=updated.effective_label,
    )  # fmt: skip
    return ReviewImage.of(updated)


async def _group(images: ImagesRepo, job_id: str, kept_id: str) -> NearDuplicateGroup | None:
    where = "WHERE c.job_id = @pk AND c.is_duplicate = true AND c.duplicate_of = @id"
    kept, members, size = await asyncio.gather(
        images.find(kept_id, job_id),
        images.query(f"SELECT TOP {GROUP_MEMBERS} * FROM c {where}", {"@id": kept_id}, pk=job_id),
        images.query_values(f"SELECT VALUE COUNT(1) FROM c {where}", {"@id": kept_id}, pk=job_id),
    )
    if kept is None:  # deleted meanwhile
        return None
    return NearDuplicateGroup(
        kept=ReviewImage.of(kept), duplicates=[ReviewImage.of(m) for m in members], size=int(size[0])
    )


async def duplicate_groups(
    jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str, query: DuplicateGroupQuery
) -> DuplicateGroupPage:
    """A page of the job's near-duplicate groups (after a medium or slow validation): each kept
    image with its duplicates, in the order of the kept images' ids. The continuation is the
    last kept id of the page."""
    job = await get_owned_job(jobs, user_id, job_id)
    sql = (
        "SELECT VALUE c.duplicate_of FROM c WHERE c.job_id = @pk AND c.is_duplicate = true"
        " AND c.duplicate_of > @after ORDER BY c.duplicate_of"
    )
    keys: list[str] = []
    more = False
    scanned = 0
    async for key in images.iterate_values(sql, {"@after": query.continuation or ""}, pk=job.id):
        scanned += 1
        if not keys or key != keys[-1]:
            if len(keys) == query.limit:
                more = True
                break
            keys.append(key)
        if scanned >= SCAN_LIMIT:
            more = True
            break
    groups = await asyncio.gather(*(_group(images, job.id, key) for key in keys))
    return DuplicateGroupPage(
        items=[group for group in groups if group is not None],
        continuation=keys[-1] if more and keys else None,
    )


async def curation_summary(jobs: JobsStore, images: ImagesRepo, user_id: str, job_id: str) -> CurationSummary:
    """What a default dataset build of the job packs per label now, and what review changed:
    one COUNT query per label and per state."""
    job = await get_owned_job(jobs, user_id, job_id)
    labels = job_labels(job)

    async def count(state: ImageState, label: str | None = None) -> int:
        where, params = _where(state, label)
        return int((await images.query_values(f"SELECT VALUE COUNT(1) FROM c {where}", params, pk=job.id))[0])

    totals = await asyncio.gather(*(count(state) for state in ("all", "excluded", "relabelled", "duplicate", "invalid")))
    kept = await asyncio.gather(*(count("kept", label) for label in labels))
    return CurationSummary(
        job_id=job.id, images=totals[0], kept=dict(zip(labels, kept)), excluded=totals[1],
        relabelled=totals[2], duplicates=totals[3], invalid=totals[4],
    )  # fmt: skip
