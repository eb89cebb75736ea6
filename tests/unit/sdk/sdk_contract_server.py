"""Contract fixture: a small real aiohttp server on 127.0.0.1 that speaks the PixCrawler API
contract the SDK is written against, until the SDK's tests run against the live devhost.

It validates bodies with the app's own models (JobCreate, DatasetCreate) and answers with
them (Job, Dataset, DatasetDownload, JobProgress), builds dataset archives with the app's
real archive writer, and serves them from a "blob" route that honours SAS-like signatures
and HTTP Range. Tests steer it: inject error answers, cut a download after N bytes, hold jobs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import random
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from PIL import Image
from pydantic import ValidationError

from shared.datasets import write_archive
from shared.models.base import JobStatus
from shared.models.datasets import (
    Dataset, DatasetCreate, DatasetDownload, DatasetFile, DatasetMeta, DatasetStatus,
)
from shared.models.images import ImageRecord
from shared.models.jobs import Job, JobCreate, JobProgress, plan_chunks

USER_KEY = web.RequestKey("user", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREFIX = "/api/v1"
USER = "user-1"
API_KEY = "pxc_test_contract"
TOKEN = "tok_test_contract"


@dataclass
class Fault:
    """An error answer to give instead of the real one, ``times`` times."""

    method: str
    path: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def noise_png(seed: int, size: int = 64) -> tuple[bytes, int, int]:
    """A real PNG of random noise (incompressible, so its size is about size*size*3)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue(), size, size


def image_record(job_id: str, label: str, data: bytes, width: int, height: int) -> ImageRecord:
    sha = hashlib.sha256(data).hexdigest()
    return ImageRecord.model_validate({
        "id": sha, "job_id": job_id, "user_id": USER, "label": label, "source": "wikimedia",
        "url": f"https://upload.example/{sha[:10]}.png", "page_url": f"https://w.example/{sha[:8]}",
        "license": "CC-BY-SA-4.0", "attribution": "Contract Fixture", "width": width,
        "height": height, "format": "png", "content_type": "image/png", "bytes": len(data),
        "blob_name": f"images/{job_id}/{sha}.png", "sha256": sha, "phash": "0f" * 8,
        "chunk_id": "c0", "origin": {"batch_id": "b0", "url": "https://upload.example/x"},
        "validation": {"level": "medium"},
    })


