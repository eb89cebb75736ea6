"""A local image source for demos, tests and the benchmark: Wikimedia Commons and Openverse
look-alikes.

It answers the Commons search API (``GET /w/api.php?action=query&generator=search...``, the
requests :mod:`shared.crawl.sources.wikimedia` makes) and the Openverse search API
(``GET /v1/images/``) from a generated, labelled catalogue, and serves the images themselves.
Point ``PIXCRAWLER_WIKIMEDIA_BASE_URL`` or ``PIXCRAWLER_OPENVERSE_BASE_URL`` at ``base_url``
and those sources work unchanged (two processes with different ``--seed`` serve two sources
with different images).

The catalogue: for each label, ``per_label`` entries. Images are made with numpy and Pillow
from the seed (a style per label: hue, shape kind and texture; a random low-frequency layout
per image, so that images differ visually and in perceptual hash), JPEG and PNG, 256-1024 px,
20-300 KB, and cached on disk under the given directory. A fault mix turns some entries into
exact duplicates, re-encoded near-duplicates, truncated JPEGs, HTML served as image/jpeg, 404s,
slow responses and redirects to a metadata address (169.254.169.254, which the downloader's
SSRF guard must refuse: nothing here ever connects to it). Search pages can answer 429 at a
given rate, and a label's search can fail with HTTP 500 from an offset on (resume tests).

A query selects the label whose words appear in it ("cat photo" -> "cat"; the longest label
wins); results are the label's entries in catalogue order, paged with ``gsroffset`` and
``continue``, and end with the label.

Routes:

* ``GET /w/api.php`` -- the Commons search API (``formatversion`` 1 or 2).
* ``GET /v1/images/`` -- the Openverse search API (``q``, ``page``, ``page_size``), same catalogue.
* ``GET /images/{label}/{file}`` -- an image (or its fault).
* ``GET /wiki/{title}`` -- a small description page (the candidates' ``page_url``).
* ``GET /_demo/catalogue`` -- ground truth: every entry's url, label, kind, ``of`` (the
  original of a duplicate), sha256 and size of the bytes served.
* ``GET /_demo/requests`` -- every search request (query, label, offset, limit, status) and
  how often each image was fetched.
* ``POST /_demo/search-failures`` -- JSON ``{"label or query": offset}``: those searches
  fail with HTTP 500 from that offset on; ``{}`` heals them.

Python::

    async with DemoSource(".local/catalogue", ["cat", "dog"], per_label=50,
                          faults=Faults(duplicate=0.1, truncated=0.05)) as demo:
        demo.base_url                  # "http://127.0.0.1:PORT"
        demo.ground_truth()            # what /_demo/catalogue answers
        demo.search_offsets("cat")     # offsets the crawler asked for, in order

CLI::

    python scripts/demo_source.py --port 0 --labels cat,dog,bird --per-label 120 \\
        --dir .local/catalogue --duplicate 0.05 --truncated 0.02 --search-429-rate 0.1
    # demo source listening on http://127.0.0.1:PORT   (serves until SIGTERM)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import multiprocessing
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

import numpy as np
from aiohttp import web
from PIL import Image, ImageDraw

#: Bump when the generator changes: cached files of another version are not reused.
GENERATOR_VERSION = 1
#: Largest Openverse page served (anonymous clients get 20 from the real service).
OPENVERSE_MAX_PAGE = 500
#: Where a ``redirect_blocked`` entry points: the cloud metadata address.
BLOCKED_REDIRECT = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
#: Body of an ``html`` entry (served as image/jpeg, as captive portals and CDNs do).
HTML_BODY = (
    b"<!DOCTYPE html><html><head><title>Access denied</title></head>"
    b"<body><h1>Access denied</h1><p>Please enable JavaScript and cookies.</p></body></html>"
)
#: Entry kinds. ``ok`` and ``slow`` are valid, distinct images.
KINDS = (
    "ok",
    "duplicate_of",
    "near_duplicate_of",
    "truncated",
    "html",
    "404",
    "slow",
    "redirect_blocked",
)
#: The Commons API's page limit for clients without the bot right.
MAX_LIMIT = 50
#: Catalogues at least this large are rendered in worker processes.
PARALLEL_THRESHOLD = 300
PNG_MAGIC = b"\x89PNG"
_TEXTURE_SIDE = 1280
_MIN_BYTES, _MAX_BYTES = 20_000, 300_000


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """The fault mix. Rates are fractions of each label's entries (rounded to whole entries,
    placed deterministically from the seed); together they must leave at least one ``ok``.

    >>> Faults(duplicate=0.1, truncated=0.05).rates()["duplicate_of"]
    0.1
    """

    duplicate: float = 0.0
    near_duplicate: float = 0.0
    truncated: float = 0.0
    html: float = 0.0
    not_found: float = 0.0
    slow: float = 0.0
    redirect_blocked: float = 0.0
    slow_delay: float = 2.0
    search_429_rate: float = 0.0
    search_retry_after: int = 0
    fail_search_after: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rates = self.rates()
        for name, rate in [*rates.items(), ("search_429_rate", self.search_429_rate)]:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name}={rate} must be between 0 and 1")
        if sum(rates.values()) >= 1.0:
            raise ValueError("fault rates must add up to less than 1 (some images must be ok)")
        if self.slow_delay < 0 or self.search_retry_after < 0:
            raise ValueError("slow_delay and search_retry_after must be >= 0")

    def rates(self) -> dict[str, float]:
        """Fault kind -> rate, in the order faults are placed."""
        return {
            "duplicate_of": self.duplicate,
            "near_duplicate_of": self.near_duplicate,
            "truncated": self.truncated,
            "html": self.html,
            "404": self.not_found,
            "slow": self.slow,
            "redirect_blocked": self.redirect_blocked,
        }


@dataclass(frozen=True)
class CatalogueEntry:
    """One search result of the demo source and what its URL serves."""

    label: str
    index: int
    kind: str
    path: str
    of: str | None
    content_type: str
    width: int
    height: int
    body: bytes = field(repr=False)

    @property
    def served(self) -> bool:
        """Whether the URL answers with bytes (not a 404 or a redirect)."""
        return self.kind not in ("404", "redirect_blocked")

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.served else None

    @property
    def title(self) -> str:
        return f"File:{self.label} {self.index:04d}.{self.path.rsplit('.', 1)[-1]}"

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "url": base_url + self.path,
            "label": self.label,
            "index": self.index,
            "kind": self.kind,
            "of": base_url + self.of if self.of else None,
            "sha256": self.sha256,
            "bytes": len(self.body) if self.served else None,
            "content_type": self.content_type if self.served else None,
            "width": self.width,
            "height": self.height,
        }


def slug(label: str) -> str:
    """A label as a URL path segment.

    >>> slug("Golden Retriever!")
    'golden-retriever'
    """
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "label"


def _key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def plan_label(
    label: str, per_label: int, seed: int, faults: Faults
) -> list[tuple[str, int | None]]:
    """Kind of each of a label's entries and, for (near-)duplicates, the index of the original.

    >>> [k for k, _ in plan_label("cat", 4, 0, Faults())]
    ['ok', 'ok', 'ok', 'ok']
    """
    rng = random.Random(f"{seed}:{label}:plan")
    positions = list(range(per_label))
    rng.shuffle(positions)
    counts = {kind: round(rate * per_label) for kind, rate in faults.rates().items()}
    while per_label and sum(counts.values()) > per_label - 1:
        biggest = max(counts, key=lambda k: counts[k])
        counts[biggest] -= 1
    kinds = ["ok"] * per_label
    cursor = 0
    for kind, count in counts.items():
        for position in positions[cursor : cursor + count]:
            kinds[position] = kind
        cursor += count
    originals = [i for i, kind in enumerate(kinds) if kind == "ok"]
    return [
        (kind, rng.choice(originals) if kind in ("duplicate_of", "near_duplicate_of") else None)
        for kind in kinds
    ]


@lru_cache(maxsize=32)
def _texture(label: str, seed: int) -> Image.Image:
    """A label's texture: grain, ripples or blocks, so labels differ in fine detail too."""
    rng = np.random.default_rng([seed, _key(label), 1])
    side = _TEXTURE_SIDE
    style = _key(label) % 3
    if style == 0:
        pattern = rng.integers(0, 256, (side, side), dtype=np.uint8)
    elif style == 1:
        y, x = np.mgrid[0:side, 0:side]
        waves = 127 + 55 * np.sin(x / 3.1) + 55 * np.sin(y / 5.3)
        pattern = (waves + rng.integers(-60, 60, (side, side))).clip(0, 255).astype(np.uint8)
    else:
        blocks = rng.integers(0, 256, (side // 4, side // 4), dtype=np.uint8)
        pattern = np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)
    return Image.fromarray(pattern, "L").convert("RGB")


def render_image(label: str, index: int, seed: int, force_jpeg: bool = False) -> bytes:
    """One catalogue image, deterministic in (label, index, seed): JPEG (3 in 4) or PNG.

    >>> data = render_image("cat", 0, seed=1, force_jpeg=True)
    >>> data[:2], 20_000 <= len(data) <= 300_000
    (b'\\xff\\xd8', True)
    """
    key = _key(label)
    rng = np.random.default_rng([seed, key, index])
    jpeg = force_jpeg or rng.random() < 0.75
    longest = 1024 if jpeg else 560
    width, height = (256 + (longest - 256) * rng.random(2) ** 1.7).astype(int).tolist()
    rows, cols = rng.integers(3, 7, 2).tolist()
    hsv = np.empty((rows, cols, 3), np.uint8)
    hsv[..., 0] = (((key % 256) / 256 + rng.normal(0, 0.05, (rows, cols))) % 1 * 255).astype(
        np.uint8
    )
    hsv[..., 1] = (100 + 155 * rng.random((rows, cols))).astype(np.uint8)
    hsv[..., 2] = (30 + 225 * rng.random((rows, cols))).astype(np.uint8)
    # A smooth low-frequency layout (what the phash sees). JPEGs get it at quarter size,
    # blown up (cheap: the texture hides the steps); PNGs smooth, so that they compress.
    layout = Image.fromarray(hsv, "HSV").convert("RGB")
    if jpeg:
        quarter = layout.resize((max(1, width // 4), max(1, height // 4)), Image.Resampling.BICUBIC)
        image = quarter.resize((width, height), Image.Resampling.NEAREST)
    else:
        image = layout.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    shape = (key >> 8) % 4
    for _ in range(int(rng.integers(3, 8))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(min(width, height) // 10, min(width, height) // 3))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if shape == 0:
            draw.ellipse([x, y, x + size, y + size], fill=colour)
        elif shape == 1:
            draw.rectangle([x, y, x + size, y + size // 2], fill=colour)
        elif shape == 2:
            draw.polygon([(x, y), (x + size, y), (x + size // 2, y - size)], fill=colour)
        else:
            draw.line([x, y, x + size, y + size], fill=colour, width=max(3, size // 8))
    if not jpeg:
        return _encode(image, "PNG")
    ox = int(rng.integers(0, _TEXTURE_SIDE - width + 1))
    oy = int(rng.integers(0, _TEXTURE_SIDE - height + 1))
    image = Image.blend(image, _texture(label, seed).crop((ox, oy, ox + width, oy + height)), 0.18)
    return _encode(image, "JPEG")


def _encode(image: Image.Image, fmt: str, quality: int = 88) -> bytes:
    """Encode, nudging JPEG quality so the file lands in 20-300 KB."""
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", compress_level=1)
        return out.getvalue()
    image.save(out, "JPEG", quality=quality)
    data = out.getvalue()
    if len(data) > _MAX_BYTES and quality > 40:
        return _encode(image, fmt, quality - 15)
    if len(data) < _MIN_BYTES and quality < 97:
        return _encode(image, fmt, 97)
    return data


def near_duplicate(original: bytes, seed: int) -> bytes:
    """A re-encoded copy of ``original``: resized to 55-85 % and recompressed as JPEG."""
    rng = random.Random(seed)
    image = Image.open(io.BytesIO(original)).convert("RGB")
    scale = rng.uniform(0.55, 0.85)
    size = (max(64, int(image.width * scale)), max(64, int(image.height * scale)))
    return _encode(image.resize(size, Image.Resampling.LANCZOS), "JPEG", rng.randint(60, 80))


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _materialize(task: tuple[str, str, int, int, bool, str, str]) -> None:
    """Make one cached file unless it exists (runs in worker processes)."""
    what, label, index, seed, force_jpeg, path, source = task
    target = Path(path)
    if target.exists():
        return
    if what == "render":
        data = render_image(label, index, seed, force_jpeg)
    else:
        data = near_duplicate(Path(source).read_bytes(), _key(f"{seed}:{label}:{index}"))
    _write_atomically(target, data)


def _run(tasks: list[tuple[str, str, int, int, bool, str, str]], workers: int | None) -> None:
    """Make the missing files: in ``workers`` processes if given (1 = here), otherwise in one
    per CPU once there are enough of them to be worth starting processes."""
    todo = [t for t in tasks if not Path(t[5]).exists()]
    if workers is None:
        workers = (os.cpu_count() or 1) if len(todo) >= PARALLEL_THRESHOLD else 1
    if workers < 2 or not todo:
        for task in todo:
            _materialize(task)
        return
    # fork: workers start at once, with numpy and Pillow already imported (spawn would pay
    # seconds of imports per worker); spawn where fork does not exist.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(_materialize, todo, chunksize=16))


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def build_catalogue(
    directory: str | Path,
    labels: Sequence[str],
    per_label: int,
    seed: int = 0,
    faults: Faults | None = None,
    workers: int | None = None,
) -> list[CatalogueEntry]:
    """The whole catalogue, rendering only what ``directory`` does not hold yet.

    Images are cached as ``{directory}/v{GENERATOR_VERSION}/seed{seed}/{label}/{index}.{ext}``;
    a second call with the same seed reads them back (the fault mix may change freely).
    """
    faults = faults or Faults()
    if per_label < 1 or not labels:
        raise ValueError("need at least one label and per_label >= 1")
    if len({slug(label) for label in labels}) != len(labels):
        raise ValueError(f"labels must differ in letters and digits: {list(labels)}")
    root = Path(directory) / f"v{GENERATOR_VERSION}" / f"seed{seed}"
    plans = {label: plan_label(label, per_label, seed, faults) for label in labels}

    def base_path(label: str, index: int, force_jpeg: bool) -> Path:
        return root / slug(label) / f"{index:05d}{'-j' if force_jpeg else ''}.img"

    def near_path(label: str, index: int, of: int) -> Path:
        return root / slug(label) / f"{index:05d}-near{of:05d}.jpg"

    renders, nears = [], []
    for label, plan in plans.items():
        for index, (kind, of) in enumerate(plan):
            if kind in ("ok", "slow", "truncated"):
                jpeg = kind == "truncated"
                renders.append(
                    ("render", label, index, seed, jpeg, str(base_path(label, index, jpeg)), "")
                )
            elif kind == "near_duplicate_of" and of is not None:
                source = str(base_path(label, of, False))
                nears.append(
                    ("near", label, index, seed, False, str(near_path(label, index, of)), source)
                )
    _run(renders, workers)
    _run(nears, workers)

    entries: list[CatalogueEntry] = []
    for label, plan in plans.items():
        bodies: dict[int, bytes] = {}
        for index, (kind, _) in enumerate(plan):
            if kind in ("ok", "slow", "truncated"):
                bodies[index] = base_path(label, index, kind == "truncated").read_bytes()
        dims_rng = random.Random(f"{seed}:{label}:dims")
        for index, (kind, of) in enumerate(plan):
            entries.append(_entry(label, index, kind, of, bodies, dims_rng, near_path))
    return entries


def _image_path(label: str, index: int, body: bytes) -> str:
    return f"/images/{slug(label)}/{index:04d}.{'png' if body.startswith(PNG_MAGIC) else 'jpg'}"


def _entry(
    label: str,
    index: int,
    kind: str,
    of: int | None,
    bodies: dict[int, bytes],
    dims_rng: random.Random,
    near_path: Callable[[str, int, int], Path],
) -> CatalogueEntry:
    original = bodies.get(of) if of is not None else None
    if kind == "duplicate_of" and original is not None:
        body = original
    elif kind == "near_duplicate_of" and of is not None:
        body = near_path(label, index, of).read_bytes()
    elif kind == "truncated":
        body = bodies[index][: len(bodies[index]) * 55 // 100]
    elif kind in ("ok", "slow"):
        body = bodies[index]
    elif kind == "html":
        body = HTML_BODY
    else:
        body = b""
    is_png = body.startswith(PNG_MAGIC)
    if kind in ("ok", "slow", "duplicate_of", "near_duplicate_of"):
        width, height = _size(body)
    elif kind == "truncated":
        width, height = _size(bodies[index])
    else:
        width, height = dims_rng.randint(256, 1024), dims_rng.randint(256, 1024)
    return CatalogueEntry(
        label=label,
        index=index,
        kind=kind,
        path=_image_path(label, index, body),
        of=_image_path(label, of, bodies[of]) if of is not None else None,
        content_type="image/png" if is_png else "image/jpeg",
        width=width,
        height=height,
        body=body,
    )


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


def select_label(query: str, labels: Iterable[str]) -> str | None:
    """The label a query asks for: the longest one whose words all appear in it, in order.

    >>> select_label("cat photo", ["cat", "dog"]), select_label("Golden Retriever pup",
    ...     ["golden retriever", "dog"]), select_label("bird", ["cat"])
    ('cat', 'golden retriever', None)
    """
    text = _words(query)
    matches = [label for label in labels if _words(label) in text]
    return max(matches, key=len) if matches else None


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


class DemoSource:
    """The demo source as an async context manager (see the module docstring)."""

    def __init__(
        self,
        catalogue_dir: str | Path,
        labels: Sequence[str],
        per_label: int,
        seed: int = 0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int | None = None,
    ) -> None:
        self.catalogue_dir = Path(catalogue_dir)
        self.labels = list(labels)
        self.per_label = per_label
        self.seed = seed
        self.faults = faults or Faults()
        self.host = host
        self.port = port
        self.workers = workers
        self.search_429_rate = self.faults.search_429_rate
        self.search_failures: dict[str, int] = dict(self.faults.fail_search_after)
        self.search_requests: list[dict[str, Any]] = []
        self.image_requests: Counter[str] = Counter()
        self.catalogue: list[CatalogueEntry] = []
        self._by_label: dict[str, list[CatalogueEntry]] = {}
        self._by_path: dict[str, CatalogueEntry] = {}
        self._rng = random.Random(f"{seed}:429")
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/w/api.php"

    async def start(self) -> None:
        """Build (or load) the catalogue, then listen."""
        started = time.perf_counter()
        self.catalogue = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: build_catalogue(
                self.catalogue_dir,
                self.labels,
                self.per_label,
                self.seed,
                self.faults,
                self.workers,
            ),
        )
        self.build_seconds = time.perf_counter() - started
        self._by_label = {label: [] for label in self.labels}
        for entry in self.catalogue:
            self._by_label[entry.label].append(entry)
            self._by_path[entry.path] = entry
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "DemoSource":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/w/api.php", self._api)
        app.router.add_get("/v1/images/", self._openverse)
        app.router.add_get("/images/{label}/{name}", self._image)
        app.router.add_get("/wiki/{title}", self._wiki)
        app.router.add_get("/_demo/catalogue", self._catalogue)
        app.router.add_get("/_demo/requests", self._requests)
        app.router.add_post("/_demo/search-failures", self._set_failures)
        return app

    # -- accessors ---------------------------------------------------------------------------

    def ground_truth(self) -> list[dict[str, Any]]:
        """What ``GET /_demo/catalogue`` answers: one dict per entry, in search order."""
        return [entry.as_json(self.base_url) for entry in self.catalogue]

    def kinds(self, label: str | None = None) -> Counter[str]:
        """How many entries of each kind (of one label, or of all)."""
        return Counter(e.kind for e in self.catalogue if label is None or e.label == label)

    def search_offsets(self, label_or_query: str) -> list[int]:
        """Offsets of the search requests for a label (or an exact query), in arrival order."""
        return [
            r["offset"] for r in self.search_requests if label_or_query in (r["label"], r["query"])
        ]

    def fail_search_after(self, label_or_query: str, offset: int | None) -> None:
        """Searches of a label (or of one exact query) answer 500 from ``offset`` on; None
        heals them."""
        if offset is None:
            self.search_failures.pop(label_or_query, None)
        else:
            self.search_failures[label_or_query] = offset

    # -- handlers ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("action") != "query" or q.get("generator") != "search":
            return _api_error("badvalue", "Only action=query with generator=search is served.")
        query = q.get("gsrsearch", "")
        if not query:
            return _api_error("missingparam", 'The "gsrsearch" parameter must be set.')
        try:
            offset = max(0, int(q.get("gsroffset", "0")))
            limit_text = q.get("gsrlimit", "10")
            limit = MAX_LIMIT if limit_text == "max" else min(MAX_LIMIT, max(1, int(limit_text)))
        except ValueError:
            return _api_error("badinteger", "gsroffset and gsrlimit must be integers.")
        label = select_label(query, self.labels)
        refusal = self._refuse_search(query, label, offset, limit)
        if refusal is not None:
            return refusal
        return web.json_response(self._search_body(label, offset, limit, q.get("formatversion")))

    def _refuse_search(
        self, query: str, label: str | None, offset: int, limit: int
    ) -> web.Response | None:
        """Record a search; answer 429 (at the configured rate) or 500 (a failing label or
        query past its offset), or None to serve it."""
        record = {"query": query, "label": label, "offset": offset, "limit": limit, "status": 200}
        self.search_requests.append(record)
        if self.search_429_rate and self._rng.random() < self.search_429_rate:
            record["status"] = 429
            return web.Response(
                status=429,
                text="Too many requests",
                headers={"Retry-After": str(self.faults.search_retry_after)},
            )
        failing_from = min(
            self.search_failures.get(query, sys.maxsize),
            self.search_failures.get(label or "", sys.maxsize),
        )
        if offset >= failing_from:
            record["status"] = 500
            return web.Response(
                status=500,
                text="<html><body>Internal Server Error</body></html>",
                content_type="text/html",
            )
        return None

    async def _openverse(self, request: web.Request) -> web.Response:
        """``GET /v1/images/?q=&page=&page_size=``: the Openverse answer format."""
        q = request.query
        query = q.get("q", "")
        try:
            page = max(1, int(q.get("page", "1")))
            size = min(OPENVERSE_MAX_PAGE, max(1, int(q.get("page_size", "20"))))
        except ValueError:
            return web.json_response({"detail": "page and page_size must be integers"}, status=400)
        label = select_label(query, self.labels) if query else None
        offset = (page - 1) * size
        refusal = self._refuse_search(query, label, offset, size)
        if refusal is not None:
            return refusal
        entries = self._by_label.get(label, []) if label else []
        page_count = max(1, -(-len(entries) // size))
        if page > page_count:
            return web.json_response({"detail": "Invalid page"}, status=400)
        results = [
            {
                "id": f"{slug(e.label)}-{e.index:04d}",
                "title": f"{e.label} {e.index:04d}",
                "url": self.base_url + e.path,
                "foreign_landing_url": f"{self.base_url}/wiki/{quote(e.title.replace(' ', '_'), safe=':')}",
                "creator": f"Demo {e.label} photographer",
                "license": "by",
                "license_version": "4.0",
                "attribution": f'"{e.label} {e.index:04d}" by Demo {e.label} photographer is licensed under CC BY 4.0.',
                "width": e.width,
                "height": e.height,
                "source": "demo",
            }
            for e in entries[offset : offset + size]
        ]
        return web.json_response(
            {"result_count": len(entries), "page_count": page_count, "page_size": size, "page": page,
             "results": results}
        )

    def _search_body(
        self, label: str | None, offset: int, limit: int, formatversion: str | None
    ) -> dict[str, Any]:
        entries = self._by_label.get(label, []) if label else []
        window = entries[offset : offset + limit]
        v2 = formatversion == "2"
        body: dict[str, Any] = {"batchcomplete": True if v2 else ""}
        if offset + limit < len(entries):
            body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
        if not window:
            return body
        pages = [self._page(e, offset + i + 1) for i, e in enumerate(window)]
        # Commons lists pages by page id, not by rank: the "index" field is the rank.
        pages.sort(key=lambda p: p["pageid"], reverse=True)
        body["query"] = {"pages": pages if v2 else {str(p["pageid"]): p for p in pages}}
        return body

    def _page(self, entry: CatalogueEntry, rank: int) -> dict[str, Any]:
        title = entry.title
        description = f"{self.base_url}/wiki/{quote(title.replace(' ', '_'), safe=':')}"
        page_id = 1_000_000 + self.labels.index(entry.label) * 100_000 + entry.index
        artist = f'<a href="{self.base_url}/wiki/User:Demo">Demo {entry.label} photographer</a>'
        return {
            "pageid": page_id,
            "ns": 6,
            "title": title,
            "index": rank,
            "imagerepository": "local",
            "imageinfo": [
                {
                    "size": len(entry.body) or 1,
                    "width": entry.width,
                    "height": entry.height,
                    "url": self.base_url + entry.path,
                    "descriptionurl": description,
                    "descriptionshorturl": f"{self.base_url}/w/index.php?curid={page_id}",
                    "mime": entry.content_type,
                    "extmetadata": {
                        "ObjectName": {
                            "value": f"{entry.label} {entry.index:04d}",
                            "source": "original",
                            "hidden": "",
                        },
                        "Artist": {"value": artist, "source": "commons-desc-page"},
                        "LicenseShortName": {
                            "value": "CC BY-SA 4.0",
                            "source": "commons-desc-page",
                            "hidden": "",
                        },
                    },
                }
            ],
        }

    async def _image(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.image_requests[path] += 1
        entry = self._by_path.get(path)
        if entry is None or entry.kind == "404":
            return web.Response(status=404, text="Not Found")
        if entry.kind == "redirect_blocked":
            raise web.HTTPFound(BLOCKED_REDIRECT)
        if entry.kind == "slow":
            await asyncio.sleep(self.faults.slow_delay)
        return web.Response(
            body=entry.body,
            content_type=entry.content_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def _wiki(self, request: web.Request) -> web.Response:
        title = request.match_info["title"].replace("_", " ")
        return web.Response(
            text=f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>Demo file description page.</p></body></html>",
            content_type="text/html",
        )

    async def _catalogue(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "base_url": self.base_url,
                "labels": self.labels,
                "per_label": self.per_label,
                "seed": self.seed,
                "items": self.ground_truth(),
            }
        )

    async def _requests(self, request: web.Request) -> web.Response:
        by_label: dict[str, list[int]] = {}
        by_query: dict[str, list[int]] = {}
        for record in self.search_requests:
            by_query.setdefault(record["query"], []).append(record["offset"])
            if record["label"] is not None:
                by_label.setdefault(record["label"], []).append(record["offset"])
        return web.json_response(
            {
                "searches": self.search_requests,
                "by_label": by_label,
                "by_query": by_query,
                "images": dict(self.image_requests),
            }
        )

    async def _set_failures(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            failures = {str(k): int(v) for k, v in body.items()}
        except (ValueError, AttributeError, TypeError):
            return web.json_response(
                {"error": 'send a JSON object {"label": offset, ...}'}, status=400
            )
        self.search_failures = failures
        return web.json_response(self.search_failures)


def _api_error(code: str, info: str) -> web.Response:
    return web.json_response({"error": {"code": code, "info": info, "*": "See /w/api.php"}})


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _parse_failures(values: list[str]) -> dict[str, int]:
    failures = {}
    for value in values:
        label, _, offset = value.rpartition("=")
        if not label or not offset.isdigit():
            raise argparse.ArgumentTypeError(
                f"--fail-search-after wants LABEL=OFFSET, not {value!r}"
            )
        failures[label] = int(offset)
    return failures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--labels", default="cat,dog,bird", help="comma-separated")
    parser.add_argument("--per-label", type=int, default=120)
    parser.add_argument("--dir", default=".local/catalogue", help="image cache directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="render processes")
    for name in (
        "duplicate",
        "near-duplicate",
        "truncated",
        "html",
        "not-found",
        "slow",
        "redirect-blocked",
    ):
        parser.add_argument(f"--{name}", type=float, default=0.0, help="rate per label, 0-1")
    parser.add_argument("--slow-delay", type=float, default=2.0, help="seconds")
    parser.add_argument("--search-429-rate", type=float, default=0.0)
    parser.add_argument("--search-retry-after", type=int, default=0, help="seconds")
    parser.add_argument(
        "--fail-search-after",
        action="append",
        default=[],
        metavar="LABEL=OFFSET",
        help="500 on that label's searches from OFFSET",
    )
    return parser.parse_args(argv)


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        duplicate=args.duplicate,
        near_duplicate=args.near_duplicate,
        truncated=args.truncated,
        html=args.html,
        not_found=args.not_found,
        slow=args.slow,
        redirect_blocked=args.redirect_blocked,
        slow_delay=args.slow_delay,
        search_429_rate=args.search_429_rate,
        search_retry_after=args.search_retry_after,
        fail_search_after=_parse_failures(args.fail_search_after),
    )


async def serve(args: argparse.Namespace) -> None:
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    demo = DemoSource(
        args.dir,
        labels,
        args.per_label,
        args.seed,
        faults_from_args(args),
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with demo:
        print(
            f"catalogue: {len(demo.catalogue)} entries in {demo.build_seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        print(f"demo source listening on {demo.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
