"""Stored download failures on Azurite: one blob per batch with its reasons in the metadata;
every page size, reason and bound pages through all of them exactly once, in order; a
retried batch replaces its blob; a forged continuation is a 400."""

from __future__ import annotations

import itertools
import random

import pytest

from shared.errors import BadRequest
from shared.crawl.failures import FailureLog, failure_blob_name, failure_page
from shared.models import Candidate, DownloadBatch, FailureEntry, FailureQuery, FailureReason, ValidationRules
from shared.storage import StorageContext

from .factories import new_id

pytestmark = pytest.mark.integration

REASONS = [FailureReason.http_error, FailureReason.timeout, FailureReason.not_an_image, FailureReason.corrupt]


def batch(job_id: str, chunk: str, seq: int, run: int = 1) -> DownloadBatch:
    return DownloadBatch(
        job_id=job_id, user_id="u", chunk_id=chunk, batch_id=f"{chunk}:{seq}", seq=seq, run=run, label="cat",
        rules=ValidationRules(), candidates=[],
    )  # fmt: skip


async def everything(storage: StorageContext, job_id: str, reason: FailureReason | None, limit: int, **bounds: int) -> list[FailureEntry]:
    items: list[FailureEntry] = []
    token: str | None = None
    for _ in range(1000):
        page = await failure_page(storage.blobs, job_id, FailureQuery(reason=reason, limit=limit, continuation=token), **bounds)
        assert len(page.items) <= limit
        items += page.items
        token = page.continuation
        if token is None:
            return items
    raise AssertionError("paging did not end")


async def test_pages_cover_every_failure_once_in_order_whatever_the_bounds(storage: StorageContext) -> None:
    job_id = new_id("job")
    rng = random.Random(5)
    expected: list[FailureEntry] = []
    for chunk, seq in itertools.product(["c0", "c1"], range(7)):
        log = FailureLog()
        for position in rng.sample(range(seq * 10, seq * 10 + 10), rng.randint(0, 6)):
            url = f"https://img.example/{chunk}/{position}.jpg" + "x" * rng.choice([0, 3000])
            log.add(position, Candidate(url=url, source="wikimedia"), rng.choice(REASONS), "m" * rng.choice([5, 400]))
        await log.save(storage.blobs, batch(job_id, chunk, seq))
        expected += log.entries(batch(job_id, chunk, seq))
    assert all(len(e.url) <= 2048 and len(e.message) <= 300 for e in expected)
    names = [b.name async for b in storage.blobs.list("images", f"{job_id}/failures/")]
    assert len(names) == len({(e.chunk_id, e.position // 10) for e in expected})  # no blob without failures

    for limit, list_page, max_reads, max_listings in [(100, 50, 50, 10), (1, 50, 50, 10), (3, 2, 1, 1), (7, 3, 2, 2), (5, 1, 50, 1)]:
        bounds = {"list_page": list_page, "max_reads": max_reads, "max_listings": max_listings}
        assert await everything(storage, job_id, None, limit, **bounds) == expected
        for reason in REASONS:
            of_reason = [e for e in expected if e.reason is reason]
            assert await everything(storage, job_id, reason, limit, **bounds) == of_reason


async def test_a_retried_batch_replaces_its_failures_and_its_reasons(storage: StorageContext) -> None:
    job_id = new_id("job")
    first = FailureLog()
    first.add(3, Candidate(url="https://a.example/1.jpg", source="s"), FailureReason.timeout, "slow")
    await first.save(storage.blobs, batch(job_id, "c0", 0))
    again = FailureLog()
    again.add(4, Candidate(url="https://a.example/2.jpg", source="s"), FailureReason.corrupt, "cut short")
    await again.save(storage.blobs, batch(job_id, "c0", 0, run=2))
    page = await failure_page(storage.blobs, job_id, FailureQuery())
    assert [(e.url, e.reason, e.run) for e in page.items] == [("https://a.example/2.jpg", FailureReason.corrupt, 2)]
    assert (await failure_page(storage.blobs, job_id, FailureQuery(reason=FailureReason.timeout))).items == []
    assert failure_blob_name(job_id, "c0", 0) == f"{job_id}/failures/c0/000000.jsonl"


@pytest.mark.parametrize("token", ["not base64 json!", "eyJtIjogMX0", "W10", "eyJtIjpudWxsLCJiIjotMSwibCI6MH0"])
async def test_a_continuation_the_list_did_not_give_is_a_400(storage: StorageContext, token: str) -> None:
    with pytest.raises(BadRequest) as refused:
        await failure_page(storage.blobs, new_id("job"), FailureQuery(continuation=token))
    assert refused.value.details[0].error_code == "invalid_continuation"
