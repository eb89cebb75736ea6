"""Ground-truth image corpus for the medium (near-duplicate) and slow (quality) validation levels.

From a seed, deterministically writes a directory of images and a ``manifest.json`` that says,
for every file, which base image it derives from (its duplicate group), what kind of variant it
is and which quality checks it must fail. Base images are synthetic but natural-ish (gradient
background, multi-octave noise texture, filled shapes, fine grain) so that distinct bases are
far apart in perceptual hash while staying cheap to make.

Roles of a base image (each block of 20 bases holds every role and kind once or more, in an
order shuffled by the seed):

- ``variants``: the original plus one to four of: exact copy, resize, JPEG re-encode at another
  quality, crop of at most 10 %, small brightness change. All are one duplicate group.
- ``lookalike``: the original plus a *distinct* image of the same composition (same palette,
  background and shape layout, shapes moved and resized, different texture). Two groups.
- ``quality``: one file that must fail one quality check (blur, dark, bright, low_information,
  grayscale, aspect_ratio, file_size) and pass the others. A group of its own.
- ``plain``: one clean file.

The directory is a cache: calling again with the same ``n_base`` and ``seed`` reads the manifest
back instead of regenerating.

Example::

    from scripts.corpus import generate_corpus
    corpus = generate_corpus("/tmp/corpus", n_base=40, seed=7)
    corpus.entries[0].group, corpus.entries[0].kind, corpus.entries[0].flags

CLI::

    python -m scripts.corpus /tmp/corpus --n-base 1000 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

#: Bump when the generator changes: a cached corpus of another version is regenerated.
GENERATOR_VERSION = 3

#: Variant kinds that are near-duplicates of their original.
NEAR_DUPLICATE_KINDS = ("exact", "resize", "reencode", "crop", "brightness")
#: Quality defects, each the name of the check (in ``shared.imaging.quality``) it must fail.
QUALITY_KINDS = (
    "blur", "dark", "bright", "low_information", "grayscale", "aspect_ratio", "file_size",
)

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CorpusEntry:
    """One file of the corpus and its ground truth."""

    id: str
    file: str
    group: str
    kind: str
    flags: tuple[str, ...]
    width: int
    height: int
    bytes: int
    sha256: str
    created_at: datetime

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass
class Corpus:
    """A generated corpus: its directory and ground truth, one entry per file."""

    directory: Path
    n_base: int
    seed: int
    entries: list[CorpusEntry] = field(default_factory=list)

    def path(self, entry: CorpusEntry) -> Path:
        return self.directory / entry.file

    def groups(self) -> dict[str, list[CorpusEntry]]:
        """Ground-truth duplicate groups, keyed by group id (singletons included)."""
        out: dict[str, list[CorpusEntry]] = defaultdict(list)
        for entry in self.entries:
            out[entry.group].append(entry)
        return dict(out)

    def expected_keepers(self, skip_kinds: Iterable[str] = ()) -> dict[str, str | None]:
        """For every id, the id of the image kept in its group (None if it is the kept one).

        The rule: largest width*height, then earliest created_at, then smallest id. Entries of
        ``skip_kinds`` are left out (of the result and of the choice).
        """
        skipped = set(skip_kinds)
        keepers: dict[str, str | None] = {}
        for group in self.groups().values():
            members = [e for e in group if e.kind not in skipped]
            if not members:
                continue
            kept = min(members, key=lambda e: (-e.area, e.created_at, e.id))
            for entry in members:
                keepers[entry.id] = None if entry is kept else kept.id
        return keepers


# --------------------------------------------------------------------------------------------
# Synthetic images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    kind: str
    box: tuple[float, float, float, float]  # fractions of width/height: x0, y0, x1, y1
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class _Composition:
    """What a look-alike shares with its original: size, palette, background and shapes."""

    width: int
    height: int
    colour_a: tuple[int, int, int]
    colour_b: tuple[int, int, int]
    angle: float
    shapes: tuple[_Shape, ...]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(30, 226, size=3))  # type: ignore[return-value]


def _composition(rng: np.random.Generator) -> _Composition:
    long_side = int(rng.integers(360, 900))
    aspect = float(rng.uniform(0.65, 1.55))
    width, height = (long_side, int(long_side / aspect)) if aspect >= 1 else (
        int(long_side * aspect), long_side)
    shapes = []
    for _ in range(int(rng.integers(3, 8))):
        cx, cy = rng.uniform(0.1, 0.9, size=2)
        half_w, half_h = rng.uniform(0.06, 0.25, size=2)
        shapes.append(_Shape(
            kind=str(rng.choice(["ellipse", "rectangle", "triangle"])),
            box=(cx - half_w, cy - half_h, cx + half_w, cy + half_h),
            colour=_colour(rng),
        ))
    return _Composition(width, height, _colour(rng), _colour(rng), float(rng.uniform(0, 2 * math.pi)),
                        tuple(shapes))


def _jittered(comp: _Composition, rng: np.random.Generator) -> _Composition:
    """Same composition, different details: each shape moved and resized."""
    shapes = []
    for shape in comp.shapes:
        x0, y0, x1, y1 = shape.box
        dx, dy = rng.uniform(-0.15, 0.15, size=2)
        sx, sy = rng.uniform(0.7, 1.3, size=2)
        cx, cy, hw, hh = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, (x1 - x0) / 2 * sx, (y1 - y0) / 2 * sy
        shapes.append(_Shape(shape.kind, (cx - hw, cy - hh, cx + hw, cy + hh), shape.colour))
    return _Composition(comp.width, comp.height, comp.colour_a, comp.colour_b, comp.angle,
                        tuple(shapes))


def _noise_field(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Multi-octave value noise, float32 (height, width, 3), roughly in [-1, 1].

    Octaves are summed on a 128 x 128 grid and scaled to the image size once.
    """
    total = np.zeros((128, 128, 3), np.float32)
    for cells, amplitude in ((3, 1.0), (6, 0.6), (12, 0.4), (24, 0.25), (48, 0.15)):
        grid = rng.uniform(0, 255, size=(cells, cells, 3)).astype(np.uint8)
        layer = np.asarray(Image.fromarray(grid).resize((128, 128), Image.BICUBIC), np.float32)
        total += (layer / 127.5 - 1.0) * amplitude
    small = np.clip(total / 3.0 * 127.5 + 127.5, 0, 255).astype(np.uint8)
    field = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), np.float32)
    return (field - 127.5) / 63.75


