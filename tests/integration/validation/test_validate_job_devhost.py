"""validate_job on a devhost, with one wave per history: the near-duplicate stages and the
batches continue as new again and again, the flags come out right, and no history holds a
record id (only stage, map, partition and batch numbers and counts)."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.corpus import Corpus
from scripts.devtoken import LOCAL_SECRET
from scripts.stack import Stack
from http_triggers._tokens import issue_dev_token
from shared.settings import Settings
from shared.storage import StorageContext

from .conftest import store_corpus
from .test_validation_levels import expected_keepers, records_of

pytestmark = pytest.mark.integration

ENV = {
    "PIXCRAWLER_VALIDATION_WAVES_PER_HISTORY": "1",
    "PIXCRAWLER_VALIDATION_PARALLEL": "2",
    "PIXCRAWLER_VALIDATION_BATCH_SIZE": "16",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("validate-devhost"), port=None, extra_env=ENV) as running:
        yield running


def wait_done(stack: Stack, instance_id: str, timeout: float = 240) -> dict[str, Any]:
    assert stack.devhost is not None
    url = f"{stack.devhost.url}/runtime/webhooks/durabletask/instances/{instance_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(url).json()
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"{instance_id} did not finish: {status}")


async def test_stages_continue_as_new_and_history_holds_no_ids(stack: Stack, corpus: Corpus) -> None:
    token = issue_dev_token("validator", secret=LOCAL_SECRET)
    api = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    job_id = api.post("/jobs", json={"name": "v", "keywords": ["cat"], "sources": ["wikimedia"]}).json()["id"]
    settings = Settings(**{  # the stack's emulators, not the session's
        "cosmos_endpoint": stack.env["PIXCRAWLER_COSMOS_ENDPOINT"],
        "cosmos_key": stack.env["PIXCRAWLER_COSMOS_KEY"], "cosmos_verify_tls": False,
        "blob_connection_string": stack.env["PIXCRAWLER_BLOB_CONNECTION_STRING"],
    })  # type: ignore[arg-type]
    async with StorageContext(settings) as storage:
        job = await store_corpus(storage, corpus, job_id=job_id, user_id="validator")
        started = api.post(f"/validation/job/{job_id}", json={"level": "medium"})
        assert started.status_code == 200, started.text
        status = wait_done(stack, f"{job_id}:validate")
        records = await records_of(storage, job_id)
        leftovers = [b.name async for b in storage.blobs.list("images", f"{job_id}/dedupe/")]

    expected = expected_keepers(job, records)
    assert status["runtimeStatus"] == "Completed", status
    assert {i: r.duplicate_of for i, r in records.items()} == expected
    duplicates = sum(keeper is not None for keeper in expected.values())
    assert (status["output"]["duplicates"], status["output"]["changed"]) == (duplicates, duplicates)
    assert leftovers == []

    assert stack.devhost is not None
    db = sqlite3.connect(f"file:{Path(stack.devhost.state)}?mode=ro", uri=True)
    gen, payload = db.execute("SELECT gen, input FROM instances WHERE id=?", (f"{job_id}:validate",)).fetchone()
    history = [json.loads(e) for (e,) in db.execute(
        "SELECT event FROM history WHERE instance_id=? ORDER BY seq", (f"{job_id}:validate",))]
    db.close()
    # one wave per generation: the five dedupe stages (one map, one partition: one wave each),
    # then the batches of 16 records, two at a time
    waves = 5 + math.ceil(math.ceil(len(records) / 16) / 2)
    assert gen == waves - 1
    assert len(history) <= 20  # one wave of two activities, their signals, the end
    text = payload + json.dumps(history)
    assert not [record_id for record_id in records if record_id in text]
