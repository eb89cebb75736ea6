"""The review page in a real browser (Playwright driving Debian's chromium) against the local
stack and the demo source: sign in, start a job and watch it complete, see thumbnails of each
label, open a near-duplicate group, exclude one image with the keyboard and move another to
another label, build the dataset and download it, and check its manifest. Each view's
screenshot is saved under .local/screenshots/ (git-ignored); docs/images/ keeps the main ones.
"""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSourceProcess, Stack
from http_triggers._tokens import issue_dev_token

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
#: Without the background-networking flags Chromium's own connections are refused on a closed
#: network and slow everything down.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / ".local" / "screenshots"
LABELS = ["cat", "dog"]
PER_LABEL = 24
FAULTS = [
    "--near-duplicate", "0.2", "--duplicate", "0.05", "--not-found", "0.05", "--html", "0.05",
    "--slow", "0.1", "--slow-delay", "1.0",  # a run of a few seconds, to watch
]
USER = "reviewer"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("review-page")
    source = DemoSourceProcess(directory / "source", [
        "--labels", ",".join(LABELS), "--per-label", str(PER_LABEL), "--seed", "13",
        "--dir", str(ROOT / ".local" / "catalogue-tests"), *FAULTS,
    ]).start()
    try:
        extra = {"PIXCRAWLER_WIKIMEDIA_BASE_URL": source.url, "PIXCRAWLER_BATCH_SIZE": "8"}
        with Stack(directory / "stack", port=None, extra_env=extra) as stack:
            token = issue_dev_token(USER, secret=LOCAL_SECRET)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as api:
                yield {"stack": stack, "api": api, "token": token, "origin": stack.base_url.removesuffix("/api/v1")}
    finally:
        source.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs it (apt-get install -y chromium)", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900}, accept_downloads=True,
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


def shot(page: Page, name: str, *, full_page: bool = True, top: str | None = None) -> None:
    """Save a screenshot of the page (of the viewport from ``top``, a selector, when given)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if top is not None:
        page.locator(top).evaluate("node => node.scrollIntoView()")
        full_page = False
    page.screenshot(path=str(SCREENSHOTS / f"review-{name}.png"), full_page=full_page)


def sign_in(page: Page, origin: str, token: str) -> None:
    page.goto(f"{origin}/api/ui")
    page.get_by_label("Bearer token (JWT)").check()
    page.get_by_label("Key or token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#jobs")).to_be_visible()


def loaded_thumbnails(page: Page, scope: str) -> list[dict[str, Any]]:
    """The thumbnails under ``scope`` once every one of them has loaded."""
    page.wait_for_function(
        """scope => { const imgs = [...document.querySelectorAll(scope + ' img.thumb')];
             return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=scope, timeout=30_000,
    )
    return list(page.eval_on_selector_all(
        f"{scope} img.thumb", "imgs => imgs.map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, src: i.src}))"
    ))


