"""The one settings object of PixCrawler, read from the environment.

The names are the app settings that ``infra/`` sets on the Function App (prefix
``PIXCRAWLER_``). Locally, ``scripts/`` export the same names pointing at Azurite and the
Cosmos emulator; there is no other difference between local and Azure.

Example::

    from shared.settings import get_settings
    settings = get_settings()          # raises ConfigurationError naming the bad setting
    settings.cosmos_database           # "pixcrawler"
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing import Annotated, Literal

from shared.errors import ConfigurationError
from shared.models.validation import QualityThresholds

ENV_PREFIX = "PIXCRAWLER_"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting the app reads. Field ``foo_bar`` is the environment variable
    ``PIXCRAWLER_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # --- Cosmos DB (NoSQL API) -------------------------------------------------------------
    cosmos_endpoint: str = Field(description="Cosmos DB account endpoint, https://....:443/")
    cosmos_key: SecretStr | None = Field(
        default=None,
        description="Account key: local emulator only. Absent on Azure (managed identity).",
    )
    cosmos_database: str = "pixcrawler"
    cosmos_verify_tls: bool = Field(
        default=True, description="false only for the local emulator's self-signed certificate"
    )

    # --- Blob Storage ----------------------------------------------------------------------
    blob_account_url: str | None = Field(
        default=None, description="https://ACCOUNT.blob.core.windows.net (managed identity)"
    )
    blob_connection_string: SecretStr | None = Field(
        default=None, description="Connection string: Azurite only. Absent on Azure."
    )

    # --- Identity --------------------------------------------------------------------------
    azure_client_id: str | None = Field(
        default=None, description="Client id of the user-assigned managed identity"
    )

    # --- Downloader ------------------------------------------------------------------------
    fetch_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs the SSRF guard lets through (tests and the demo: 127.0.0.1/32)",
    )
    fetch_concurrency: int = Field(default=64, ge=1, le=1024)
    fetch_per_host: int = Field(default=16, ge=1, le=1024)
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    fetch_connect_timeout: float = Field(default=10.0, gt=0)
    fetch_read_timeout: float = Field(default=20.0, gt=0)
    fetch_total_timeout: float = Field(default=60.0, gt=0)
    fetch_retries: int = Field(default=3, ge=0, le=10)
    fetch_backoff_base: float = Field(default=0.5, ge=0)
    fetch_max_retry_after: float = Field(
        default=30.0, ge=0, description="longest Retry-After (s) honoured; longer: give up"
    )
    fetch_respect_noai: bool = True
    contact_url: str = "https://github.com/pixcrawler/pixcrawler"

    # --- Memory ----------------------------------------------------------------------------
    # Image bytes held by download activities: bodies being read or checked, plus the shard
    # not yet uploaded. A body reserves its Content-Length before it is read (fetch_max_bytes
    # when the server sends none) and waits, first come first served, while the budget is
    # spent; it is released once its bytes are staged in the shard blob or rejected.
    memory_activity_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024 * 1024,
        description="image bytes one download activity holds at most",
    )
    memory_process_bytes: int = Field(
        default=192 * 1024 * 1024, ge=1024 * 1024,
        description="image bytes all download activities of one worker process hold at most",
    )
    max_decoded_bytes: int = Field(
        default=128 * 1024 * 1024, ge=1024 * 1024,
        description="largest pixel buffer one check may decode (width x height x bands, after "
        "JPEG draft reduction); larger images fail as decoded_too_large",
    )
    large_decode_bytes: int = Field(
        default=16 * 1024 * 1024, ge=0,
        description="a decode above this many bytes is 'large': large_decodes at once per process",
    )
    large_decodes: int = Field(default=1, ge=1, le=64, description="large decodes at once per process")
    memory_mmap_threshold_bytes: int = Field(
        default=1024 * 1024, ge=0, description="glibc's malloc gives buffers this large their own "
        "mapping, returned to the system when freed (0: glibc's own, moving threshold, which "
        "keeps freed image buffers in the heap)"
    )
    http_proxy_from_env: bool = Field(
        default=False, description="Azure SDK clients use HTTP(S)_PROXY/NO_PROXY and .netrc from "
        "the environment (off: no per-request environment lookups)"
    )

    # --- Crawl -----------------------------------------------------------------------------
    batch_size: int = Field(default=50, ge=1, le=1000, description="images per download batch")
    max_parallel_chunks: int = Field(default=16, ge=1, le=1000, description="chunks in flight per job")
    chunk_batches_in_flight: int = Field(
        default=3, ge=1, le=32, description="download batches in flight per chunk: the next "
        "pages download while a batch waits for its slowest URL"
    )
    chunk_history_limit: int = Field(
        default=20, ge=1, description="batches per crawl_chunk run before continue_as_new"
    )
    max_pixels: int = Field(default=89_478_485, ge=1, description="decompression-bomb limit")
    shard_block_bytes: int = Field(
        default=4 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024,
        description="a download batch's shard blob is uploaded in staged blocks of this size",
    )
    shard_orphan_minutes: int = Field(
        default=60, ge=11, description="a shard whose records were never written is deleted by "
        "the shard_cleanup timer once it is this old (longer than functionTimeout)"
    )
    shard_cleanup_schedule: str = "0 30 * * * *"
    url_chunk_size: int = Field(
        default=1000, ge=1, le=100_000, description="URLs per chunk of a `urls` source"
    )

    # --- Sources ---------------------------------------------------------------------------
    # Base URLs default to the real public endpoints; tests and the demo point them at
    # 127.0.0.1. Keys are only needed by the sources that say so (see shared.sources).
    wikimedia_base_url: str = "https://commons.wikimedia.org"
    openverse_base_url: str = "https://api.openverse.org"
    flickr_base_url: str = "https://api.flickr.com"
    flickr_api_key: SecretStr | None = None
    google_base_url: str = "https://www.googleapis.com"
    google_api_key: SecretStr | None = None
    google_cx: str | None = Field(default=None, description="Programmable Search Engine id")
    bing_base_url: str = "https://www.bing.com"
    duckduckgo_base_url: str = "https://duckduckgo.com"
    baidu_base_url: str = "https://image.baidu.com"
    source_max_tries: int = Field(default=4, ge=1, le=10, description="tries per search page")
    source_backoff_base: float = Field(default=0.25, ge=0, description="seconds, doubled per try")
    source_backoff_cap: float = Field(
        default=30.0, ge=0, description="longest wait; a longer Retry-After is reported at once"
    )
    source_timeout: float = Field(default=30.0, gt=0, description="seconds per search request")

    # --- Auth / API ------------------------------------------------------------------------
    auth_hs256_secret: SecretStr | None = Field(
        default=None, description="shared secret of local HS256 tokens (scripts/dev-token)"
    )
    auth_oidc_issuer: str | None = Field(
        default=None, description="OIDC issuer of RS256 bearer tokens (the 'iss' claim)"
    )
    auth_jwks_url: str | None = Field(default=None, description="the issuer's JWKS document")
    auth_audience: str | None = Field(default=None, description="expected 'aud' of RS256 tokens")
    auth_roles_claim: str = Field(default="roles", description="claim that lists a caller's roles")
    auth_clock_skew: float = Field(
        default=30.0, ge=0, le=600, description="seconds of leeway on exp / nbf / iat"
    )
    auth_jwks_cache_seconds: float = Field(
        default=3600.0, ge=0, description="how long fetched signing keys are trusted"
    )
    auth_jwks_min_refresh_seconds: float = Field(
        default=30.0, ge=0, description="least time between two JWKS fetches (unknown kid)"
    )
    rate_limit_start_per_minute: int = Field(
        default=10, ge=1, description="job starts, retries and resumes per user per minute (429 beyond)"
    )
    rate_limit_job_creates_per_minute: int = Field(
        default=30, ge=1, description="jobs a user may create per minute (429 beyond)"
    )
    rate_limit_dataset_creates_per_minute: int = Field(
        default=10, ge=1, description="datasets a user may create per minute (429 beyond)"
    )
    rate_limit_validations_per_minute: int = Field(
        default=10, ge=1, description="validation runs a user may start per minute (429 beyond)"
    )
    rate_limit_verifies_per_minute: int = Field(
        default=10, ge=1, description="verify runs a user may start per minute (429 beyond)"
    )
    max_active_jobs_per_user: int = Field(
        default=10, ge=1, description="running jobs per user; a start, retry or resume beyond is a 429"
    )
    api_max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="largest JSON request body (413 beyond)"
    )
    api_max_json_depth: int = Field(
        default=32, ge=2, le=500, description="deepest nesting of a JSON request body (422 beyond)"
    )

    # --- Checkpoints & timers ----------------------------------------------------------------
    # Schedules are NCRONTAB (six fields), read when the app is indexed.
    stale_after_minutes: int = Field(
        default=30, ge=0, description="a running job whose checkpoint has not moved this long, "
        "with no orchestration running, is marked failed (resumable)"
    )
    stale_job_schedule: str = "0 */5 * * * *"
    checkpoint_archive_schedule: str = Field(
        default="0 0 * * * *", description="hourly: snapshot completed jobs' checkpoints to Blob"
    )
    checkpoint_archive_after_hours: float = Field(default=1.0, ge=0)
    checkpoint_failed_archive_schedule: str = "0 0 2 * * *"
    checkpoint_failed_archive_after_days: float = Field(default=7.0, ge=0)
    checkpoint_lookback_days: float = Field(
        default=7.0, gt=0, description="how far past its age limit a job is still looked at "
        "(bounds the archive timers' queries; covers that long a timer outage)"
    )
    checkpoint_tier_schedule: str = "0 0 3 * * *"
    checkpoint_cool_after_days: int = Field(default=30, ge=0, description="0 = never")
    checkpoint_cold_after_days: int = Field(default=0, ge=0, description="0 = never")
    checkpoint_archive_tier_after_days: int = Field(default=0, ge=0, description="0 = never")
    checkpoint_delete_schedule: str = "0 0 4 * * 0"
    checkpoint_delete_after_days: int = Field(default=90, ge=1)
    checkpoint_rehydrate_tier: Literal["Hot", "Cool"] = "Cool"
    checkpoint_rehydrate_priority: Literal["Standard", "High"] = "Standard"
    checkpoint_timer_page_size: int = Field(default=100, ge=1, le=1000, description="jobs per query page")
    checkpoint_timer_max_jobs: int = Field(
        default=2000, ge=1, description="jobs one timer run looks at; the rest wait for the next run"
    )
    checkpoint_stats_sample_jobs: int = Field(
        default=100, ge=1, le=2000, description="live checkpoints the stats route reads (newest jobs)"
    )

    # --- Validation --------------------------------------------------------------------------
    # 250 x 16 measured 319 images/s for a medium run of a 3,132-image job where 100 x 8 gave
    # 294 (bench/crawl_throughput.py): fewer, larger activities cost less orchestration.
    validation_batch_size: int = Field(
        default=250, ge=1, le=5000, description="images per validation batch (id range)"
    )
    validation_parallel: int = Field(default=16, ge=1, le=100, description="batches in flight per job")
    validation_waves_per_history: int = Field(
        default=20, ge=1, description="waves of batches per validate_job history (then continue_as_new)"
    )
    validation_pacing: bool = Field(
        default=True, description="hold each job to its level's rate with durable timers"
    )
    validation_rate_fast: int = Field(default=1000, ge=1, description="images per minute per job")
    validation_rate_medium: int = Field(default=500, ge=1, description="images per minute per job")
    validation_rate_slow: int = Field(default=100, ge=1, description="images per minute per job")
    validation_phash_threshold: int = Field(
        default=6, ge=0, le=32, description="near-duplicate Hamming distance (shared.dedupe's measured default)"
    )
    validation_window_threshold: int = Field(
        default=6, ge=0, le=32,
        description="Hamming distance of an image to a window of another (crops)",
    )
    validation_dedupe_memory_mb: int = Field(
        default=32, ge=4, le=1024,
        description="memory budget of each near-duplicate search activity (MB): it sets how "
        "many records a map routes at once and how many partitions a job's search has "
        "(shared.dedupe_stages.plan_dedupe)",
    )
    validation_quality: QualityThresholds = Field(
        default_factory=QualityThresholds,
        description='slow-level thresholds as JSON, e.g. {"min_sharpness": 80, "min_bytes": 4096}',
    )

    # --- Verify --------------------------------------------------------------------------------
    # A batch is a range of shard keys: whole shards of ~batch_size images each (50), so the
    # cheap check asks about one blob per 50 images.
    verify_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="image records per verify batch (whole shards)"
    )
    verify_page_size: int = Field(
        default=200, ge=1, le=1000, description="records a verify batch reads and checks at a time"
    )
    verify_parallel: int = Field(default=8, ge=1, le=100, description="verify batches in flight per job")
    verify_waves_per_history: int = Field(
        default=20, ge=1, description="waves of batches per verify_job history (then continue_as_new)"
    )
    verify_reads: int = Field(
        default=8, ge=1, le=256, description="deep verify: images read and hashed at once per batch "
        "(their bytes also count against memory_activity_bytes)"
    )

    # --- Datasets ----------------------------------------------------------------------------
    dataset_part_images: int = Field(
        default=2000, ge=1, le=100_000, description="image records per build part (one activity "
        "each: at ~250 KB an image, a part moves ~500 MB, well within functionTimeout)"
    )
    dataset_parts_per_history: int = Field(
        default=50, ge=1, description="build parts per build_dataset history (then continue_as_new)"
    )
    dataset_prefetch: int = Field(default=8, ge=1, le=64, description="image blobs read ahead while packing")
    dataset_block_size: int = Field(
        default=8 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024,
        description="bytes per staged block (a blob holds 50,000: ~390 GiB at 8 MiB)",
    )
    dataset_shard_images: int = Field(
        default=1000, ge=1, le=1_000_000, description="most images per webdataset shard"
    )
    dataset_shard_bytes: int = Field(
        default=256 * 1024 * 1024, ge=64 * 1024, le=64 * 1024**3,
        description="most bytes per webdataset shard (an image larger than that gets a shard of its own)",
    )
    dataset_download_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60, description="how long a download URL stays valid"
    )

    @field_validator("fetch_allow_networks", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list):
            for item in value:
                ipaddress.ip_network(str(item), strict=False)
        return value

    @model_validator(mode="after")
    def _budgets_hold_an_image(self) -> "Settings":
        need = self.fetch_max_bytes + self.shard_block_bytes
        for name in ("memory_activity_bytes", "memory_process_bytes"):
            if getattr(self, name) < need:
                raise ValueError(
                    f"{ENV_PREFIX}{name.upper()} must hold one image and one shard block: at "
                    f"least FETCH_MAX_BYTES + SHARD_BLOCK_BYTES = {need}"
                )
        return self

    @model_validator(mode="after")
    def _one_blob_credential(self) -> "Settings":
        if not self.blob_account_url and not self.blob_connection_string:
            raise ValueError(
                f"set {ENV_PREFIX}BLOB_ACCOUNT_URL (Azure, managed identity) or "
                f"{ENV_PREFIX}BLOB_CONNECTION_STRING (Azurite)"
            )
        return self


def load_settings() -> Settings:
    """Read the settings now, turning pydantic's error into one that names each variable."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]).upper()
            name = f"{ENV_PREFIX}{loc}" if loc else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigurationError("Invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
