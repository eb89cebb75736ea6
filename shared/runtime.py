"""The process's connections to its backing services, one set per event loop.

Azure SDK aio clients and aiohttp sessions belong to the loop they were made on, so the app
keeps one :class:`Runtime` per running loop. The first one made in a process also makes sure
the Cosmos database, containers and Blob containers exist (idempotent).

A backing service that goes away and comes back needs nothing from the app: the SDK clients
open new connections (their retry policies cover the gap). One that comes back without the
database or containers (an emulator started empty; on Azure, a deleted container) makes the
storage layer raise :class:`~shared.errors.StorageMissing` and set
:data:`~shared.storage.errors.STORAGE_MISSING`: the next :func:`get_runtime` (and the HTTP layer
at once, before it tries the request again) runs ``ensure_storage`` again -- at most every
:data:`RECOVERY_INTERVAL` seconds. On Azure, where the app's identity may not create
containers, that attempt fails and the request stays a 503 naming the cause.

Example::

    runtime = await get_runtime()
    job = await runtime.jobs.find(job_id)
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from shared.fetch.budget import ByteBudget
from shared.imaging import DecodeGate
from shared.models import ApiKey, Dataset, Document, Notification, RateWindow
from shared.settings import Settings, get_settings
from shared.storage import BlobStore, ImagesRepo, JobsRepo, Repo, StorageContext
from shared.storage.bootstrap import ensure_storage
from shared.storage.errors import STORAGE_MISSING

T = TypeVar("T", bound=Document)


@dataclass
class Runtime:
    """Settings, storage, an HTTP session for search sources, and the process's memory
    bounds for downloads (``memory_process_bytes``) and decodes (``large_decodes``)."""

    settings: Settings
    storage: StorageContext
    _session: aiohttp.ClientSession | None = None
    _repos: dict[str, Repo[Any]] = field(default_factory=dict)
    memory: ByteBudget = field(init=False)
    decode_gate: DecodeGate = field(init=False)

    def __post_init__(self) -> None:
        self.memory = ByteBudget(self.settings.memory_process_bytes)
        self.decode_gate = DecodeGate(self.settings.large_decode_bytes, self.settings.large_decodes)

    def download_budget(self) -> ByteBudget:
        """A fresh budget of ``memory_activity_bytes`` for one download activity, drawing on
        the process's."""
        return ByteBudget(self.settings.memory_activity_bytes, parent=self.memory)

    @property
    def jobs(self) -> JobsRepo:
        return self.storage.jobs

    @property
    def images(self) -> ImagesRepo:
        return self.storage.images

    @property
    def blobs(self) -> BlobStore:
        return self.storage.blobs

    @property
    def notifications(self) -> Repo[Notification]:
        return self.repo("notifications", Notification)

    @property
    def datasets(self) -> Repo[Dataset]:
        return self.repo("datasets", Dataset)

    @property
    def api_keys(self) -> Repo[ApiKey]:
        return self.repo("api_keys", ApiKey)

    @property
    def rate_limits(self) -> Repo[RateWindow]:
        return self.repo("rate_limits", RateWindow)

    def repo(self, container: str, model: type[T]) -> Repo[T]:
        """A repository over any container in shared/names.py."""
        repo = self._repos.get(container)
        if repo is None:
            repo = self._repos[container] = Repo(self.storage.database, container, model)
        return repo

    def http_session(self) -> aiohttp.ClientSession:
        """A shared session for API calls to search sources (downloads use their own)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.storage.close()


# The Azure SDKs log every request and response at INFO: keep their warnings only.
logging.getLogger("azure").setLevel(logging.WARNING)

log = logging.getLogger("pixcrawler.runtime")

_runtimes: dict[asyncio.AbstractEventLoop, Runtime] = {}
_bootstrapped: list[bool] = []
#: Least seconds between two attempts to make missing storage again.
RECOVERY_INTERVAL = 5.0
_last_recovery: list[float] = [float("-inf")]

#: mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3


def return_large_buffers(threshold: int) -> bool:
    """Make glibc's malloc serve allocations of ``threshold`` bytes or more from their own
    mappings, so that a freed image buffer goes back to the system at once. By default glibc
    raises its threshold to the largest block freed so far (up to 32 MiB), after which 15 MB
    image buffers come from the heap, and the heap keeps what they freed: measured here, 110 MB
    more peak RSS while crawling 15-20 MB JPEGs (bench/memory_hostile.py). True when set; a
    no-op (False) on another C library or with ``threshold`` 0."""
    if threshold <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


async def get_runtime() -> Runtime:
    """The runtime of the running loop (made, and storage ensured, on first use; ensured
    again after the storage layer found a database or container missing)."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        settings = get_settings()
        if not _bootstrapped:
            return_large_buffers(settings.memory_mmap_threshold_bytes)
            await ensure_storage(settings)
            _bootstrapped.append(True)
        runtime = _runtimes.setdefault(loop, Runtime(settings, StorageContext(settings)))
    if STORAGE_MISSING.is_set():
        await recover_storage()
    return runtime


async def recover_storage() -> bool:
    """Run ``ensure_storage`` again because something was found missing; True when it ran and
    succeeded (False within :data:`RECOVERY_INTERVAL` of the last attempt, or when it
    failed: the failure is logged and the flag stays set for the next attempt)."""
    now = time.monotonic()
    if now - _last_recovery[0] < RECOVERY_INTERVAL:
        return False
    _last_recovery[0] = now
    STORAGE_MISSING.clear()
    try:
        made = await ensure_storage(get_settings())
    except Exception as exc:  # noqa: BLE001 - reported, and the original 503 stands
        STORAGE_MISSING.set()
        log.warning("could not make the missing storage again: %s", exc)
        return False
    log.warning("storage was missing: ensured %d databases and containers again", len(made))
    return True
