"""bench/scale_model.py runs, and takes what the code fixes from the code."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def load():
    spec = importlib.util.spec_from_file_location("scale_model", ROOT / "bench" / "scale_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_model"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_prints_every_section(capsys) -> None:
    assert load().main(["--images", "20000", "--keywords", "4", "--instances", "1,8"]) == 0
    out = capsys.readouterr().out
    for heading in ("## Inputs", "## CPU per stored image on Azure", "## Work", "## Payloads",
                    "## Orchestration history", "## Cosmos DB request units", "## Storage transactions",
                    "## Wall time", "## Limits", "## Cost of the job at list prices"):
        assert heading in out
    fields = Settings.model_fields
    assert f"| batch_size | {fields['batch_size'].default} |" in out
    assert f"| chunk_history_limit | {fields['chunk_history_limit'].default} |" in out
    host = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]
    assert f"| maxConcurrentActivityFunctions | {host['maxConcurrentActivityFunctions']} |" in out


def test_model_arithmetic() -> None:
    sm = load()
    batch = Settings.model_fields["batch_size"].default
    inputs = sm.Inputs(
        images=1_000_000, keywords=100, sources=2, variations=1, success_rate=1.0,
        batch_size=batch, history_limit=20, parallel_chunks=16, activities_per_instance=8,
        durable_backend="azureManaged", per_instance_ips=25, per_activity_ips=25 / 8, instance_memory_mb=2048,
        avg_image_kb=256, block_size=8 * 2**20, shard_block=4 * 2**20, serverless=True, ru_per_write=None,
        devhost_cpu_ms=4.0, corpus_kb=56, check_us_per_kb=10, tls_handshake_ms=2, tls_ns_per_byte=1,
        handshakes_per_image=1, cpu_share=0.5, record_bytes=2048, blob_requests_per_image=0.1,
        cosmos_requests_per_image=0.05, validation_reads=2, validation_patches=1,
    )
    m = sm.model(inputs)
    assert m["chunks"] == 200
    assert m["batches"] == 200 * -(-5000 // batch)
    assert m["activities"] == 2 * m["batches"]
    assert m["ru_write"] == 6.29 and m["ru_read"] == 1.04  # a 2 KB record, published costs
    assert sm.interpolate(sm.WRITE_RU, 1) == 4.95 and sm.interpolate(sm.WRITE_RU, 0.2) == 4.95
    # A batch stores 50 images of 256 KB = 12.5 MiB: 4 blocks of 4 MiB, the block list, the metadata.
    assert m["shard_requests"] == 6
    assert m["job_bytes"] == 2048 * 1_000_000
    # 4 ms measured + 200 KB more to check at 10 us/KB + one 2 ms handshake + 512 KB over TLS at 1 ns/byte.
    assert abs(sum(inputs.azure_cpu_ms().values()) - (4 + 2 + 2 + 512 * 1024 / 1e6)) < 1e-9
    hours, rate, limit = sm.wall_time(inputs, m, 100)
    assert "chunks in flight" in limit and rate == 16 * 25 / 8
    assert m["sizes"]["DownloadBatch (activity input)"] > batch * 100  # candidates are in it
    dollars = {what: cost for what, _, cost, _ in sm.costs(inputs, m)}
    gb_s = 1_000_000 / 25 * 2
    assert abs(dollars["Functions execution time, GB-s (busy instance time x instance memory)"]
               - gb_s * sm.PRICES["flex_gb_s"].usd) < 1e-6
