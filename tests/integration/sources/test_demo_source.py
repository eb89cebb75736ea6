"""The demo source (scripts/demo_source.py) as the crawler, the tests and the benchmark use it:
the unchanged ``wikimedia`` source pages through it, every URL serves what the ground truth
says, faults happen as configured, requests are recorded, and the CLI starts and stops."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from source_services import local_settings

from scripts.demo_source import BLOCKED_REDIRECT, DemoSource, Faults, build_catalogue
from shared.errors import SourceError, SourceRateLimited
from shared.imaging.hashes import hamming, phash_hex
from shared.models import SourceSpec, SourceType
from shared.crawl.sources import Source, make_source

LABELS = ["cat", "dog", "bird"]
PER_LABEL = 40
FAULTS = Faults(
    duplicate=0.1,
    near_duplicate=0.1,
    truncated=0.05,
    html=0.05,
    not_found=0.05,
    slow=0.05,
    redirect_blocked=0.05,
    slow_delay=0.3,
)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalogue")


@pytest.fixture
async def demo(catalogue_dir: Path) -> AsyncIterator[DemoSource]:
    async with DemoSource(catalogue_dir, LABELS, PER_LABEL, seed=3, faults=FAULTS) as running:
        yield running


def commons(demo: DemoSource, session: aiohttp.ClientSession, **overrides: object) -> Source:
    settings = local_settings(demo.base_url, **overrides)
    return make_source(SourceSpec(type=SourceType.wikimedia), settings, session)


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_the_wikimedia_source_pages_through_a_label_and_stops_at_its_end(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    source = commons(demo, session)
    urls, offset = [], 0
    offsets: list[int] = []
    while True:
        offsets.append(offset)
        page = await source.search("cat photo", offset, 15)
        urls += [c.url for c in page.candidates]
        assert {c.license for c in page.candidates} == {"CC BY-SA 4.0"}
        if page.next_offset is None:
            break
        offset = page.next_offset
    truth = [e["url"] for e in demo.ground_truth() if e["label"] == "cat"]
    assert urls == truth and len(urls) == PER_LABEL
    assert offsets == [0, 15, 30]
    assert demo.search_offsets("cat") == offsets == demo.search_offsets("cat photo")
    async with session.get(demo.base_url + "/_demo/requests") as resp:
        recorded = await resp.json()
    assert recorded["by_label"] == {"cat": offsets}
    assert recorded["by_query"] == {"cat photo": offsets}


async def test_the_openverse_source_pages_through_the_same_label(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    source = make_source(SourceSpec(type=SourceType.openverse), local_settings(demo.base_url), session)
    urls, offset = [], 0
    while True:
        page = await source.search("cat close-up", offset, 20)
        urls += [c.url for c in page.candidates]
        assert all(c.source == "openverse" and c.license == "CC BY 4.0" for c in page.candidates)
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert urls == [e["url"] for e in demo.ground_truth() if e["label"] == "cat"]
    assert demo.search_offsets("cat") == [0, 20]


async def test_candidates_carry_the_sizes_and_pages_the_catalogue_serves(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    page = await commons(demo, session).search("dog", 0, 50)
    truth = {e["url"]: e for e in demo.ground_truth()}
    for candidate in page.candidates:
        assert (candidate.width, candidate.height) == (
            truth[candidate.url]["width"],
            truth[candidate.url]["height"],
        )
        assert candidate.page_url is not None and candidate.page_url.startswith(demo.base_url)
    status, headers, body = await fetch(session, page.candidates[0].page_url or "")
    assert status == 200 and b"Demo file description page" in body


async def test_an_unknown_keyword_finds_nothing(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    page = await commons(demo, session).search("zebra crossing", 0, 10)
    assert page.candidates == [] and page.next_offset is None


async def test_the_fault_mix_is_exact_per_label(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    for label in LABELS:
        assert demo.kinds(label) == {
            "ok": 22,
            "duplicate_of": 4,
            "near_duplicate_of": 4,
            "truncated": 2,
            "html": 2,
            "404": 2,
            "slow": 2,
            "redirect_blocked": 2,
        }
    async with session.get(demo.base_url + "/_demo/catalogue") as resp:
        published = await resp.json()
    assert published["items"] == demo.ground_truth()
    assert published["labels"] == LABELS


async def test_every_url_serves_what_the_ground_truth_says(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    truth = demo.ground_truth()
    by_url = {e["url"]: e for e in truth}
    started = time.perf_counter()
    answers = await asyncio.gather(*(fetch(session, e["url"]) for e in truth))
    assert time.perf_counter() - started < 5, "slow images must not be served one by one"
    for entry, (status, headers, body) in zip(truth, answers):
        kind = entry["kind"]
        if kind == "404":
            assert status == 404
            continue
        if kind == "redirect_blocked":
            assert status == 302 and headers["Location"] == BLOCKED_REDIRECT
            continue
        assert status == 200 and headers["Content-Type"] == entry["content_type"]
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert len(body) == entry["bytes"]
        if kind == "html":
            assert entry["content_type"] == "image/jpeg" and body.startswith(b"<!DOCTYPE html>")
        elif kind == "truncated":
            with pytest.raises(OSError), Image.open(io.BytesIO(body)) as image:
                image.load()
        else:
            with Image.open(io.BytesIO(body)) as image:
                image.load()
                assert image.size == (entry["width"], entry["height"])
        if kind == "duplicate_of":
            original = by_url[entry["of"]]
            assert original["kind"] == "ok" and original["sha256"] == entry["sha256"]
            assert original["url"] != entry["url"]
        if kind in ("ok", "slow"):
            assert 256 <= min(image.size) and max(image.size) <= 1024
            assert 20_000 <= len(body) <= 300_000
            assert image.format in ("JPEG", "PNG")
    assert {e["content_type"] for e in truth if e["kind"] == "ok"} == {"image/jpeg", "image/png"}


async def test_slow_images_take_the_configured_delay(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    slow = next(e for e in demo.ground_truth() if e["kind"] == "slow")
    ok = next(e for e in demo.ground_truth() if e["kind"] == "ok")
    started = time.perf_counter()
    await fetch(session, ok["url"])
    quick = time.perf_counter() - started
    started = time.perf_counter()
    await fetch(session, slow["url"])
    assert time.perf_counter() - started >= 0.3 > quick


def _phash(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return phash_hex(image)


async def test_images_differ_in_perceptual_hash_and_near_duplicates_do_not(
    demo: DemoSource,
) -> None:
    bodies = {e.path: e.body for e in demo.catalogue}
    hashes = {e.path: _phash(e.body) for e in demo.catalogue if e.kind in ("ok", "slow")}
    closest = min(hamming(a, b) for a, b in itertools.combinations(hashes.values(), 2))
    assert closest > 12, "two distinct catalogue images look alike to the phash"
    for entry in (e for e in demo.catalogue if e.kind == "near_duplicate_of"):
        assert entry.of is not None
        assert entry.body != bodies[entry.of]
        assert hamming(_phash(entry.body), hashes[entry.of]) <= 6


async def test_search_pages_answer_429_at_the_configured_rate(
    catalogue_dir: Path, session: aiohttp.ClientSession
) -> None:
    faults = Faults(search_429_rate=0.3, search_retry_after=0)
    async with DemoSource(catalogue_dir, LABELS, PER_LABEL, seed=3, faults=faults) as demo:
        source = commons(demo, session, source_max_tries=8)
        offset: int | None = 0
        found = 0
        while offset is not None:
            page = await source.search("bird", offset, 5)
            found += len(page.candidates)
            offset = page.next_offset
        statuses = [r["status"] for r in demo.search_requests]
        assert found == PER_LABEL
        assert statuses.count(200) == 8 and statuses.count(429) >= 1

        demo.search_429_rate = 1.0
        with pytest.raises(SourceRateLimited):
            await commons(demo, session, source_max_tries=2).search("bird", 0, 5)


async def test_a_failing_query_can_be_resumed_once_it_heals(
    demo: DemoSource, session: aiohttp.ClientSession
) -> None:
    source = commons(demo, session, source_max_tries=2)
    demo.fail_search_after("cat", 20)
    first = await source.search("cat", 0, 10)
    second = await source.search("cat", first.next_offset or 0, 10)
    with pytest.raises(SourceError, match="HTTP 500"):
        await source.search("cat", second.next_offset or 0, 10)
    assert (await source.search("dog", 20, 10)).candidates, "only the failing label fails"

    async with session.post(demo.base_url + "/_demo/search-failures", json={}) as resp:
        assert resp.status == 200 and await resp.json() == {}
    rest = await source.search("cat", second.next_offset or 0, 30)
    assert rest.next_offset is None
    urls = [c.url for c in first.candidates + second.candidates + rest.candidates]
    assert urls == [e["url"] for e in demo.ground_truth() if e["label"] == "cat"]
    assert demo.search_offsets("cat") == [0, 10, 20, 20, 20]

    demo.fail_search_after("cat kitten", 10)
    with pytest.raises(SourceError, match="HTTP 500"):
        await source.search("cat kitten", 10, 10)
    assert (await source.search("cat", 10, 10)).candidates, "only that exact query fails"


async def test_the_catalogue_is_cached_deterministic_and_seeded(
    catalogue_dir: Path, demo: DemoSource
) -> None:
    started = time.perf_counter()
    async with DemoSource(catalogue_dir, LABELS, PER_LABEL, seed=3, faults=FAULTS) as again:
        assert time.perf_counter() - started < 3
        assert [e["sha256"] for e in again.ground_truth()] == [
            e["sha256"] for e in demo.ground_truth()
        ]
    async with DemoSource(catalogue_dir, ["cat"], 3, seed=4) as other:
        assert {e["sha256"] for e in other.ground_truth()}.isdisjoint(
            e["sha256"] for e in demo.ground_truth()
        )


def test_worker_processes_render_the_same_catalogue(tmp_path: Path) -> None:
    alone = build_catalogue(tmp_path / "alone", ["cat", "dog"], 8, seed=5, workers=1)
    pooled = build_catalogue(tmp_path / "pooled", ["cat", "dog"], 8, seed=5, workers=2)
    assert [e.sha256 for e in pooled] == [e.sha256 for e in alone]
    assert len({e.sha256 for e in alone}) == 16


async def test_the_cli_prints_its_address_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "demo_source.py"),
        "--port",
        "0",
        "--labels",
        "cat,dog",
        "--per-label",
        "6",
        "--dir",
        str(tmp_path),
        "--not-found",
        "0.2",
        "--fail-search-after",
        "dog=2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        match = re.fullmatch(r"demo source listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        async with aiohttp.ClientSession() as session:
            async with session.get(match.group(1) + "/_demo/catalogue") as resp:
                catalogue: dict[str, Any] = await resp.json()
            async with session.get(
                match.group(1) + "/w/api.php",
                params={
                    "action": "query",
                    "generator": "search",
                    "gsrsearch": "dog",
                    "gsroffset": "2",
                    "format": "json",
                },
            ) as resp:
                assert resp.status == 500
        kinds = [e["kind"] for e in catalogue["items"]]
        assert len(kinds) == 12 and kinds.count("404") == 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