def _render(comp: _Composition, rng: np.random.Generator) -> Image.Image:
    w, h = comp.width, comp.height
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xs / w - 0.5) * math.cos(comp.angle) + (ys / h - 0.5) * math.sin(comp.angle)
    t = np.clip(t + 0.5, 0, 1)[..., None]
    a, b = np.array(comp.colour_a, np.float32), np.array(comp.colour_b, np.float32)
    pixels = a * (1 - t) + b * t + _noise_field(rng, w, h) * 55
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for shape in comp.shapes:
        x0, y0, x1, y1 = shape.box
        box = (x0 * w, y0 * h, x1 * w, y1 * h)
        if shape.kind == "ellipse":
            draw.ellipse(box, fill=shape.colour)
        elif shape.kind == "rectangle":
            draw.rectangle(box, fill=shape.colour)
        else:
            draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])],
                         fill=shape.colour)
    grain = rng.normal(0, 7, size=(h, w, 1)).astype(np.float32)
    texture = _noise_field(rng, w, h) * 18
    out = np.asarray(image, np.float32) + grain + texture
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------------------------
# Variants and defects
# --------------------------------------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _variant(kind: str, image: Image.Image, original: bytes, rng: np.random.Generator) -> bytes:
    w, h = image.size
    if kind == "exact":
        return original
    if kind == "resize":
        scale = float(rng.uniform(0.4, 0.85))
        return _jpeg(image.resize((round(w * scale), round(h * scale)), Image.LANCZOS),
                     int(rng.integers(80, 96)))
    if kind == "reencode":
        return _jpeg(image, int(rng.integers(25, 71)))
    if kind == "crop":
        cut_w, cut_h = rng.uniform(0.03, 0.10) * w, rng.uniform(0.03, 0.10) * h
        left, top = rng.uniform(0, 1) * cut_w, rng.uniform(0, 1) * cut_h
        box = (round(left), round(top), round(w - (cut_w - left)), round(h - (cut_h - top)))
        return _jpeg(image.crop(box), 90)
    if kind == "brightness":
        factor = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.12) + 1)
        return _jpeg(ImageEnhance.Brightness(image).enhance(factor), 90)
    raise ValueError(f"unknown variant kind {kind!r}")


