"""The pixcrawler SDK and CLI against the live API on the devhost (Azurite, the Cosmos emulator
and the local demo sources): a crawl, a dataset built, downloaded (also resumed from a partial
file) and loaded; every error status mapped to its exception; the CLI's JSON, download, job
actions, validation and exit codes; every Python example of sdk/README.md as written; and, for
random labels, the manifest, the zip members and the stored records agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixcrawler
from pixcrawler import Client
from scripts.devtoken import LOCAL_SECRET
from scripts.stack import ROOT, DemoSources, Stack
from http_triggers._tokens import issue_dev_token
from shared.datasets import METADATA_MEMBERS, image_member, split_for
from shared.models import DEFAULT_SPLITS
from tests.integration.datasets._datasettest import stored_records

pytestmark = pytest.mark.e2e

LABELS = ["cat", "dog"]
#: Job starts per user per minute on this stack: the fourth start in a minute is a 429.
START_LIMIT = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A stack with both demo sources (cat, dog and bird: what the README's examples crawl)."""
    directory: Path = tmp_path_factory.mktemp("sdk-live")
    sources = DemoSources(labels=[*LABELS, "bird"], per_label=8, faults=[],
                          catalogue=ROOT / ".local" / "catalogue-tests")
    extra = {
        "PIXCRAWLER_DATASET_PART_IMAGES": "5",
        "PIXCRAWLER_RATE_LIMIT_START_PER_MINUTE": str(START_LIMIT),
    }
    with Stack(directory / "stack", port=None, extra_env=extra, sources=sources) as stack:
        yield {"stack": stack, "source": stack.source_processes["wikimedia"], "dir": directory}


def client_for(world: dict[str, Any], user: str, **options: Any) -> Client:
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    cache = world["dir"] / "cache" / user
    return Client(token=token, base_url=world["stack"].base_url, cache_dir=cache, **options)


def crawl(client: Client, **body: Any) -> str:
    job = client.create_job(name="sdk live", validation_level="fast", **body)
    client.start_job(job.id)
    final = client.wait_for_job(job.id, poll_interval=0.3, timeout=120)
    assert final.status == "completed", final
    return job.id


