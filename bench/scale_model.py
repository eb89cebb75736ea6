"""Cost and scale model of one large PixCrawler job (default: 1,000,000 stored images).

Everything that the code fixes is read from the code: the batch size, history limit and
parallel chunks are ``shared.settings.Settings`` defaults, the per-instance activity limit and
durable backend come from ``host.json``, the dataset block size from ``shared.datasets``, and the
payload sizes are the JSON of real ``shared.models`` objects (a DownloadBatch of ``batch_size``
candidates, a BatchResult, an ImageRecord). What the code cannot know (how many images an
instance processes per second, how many candidates survive) are flags, so benchmark figures can
be plugged in later::

    python bench/scale_model.py                          # the tables in docs/scale.md
    python bench/scale_model.py --per-instance-ips 40    # a measured images/s per instance
    python bench/scale_model.py --parallel-chunks 200 --success-rate 0.6
    python bench/scale_model.py --cosmos-endpoint https://127.0.0.1:8081/ --cosmos-key ...

Cosmos request units are computed from document sizes with the published costs (see
``RU_SOURCE``); with ``--cosmos-endpoint`` the model writes one ImageRecord to that account and
uses its ``x-ms-request-charge`` when the service reports one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.models import (  # noqa: E402
    BatchResult, Candidate, DownloadBatch, ImageFormat, ImageRecord, Level, Origin, SearchPage,
    ValidationRules, ValidationSummary,
)
from shared.settings import Settings  # noqa: E402

RU_SOURCE = "https://learn.microsoft.com/azure/cosmos-db/understand-request-unit-consumption"
#: Published RU cost by document size (KB): write (default indexing) and point read.
WRITE_RU = [(1, 4.95), (2, 6.29), (4, 6.67), (8, 7.04), (16, 9.52), (32, 11.23), (64, 22.67),
            (128, 48.19), (256, 98.29), (512, 184.57), (1024, 625.0), (2048, 1250.0)]
READ_RU = [(1, 1.00), (2, 1.04), (4, 1.14), (8, 1.33), (16, 1.67), (32, 2.19), (64, 4.76),
           (128, 9.95), (256, 20.28), (512, 40.95), (1024, 145.90), (2048, 291.80)]
#: System properties Cosmos adds to every stored document (_rid, _self, _etag, _attachments, _ts).
COSMOS_SYSTEM_BYTES = 160
#: Durable Functions (Azure Storage provider) moves a message larger than this to a blob.
DURABLE_LARGE_MESSAGE = 45 * 1024
#: Serverless container throughput while under 250 GB; a logical partition's provisioned ceiling.
SERVERLESS_RU_S = 5_000
PARTITION_RU_S = 10_000
#: Default request-rate target of a standard storage account (higher in some regions).
STORAGE_REQUESTS_S = 20_000
#: History events of one crawl_chunk batch: discover (TaskScheduled + TaskCompleted),
#: download_batch (the same), two entity signals (EventSent), and the two episodes the two awaits
#: cause (OrchestratorStarted + OrchestratorCompleted each).
EVENTS_PER_BATCH = 2 + 2 + 2 + 4
#: Per generation: ExecutionStarted, the first episode's Started/Completed, ContinueAsNew.
EVENTS_PER_GENERATION = 4
#: Storage transactions the Azure Storage provider spends per activity (enqueue, dequeue, delete
#: the work item; the same for the result on a control queue; one history batch write; one
#: instance-table update) and per entity signal (enqueue, dequeue, delete; one state write).
STORAGE_TX_PER_ACTIVITY = 8
STORAGE_TX_PER_SIGNAL = 4


def host_json() -> dict[str, Any]:
    return json.loads((ROOT / "host.json").read_text())


def dataset_block_size() -> int:
    try:
        from shared.datasets import DEFAULT_BLOCK_SIZE
        return int(DEFAULT_BLOCK_SIZE)
    except ImportError:  # the archive writer is optional for this model
        return 8 * 1024 * 1024


def interpolate(table: list[tuple[float, float]], kb: float) -> float:
    """RU for a document of ``kb`` KB, linear between the published sizes (1 KB minimum)."""
    kb = max(kb, table[0][0])
    i = bisect_left([k for k, _ in table], kb)
    if i >= len(table):
        (k0, r0), (k1, r1) = table[-2], table[-1]
    elif table[i][0] == kb:
        return table[i][1]
    else:
        (k0, r0), (k1, r1) = table[i - 1], table[i]
    return r0 + (r1 - r0) * (kb - k0) / (k1 - k0)


# ------------------------------------------------------------------------------------------
# Realistic payloads, built from the app's own models
# ------------------------------------------------------------------------------------------

JOB_ID = "3f2b8c1e-7d4a-4b9e-9c61-2a5f0e8d7b14"
USER_ID = "9b0c6f1a-55e2-4e0b-a7f3-0d1c2b3a4e5f"
CHUNK_ID = "c" + "5e1d3a9b7c2f4e60"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def candidate(i: int) -> Candidate:
    h = sha(i)
    return Candidate(
        url=f"https://upload.wikimedia.org/wikipedia/commons/{h[0]}/{h[:2]}/Golden_Retriever_{h[:12]}.jpg",
        page_url=f"https://commons.wikimedia.org/wiki/File:Golden_Retriever_{h[:12]}.jpg",
        title=f"Golden retriever lying on the grass in a park ({h[:6]})",
        width=4032,
        height=3024,
        license="CC BY-SA 4.0",
        attribution="Photographer Name, via Wikimedia Commons",
        source="wikimedia",
    )


def build(model: type, **values: Any) -> Any:
    """Instantiate ``model``, filling required scalar fields this model does not know yet."""
    for name, field in model.model_fields.items():
        if name in values or not field.is_required():
            continue
        if field.annotation is str:
            values[name] = "x" * 16
        elif field.annotation in (int, float):
            values[name] = 0
        elif field.annotation is bool:
            values[name] = False
    return model(**values)


def download_batch(batch_size: int) -> DownloadBatch:
    return build(
        DownloadBatch, job_id=JOB_ID, user_id=USER_ID, chunk_id=CHUNK_ID,
        batch_id=f"{CHUNK_ID}:17", seq=17, label="golden retriever", rules=ValidationRules(),
        candidates=[candidate(i) for i in range(batch_size)],
    )


def search_page(batch_size: int) -> SearchPage:
    return build(SearchPage, candidates=[candidate(i) for i in range(batch_size)], next_offset=900)


def batch_result(batch_size: int, success_rate: float) -> BatchResult:
    valid = round(batch_size * success_rate)
    return build(
        BatchResult, batch_id=f"{CHUNK_ID}:17", chunk_id=CHUNK_ID, seq=17,
        attempted=batch_size, downloaded=valid + 2, valid=valid, duplicates=1,
        failed={"http_error": 2, "too_small": batch_size - valid - 3} if batch_size - valid > 3 else {},
        bytes=valid * 250_000, stored=[sha(i) for i in range(valid)],
    )


def image_record() -> ImageRecord:
    h = sha(1)
    c = candidate(1)
    return build(
        ImageRecord, id=h, job_id=JOB_ID, user_id=USER_ID, label="golden retriever",
        source="wikimedia", url=c.url, page_url=c.page_url, title=c.title, license=c.license,
        attribution=c.attribution, width=4032, height=3024, format=ImageFormat.jpeg,
        content_type="image/jpeg", bytes=2_481_337,
        blob_name=f"images/{JOB_ID}/{h}.jpg", sha256=h, phash="c3a5961e0f3c7b81", mode="RGB",
        exif_orientation=1, chunk_id=CHUNK_ID, origin=Origin(batch_id=f"{CHUNK_ID}:17", url=c.url),
        validation=ValidationSummary(
            level=Level.medium,
            checks={"decodes": True, "format": True, "min_size": True, "pixels": True,
                    "not_duplicate": True, "quality": True},
            scores={"blur": 312.5, "exposure": 0.48, "entropy": 7.21},
            validated_at=NOW,
        ),
        created_at=NOW,
    )


def size(model: Any) -> int:
    return len(model.model_dump_json().encode())


def measure_cosmos_charge(endpoint: str, key: str, doc: dict[str, Any]) -> float | None:
    """Upsert ``doc`` into a scratch container and return x-ms-request-charge, or None."""
    try:
        from azure.cosmos import CosmosClient, PartitionKey
        client = CosmosClient(endpoint, credential=key, connection_verify=False)
        db = client.create_database_if_not_exists("pixcrawler-scale-model")
        container = db.create_container_if_not_exists("images", PartitionKey("/job_id"))
        container.upsert_item(doc)
        charge = container.client_connection.last_response_headers.get("x-ms-request-charge")
        db.client_connection.DeleteDatabase(db.database_link)
        return float(charge) if charge else None
    except Exception as exc:  # an emulator that is not running, or one without charges
        print(f"(no request charge from {endpoint}: {exc.__class__.__name__}; computing)",
              file=sys.stderr)
        return None


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    images: int
    keywords: int
    sources: int
    variations: int
    success_rate: float
    batch_size: int
    history_limit: int
    parallel_chunks: int
    activities_per_instance: int
    durable_backend: str
    per_instance_ips: float
    per_activity_ips: float
    instance_memory_mb: int
    avg_image_kb: float
    block_size: int
    serverless: bool
    ru_per_write: float | None


def model(i: Inputs) -> dict[str, Any]:
    chunks = i.keywords * i.sources * i.variations
    quota = math.ceil(i.images / chunks)
    candidates_per_chunk = math.ceil(quota / i.success_rate)
    batches_per_chunk = math.ceil(candidates_per_chunk / i.batch_size)
    generations = math.ceil(batches_per_chunk / i.history_limit)
    batches = chunks * batches_per_chunk
    downloaded = chunks * candidates_per_chunk

    dl, page = download_batch(i.batch_size), search_page(i.batch_size)
    result, record = batch_result(i.batch_size, i.success_rate), image_record()
    sizes = {
        "DownloadBatch (activity input)": size(dl),
        "SearchPage (discover output)": size(page),
        "BatchResult (activity output, signal input)": size(result),
        "ImageRecord (Cosmos document)": size(record) + COSMOS_SYSTEM_BYTES,
    }
    record_kb = sizes["ImageRecord (Cosmos document)"] / 1024
    ru_write = i.ru_per_write or interpolate(WRITE_RU, record_kb)
    ru_read = interpolate(READ_RU, record_kb)

    # History of one crawl_chunk generation (continue_as_new after history_limit batches).
    per_batch_payload = size(dl) + size(page) + size(result) * 2 + 600  # + checkpoint signal
    gen_events = EVENTS_PER_BATCH * i.history_limit + EVENTS_PER_GENERATION
    gen_bytes = per_batch_payload * i.history_limit
    # Every episode replays the history so far: 2 episodes per batch.
    episodes = 2 * i.history_limit
    replay_bytes = sum(gen_bytes * e / episodes for e in range(1, episodes + 1))
    whole_events = EVENTS_PER_BATCH * batches_per_chunk + EVENTS_PER_GENERATION
    whole_bytes = per_batch_payload * batches_per_chunk
    whole_replay = sum(whole_bytes * e / (2 * batches_per_chunk)
                       for e in range(1, 2 * batches_per_chunk + 1))

    activities = 2 * batches
    signals = 2 * batches
    images_kb = i.avg_image_kb * i.images
    dataset_bytes = images_kb * 1024
    storage_tx = {
        "image blob writes (Put Blob)": i.images,
        "task hub (activities)": activities * STORAGE_TX_PER_ACTIVITY,
        "task hub (entity signals)": signals * STORAGE_TX_PER_SIGNAL,
        "dataset build: image reads": i.images,
        "dataset build: staged blocks + commit": math.ceil(dataset_bytes / i.block_size) + 1,
    }
    cosmos = {
        "image record writes": i.images * ru_write,
        "validation pass (read every record)": i.images * ru_read,
        "duplicate flags (patch ~5% of records)": 0.05 * i.images * ru_write,
        "dataset build (read every record)": i.images * ru_read,
    }
    return {
        "chunks": chunks, "quota": quota, "candidates_per_chunk": candidates_per_chunk,
        "batches_per_chunk": batches_per_chunk, "generations": generations, "batches": batches,
        "downloaded": downloaded, "activities": activities, "signals": signals,
        "orchestrations": 1 + chunks * generations, "sizes": sizes, "ru_write": ru_write,
        "ru_read": ru_read, "gen_events": gen_events, "gen_bytes": gen_bytes,
        "replay_bytes": replay_bytes, "whole_events": whole_events, "whole_bytes": whole_bytes,
        "whole_replay": whole_replay,
        "storage_tx": storage_tx, "cosmos": cosmos, "dataset_bytes": dataset_bytes,
    }


def wall_time(i: Inputs, m: dict[str, Any], instances: int) -> tuple[float, float, str]:
    """(hours, images/s, the binding limit) at ``instances`` instances."""
    per_activity = i.per_activity_ips
    in_flight = min(m["chunks"], i.parallel_chunks)  # one batch in flight per running chunk
    cosmos_rus = SERVERLESS_RU_S if i.serverless else PARTITION_RU_S
    tx_per_image = (sum(v for k, v in m["storage_tx"].items() if "dataset" not in k)) / i.images
    limits = {
        f"instances: {instances} x {i.per_instance_ips:g} img/s": instances * i.per_instance_ips,
        f"{in_flight} chunks in flight": in_flight * per_activity,
        f"Cosmos {cosmos_rus} RU/s on one job partition": cosmos_rus / m["ru_write"],
        f"storage {STORAGE_REQUESTS_S} req/s": STORAGE_REQUESTS_S / tx_per_image,
    }
    name, rate = min(limits.items(), key=lambda kv: kv[1])
    return i.images / rate / 3600, rate, name


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def n(x: float) -> str:
    if isinstance(x, int) or float(x).is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.2f}"


def per_image_rows(costs: dict[str, float], images: int) -> list[list[str]]:
    """One row per cost (whole job, per stored image) and a bold total."""
    rows = [[k, n(v), f"{v / images:.2f}"] for k, v in costs.items()]
    total = sum(costs.values())
    return rows + [["**total**", f"**{n(total)}**", f"**{total / images:.2f}**"]]


def report(i: Inputs, m: dict[str, Any], instances: list[int]) -> str:
    out = []
    out.append("## Inputs\n\n" + table(["input", "value", "from"], [
        ["stored images", n(i.images), "--images"],
        ["chunks = keywords x variations x sources",
         f"{i.keywords} x {i.variations} x {i.sources} = {m['chunks']}", "--keywords/--variations/--sources"],
        ["candidates that become stored images", f"{i.success_rate:.0%}", "--success-rate"],
        ["batch_size", i.batch_size, "Settings default (PIXCRAWLER_BATCH_SIZE)"],
        ["chunk_history_limit", i.history_limit, "Settings default"],
        ["max_parallel_chunks", i.parallel_chunks, "Settings default or --parallel-chunks"],
        ["maxConcurrentActivityFunctions", i.activities_per_instance, "host.json"],
        ["durable backend", i.durable_backend, "host.json storageProvider.type (azureManaged = Durable Task Scheduler)"],
        ["images/s per instance", f"{i.per_instance_ips:g}", "--per-instance-ips (benchmark)"],
        ["images/s per download batch", f"{i.per_activity_ips:g}",
         "--per-activity-ips (default: per instance / maxConcurrentActivityFunctions)"],
        ["instance memory", f"{i.instance_memory_mb} MB", "--instance-memory-mb (infra default)"],
        ["average image size", f"{i.avg_image_kb:g} KB", "--avg-image-kb"],
        ["dataset block size", f"{i.block_size // (1024 * 1024)} MiB", "shared.datasets"],
    ]))
    out.append("## Work\n\n" + table(["quantity", "per chunk", "whole job"], [
        ["stored images (quota)", n(m["quota"]), n(i.images)],
        ["candidates downloaded", n(m["candidates_per_chunk"]), n(m["downloaded"])],
        ["download batches", n(m["batches_per_chunk"]), n(m["batches"])],
        ["activity executions (discover + download_batch)", n(2 * m["batches_per_chunk"]), n(m["activities"])],
        ["entity signals (job_progress + checkpoint)", n(2 * m["batches_per_chunk"]), n(m["signals"])],
        ["crawl_chunk generations (continue_as_new)", n(m["generations"]), n(m["chunks"] * m["generations"])],
        ["orchestration executions (crawl_job + generations)", "", n(m["orchestrations"])],
        ["busy instance time (images / images/s per instance)", "",
         f"{i.images / i.per_instance_ips / 3600:,.1f} instance-hours = "
         f"{i.images / i.per_instance_ips * i.instance_memory_mb / 1024:,.0f} GB-s"],
    ]))
    rows = []
    for name, b in m["sizes"].items():
        flag = "spills to blob" if b > DURABLE_LARGE_MESSAGE else "inline"
        rows.append([name, n(b), f"{b / 1024:.1f}", flag if "Cosmos" not in name else "-"])
    out.append("## Payloads (JSON of real shared.models objects)\n\n" + table(
        ["payload", "bytes", "KB", f"durable message (> {DURABLE_LARGE_MESSAGE // 1024} KB spills)"], rows))
    out.append("## Orchestration history per crawl_chunk\n\n" + table(
        ["", "events", "history KB", "bytes replayed (all episodes)"], [
            [f"one generation ({i.history_limit} batches, continue_as_new)", n(m["gen_events"]),
             n(m["gen_bytes"] / 1024), f"{m['replay_bytes'] / 2**20:,.1f} MiB"],
            [f"whole chunk in one history ({m['batches_per_chunk']} batches)", n(m["whole_events"]),
             n(m["whole_bytes"] / 1024),
             f"{m['whole_replay'] / 2**20:,.1f} MiB"],
            [f"chunk total with continue_as_new ({m['generations']} generations)",
             n(m["gen_events"] * m["generations"]), n(m["gen_bytes"] * m["generations"] / 1024),
             f"{m['replay_bytes'] * m['generations'] / 2**20:,.1f} MiB"],
        ]))
    out.append(
        f"## Cosmos DB request units\n\nImageRecord ~{m['sizes']['ImageRecord (Cosmos document)']} bytes "
        f"stored: {m['ru_write']:.2f} RU per write, {m['ru_read']:.2f} RU per point read "
        f"(published costs, default indexing: {RU_SOURCE}).\n\n"
        + table(["operation", "RU (whole job)", "RU per stored image"],
                per_image_rows(m["cosmos"], i.images)))
    out.append(
        f"## Storage transactions\n\nImages stored: {m['dataset_bytes'] / 2**30:,.0f} GiB; "
        f"one dataset archive of all of them: the same again.\n\n"
        + table(["operation", "transactions", "per stored image"],
                per_image_rows(m["storage_tx"], i.images)))
    for parallel in dict.fromkeys([i.parallel_chunks, m["chunks"]]):
        alt = Inputs(**{**i.__dict__, "parallel_chunks": parallel})
        rows = []
        for count in instances:
            hours, rate, limit = wall_time(alt, m, count)
            rows.append([count, n(rate), f"{hours:,.1f}", limit])
        out.append(
            f"## Wall time of the crawl at N instances (max_parallel_chunks = {parallel})\n\n"
            + table(["instances", "images/s", "hours", "binding limit"], rows))
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    fields = Settings.model_fields
    durable = host_json()["extensions"]["durableTask"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1_000_000)
    p.add_argument("--keywords", type=int, default=100)
    p.add_argument("--sources", type=int, default=2)
    p.add_argument("--variations", type=int, default=1)
    p.add_argument("--success-rate", type=float, default=0.8,
                   help="share of downloaded candidates that become stored images")
    p.add_argument("--per-instance-ips", type=float, default=25.0,
                   help="images/s one instance downloads, validates and stores (benchmark figure)")
    p.add_argument("--per-activity-ips", type=float, default=None,
                   help="images/s of one download batch (default: per instance / activities per instance)")
    p.add_argument("--instance-memory-mb", type=int, default=2048)
    p.add_argument("--parallel-chunks", type=int, default=fields["max_parallel_chunks"].default)
    p.add_argument("--instances", default="1,2,4,8,16,32,64,100",
                   help="comma-separated instance counts for the wall-time table")
    p.add_argument("--avg-image-kb", type=float, default=250.0)
    p.add_argument("--provisioned", action="store_true",
                   help="Cosmos provisioned throughput instead of serverless")
    p.add_argument("--cosmos-endpoint", help="measure the write charge against this account")
    p.add_argument("--cosmos-key", default="")
    args = p.parse_args(argv)
    if not 0 < args.success_rate <= 1:
        p.error("--success-rate must be in (0, 1]")

    ru_per_write = None
    if args.cosmos_endpoint:
        ru_per_write = measure_cosmos_charge(
            args.cosmos_endpoint, args.cosmos_key, image_record().model_dump(mode="json"))
    activities = int(durable.get("maxConcurrentActivityFunctions", 10))
    inputs = Inputs(
        images=args.images, keywords=args.keywords, sources=args.sources,
        variations=args.variations, success_rate=args.success_rate,
        batch_size=fields["batch_size"].default, history_limit=fields["chunk_history_limit"].default,
        parallel_chunks=args.parallel_chunks,
        activities_per_instance=activities,
        durable_backend=str(durable.get("storageProvider", {}).get("type", "AzureStorage")),
        per_instance_ips=args.per_instance_ips,
        per_activity_ips=args.per_activity_ips or args.per_instance_ips / activities,
        instance_memory_mb=args.instance_memory_mb, avg_image_kb=args.avg_image_kb,
        block_size=dataset_block_size(), serverless=not args.provisioned, ru_per_write=ru_per_write,
    )
    instances = [int(x) for x in args.instances.split(",") if x.strip()]
    print(report(inputs, model(inputs), instances))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