def test_review_a_job_from_start_to_downloaded_dataset(world: dict[str, Any], browser: BrowserContext) -> None:
    api: httpx.Client = world["api"]
    body = {"name": "pets review", "keywords": LABELS, "sources": ["wikimedia"],
            "max_images_per_keyword": PER_LABEL * 2, "validation_level": "medium"}
    job = api.post("/jobs", json=body).json()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # sign in: a wrong token is refused and forgotten, the right one kept for this tab only
    page.goto(f"{world['origin']}/api/ui")
    shot(page, "signin")
    page.get_by_label("Bearer token (JWT)").check()
    page.get_by_label("Key or token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Not accepted")
    assert page.evaluate("sessionStorage.length") == 0
    sign_in(page, world["origin"], world["token"])
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("sessionStorage.length") == 1
    expect(page.locator("#jobs")).to_contain_text("pets review")

    # start the job from the page and watch it run to completion
    page.get_by_role("link", name="pets review").click()
    page.get_by_role("button", name="Start").click()
    statuses: list[str] = []
    images_seen: list[int] = []
    live_shot = False
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = page.locator("#job-status").inner_text()
        if not statuses or statuses[-1] != status:
            statuses.append(status)
        images_seen.append(int(page.locator("#job-images").inner_text()))
        if status.startswith("running") and images_seen[-1] > 0 and not live_shot:
            # the images tab follows the run: counts and a first page of thumbnails appear
            page.wait_for_function(
                "() => /^Stored: [1-9]/.test(document.querySelector('#curation-summary').textContent)",
                timeout=10_000,
            )
            loaded_thumbnails(page, "#image-grid")
            shot(page, "progress", full_page=False)
            live_shot = True
        if status == "completed (done)":
            break
        time.sleep(0.2)
    assert statuses[-1] == "completed (done)", statuses
    assert any(s.startswith("running") for s in statuses), statuses
    assert images_seen[-1] > 0 and images_seen == sorted(images_seen)
    progress = api.get(f"/jobs/{job['id']}/progress").json()
    expect(page.locator("#job-chunks")).to_have_text(f"{progress['total_chunks']} of {progress['total_chunks']} done, 0 active, 0 failed")
    expect(page.locator(".bars li")).to_have_count(len(progress["failed_by_reason"]))
    expect(page.get_by_role("button", name="Start")).to_be_disabled()
    # the images tab followed the run without a reload
    expect(page.locator("#curation-summary")).to_contain_text(f"Stored: {progress['stored_images']}.")
    expect(page.locator("#job-valid")).to_have_text(str(progress["valid_images"]))
    expect(page.locator("#image-grid > li.card").first).to_be_visible()

    # thumbnails for each label, with alt text naming the label and the source
    page.get_by_role("link", name="Images", exact=True).click()
    for label in LABELS:
        page.get_by_role("navigation", name="Labels").get_by_role("link", name=f"{label} (").click()
        expect(page.locator("#image-grid")).to_have_attribute("aria-label", f"Images labelled {label}")
        thumbs = loaded_thumbnails(page, "#image-grid")
        assert thumbs and all(t["alt"].startswith(f"{label} image from wikimedia") for t in thumbs)
        assert all(max(t["w"], t["h"]) <= 256 and t["src"].startswith("blob:") for t in thumbs)
    page.get_by_role("navigation", name="Labels").get_by_role("link", name="cat (").click()
    loaded_thumbnails(page, "#image-grid")
    shot(page, "images", top="#tab")

    # a near-duplicate group: the kept copy beside its duplicates
    page.get_by_role("link", name="Near-duplicates").click()
    group = page.locator("#groups details").first
    group.locator("summary").click()
    loaded_thumbnails(page, "#groups details[open]")
    expect(group.locator("li.card.is-kept")).to_have_count(1)
    expect(group.locator("li.card.is-kept")).to_contain_text("Kept copy")
    kept_id = group.locator("li.card.is-kept").get_attribute("data-id")
    duplicates = group.locator("li.card:not(.is-kept)")
    assert duplicates.count() >= 1
    expect(duplicates.first).to_contain_text(f"Near-duplicate of {kept_id[:8]}")
    shot(page, "duplicates", top="#tab")

    # curation, among the images a dataset would pack: exclude one with the keyboard, move
    # another to the other label
    page.get_by_role("link", name="Images", exact=True).click()
    page.get_by_label("Show").select_option("kept")
    expect(page.locator("#state")).to_have_value("kept")
    loaded_thumbnails(page, "#image-grid")
    cards = page.locator("#image-grid > li.card")
    cards.first.focus()
    page.keyboard.press("ArrowRight")
    excluded = cards.nth(1)
    expect(excluded).to_be_focused()
    excluded_id = excluded.get_attribute("data-id")
    page.keyboard.press("x")
    expect(page.locator("#status")).to_contain_text(f"Image {excluded_id[:8]} excluded from datasets.")
    excluded = page.locator(f'#image-grid li.card[data-id="{excluded_id}"]')
    expect(excluded.get_by_role("button", name="Include")).to_be_focused()
    expect(excluded).to_contain_text("Excluded")
    moved = cards.nth(2)
    moved_id = moved.get_attribute("data-id")
    moved.locator("select").select_option("dog")
    moved.get_by_role("button", name="Move").click()
    expect(page.locator("#status")).to_contain_text(f"Image {moved_id[:8]} moved to dog.")
    expect(page.locator(f'#image-grid li.card[data-id="{moved_id}"]')).to_contain_text("Moved from cat")
    expect(page.locator("#curation-summary")).to_contain_text("Excluded: 1. Moved: 1.")
    assert api.get(f"/jobs/{job['id']}/images/{excluded_id}").json()["excluded"] is True
    assert api.get(f"/jobs/{job['id']}/images/{moved_id}").json()["label"] == "dog"
    shot(page, "curated", top="#tab")

    # failures with their URLs
    page.get_by_role("link", name="Failures").click()
    expect(page.locator("#failures tbody tr").first).to_be_visible()
    rows = page.locator("#failures tbody tr")
    assert rows.count() == progress["failed_downloads"]
    assert all(text.startswith("http://127.0.0.1:") for text in page.locator("#failures td.url").all_inner_texts())
    shot(page, "failures")

    # build the dataset from the page, download it, and check its manifest
    page.get_by_role("link", name="Dataset", exact=True).click()
    page.get_by_label("Name").fill("pets reviewed")
    page.get_by_role("button", name="Build dataset").click()
    row = page.locator("#datasets tbody tr").filter(has_text="pets reviewed")
    expect(row.locator(".badge")).to_have_text("ready", timeout=120_000)
    shot(page, "dataset", top="#tab")
    with page.expect_download() as download:
        row.get_by_role("button", name="Download").click()
    path = download.value.path()
    with zipfile.ZipFile(path) as archive:
        manifest = {r["sha256"]: r for r in map(json.loads, archive.read("manifest.jsonl").decode().splitlines())}
        card = archive.read("README.md").decode()
    assert excluded_id not in manifest
    assert manifest[moved_id]["label"] == "dog" and manifest[moved_id]["file"].startswith("dog/")
    assert kept_id in manifest and not set(manifest) & {d for d in duplicates.evaluate_all("cs => cs.map(c => c.dataset.id)")}
    assert "1 images excluded, 1 moved to another label" in card
    assert errors == []
    page.close()


def test_the_page_reads_on_a_phone(world: dict[str, Any], browser: BrowserContext) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world["origin"], world["token"])
    page.get_by_role("link", name="pets review").click()
    expect(page.locator("#job-status")).to_have_text("completed (done)")
    loaded_thumbnails(page, "#image-grid")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone", top="#tab")
    page.get_by_role("link", name="Failures").click()
    expect(page.locator("#failures tbody tr").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()
