"""The review routes and the SDK's review methods on the live devhost (Azurite, the Cosmos
emulator): a job of two labels crawled from a local image server and validated at medium,
then its images listed by label and state, curated, shown as thumbnails (made once, then read
from Blob Storage), grouped as near-duplicates, its failures listed with their URLs, and a
dataset built that honours the curation."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _apitest import Api, assert_error_shape, error_code, iter_pages, new_user, wait_for
from _reviewtest import LABELS, ImageServer, crawl_review_job
from PIL import Image

from pixcrawler import Client
from scripts.devtoken import LOCAL_SECRET
from http_triggers._tokens import issue_dev_token
from shared.datasets import safe_label
from shared.models import THUMBNAIL_EDGE
from shared.storage import StorageContext
from shared.review.thumbnails import thumbnail_blob_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(api: Api) -> Iterator[dict[str, Any]]:
    server = ImageServer().start()
    owner = new_user()
    client = api.as_user(owner)
    try:
        job = crawl_review_job(client, server)
        by_url = {item["url"]: item for item in iter_pages(client, f"/jobs/{job.job_id}/images", limit=100)}
        yield {"owner": owner, "client": client, "job": job, "by_url": by_url, "server": server}
    finally:
        server.stop()


def images(client: httpx.Client, job_id: str, **params: Any) -> list[dict[str, Any]]:
    return list(iter_pages(client, f"/jobs/{job_id}/images", **params))


def summary(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}/curation")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_images_are_listed_by_label_and_state_each_once(world: dict[str, Any]) -> None:
    client, job = world["client"], world["job"]
    everything = images(client, job.job_id, limit=3)
    assert len(everything) == len({i["id"] for i in everything}) == 20
    good = {url for label in LABELS for url in job.urls[label] if url not in job.failed}
    assert {i["url"] for i in everything} == good
    for item in everything:
        assert item["url"] in job.urls[item["label"]] and item["original_label"] == item["label"]
        assert item["source"] and item["width"] > 0 and item["bytes"] > 0 and item["excluded"] is False
    by_url = world["by_url"]
    duplicates = images(client, job.job_id, state="duplicate")
    assert {i["url"]: i["duplicate_of"] for i in duplicates} == {
        near: by_url[original]["id"] for near, original in job.near.items()
    }
    assert all("unique" in i["flags"] for i in duplicates)
    for label in LABELS:
        kept = images(client, job.job_id, label=label, state="kept", limit=5)
        assert {i["url"] for i in kept} == {u for u in job.urls[label] if u in good and u not in job.near}
    assert images(client, job.job_id, state="invalid") == []
    assert summary(client, job.job_id) == {
        "job_id": job.job_id, "images": 20, "kept": {"cat": 8, "dog": 8}, "excluded": 0, "relabelled": 0,
        "duplicates": 4, "invalid": 0,
    }


def test_curation_excludes_moves_and_takes_back(api: Api, world: dict[str, Any]) -> None:
    client, job, by_url = world["client"], world["job"], world["by_url"]
    first, second = by_url[job.urls["cat"][2]], by_url[job.urls["cat"][3]]
    path = f"/jobs/{job.job_id}/images"

    excluded = client.patch(f"{path}/{first['id']}", json={"excluded": True})
    assert excluded.status_code == 200, excluded.text
    assert (excluded.json()["excluded"], excluded.json()["curated_by"]) == (True, world["owner"])
    assert excluded.json()["curated_at"] is not None
    assert client.get(f"{path}/{first['id']}").json()["excluded"] is True
    assert [i["id"] for i in images(client, job.job_id, state="excluded")] == [first["id"]]
    assert first["id"] not in {i["id"] for i in images(client, job.job_id, label="cat", state="kept")}

    moved = client.patch(f"{path}/{second['id']}", json={"label": "dog"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["label"], moved.json()["original_label"], moved.json()["curated_label"]) == ("dog", "cat", "dog")
    assert second["id"] in {i["id"] for i in images(client, job.job_id, label="dog")}
    assert second["id"] not in {i["id"] for i in images(client, job.job_id, label="cat")}
    assert [i["id"] for i in images(client, job.job_id, state="relabelled")] == [second["id"]]
    now = summary(client, job.job_id)
    assert (now["kept"], now["excluded"], now["relabelled"]) == ({"cat": 6, "dog": 9}, 1, 1)

    unknown = client.patch(f"{path}/{second['id']}", json={"label": "unicorn"})
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_label"
    assert "cat, dog" in unknown.json()["message"]
    for bad in ({}, {"excluded": None}, {"label": 5}, {"excluded": True, "other": 1}):
        answer = client.patch(f"{path}/{second['id']}", json=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert_error_shape(answer)
    not_json = client.patch(f"{path}/{second['id']}", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and error_code(not_json) == "json_invalid"
    other = api.as_user(new_user()).patch(f"{path}/{second['id']}", json={"excluded": True})
    assert other.status_code == 403 and error_code(other) == "not_owner"
    for missing in ("0" * 64, "not-an-id"):
        answer = client.patch(f"{path}/{missing}", json={"excluded": True})
        assert answer.status_code == 404 and error_code(answer) == "image_not_found"

    back = client.patch(f"{path}/{second['id']}", json={"label": None})
    assert (back.json()["label"], back.json()["curated_label"]) == ("cat", None)
    assert client.patch(f"{path}/{second['id']}", json={"label": "dog"}).json()["label"] == "dog"
    assert client.patch(f"{path}/{second['id']}", json={"label": "cat"}).json()["curated_label"] is None
    assert client.patch(f"{path}/{first['id']}", json={"excluded": False}).json()["excluded"] is False
    after = summary(client, job.job_id)
    assert (after["kept"], after["excluded"], after["relabelled"]) == ({"cat": 8, "dog": 8}, 0, 0)


async def test_thumbnails_are_small_jpegs_made_once_then_read_from_blob(
    api: Api, world: dict[str, Any], stack_storage: StorageContext
) -> None:
    client, job = world["client"], world["job"]
    for item in list(world["by_url"].values())[:4]:
        url = f"/jobs/{job.job_id}/images/{item['id']}/thumbnail"
        first = client.get(url)
        assert first.status_code == 200, first.text
        assert first.headers["content-type"].startswith("image/jpeg")
        assert "immutable" in first.headers["cache-control"]
        with Image.open(io.BytesIO(first.content)) as thumb:
            assert thumb.format == "JPEG"
            assert max(thumb.size) == min(THUMBNAIL_EDGE, max(item["width"], item["height"]))
        name = thumbnail_blob_name(job.job_id, item["id"])
        assert await stack_storage.blobs.get("images", name) == first.content
        # the second view reads the stored thumbnail: it returns whatever the blob holds now
        marker = first.content + b"\x00marker"
        await stack_storage.blobs.put("images", name, marker, "image/jpeg", overwrite=True)
        assert client.get(url).content == marker
        unchanged = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
    some = next(iter(world["by_url"].values()))["id"]
    other = api.as_user(new_user()).get(f"/jobs/{job.job_id}/images/{some}/thumbnail")
    assert other.status_code == 403 and error_code(other) == "not_owner"
    missing = client.get(f"/jobs/{job.job_id}/images/{'f' * 64}/thumbnail")
    assert missing.status_code == 404 and error_code(missing) == "image_not_found"
    forged = client.get(f"/jobs/{job.job_id}/images/..%2F..%2Fx/thumbnail")
    assert forged.status_code == 404
    assert_error_shape(forged)


def test_near_duplicate_groups_pair_each_copy_with_its_original(world: dict[str, Any]) -> None:
    client, job, by_url = world["client"], world["job"], world["by_url"]
    groups = list(iter_pages(client, f"/jobs/{job.job_id}/duplicates", limit=1))
    expected = {by_url[original]["id"]: [by_url[near]["id"]] for near, original in job.near.items()}
    assert {g["kept"]["id"]: [d["id"] for d in g["duplicates"]] for g in groups} == expected
    assert len(groups) == len(expected) and all(g["size"] == 1 for g in groups)
    assert all(g["kept"]["is_duplicate"] is False for g in groups)
    forged = client.get(f"/jobs/{job.job_id}/duplicates", params={"continuation": "zz"})
    assert forged.status_code == 422 and assert_error_shape(forged)["details"][0]["field"] == "continuation"


def test_failures_are_listed_with_their_urls_and_reasons(world: dict[str, Any]) -> None:
    client, job = world["client"], world["job"]
    failures = list(iter_pages(client, f"/jobs/{job.job_id}/failures", limit=1))
    assert {f["url"]: f["reason"] for f in failures} == job.failed
    for failure in failures:
        assert failure["url"] in job.urls[failure["label"]] and failure["run"] == 1 and failure["message"]
    only = list(iter_pages(client, f"/jobs/{job.job_id}/failures", reason="not_an_image"))
    assert {f["url"] for f in only} == {u for u, r in job.failed.items() if r == "not_an_image"}
    assert client.get(f"/jobs/{job.job_id}/failures", params={"reason": "bogus"}).status_code == 422
    forged = client.get(f"/jobs/{job.job_id}/failures", params={"continuation": "bm90IGEgdG9rZW4"})
    assert forged.status_code == 400 and error_code(forged) == "invalid_continuation"


def test_the_sdk_does_what_the_page_does(api: Api, world: dict[str, Any]) -> None:
    job = world["job"]
    token = issue_dev_token(world["owner"], secret=LOCAL_SECRET)
    with Client(token=token, base_url=api.base_url, max_retries=0) as sdk:
        everything = list(sdk.iter_images(job.job_id, page_size=7))
        assert {i.url for i in everything} == set(world["by_url"])
        assert len(sdk.list_images(job.job_id, label="dog", state="kept", limit=3)) == 3
        target = world["by_url"][job.urls["dog"][4]]["id"]
        assert sdk.exclude_image(job.job_id, target).excluded is True
        assert sdk.get_image(job.job_id, target).excluded is True
        assert sdk.curation_summary(job.job_id).excluded == 1
        assert sdk.include_image(job.job_id, target).excluded is False
        moved = sdk.relabel_image(job.job_id, target, "cat")
        assert (moved.label, moved.original_label) == ("cat", "dog")
        assert [i.id for i in sdk.iter_images(job.job_id, state="relabelled")] == [target]
        assert sdk.relabel_image(job.job_id, target, None).label == "dog"
        with Image.open(io.BytesIO(sdk.image_thumbnail(job.job_id, target))) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= THUMBNAIL_EDGE
        groups = list(sdk.iter_duplicate_groups(job.job_id, page_size=3))
        assert {g.duplicates[0].url for g in groups} == set(job.near)
        assert {f.url: f.reason for f in sdk.iter_failures(job.job_id)} == job.failed
        assert {f.url for f in sdk.iter_failures(job.job_id, reason="http_error")} == {
            u for u, r in job.failed.items() if r == "http_error"
        }
        stopped = sdk.create_job(name="retry me", sources=[{"type": "urls", "label": "x", "urls": ["http://127.0.0.1:9/a.png"]}])
        assert sdk.cancel_job(stopped.id).status == "cancelled"
        again = sdk.retry_job(stopped.id)
        assert (again.job_id, again.status) == (stopped.id, "running")
        sdk.cancel_job(stopped.id)


def test_a_dataset_packs_what_review_kept_under_the_labels_review_gave(world: dict[str, Any]) -> None:
    client, job, by_url = world["client"], world["job"], world["by_url"]
    out, moved = by_url[job.urls["cat"][5]], by_url[job.urls["dog"][6]]
    assert client.patch(f"/jobs/{job.job_id}/images/{out['id']}", json={"excluded": True}).status_code == 200
    assert client.patch(f"/jobs/{job.job_id}/images/{moved['id']}", json={"label": "cat"}).status_code == 200
    created = client.post("/datasets", json={"job_id": job.job_id, "name": "reviewed"})
    assert created.status_code == 202, created.text
    dataset_id = created.json()["id"]
    ready = wait_for(lambda: (d := client.get(f"/datasets/{dataset_id}").json())["status"] in ("ready", "failed") and d,
                     timeout=90, interval=0.3)
    assert ready["status"] == "ready", ready
    assert ready["counts"]["per_label"] == {"cat": 8, "dog": 7}
    link = client.get(f"/datasets/{dataset_id}/download").json()["url"]
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(link, timeout=60).content))
    manifest = {row["sha256"]: row for row in map(json.loads, archive.read("manifest.jsonl").decode().splitlines())}
    assert out["id"] not in manifest
    assert manifest[moved["id"]]["label"] == "cat"
    assert manifest[moved["id"]]["file"].startswith(f"{safe_label('cat')}/{moved['id']}.")
    assert not any(out["id"] in name for name in archive.namelist())
    facts = json.loads(archive.read("dataset.json"))
    assert (facts["skipped"]["excluded"], facts["relabelled"], facts["skipped"]["duplicate"]) == (1, 1, 4)
    assert "Reviewed before the build: 1 images excluded, 1 moved to another label" in archive.read("README.md").decode()