def _defect(kind: str, image: Image.Image, rng: np.random.Generator) -> bytes:
    w, h = image.size
    if kind == "blur":
        return _jpeg(image.filter(ImageFilter.GaussianBlur(max(w, h) / 90)), 90)
    if kind in ("dark", "bright"):
        # scale the luma range so that the mean lands at 18-30 (dark) or 225-237 (bright)
        pixels = np.asarray(image, np.float32)
        target = float(rng.uniform(18, 30))
        if kind == "dark":
            out = pixels * (target / pixels.mean())
        else:
            out = 255 - (255 - pixels) * (target / (255 - pixels.mean()))
        return _jpeg(Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)), 92)
    if kind == "low_information":
        # a two-colour, sharp, blocky pattern (a scanned form, a QR-like logo): few grey levels
        cells = rng.integers(0, 2, size=(h // 12 + 1, w // 12 + 1)).astype(bool)
        mask = np.repeat(np.repeat(cells, 12, axis=0), 12, axis=1)[:h, :w]
        palette = np.array([_colour(rng), _colour(rng)], np.uint8)
        return _jpeg(Image.fromarray(palette[mask.astype(np.intp)]), 90)
    if kind == "grayscale":
        return _jpeg(image.convert("L").convert("RGB"), 90)
    if kind == "aspect_ratio":
        # a thin banner: width / height = 5
        return _jpeg(image.crop((0, h // 3, w, h // 3 + w // 5)), 90)
    if kind == "file_size":
        return _jpeg(image.resize((48, max(8, round(48 * h / w))), Image.LANCZOS), 40)
    raise ValueError(f"unknown defect kind {kind!r}")


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


#: Roles of a block of 20 consecutive bases (shuffled per block): every kind of variant and
#: defect occurs in any corpus of 20 or more bases.
_BLOCK: tuple[tuple[str, str], ...] = (
    *(("variants", kind) for kind in NEAR_DUPLICATE_KINDS),
    ("variants", ""), ("variants", ""), ("variants", ""),
    ("lookalike", ""), ("lookalike", ""),
    *(("quality", kind) for kind in QUALITY_KINDS),
    ("plain", ""), ("plain", ""), ("plain", ""),
)


def _plan(n_base: int, seed: int) -> list[tuple[str, str]]:
    """(role, kind) of each base: ``kind`` is the defect of a quality base, or a variant kind
    that a variants base must include ("" for a free choice)."""
    plan: list[tuple[str, str]] = []
    for block in range(math.ceil(n_base / len(_BLOCK))):
        order = np.random.default_rng([seed, block, 1]).permutation(len(_BLOCK))
        plan.extend(_BLOCK[i] for i in order)
    return plan[:n_base]


def _entry(directory: Path, name: str, data: bytes, group: str, kind: str,
           flags: tuple[str, ...], created_at: datetime) -> CorpusEntry:
    (directory / f"{name}.jpg").write_bytes(data)
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return CorpusEntry(id=name, file=f"{name}.jpg", group=group, kind=kind, flags=flags,
                       width=width, height=height, bytes=len(data),
                       sha256=hashlib.sha256(data).hexdigest(), created_at=created_at)


def _base_files(directory: Path, index: int, seed: int, role: str, kind: str) -> list[CorpusEntry]:
    rng = np.random.default_rng([seed, index])
    group = f"g{index:05d}"
    comp = _composition(rng)
    image = _render(comp, rng)
    when = _EPOCH + timedelta(minutes=index)

    def at() -> datetime:
        return when + timedelta(seconds=int(rng.integers(0, 50)))

    if role == "quality":
        return [_entry(directory, f"{group}-{kind}", _defect(kind, image, rng), group, kind,
                       (kind,), at())]
    original = _jpeg(image, int(rng.integers(82, 96)))
    entries = [_entry(directory, f"{group}-original", original, group, "original", (), at())]
    if role == "variants":
        others = [k for k in NEAR_DUPLICATE_KINDS if k != kind]
        count = int(rng.integers(1, 5))
        chosen = [str(k) for k in rng.choice(others, size=count, replace=False)]
        kinds = [kind, *chosen[: count - 1]] if kind else chosen
        for n, variant in enumerate(kinds):
            data = _variant(variant, image, original, rng)
            entries.append(_entry(directory, f"{group}-{variant}{n}", data, group, variant, (), at()))
    elif role == "lookalike":
        twin = _render(_jittered(comp, rng), rng)
        entries.append(_entry(directory, f"{group}-lookalike", _jpeg(twin, 90), f"{group}L",
                              "lookalike", (), at()))
    return entries


def _load(directory: Path, n_base: int, seed: int) -> Corpus | None:
    manifest = directory / _MANIFEST
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    if (data.get("version"), data.get("n_base"), data.get("seed")) != (GENERATOR_VERSION, n_base, seed):
        return None
    entries = [
        CorpusEntry(**{**e, "flags": tuple(e["flags"]),
                       "created_at": datetime.fromisoformat(e["created_at"])})
        for e in data["entries"]
    ]
    if not all((directory / e.file).is_file() for e in entries):
        return None
    return Corpus(directory, n_base, seed, entries)


def generate_corpus(directory: str | Path, n_base: int, seed: int) -> Corpus:
    """Write (or read back from cache) a corpus of ``n_base`` base images and their variants.

    >>> corpus = generate_corpus("/tmp/pixcrawler-corpus-doc", n_base=5, seed=3)  # doctest: +SKIP
    >>> len(corpus.groups()) >= 5  # doctest: +SKIP
    True
    """
    directory = Path(directory)
    cached = _load(directory, n_base, seed)
    if cached is not None:
        return cached
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("g*-*.jpg"):
        stale.unlink()
    entries = [
        entry
        for index, (role, kind) in enumerate(_plan(n_base, seed))
        for entry in _base_files(directory, index, seed, role, kind)
    ]
    corpus = Corpus(directory, n_base, seed, entries)
    manifest = {
        "version": GENERATOR_VERSION, "n_base": n_base, "seed": seed,
        "entries": [{**asdict(e), "flags": list(e.flags), "created_at": e.created_at.isoformat()}
                    for e in entries],
    }
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=1))
    return corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--n-base", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    corpus = generate_corpus(args.directory, args.n_base, args.seed)
    kinds: dict[str, int] = defaultdict(int)
    for entry in corpus.entries:
        kinds[entry.kind] += 1
    print(f"{len(corpus.entries)} files in {corpus.directory}: "
          + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