def expected_counts(records: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    return Counter(r["label"] for r in records), Counter(split_for(r["sha256"], DEFAULT_SPLITS) for r in records)


@pytest.fixture(scope="module")
def built(world: dict[str, Any]) -> dict[str, Any]:
    """A crawl of the demo source and its dataset, through the SDK."""
    user = f"sdk-{uuid.uuid4().hex[:8]}"
    with client_for(world, user) as client:
        job_id = crawl(client, keywords=LABELS, sources=["wikimedia"], max_images_per_keyword=8)
        info = client.create_dataset(job_id, "pets")
        assert info.status == "pending"
        info = client.wait_for_dataset(info.id, poll_interval=0.3, timeout=120)
    return {"user": user, "job_id": job_id, "info": info}


def test_a_crawl_becomes_a_dataset_whose_counts_match_the_stored_records(
    world: dict[str, Any], built: dict[str, Any], tmp_path: Path
) -> None:
    info = built["info"]
    assert info.is_ready, info
    per_label, per_split = expected_counts(stored_records(world["stack"].env, built["job_id"]))
    assert set(per_label) == set(LABELS)
    assert info.counts.per_label == dict(per_label)
    assert info.counts.per_split == {name: per_split[name] for name in DEFAULT_SPLITS}

    with client_for(world, built["user"]) as client:
        assert info.id in [d.id for d in client.iter_datasets()]
        path = client.download_dataset(info.id, tmp_path / "pets.zip", progress=False)
        assert path == tmp_path / "pets.zip"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
        with client.load_dataset(info.id, progress=False) as ds:
            assert len(ds) == info.counts.total
            assert Counter(item.label for item in ds) == per_label
            assert ds.splits == {name: n for name, n in per_split.items() if n}
            assert ds.labels == sorted(LABELS)
            assert ds[0].image().size[0] > 0


def test_a_download_cut_mid_file_resumes_from_the_bytes_on_disk(
    world: dict[str, Any], built: dict[str, Any], tmp_path: Path
) -> None:
    info = built["info"]
    with client_for(world, built["user"]) as client:
        link = client.get_download_info(info.id)
        half = link.size_bytes // 2
        partial = httpx.get(link.url, headers={"Range": f"bytes=0-{half - 1}"})
        assert partial.status_code == 206 and len(partial.content) == half

        target = tmp_path / "pets.zip"
        (tmp_path / "pets.zip.part").write_bytes(partial.content)
        client.download_dataset(info.id, target, progress=False)
        assert hashlib.sha256(target.read_bytes()).hexdigest() == info.sha256
        assert not (tmp_path / "pets.zip.part").exists()

        # The bytes on disk are kept, not fetched again: a corrupted head fails verification.
        tampered = tmp_path / "tampered.zip"
        (tmp_path / "tampered.zip.part").write_bytes(b"\0" * half)
        with pytest.raises(pixcrawler.IntegrityError, match="sha256"):
            client.download_dataset(info.id, tampered, progress=False)
        assert not tampered.exists() and not (tmp_path / "tampered.zip.part").exists()


def test_every_error_status_is_its_exception(world: dict[str, Any], built: dict[str, Any]) -> None:
    stack: Stack = world["stack"]
    with Client(token="not-a-token", base_url=stack.base_url, max_retries=0) as stranger:
        with pytest.raises(pixcrawler.AuthenticationError) as unauthenticated:
            stranger.get_dataset(built["info"].id)
    assert unauthenticated.value.status_code == 401
    with client_for(world, "sdk-other", max_retries=0) as other:
        with pytest.raises(pixcrawler.AuthenticationError) as forbidden:
            other.get_dataset(built["info"].id)
        assert forbidden.value.status_code == 403
        with pytest.raises(pixcrawler.NotFoundError) as missing:
            other.get_dataset(uuid.uuid4().hex)
        assert missing.value.status_code == 404 and missing.value.request_id
        with pytest.raises(pixcrawler.ValidationError) as invalid:
            other.create_dataset(built["job_id"], "x", splits={"train": 0.7})
        assert invalid.value.status_code == 422
        assert invalid.value.details[0]["field"] == "splits"


def test_the_start_rate_limit_is_a_rate_limit_error_with_its_wait(world: dict[str, Any]) -> None:
    with client_for(world, f"sdk-busy-{uuid.uuid4().hex[:6]}", max_retries=0) as client:
        job = client.create_job(name="busy", keywords=["cat"], sources=["wikimedia"],
                                max_images_per_keyword=1, validation_level="fast")
        for _ in range(START_LIMIT):
            client.start_job(job.id)  # a running job answers its task ids again
        with pytest.raises(pixcrawler.RateLimitError) as limited:
            client.start_job(job.id)
    assert limited.value.status_code == 429
    assert limited.value.retry_after is not None and limited.value.retry_after > 0


def cli(world: dict[str, Any], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    token = issue_dev_token(user, secret=LOCAL_SECRET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXCRAWLER_")}
    env["PIXCRAWLER_CONFIG"] = str(world["dir"] / "no-config.json")
    return subprocess.run(
        [sys.executable, "-m", "pixcrawler", "--base-url", world["stack"].base_url, "--token", token, *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_the_cli_lists_downloads_and_exits_4_on_an_unknown_id(
    world: dict[str, Any], built: dict[str, Any], tmp_path: Path
) -> None:
    info = built["info"]
    listed = cli(world, built["user"], "datasets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(d for d in json.loads(listed.stdout) if d["id"] == info.id)
    assert (row["status"], row["counts"]["total"], row["sha256"]) == ("ready", info.counts.total, info.sha256)

    fetched = cli(world, built["user"], "datasets", "download", info.id, "--out", str(tmp_path / "pets.zip"), "--json")
    assert fetched.returncode == 0, fetched.stderr
    path = Path(json.loads(fetched.stdout)["path"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256

    unknown = cli(world, built["user"], "datasets", "download", "no-such-dataset", "--out", str(tmp_path), "--json")
    assert unknown.returncode == 4
    assert json.loads(unknown.stderr)["error"]["type"] == "NotFoundError"


@st.composite
def label_sets(draw: st.DrawFn) -> list[str]:
    """1-3 distinct labels with slashes, dots, '..', unicode and spaces."""
    piece = st.sampled_from(["..", ".", "/", "a", "Zoë", "猫", " ", "x.y", "CON", "\\"])
    label = st.lists(piece, min_size=1, max_size=5).map("".join).filter(lambda s: s.strip())
    return draw(st.lists(label, min_size=1, max_size=3, unique_by=lambda s: s.strip()))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=label_sets())
def test_manifest_zip_members_and_records_agree_for_any_labels(world: dict[str, Any], labels: list[str]) -> None:
    catalogue = [e for e in world["source"].get("/_demo/catalogue")["items"] if e["kind"] == "ok"]
    sources = [
        {"type": "urls", "label": label, "urls": [e["url"] for e in catalogue[2 * i : 2 * i + 2]]}
        for i, label in enumerate(labels)
    ]
    with client_for(world, f"sdk-prop-{uuid.uuid4().hex[:8]}") as client:
        job_id = crawl(client, sources=sources)
        info = client.wait_for_dataset(client.create_dataset(job_id, "labels").id, poll_interval=0.3, timeout=120)
        assert info.is_ready, info
        records = stored_records(world["stack"].env, job_id)
        with client.load_dataset(info.id, progress=False) as ds:
            names = set(zipfile.ZipFile(ds.path).namelist())
            manifest = {(item.file, item.label, item.split, item.sha256) for item in ds}
    ext = {"png": "png", "jpeg": "jpg"}
    assert {r["label"] for r in records} == {label.strip() for label in labels}
    assert manifest == {
        (image_member(r["label"], r["sha256"], ext[r["format"]]), r["label"],
         split_for(r["sha256"], DEFAULT_SPLITS), r["sha256"])
        for r in records
    }  # fmt: skip
    assert names == {file for file, *_ in manifest} | set(METADATA_MEMBERS)
    assert all(not name.startswith(("/", "..")) and "/../" not in name for name in names)


# --- the CLI drives any job ------------------------------------------------------------------


def test_the_cli_starts_cancels_retries_resumes_and_validates_jobs_made_by_the_api(world: dict[str, Any]) -> None:
    user = f"sdk-cli-{uuid.uuid4().hex[:8]}"
    with client_for(world, user) as client:
        a, b, c = (client.create_job(name=name, keywords=["bird"], sources=["wikimedia", "openverse"],
                                     max_images_per_keyword=4, validation_level="fast") for name in "abc")

    def act(*args: str) -> dict[str, Any]:
        done = cli(world, user, "--json", *args)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def finished(job_id: str) -> str:
        return str(act("jobs", "wait", job_id, "--poll-interval", "0.3", "--timeout", "120")["status"])

    assert act("jobs", "start", a.id)["total_chunks"] == 2
    assert finished(a.id) == "completed"
    progress = act("jobs", "progress", a.id)
    assert (progress["progress"], progress["stored_images"]) == (100, 8)
    logs = act("jobs", "logs", a.id)
    assert {(ch["query"], ch["source"], ch["status"]) for ch in logs["chunks"]} == {
        ("bird", "wikimedia", "completed"), ("bird", "openverse", "completed")}

    assert act("jobs", "cancel", b.id)["status"] == "cancelled"  # a pending job
    assert act("jobs", "retry", b.id)["status"] == "running"
    assert finished(b.id) == "completed"
    assert act("jobs", "cancel", c.id)["status"] == "cancelled"
    assert act("jobs", "resume", c.id)["status"] == "running"
    assert finished(c.id) == "completed"
    again = cli(world, user, "jobs", "cancel", c.id)
    assert again.returncode == 1 and "Cannot cancel job with status: completed" in again.stderr

    started = act("validate", a.id)  # no --level: the service's default
    assert (started["job_id"], started["validation_level"], started["images_count"]) == (a.id, "medium", 8)
    slow = cli(world, user, "validate", a.id, "--level", "slow")
    assert slow.returncode == 0 and f"pixcrawler jobs progress {a.id}" in slow.stdout
    shown = cli(world, user, "jobs", "progress", a.id)
    assert shown.returncode == 0 and "  validation " in shown.stdout and "8 stored" in shown.stdout
    assert cli(world, user, "validate", a.id, "--level", "ultra").returncode == 2
    assert cli(world, user, "jobs", "start", "0123456789abcdef").returncode == 4


# --- every Python example of sdk/README.md, as written --------------------------------------

SDK_README = ROOT / "sdk" / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", SDK_README.read_text(), re.S)


@pytest.fixture(scope="module")
def readme_user(world: dict[str, Any]) -> dict[str, str]:
    """A user with an API key and a ready dataset: what the examples' pxc_... and ds_123 are."""
    with client_for(world, f"sdk-readme-{uuid.uuid4().hex[:8]}") as client:
        key = client.create_api_key("readme").key
        job_id = crawl(client, keywords=LABELS, sources=["wikimedia", "openverse"], max_images_per_keyword=6)
        info = client.wait_for_dataset(client.create_dataset(job_id, "pets").id, poll_interval=0.3, timeout=120)
    assert info.is_ready, info
    return {"key": key, "dataset": info.id}


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_python_example_of_the_sdk_readme_runs(world: dict[str, Any], readme_user: dict[str, str],
                                                    code: str, tmp_path: Path) -> None:
    """Each block in its own interpreter, after `pixcrawler login` (a saved key and URL). A block
    that exports its own variables (``# export NAME="..."``) gets those instead of the key."""
    base_url = world["stack"].base_url
    for placeholder, real in (("pxc_...", readme_user["key"]), ("ds_123", readme_user["dataset"]),
                              ("http://127.0.0.1:7071/api/v1", base_url)):
        code = code.replace(placeholder, real)
    exported = dict(re.findall(r'^# export (\w+)="([^"]*)"$', code, re.M))
    login = {"base_url": base_url} if exported else {"base_url": base_url, "api_key": readme_user["key"]}
    (tmp_path / "config.json").write_text(json.dumps(login))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXCRAWLER_", "SERVICE_"))}
    env.update(exported, PIXCRAWLER_CONFIG=str(tmp_path / "config.json"), PIXCRAWLER_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip(), "every example shows something"
    assert "check your API key" not in run.stdout and "cannot reach" not in run.stdout
