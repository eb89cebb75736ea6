"""Cost and scale model of one large PixCrawler job (default: 1,000,000 stored images).

Everything that the code fixes is read from the code: the batch size, shard block size, history
limit and parallel chunks are ``shared.settings.Settings`` defaults, the per-instance activity
limit and durable backend come from ``host.json``, the dataset block size from
``shared.datasets``, and the payload sizes are the JSON of real ``shared.models`` objects. What
only a measurement can tell are flags whose defaults are the figures measured for docs/scale.md
(each constant below names its benchmark): the devhost's CPU per stored image, the fast checks'
CPU per KB and TLS costs (``bench/cpu_per_image.py``), requests per image and a stored record's
size (``bench/crawl_throughput.py``), a medium validation's reads and patches per record
(``bench/scale_job.py``). Azure limits and list prices are constants with their sources; a price
that was not found is marked as an assumption, or left out of the total::

    python bench/scale_model.py                          # the tables in docs/scale.md
    python bench/scale_model.py --avg-image-kb 500 --handshakes-per-image 0.2
    python bench/scale_model.py --parallel-chunks 200 --provisioned
    python bench/scale_model.py --cosmos-endpoint https://ACCOUNT.documents.azure.com/ --cosmos-key ...

Cosmos request units are computed from the measured record size with the published costs (see
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
    """A record as the crawl writes it: a shard member (blob name and offset), the 18 window
    hashes of crop detection, a fast validation."""
    h = sha(1)
    c = candidate(1)
    return build(
        ImageRecord, id=h, job_id=JOB_ID, user_id=USER_ID, label="golden retriever",
        source="wikimedia", url=c.url, page_url=c.page_url, title=c.title, license=c.license,
        attribution=c.attribution, width=4032, height=3024, format=ImageFormat.jpeg,
        content_type="image/jpeg", bytes=2_481_337,
        blob_name=f"images/{JOB_ID}/shards/{CHUNK_ID}/000017-0.tar", offset=1_234_432,
        sha256=h, phash="c3a5961e0f3c7b81", windows=[sha(i)[:16] for i in range(18)], mode="RGB",
        exif_orientation=1, chunk_id=CHUNK_ID, origin=Origin(batch_id=f"{CHUNK_ID}:17", url=c.url),
        validation=ValidationSummary(
            level=Level.fast,
            checks={"decode": True, "format": True, "dimensions": True, "pixels": True},
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
# Measured figures (defaults of the flags; each names the command that measured it)
# ------------------------------------------------------------------------------------------

#: Devhost CPU ms per stored image of a whole crawl job (download, fast checks, shard, records,
#: orchestration) on the bench corpus: ``bench/crawl_throughput.py`` "devhost alone".
DEVHOST_CPU_MS = 3.82  # 2026-12-04: 3.91, 3.80 and 3.75 in three runs
#: The bench corpus' average JPEG and the fast checks' CPU per KB of JPEG beyond it:
#: ``bench/cpu_per_image.py``.
CORPUS_KB = 88.0
CHECK_US_PER_KB = 8.8  # 2026-12-04: 8.8 and 8.7
#: TLS on Azure (every image host, Blob and Cosmos are HTTPS): client CPU per full handshake
#: and per byte beyond plain TCP: ``bench/cpu_per_image.py``.
TLS_HANDSHAKE_MS = 0.6  # 2026-12-04: 0.59 and 0.61
TLS_NS_PER_BYTE = 0.3  # 2026-12-04: 0.29 and 0.32
#: Requests per stored image of a crawl: ``bench/crawl_throughput.py`` (counted in Azurite and
#: the Cosmos emulator; for Cosmos, without the job queries of the benchmark's progress polls).
BLOB_REQUESTS_PER_IMAGE = 0.087
COSMOS_REQUESTS_PER_IMAGE = 0.045
#: An ImageRecord as the Cosmos emulator stores it (system properties included):
#: ``bench/crawl_throughput.py``.
RECORD_BYTES = 1787
#: Medium validation per record: documents read and patches: ``bench/scale_job.py``.
VALIDATION_READS = 2.0
VALIDATION_PATCHES = 1.21  # 1 level change + the 21% of records flagged
#: Devhost peak RSS: ``bench/memory_hostile.py`` (8 download activities of 15-20 MB JPEGs and
#: near-cap PNGs) and ``bench/scale_job.py`` at 100,000 records.
PEAK_RSS_CRAWL_MB = 507
PEAK_RSS_VALIDATION_MB = 335  # 200,000 records; 324 MB at 100,000

# ------------------------------------------------------------------------------------------
# Azure limits and list prices
# ------------------------------------------------------------------------------------------

LIMITS_SOURCE = {
    "cosmos": "https://learn.microsoft.com/azure/cosmos-db/concepts-limits",
    "serverless": "https://learn.microsoft.com/azure/cosmos-db/serverless-performance",
    "flex": "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan",
    "scheduler": "https://learn.microsoft.com/azure/azure-functions/durable/durable-task-scheduler/durable-task-scheduler-billing",
}
#: A logical partition's storage, and a physical partition's throughput (provisioned).
LOGICAL_PARTITION_BYTES = 20 * 10**9
#: Durable Task Scheduler, Consumption SKU: dispatched actions per second.
SCHEDULER_ACTIONS_S = 500
#: Flex Consumption cores per instance, by instance memory (MB).
CORES = {512: 0.25, 2048: 1.0, 4096: 2.0}


@dataclass(frozen=True)
class Price:
    meter: str
    usd: float | None  # None: not found (the row stays out of the total)
    unit: float  # how many units the price is for
    per: str  # what the price is per, as the pricing page says it
    source: str
    assumption: bool = False


#: List prices (USD, East US, pay as you go). ``assumption``: not found in the sources this
#: model was built from (``search`` of the stored docs and pages, 2026-12-04); the figure is the
#: last price the authors knew and must be checked on the pricing page before budgeting.
PRICES_DATE = "2026-12-04"
PRICES = {
    "flex_gb_s": Price("Flex Consumption on demand, execution time (per GB-s; 100,000 GB-s a month free)",
                       0.000026, 1, "GB-s", "https://modal.com/blog/azure-function-pricing-guide (2025-05-22, East US)"),
    "flex_exec": Price("Flex Consumption on demand, executions (per million; 250,000 a month free)",
                       0.40, 1e6, "million executions", "https://modal.com/blog/azure-function-pricing-guide (2025-05-22, East US)"),
    "cosmos_ru": Price("Cosmos DB serverless, request units (per million)", 0.25, 1e6, "million RU",
                       "https://azure.microsoft.com/pricing/details/cosmos-db/serverless/", assumption=True),
    "cosmos_gb": Price("Cosmos DB storage (per GB-month)", 0.25, 1, "GB-month",
                       "https://azure.microsoft.com/pricing/details/cosmos-db/serverless/", assumption=True),
    "blob_gb": Price("Blob Storage hot LRS, capacity (per GB-month, first 50 TB)", 0.018, 1, "GB-month",
                     "https://azure.microsoft.com/pricing/details/storage/blobs/ as quoted by "
                     "API Evangelist's plans file (sweep of 2026-05-04, '~$0.018')"),
    "blob_write": Price("Blob Storage hot LRS, write operations (per 10,000)", 0.065, 1e4, "10,000",
                        "https://azure.microsoft.com/pricing/details/storage/blobs/", assumption=True),
    "blob_read": Price("Blob Storage hot LRS, read operations (per 10,000)", 0.005, 1e4, "10,000",
                       "https://azure.microsoft.com/pricing/details/storage/blobs/", assumption=True),
    "scheduler_action": Price("Durable Task Scheduler Consumption, dispatched actions (per million)", None, 1e6,
                              "million actions", "https://azure.microsoft.com/pricing/details/functions/ "
                              "(the price was not found: this row is not in the total)"),
}


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
    instance_memory_mb: int
    avg_image_kb: float
    block_size: int
    shard_block: int
    serverless: bool
    ru_per_write: float | None
    devhost_cpu_ms: float
    corpus_kb: float
    check_us_per_kb: float
    tls_handshake_ms: float
    tls_ns_per_byte: float
    handshakes_per_image: float
    cpu_share: float
    record_bytes: int
    blob_requests_per_image: float
    cosmos_requests_per_image: float
    validation_reads: float
    validation_patches: float
    per_instance_ips: float = 0.0
    per_activity_ips: float = 0.0

    def azure_cpu_ms(self) -> dict[str, float]:
        """CPU ms per stored image on Azure, by part."""
        kb = self.avg_image_kb / self.success_rate  # bytes downloaded per stored image
        return {
            "measured on the devhost (bench corpus)": self.devhost_cpu_ms,
            f"fast checks of {self.avg_image_kb:g} KB instead of {self.corpus_kb:g} KB images":
                max(0.0, self.avg_image_kb - self.corpus_kb) * self.check_us_per_kb / 1000,
            f"TLS handshakes ({self.handshakes_per_image:g} per image)":
                self.handshakes_per_image * self.tls_handshake_ms,
            "TLS bytes (downloaded, then uploaded to the shard)":
                (kb + self.avg_image_kb) * 1024 * self.tls_ns_per_byte / 1e6,
        }


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
        "ImageRecord (model JSON + Cosmos system properties)": size(record) + COSMOS_SYSTEM_BYTES,
        "ImageRecord (as the Cosmos emulator stores it, measured)": i.record_bytes,
    }
    record_kb = i.record_bytes / 1024
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
    stored_per_batch = i.images / batches
    shard_bytes = stored_per_batch * i.avg_image_kb * 1024
    # Per batch: the shard's staged blocks, its block list, its metadata set to "written".
    shard_requests = math.ceil(shard_bytes / i.shard_block) + 2
    dataset_bytes = i.avg_image_kb * 1024 * i.images
    blob_tx = {
        "shard blobs (Put Block, Put Block List, Set Metadata; model at --avg-image-kb)": batches * shard_requests,
        "dataset build: one ranged read per image": i.images,
        "dataset build: staged blocks + commit": math.ceil(dataset_bytes / i.block_size) + 1,
    }
    task_hub_tx = {
        "task hub (activities)": activities * STORAGE_TX_PER_ACTIVITY,
        "task hub (entity signals)": signals * STORAGE_TX_PER_SIGNAL,
    }
    cosmos = {
        "image record writes (transactional batches: RU per document)": i.images * ru_write,
        f"medium validation ({i.validation_reads:g} documents read, {i.validation_patches:g} patches per record)":
            i.images * (i.validation_reads * ru_read + i.validation_patches * ru_write),
        "dataset build (read every record)": i.images * ru_read,
    }
    actions = 2 * activities + signals + 1 + chunks * generations + chunks
    return {
        "chunks": chunks, "quota": quota, "candidates_per_chunk": candidates_per_chunk,
        "batches_per_chunk": batches_per_chunk, "generations": generations, "batches": batches,
        "downloaded": downloaded, "activities": activities, "signals": signals,
        "orchestrations": 1 + chunks * generations, "sizes": sizes, "ru_write": ru_write,
        "ru_read": ru_read, "gen_events": gen_events, "gen_bytes": gen_bytes,
        "replay_bytes": replay_bytes, "whole_events": whole_events, "whole_bytes": whole_bytes,
        "whole_replay": whole_replay, "shard_requests": shard_requests,
        "stored_per_batch": stored_per_batch, "blob_tx": blob_tx, "task_hub_tx": task_hub_tx,
        "cosmos": cosmos, "dataset_bytes": dataset_bytes, "actions": actions,
        "job_bytes": i.images * i.record_bytes,
    }


def wall_time(i: Inputs, m: dict[str, Any], instances: int) -> tuple[float, float, str]:
    """(hours, images/s, the binding limit) at ``instances`` instances."""
    in_flight = min(m["chunks"], i.parallel_chunks)  # one batch in flight per running chunk
    cosmos_rus = SERVERLESS_RU_S if i.serverless else PARTITION_RU_S
    limits = {
        f"instances: {instances} x {i.per_instance_ips:.0f} img/s": instances * i.per_instance_ips,
        f"{in_flight} chunks in flight": in_flight * i.per_activity_ips,
        f"Cosmos {cosmos_rus:,} RU/s on one job partition": cosmos_rus / m["ru_write"],
        f"scheduler {SCHEDULER_ACTIONS_S} actions/s": SCHEDULER_ACTIONS_S * i.images / m["actions"],
    }
    name, rate = min(limits.items(), key=lambda kv: kv[1])
    return i.images / rate / 3600, rate, name


def costs(i: Inputs, m: dict[str, Any]) -> list[tuple[str, float, float | None, Price]]:
    """(what, quantity, dollars, price) of the job at list prices, free grants not deducted."""
    gb_s = i.images / i.per_instance_ips * i.instance_memory_mb / 1024
    executions = m["activities"] + m["signals"] + 2 * m["batches"] + m["orchestrations"]
    ru = sum(m["cosmos"].values())
    blob_writes = sum(v for k, v in m["blob_tx"].items() if "read" not in k)
    month = [
        ("Functions execution time, GB-s (busy instance time x instance memory)", gb_s, PRICES["flex_gb_s"]),
        ("Functions executions (activities, entity operations, orchestrator episodes)", executions, PRICES["flex_exec"]),
        ("Cosmos DB request units (crawl, one medium validation, one dataset build)", ru, PRICES["cosmos_ru"]),
        ("Cosmos DB records stored for a month, GB", m["job_bytes"] / 1e9, PRICES["cosmos_gb"]),
        ("Blob images stored for a month (shards), GB", i.images * i.avg_image_kb * 1024 / 1e9, PRICES["blob_gb"]),
        ("Blob dataset archive of every image stored for a month, GB", m["dataset_bytes"] / 1e9, PRICES["blob_gb"]),
        ("Blob write operations (shard blocks, dataset blocks)", blob_writes, PRICES["blob_write"]),
        ("Blob read operations (dataset build: one ranged read per image)", i.images, PRICES["blob_read"]),
        ("Durable Task Scheduler actions", m["actions"], PRICES["scheduler_action"]),
    ]
    return [(what, q, None if price.usd is None else q * price.usd / price.unit, price)
            for what, q, price in month]


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
    rows = [[k, n(v), f"{v / images:.3f}"] for k, v in costs.items()]
    total = sum(costs.values())
    return rows + [["**total**", f"**{n(total)}**", f"**{total / images:.3f}**"]]


def report(i: Inputs, m: dict[str, Any], instances: list[int]) -> str:
    out = []
    cpu = i.azure_cpu_ms()
    out.append("## Inputs\n\n" + table(["input", "value", "from"], [
        ["stored images", n(i.images), "--images"],
        ["chunks = keywords x variations x sources",
         f"{i.keywords} x {i.variations} x {i.sources} = {m['chunks']}", "--keywords/--variations/--sources"],
        ["candidates that become stored images", f"{i.success_rate:.0%}", "--success-rate"],
        ["batch_size", i.batch_size, "Settings default (PIXCRAWLER_BATCH_SIZE)"],
        ["shard block size", f"{i.shard_block // 2**20} MiB", "Settings default (PIXCRAWLER_SHARD_BLOCK_BYTES)"],
        ["chunk_history_limit", i.history_limit, "Settings default"],
        ["max_parallel_chunks", i.parallel_chunks, "Settings default or --parallel-chunks"],
        ["maxConcurrentActivityFunctions", i.activities_per_instance, "host.json"],
        ["durable backend", i.durable_backend, "host.json storageProvider.type (azureManaged = Durable Task Scheduler)"],
        ["instance memory, cores", f"{i.instance_memory_mb} MB, {CORES.get(i.instance_memory_mb, 1):g}",
         "--instance-memory-mb (infra default)"],
        ["average stored image", f"{i.avg_image_kb:g} KB", "--avg-image-kb"],
        ["devhost CPU per stored image", f"{i.devhost_cpu_ms:g} ms", "--devhost-cpu-ms (bench/crawl_throughput.py)"],
        ["bench corpus JPEG; fast checks per KB beyond it", f"{i.corpus_kb:g} KB; {i.check_us_per_kb:g} us",
         "--corpus-kb, --check-us-per-kb (bench/cpu_per_image.py)"],
        ["TLS: per handshake; per byte", f"{i.tls_handshake_ms:g} ms; {i.tls_ns_per_byte:g} ns",
         "--tls-handshake-ms, --tls-ns-per-byte (bench/cpu_per_image.py)"],
        ["TLS handshakes per stored image", f"{i.handshakes_per_image:g}", "--handshakes-per-image (assumption: every image a new connection)"],
        ["share of an instance's cores the crawl gets", f"{i.cpu_share:.0%}", "--cpu-share (assumption)"],
        ["ImageRecord stored", f"{i.record_bytes:,} bytes", "--record-bytes (bench/crawl_throughput.py, from the emulator)"],
        ["Blob / Cosmos requests per stored image (crawl)",
         f"{i.blob_requests_per_image:g} / {i.cosmos_requests_per_image:g}",
         "--blob-requests-per-image, --cosmos-requests-per-image (bench/crawl_throughput.py)"],
        ["medium validation: reads, patches per record", f"{i.validation_reads:g}, {i.validation_patches:g}",
         "--validation-reads, --validation-patches (bench/scale_job.py)"],
        ["dataset block size", f"{i.block_size // (1024 * 1024)} MiB", "shared.datasets"],
    ]))
    total = sum(cpu.values())
    out.append("## CPU per stored image on Azure\n\n" + table(["part", "CPU ms"], [
        *[[k, f"{v:.2f}"] for k, v in cpu.items()],
        ["**total**", f"**{total:.2f}**"],
        ["images/s per instance = cores x share x 1000 / total",
         f"{CORES.get(i.instance_memory_mb, 1):g} x {i.cpu_share:.0%} x 1000 / {total:.2f} = **{i.per_instance_ips:.0f}**"],
    ]))
    out.append("## Work\n\n" + table(["quantity", "per chunk", "whole job"], [
        ["stored images (quota)", n(m["quota"]), n(i.images)],
        ["candidates downloaded", n(m["candidates_per_chunk"]), n(m["downloaded"])],
        ["download batches", n(m["batches_per_chunk"]), n(m["batches"])],
        ["activity executions (discover + download_batch)", n(2 * m["batches_per_chunk"]), n(m["activities"])],
        ["entity signals (job_progress + checkpoint)", n(2 * m["batches_per_chunk"]), n(m["signals"])],
        ["crawl_chunk generations (continue_as_new)", n(m["generations"]), n(m["chunks"] * m["generations"])],
        ["orchestration executions (crawl_job + generations)", "", n(m["orchestrations"])],
        ["Durable Task Scheduler actions (2 per activity, 1 per entity operation and orchestration start, "
         "1 per sub-orchestration result)", "", n(m["actions"])],
        ["busy instance time (images / images/s per instance)", "",
         f"{i.images / i.per_instance_ips / 3600:,.1f} instance-hours = "
         f"{i.images / i.per_instance_ips * i.instance_memory_mb / 1024:,.0f} GB-s"],
    ]))
    rows = []
    for name, b in m["sizes"].items():
        flag = "spills to blob" if b > DURABLE_LARGE_MESSAGE else "inline"
        rows.append([name, n(b), f"{b / 1024:.1f}", flag if "ImageRecord" not in name else "-"])
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
        f"## Cosmos DB request units\n\nImageRecord of {i.record_bytes:,} bytes (measured): "
        f"{m['ru_write']:.2f} RU per write, {m['ru_read']:.2f} RU per point read (published costs by "
        f"document size with default indexing, {RU_SOURCE}; `images` excludes `/windows/*` and other "
        f"unqueried paths from indexing, so a write costs somewhat less). Crawl requests: "
        f"{i.cosmos_requests_per_image:g} per stored image (transactional batches of up to 100 creates).\n\n"
        + table(["operation", "RU (whole job)", "RU per stored image"],
                per_image_rows(m["cosmos"], i.images)))
    rows = per_image_rows({**m["blob_tx"], **m["task_hub_tx"]}, i.images)
    out.append(
        f"## Storage transactions\n\nA batch stores {m['stored_per_batch']:.0f} images "
        f"({m['stored_per_batch'] * i.avg_image_kb / 1024:.1f} MiB) in one shard: {m['shard_requests']} "
        f"requests, {m['shard_requests'] / m['stored_per_batch']:.3f} per image "
        f"(measured on the bench corpus: {i.blob_requests_per_image:g} Blob requests per stored image). "
        f"Images stored: {i.images * i.avg_image_kb / 2**20:,.0f} GiB. The task hub rows apply to the "
        "Azure Storage backend only.\n\n"
        + table(["operation", "transactions", "per stored image"], rows))
    for parallel in dict.fromkeys([i.parallel_chunks, m["chunks"]]):
        alt = Inputs(**{**i.__dict__, "parallel_chunks": parallel})
        rows = []
        for count in instances:
            hours, rate, limit = wall_time(alt, m, count)
            rows.append([count, n(rate), f"{hours:,.1f}", limit])
        out.append(
            f"## Wall time of the crawl at N instances (max_parallel_chunks = {parallel})\n\n"
            + table(["instances", "images/s", "hours", "binding limit"], rows))
    cosmos_rus = SERVERLESS_RU_S if i.serverless else PARTITION_RU_S
    out.append("## Limits\n\n" + table(["limit", "value", "what it allows this job"], [
        ["Cosmos DB logical partition (`images`, key `/job_id`)", "20 GB",
         f"the job's records: {m['job_bytes'] / 1e9:.2f} GB ({m['job_bytes'] / LOGICAL_PARTITION_BYTES:.0%}); "
         f"a job could hold {LOGICAL_PARTITION_BYTES / i.record_bytes / 1e6:,.1f} million records"],
        ["Cosmos DB physical partition, provisioned", f"{PARTITION_RU_S:,} RU/s",
         f"{PARTITION_RU_S / m['ru_write']:,.0f} record writes/s for one job"],
        ["Cosmos DB serverless container (< 50 GB)", f"{SERVERLESS_RU_S:,} RU/s",
         f"{SERVERLESS_RU_S / m['ru_write']:,.0f} record writes/s"],
        ["Flex Consumption regional quota (default)", "250 cores",
         f"{250 / CORES.get(i.instance_memory_mb, 1):,.0f} instances of {i.instance_memory_mb} MB "
         f"(infra caps maximumInstanceCount at 100): {min(100, 250 / CORES.get(i.instance_memory_mb, 1)) * i.per_instance_ips:,.0f} images/s"],
        ["Flex Consumption instance memory", f"{i.instance_memory_mb} MB (+272 MB for the platform)",
         f"peak RSS measured: crawl {PEAK_RSS_CRAWL_MB} MB, "
         f"validation {PEAK_RSS_VALIDATION_MB} MB"],
        ["Durable Task Scheduler, Consumption", f"{SCHEDULER_ACTIONS_S} actions/s",
         f"{m['actions'] / i.images:.3f} actions per image: {SCHEDULER_ACTIONS_S * i.images / m['actions']:,.0f} images/s"],
        ["the binding one at 100 instances, every chunk in flight", "",
         "{2} ({1:,.0f} images/s, {0:.1f} h)".format(
             *wall_time(Inputs(**{**i.__dict__, "parallel_chunks": m["chunks"]}), m, 100))],
    ]) + f"\n\n(Cosmos throughput quoted at {cosmos_rus:,} RU/s for the wall-time tables: "
         f"{'serverless' if i.serverless else 'provisioned'}.)")
    rows, total = [], 0.0
    for what, quantity, dollars, price in costs(i, m):
        total += dollars or 0.0
        shown = "not found" if price.usd is None else f"${price.usd:.6f}".rstrip("0").rstrip(".") + f" per {price.per}"
        rows.append([what, n(quantity), shown + (" (assumption)" if price.assumption else ""),
                     "-" if dollars is None else f"${dollars:,.2f}", price.source])
    rows.append(["**total**", "", "", f"**${total:,.2f}**", ""])
    out.append(f"## Cost of the job at list prices (USD, prices as of {PRICES_DATE})\n\n" + table(
        ["meter", "quantity", "price", "the job", "price from"], rows))
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
    p.add_argument("--devhost-cpu-ms", type=float, default=DEVHOST_CPU_MS)
    p.add_argument("--corpus-kb", type=float, default=CORPUS_KB)
    p.add_argument("--check-us-per-kb", type=float, default=CHECK_US_PER_KB)
    p.add_argument("--tls-handshake-ms", type=float, default=TLS_HANDSHAKE_MS)
    p.add_argument("--tls-ns-per-byte", type=float, default=TLS_NS_PER_BYTE)
    p.add_argument("--handshakes-per-image", type=float, default=1.0)
    p.add_argument("--cpu-share", type=float, default=0.75,
                   help="share of an instance's cores the crawl's CPU work gets (the rest: the host, waits)")
    p.add_argument("--record-bytes", type=int, default=RECORD_BYTES)
    p.add_argument("--blob-requests-per-image", type=float, default=BLOB_REQUESTS_PER_IMAGE)
    p.add_argument("--cosmos-requests-per-image", type=float, default=COSMOS_REQUESTS_PER_IMAGE)
    p.add_argument("--validation-reads", type=float, default=VALIDATION_READS)
    p.add_argument("--validation-patches", type=float, default=VALIDATION_PATCHES)
    p.add_argument("--per-instance-ips", type=float, default=None,
                   help="images/s one instance stores (default: from the CPU per image)")
    p.add_argument("--per-activity-ips", type=float, default=None,
                   help="images/s of one download batch (default: per instance / activities per instance)")
    p.add_argument("--instance-memory-mb", type=int, default=2048, choices=sorted(CORES))
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
        instance_memory_mb=args.instance_memory_mb, avg_image_kb=args.avg_image_kb,
        block_size=dataset_block_size(), shard_block=fields["shard_block_bytes"].default,
        serverless=not args.provisioned, ru_per_write=ru_per_write,
        devhost_cpu_ms=args.devhost_cpu_ms, corpus_kb=args.corpus_kb,
        check_us_per_kb=args.check_us_per_kb, tls_handshake_ms=args.tls_handshake_ms,
        tls_ns_per_byte=args.tls_ns_per_byte, handshakes_per_image=args.handshakes_per_image,
        cpu_share=args.cpu_share, record_bytes=args.record_bytes,
        blob_requests_per_image=args.blob_requests_per_image,
        cosmos_requests_per_image=args.cosmos_requests_per_image,
        validation_reads=args.validation_reads, validation_patches=args.validation_patches,
    )
    cpu_ms = sum(inputs.azure_cpu_ms().values())
    inputs.per_instance_ips = args.per_instance_ips or (
        CORES[args.instance_memory_mb] * args.cpu_share * 1000 / cpu_ms)
    inputs.per_activity_ips = args.per_activity_ips or inputs.per_instance_ips / activities
    instances = [int(x) for x in args.instances.split(",") if x.strip()]
    print(report(inputs, model(inputs), instances))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