class ContractState:
    """Everything the server knows; tests read and steer it."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {API_KEY: USER}
        self.tokens: dict[str, str] = {TOKEN: USER}
        self.datasets: dict[str, Dataset] = {}
        self.jobs: dict[str, Job] = {}
        self.job_images: dict[str, list[tuple[ImageRecord, bytes]]] = {}
        self.chunks: dict[str, list[dict[str, Any]]] = {}
        self.archives: dict[str, bytes] = {}
        self.signatures: set[str] = set()
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.cut_after: dict[str, int] = {}
        self.hold_jobs = False
        self.fail_jobs = False
        self.images_per_chunk = 2

    def requests_to(self, path: str, method: str = "GET") -> list[Seen]:
        return [s for s in self.seen if s.path == path and s.method == method]


def _error(status: int, message: str, *, code: str, field_name: str | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    body = {"message": message, "request_id": request_id,
            "details": [{"detail": message, "error_code": code, "field": field_name}]}
    return web.json_response(body, status=status, headers={"X-Request-ID": request_id, **(headers or {})})


def _validation_error(exc: ValidationError) -> web.Response:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    details = [{"detail": e["msg"], "error_code": "validation_error",
                "field": ".".join(str(p) for p in e["loc"]) or None} for e in exc.errors()]
    return web.json_response({"message": "Request body is invalid", "details": details,
                              "request_id": request_id}, status=422)


def _page(items: list[dict[str, Any]], request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "20"))
    token = request.query.get("continuation")
    start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    chunk = items[start : start + limit]
    following = start + limit
    continuation = base64.urlsafe_b64encode(str(following).encode()).decode() if following < len(items) else None
    return web.json_response({"items": chunk, "continuation": continuation})


class ContractServer:
    """Runs the contract app on a free port in a thread of its own."""

    def __init__(self) -> None:
        self.state = ContractState()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + PREFIX

    def reset(self) -> ContractState:
        self.state = ContractState()
        return self.state

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self._app())
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="contract-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("contract server did not start within 10 s")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # -- seeding ---------------------------------------------------------------------------

    def seed_dataset(self, labels: dict[str, int], *, name: str = "pets", image_size: int = 64,
                     dataset_id: str | None = None) -> Dataset:
        """A ready dataset whose archive is built by the app's archive writer from real PNGs."""
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        counter = itertools.count(len(self.state.archives) * 1000)
        images = []
        for label, count in labels.items():
            for _ in range(count):
                data, w, h = noise_png(next(counter), image_size)
                images.append((image_record(job_id, label, data, w, h), data))
        dataset = Dataset(id=dataset_id or f"ds-{uuid.uuid4().hex[:10]}", user_id=USER,
                          job_id=job_id, name=name, status=DatasetStatus.building)
        self._build(dataset, images)
        return self.state.datasets[dataset.id]

    def _build(self, dataset: Dataset, images: list[tuple[ImageRecord, bytes]]) -> None:
        blobs = {record.sha256: data for record, data in images}

        async def records() -> AsyncIterator[ImageRecord]:
            for record, _ in images:
                yield record

        async def fetch(record: ImageRecord) -> bytes:
            return blobs[record.sha256]

        sink = _MemorySink()
        meta = DatasetMeta(dataset_id=dataset.id, name=dataset.name, job_id=dataset.job_id,
                           splits=dataset.splits, include_duplicates=dataset.include_duplicates,
                           min_level=dataset.min_level, layout=dataset.layout)
        summary = _run(write_archive(records(), fetch, sink, meta))
        self.state.archives[dataset.blob_name] = bytes(sink.data)
        self.state.datasets[dataset.id] = dataset.model_copy(update={
            "status": DatasetStatus.ready, "counts": summary.counts, "size_bytes": summary.size_bytes,
            "sha256": summary.sha256,
        })

    # -- the app ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._faults, self._auth])
        r = app.router
        r.add_get(PREFIX + "/datasets", self.list_datasets)
        r.add_post(PREFIX + "/datasets", self.create_dataset)
        r.add_get(PREFIX + "/datasets/{id}", self.get_dataset)
        r.add_delete(PREFIX + "/datasets/{id}", self.delete_dataset)
        r.add_get(PREFIX + "/datasets/{id}/download", self.download)
        r.add_post(PREFIX + "/jobs", self.create_job)
        r.add_get(PREFIX + "/jobs", self.list_jobs)
        r.add_get(PREFIX + "/jobs/{id}", self.get_job)
        r.add_post(PREFIX + "/jobs/{id}/start", self.start_job)
        r.add_get(PREFIX + "/jobs/{id}/progress", self.progress)
        r.add_post(PREFIX + "/jobs/{id}/cancel", self.cancel_job)
        r.add_post(PREFIX + "/jobs/{id}/resume", self.resume_job)
        r.add_get(PREFIX + "/jobs/{id}/logs", self.logs)
        r.add_post(PREFIX + "/api-keys", self.create_api_key)
        r.add_get("/blob/{name:.+}", self.blob)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.state.seen.append(Seen(request.method, request.path, dict(request.query),
                                    dict(request.headers)))
        return await handler(request)

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        for fault in self.state.faults:
            if fault.times > 0 and fault.method == request.method and fault.path == request.path:
                fault.times -= 1
                if fault.body is not None:
                    return web.json_response(fault.body, status=fault.status, headers=fault.headers)
                return _error(fault.status, f"injected HTTP {fault.status}",
                              code=f"injected_{fault.status}", headers=fault.headers)
        return await handler(request)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PREFIX):
            return await handler(request)
        key = request.headers.get("X-API-Key")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        user = self.state.keys.get(key or "") or self.state.tokens.get(bearer)
        if user is None:
            return _error(401, "Missing or invalid credentials: send X-API-Key or a Bearer token",
                          code="unauthorized")
        request[USER_KEY] = user
        return await handler(request)

    # -- datasets --------------------------------------------------------------------------

    def _dataset(self, request: web.Request) -> Dataset | web.Response:
        dataset = self.state.datasets.get(request.match_info["id"])
        if dataset is None:
            return _error(404, f"Dataset {request.match_info['id']} not found",
                          code="dataset_not_found")
        return dataset

    async def list_datasets(self, request: web.Request) -> web.Response:
        return _page([d.model_dump(mode="json") for d in self.state.datasets.values()], request)

    async def get_dataset(self, request: web.Request) -> web.Response:
        dataset = self._dataset(request)
        if isinstance(dataset, web.Response):
            return dataset
        if dataset.status is DatasetStatus.building:
            images = self.state.job_images.get(dataset.job_id, [])
            self._build(dataset, images)
            return web.json_response(dataset.model_dump(mode="json"))
        return web.json_response(dataset.model_dump(mode="json"))

    async def create_dataset(self, request: web.Request) -> web.Response:
        try:
            body = DatasetCreate.model_validate(await request.json())
        except ValidationError as exc:
            return _validation_error(exc)
        job = self.state.jobs.get(body.job_id)
        if job is None:
            return _error(404, f"Job {body.job_id} not found", code="job_not_found",
                          field_name="job_id")
        if not body.layout.is_zip:  # shards need Blob storage: tests/integration/datasets has them
            return _error(400, "the contract fixture builds zip layouts only", code="layout_not_served",
                          field_name="layout")
        dataset = Dataset(id=f"ds-{uuid.uuid4().hex[:10]}", user_id=request[USER_KEY],
                          status=DatasetStatus.building, **body.model_dump())
        self.state.datasets[dataset.id] = dataset
        return web.json_response(dataset.model_dump(mode="json"), status=202)

    async def delete_dataset(self, request: web.Request) -> web.Response:
        dataset = self._dataset(request)
        if isinstance(dataset, web.Response):
            return dataset
        del self.state.datasets[dataset.id]
        return web.Response(status=204)

    async def download(self, request: web.Request) -> web.Response:
        dataset = self._dataset(request)
        if isinstance(dataset, web.Response):
            return dataset
        if dataset.status is not DatasetStatus.ready or dataset.size_bytes is None or dataset.sha256 is None:
            return _error(409, f"Dataset {dataset.id} is {dataset.status}, not ready",
                          code="dataset_not_ready")
        signature = uuid.uuid4().hex
        self.state.signatures.add(signature)
        url = f"{self.origin}/blob/{dataset.blob_name}?sig={signature}"
        answer = DatasetDownload(
            url=url, expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
            size_bytes=dataset.size_bytes, sha256=dataset.sha256, layout=dataset.layout,
            files=[DatasetFile(name=f"{dataset.name}.zip", url=url, size_bytes=dataset.size_bytes,
                               sha256=dataset.sha256)],
        )
        return web.json_response(answer.model_dump(mode="json"))

    async def blob(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("sig") not in self.state.signatures:
            return web.Response(status=403, text="AuthenticationFailed: signature not valid")
        data = self.state.archives.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="BlobNotFound")
        start = 0
        status = 200
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/zip"}
        if "Range" in request.headers:
            start = int(request.headers["Range"].removeprefix("bytes=").split("-")[0])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        cut = self.state.cut_after.pop(request.match_info["name"], None)
        if cut is not None:
            await response.write(body[:cut])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body)
        await response.write_eof()
        return response

    # -- jobs ------------------------------------------------------------------------------

    def _job(self, request: web.Request) -> Job | web.Response:
        job = self.state.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, f"Job {request.match_info['id']} not found", code="job_not_found")
        return job

    def _save(self, job: Job, **update: Any) -> Job:
        job = job.model_copy(update=update)
        self.state.jobs[job.id] = job
        return job

    async def create_job(self, request: web.Request) -> web.Response:
        try:
            body = JobCreate.model_validate(await request.json())
        except ValidationError as exc:
            return _validation_error(exc)
        job = Job(id=f"job-{uuid.uuid4().hex[:10]}", user_id=request[USER_KEY], **body.model_dump())
        self.state.jobs[job.id] = job
        return web.json_response(job.model_dump(mode="json"), status=201)

    async def list_jobs(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        jobs = [j.model_dump(mode="json") for j in self.state.jobs.values()
                if status is None or j.status == status]
        return _page(jobs, request)

    async def get_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response(job.model_dump(mode="json"))

    async def start_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        specs = plan_chunks(job.id, job)
        self.state.chunks[job.id] = [
            {"chunk_id": c.chunk_id, "label": c.label, "query": c.query, "source": c.source.name,
             "status": "pending", "downloaded": 0, "valid": 0, "next_offset": 0,
             "last_error": None} for c in specs
        ]
        job = self._save(job, status=JobStatus.running, total_chunks=len(specs), run=job.run + 1,
                         started_at=datetime.now(timezone.utc),
                         task_ids=[c.chunk_id for c in specs])
        return web.json_response({"job_id": job.id, "status": "running", "task_ids": job.task_ids,
                                  "total_chunks": len(specs), "message": "Job started"})

    def _advance(self, job: Job) -> Job:
        """One poll = one more chunk done; the last one completes the job with its images."""
        if self.state.hold_jobs or job.status is not JobStatus.running:
            return job
        if self.state.fail_jobs:
            return self._save(job, status=JobStatus.failed, error="every source failed")
        chunks = self.state.chunks[job.id]
        for chunk in chunks:
            if chunk["status"] != "completed":
                chunk.update(status="completed", downloaded=self.state.images_per_chunk + 1,
                             valid=self.state.images_per_chunk, next_offset=None)
                images = self.state.job_images.setdefault(job.id, [])
                for _ in range(self.state.images_per_chunk):
                    data, w, h = noise_png(len(self.state.archives) * 7919 + len(images) + 1)
                    images.append((image_record(job.id, chunk["label"], data, w, h), data))
                break
        if all(c["status"] == "completed" for c in chunks):
            job = self._save(job, status=JobStatus.completed, completed_at=datetime.now(timezone.utc))
        return job

    async def progress(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        job = self._advance(job)
        chunks = self.state.chunks.get(job.id, [])
        done = [c for c in chunks if c["status"] == "completed"]
        answer = JobProgress(
            job_id=job.id, status=job.status, total_chunks=len(chunks),
            completed_chunks=len(done), active_chunks=len(chunks) - len(done) if job.status is JobStatus.running else 0,
            downloaded_images=sum(c["downloaded"] for c in chunks),
            stored_images=sum(c["valid"] for c in chunks), valid_images=sum(c["valid"] for c in chunks),
            failed_downloads=sum(c["downloaded"] - c["valid"] for c in chunks),
            progress=100 * len(done) // len(chunks) if chunks else 0, started_at=job.started_at,
        )
        return web.json_response(answer.model_dump(mode="json"))

    async def cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        open_chunks = [c for c in self.state.chunks.get(job.id, []) if c["status"] != "completed"]
        job = self._save(job, status=JobStatus.cancelled)
        return web.json_response({"job_id": job.id, "status": "cancelled",
                                  "revoked_tasks": len(open_chunks), "message": "Job cancelled"})

    async def resume_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        chunks = self.state.chunks.get(job.id, [])
        done = [c for c in chunks if c["status"] == "completed"]
        job = self._save(job, status=JobStatus.running)
        return web.json_response({
            "job_id": job.id, "status": "running", "chunks_to_resume": len(chunks) - len(done),
            "chunks_skipped": len(done), "images_so_far": sum(c["valid"] for c in chunks),
            "message": "Job resumed",
        })

    async def logs(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response({"chunks": self.state.chunks.get(job.id, [])})

    async def create_api_key(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = f"pxc_{uuid.uuid4().hex}"
        self.state.keys[key] = request[USER_KEY]
        return web.json_response({"id": f"key-{uuid.uuid4().hex[:8]}", "name": body["name"],
                                  "key": key, "created_at": datetime.now(timezone.utc).isoformat()},
                                 status=201)


class _MemorySink:
    """Collects an archive in memory (the fixture's archives are small)."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, part: bytes) -> None:
        self.data += part

    async def close(self) -> None:
        return None


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from any thread, even one whose loop is running."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


__all__ = ["API_KEY", "TOKEN", "ContractServer", "ContractState", "Fault", "noise_png"]
