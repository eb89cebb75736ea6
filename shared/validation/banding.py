"""Near-duplicate search over a job of any size, in memory bounded by settings.

:func:`shared.validation.dedupe.find_duplicate_groups` indexes a whole job at once, which at a million
images is gigabytes in one process. This module finds exactly the same groups in stages, each
of which holds a bounded share of the job:

1. **Bands (pigeonhole).** A 64-bit hash is cut into ``r + 1`` bands of whole bits
   (:class:`BandLayout`). Two hashes at most ``r`` bits apart differ in at most ``r`` bands, so
   they agree on at least one whole band: every pair within ``r`` shares a *bucket*
   (band index, band value).
2. **Map** (:func:`route`). A slice of the job (a range of record ids) turns each record into
   entries: one per band of its whole hash, one per band of each of its distinct window hashes
   (crops), one for its sha256. An entry goes to partition ``mix(bucket) % partitions``, so all
   entries of one bucket meet in one partition, and buckets spread evenly over partitions.
3. **Partition search** (:func:`search_partition`). Within each bucket, equal values are
   collapsed first (a job of identical images makes no quadratic work), then whole hashes are
   compared with whole hashes (within ``threshold``) and with window hashes (within
   ``window_threshold``) by brute force or :class:`shared.validation.dedupe.HammingIndex`, and equal
   sha256 are linked. Every link is a verified pair (real Hamming distance). Links are folded
   at once into a spanning :class:`Forest`: what leaves a partition is at most one edge per
   record that has a duplicate, whatever the number of pairs.
4. **Merge.** The partitions' forests fold into one (memory proportional to the records that
   have a near-duplicate, not to the job); :class:`Keepers` then picks the image kept in each
   group exactly as the reference does (largest ``width * height``, then earliest
   ``created_at``, then smallest id), offered the job one map at a time.

Records are named by *ordinals*, ``map_index << 32 | position`` (the position of the record
in its map, by id), so that entries are 13 bytes and the merge never holds ids it does not need.

Example::

    from shared.validation.banding import banded_duplicate_groups
    result = banded_duplicate_groups(images, threshold=6, maps=4, partitions=8)
    result.keeper_of == find_duplicate_groups(images, 6).keeper_of   # True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from shared.validation.dedupe import (
    DEFAULT_PHASH_THRESHOLD, WINDOW_POSITIONS, WINDOW_SCALES, HammingIndex, sorted_by_id,
)
from shared.models.validation import DedupeResult, DuplicateGroup, HashedImage

__all__ = [
    "BYTES_PER_ENTRY", "BandLayout", "Forest", "Keepers", "MapInput", "SearchSpec", "Slice",
    "banded_duplicate_groups", "route", "search_partition",
]

BITS = 64
WINDOWS_PER_IMAGE = len(WINDOW_SCALES) * len(WINDOW_POSITIONS) ** 2
#: Low bits of an ordinal that hold the position of a record in its map.
POSITION_BITS = 32
#: Bytes one entry costs at the peak of a map or a partition search (13 stored, plus the sort
#: keys, orders and bucket values computed over it): the unit of the memory budget.
BYTES_PER_ENTRY = 48
#: A brute-force comparison block holds at most this many distances (8 bytes each).
_BLOCK = 1 << 17
#: Above this many query x key distances a bucket is searched with the multi-index instead.
_BRUTE_LIMIT = 1 << 20
_U64 = np.uint64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash, the same in every process."""
    z = np.array(values, dtype=_U64, copy=True)
    z ^= z >> _U64(30)
    z *= _U64(0xBF58476D1CE4E5B9)
    z ^= z >> _U64(27)
    z *= _U64(0x94D049BB133111EB)
    z ^= z >> _U64(31)
    return z


@dataclass(frozen=True)
class BandLayout:
    """``threshold + 1`` bands of whole bits covering the 64 bits (widths differ by at most 1).

    >>> layout = BandLayout.for_threshold(6)
    >>> layout.widths, layout.shifts
    ((10, 9, 9, 9, 9, 9, 9), (0, 10, 19, 28, 37, 46, 55))
    >>> int(layout.band_values([0xFFFF])[0, 0]), int(layout.band_values([0xFFFF])[0, 1])
    (1023, 63)
    """

    threshold: int
    widths: tuple[int, ...]
    shifts: tuple[int, ...]

    @classmethod
    def for_threshold(cls, threshold: int) -> "BandLayout":
        if not 0 <= threshold < BITS:
            raise ValueError(f"threshold must be in [0, {BITS}), got {threshold}")
        bands = threshold + 1
        base, extra = divmod(BITS, bands)
        widths = tuple(base + (1 if i < extra else 0) for i in range(bands))
        shifts = tuple(sum(widths[:i]) for i in range(bands))
        return cls(threshold, widths, shifts)

    @property
    def bands(self) -> int:
        return len(self.widths)

    @property
    def _shift_array(self) -> np.ndarray:
        return np.array(self.shifts, dtype=_U64)

    @property
    def _mask_array(self) -> np.ndarray:
        return np.array([(1 << width) - 1 for width in self.widths], dtype=_U64)

    def band_values(self, hashes: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(len(hashes), bands)``: the value of each band of each hash."""
        values = np.asarray(hashes, dtype=_U64)[:, None]
        bands: np.ndarray = (values >> self._shift_array[None, :]) & self._mask_array[None, :]
        return bands

    def bucket_keys(self, bands: np.ndarray, values: np.ndarray) -> np.ndarray:
        """One uint64 per entry naming its bucket, ``band << 32 | band value`` (a single band
        of 64 bits, at threshold 0, is its own key)."""
        band_value = (values >> self._shift_array[bands]) & self._mask_array[bands]
        keys: np.ndarray = (bands.astype(_U64) << _U64(32)) | band_value
        return keys


@dataclass(frozen=True)
class Space:
    """One band layout and what is compared in its buckets."""

    tag: int
    layout: BandLayout
    near: bool  # whole hash with whole hash, within layout.threshold
    crop: bool  # whole hash with window hashes, within layout.threshold


@dataclass(frozen=True)
class SearchSpec:
    """Thresholds and partition count of one search (fixed for a whole validation run)."""

    threshold: int
    window_threshold: int
    partitions: int

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {self.partitions}")

    @property
    def spaces(self) -> tuple[Space, ...]:
        """One layout when both thresholds are equal (whole-hash entries serve both searches),
        else one per threshold."""
        if self.threshold == self.window_threshold:
            return (Space(0, BandLayout.for_threshold(self.threshold), near=True, crop=True),)
        return (
            Space(0, BandLayout.for_threshold(self.threshold), near=True, crop=False),
            Space(1, BandLayout.for_threshold(self.window_threshold), near=False, crop=True),
        )

    def entries_per_record(self, windows: int = WINDOWS_PER_IMAGE) -> int:
        """Most entries one record with ``windows`` window hashes makes (sha256 included)."""
        return 1 + sum(s.layout.bands * (1 + (windows if s.crop else 0)) for s in self.spaces)

    def partition_of(self, tag: int, bucket_keys: np.ndarray) -> np.ndarray:
        mixed = _mix(bucket_keys ^ _mix(np.full(len(bucket_keys), tag + 1, dtype=_U64)))
        return (mixed % _U64(self.partitions)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Entries and slices
# --------------------------------------------------------------------------------------------


@dataclass
class Entries:
    """Entries of one kind: the record (position in a map, or ordinal once loaded), the band
    that routed it, and the hash value to verify distances with."""

    owner: np.ndarray
    band: np.ndarray
    value: np.ndarray

    @classmethod
    def empty(cls, owner_type: type = np.uint32) -> "Entries":
        return cls(np.empty(0, owner_type), np.empty(0, np.uint8), np.empty(0, _U64))

    def __len__(self) -> int:
        return len(self.owner)

    @classmethod
    def concat(cls, parts: Sequence["Entries"], owner_type: type = np.uint32) -> "Entries":
        if not parts:
            return cls.empty(owner_type)
        return cls(
            np.concatenate([p.owner for p in parts]).astype(owner_type, copy=False),
            np.concatenate([p.band for p in parts]),
            np.concatenate([p.value for p in parts]),
        )


_MAGIC = b"PXBAND1\n"


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as one blob: a magic line, a JSON header (name, dtype, shape of each), then the
    raw bytes of each array, 8-byte aligned. :func:`unpack_arrays` reads them back as views of
    the blob (no copy), and :func:`array_shapes` reads only the header."""
    header = json.dumps(
        [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]
    ).encode()
    parts = [_MAGIC, len(header).to_bytes(4, "little"), header]
    size = sum(map(len, parts))
    for array in arrays.values():
        parts.append(b"\0" * (-size % 8))
        size += -size % 8
        raw = np.ascontiguousarray(array).tobytes()
        parts.append(raw)
        size += len(raw)
    return b"".join(parts)


def _header(data: bytes) -> tuple[list[tuple[str, np.dtype, tuple[int, ...]]], int]:
    if not data.startswith(_MAGIC):
        raise ValueError("not a banded-search blob (bad magic)")
    length = int.from_bytes(data[len(_MAGIC):len(_MAGIC) + 4], "little")
    start = len(_MAGIC) + 4
    entries = json.loads(data[start:start + length])
    return [(name, np.dtype(dtype), tuple(shape)) for name, dtype, shape in entries], start + length


def array_shapes(data: bytes) -> dict[str, tuple[int, ...]]:
    """Name -> shape of each array in a :func:`pack_arrays` blob, from its header only."""
    return {name: shape for name, _, shape in _header(data)[0]}


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of a :func:`pack_arrays` blob, as read-only views of ``data``."""
    header, offset = _header(data)
    arrays = {}
    for name, dtype, shape in header:
        offset += -offset % 8
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(shape)
        offset += count * dtype.itemsize
    return arrays


@dataclass
class Slice:
    """What one map sends to one partition: whole-hash and window entries per band layout
    (by space tag) and sha256 entries; one blob between the two activities."""

    hashes: dict[int, Entries] = field(default_factory=dict)
    windows: dict[int, Entries] = field(default_factory=dict)
    sha_owner: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint32))
    sha_key: np.ndarray = field(default_factory=lambda: np.empty((0, 2), _U64))

    def __len__(self) -> int:
        return (sum(map(len, self.hashes.values())) + sum(map(len, self.windows.values()))
                + len(self.sha_owner))

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"sha_owner": self.sha_owner, "sha_key": self.sha_key}
        for kind, table in (("h", self.hashes), ("w", self.windows)):
            for tag, entries in table.items():
                arrays[f"{kind}{tag}_owner"] = entries.owner
                arrays[f"{kind}{tag}_band"] = entries.band
                arrays[f"{kind}{tag}_value"] = entries.value
        return pack_arrays(arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Slice":
        arrays = unpack_arrays(data)
        piece = cls(sha_owner=arrays.pop("sha_owner"), sha_key=arrays.pop("sha_key"))
        for name in [n for n in arrays if n.endswith("_owner")]:
            stem = name.removesuffix("_owner")
            table = piece.hashes if stem[0] == "h" else piece.windows
            table[int(stem[1:])] = Entries(
                arrays[name], arrays[f"{stem}_band"], arrays[f"{stem}_value"]
            )
        return piece


def sha_keys(digests: Sequence[str]) -> np.ndarray:
    """``(n, 2)`` uint64: a 128-bit BLAKE2b of each sha256 string (equal strings, equal keys;
    a collision between different ones is a 2^-128 event)."""
    raw = b"".join(hashlib.blake2b(d.encode(), digest_size=16).digest() for d in digests)
    return np.frombuffer(raw, dtype=">u8").astype(_U64).reshape(len(digests), 2)


def created_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive time counts as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass
class MapInput:
    """The records of one map as arrays, in position order (sorted by id)."""

    ids: list[str]
    hashes: np.ndarray
    window_owner: np.ndarray
    window_value: np.ndarray
    sha_key: np.ndarray
    area: np.ndarray
    created: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: list[str], phashes: Sequence[str], windows: Sequence[Sequence[str]],
              sha256s: Sequence[str], areas: Sequence[int],
              created: Sequence[datetime]) -> "MapInput":
        """From columns of hex hashes (``windows[i]`` may be empty: an image stored before
        window hashes existed is found by its whole hash only)."""
        return cls(
            ids=ids,
            hashes=np.array([int(value, 16) for value in phashes], dtype=_U64),
            window_owner=np.array(
                [i for i, values in enumerate(windows) for _ in values], dtype=np.uint32
            ),
            window_value=np.array(
                [int(value, 16) for values in windows for value in values], dtype=_U64
            ),
            sha_key=sha_keys(sha256s),
            area=np.array(areas, dtype=np.int64),
            created=np.array([created_micros(moment) for moment in created], dtype=np.int64),
        )

    @classmethod
    def of(cls, images: Sequence[HashedImage]) -> "MapInput":
        """From images already sorted by id."""
        return cls.build(
            [image.id for image in images], [image.phash for image in images],
            [image.windows for image in images], [image.sha256 for image in images],
            [image.area for image in images], [image.created_at for image in images],
        )

    def split(self, count: int) -> tuple["MapInput", "MapInput"]:
        """The first ``count`` records and the rest."""
        head = self.window_owner < count
        return (
            MapInput(self.ids[:count], self.hashes[:count], self.window_owner[head],
                     self.window_value[head], self.sha_key[:count], self.area[:count],
                     self.created[:count]),
            MapInput(self.ids[count:], self.hashes[count:],
                     self.window_owner[~head] - np.uint32(min(count, len(self))),
                     self.window_value[~head], self.sha_key[count:], self.area[count:],
                     self.created[count:]),
        )

    @classmethod
    def concat(cls, parts: Sequence["MapInput"]) -> "MapInput":
        """The records of ``parts`` one after the other."""
        offsets = np.cumsum([0, *(len(part) for part in parts)])
        return cls(
            ids=[image_id for part in parts for image_id in part.ids],
            hashes=np.concatenate([np.empty(0, _U64), *(p.hashes for p in parts)]),
            window_owner=np.concatenate([np.empty(0, np.uint32), *(
                p.window_owner + np.uint32(offset) for p, offset in zip(parts, offsets)
            )]),
            window_value=np.concatenate([np.empty(0, _U64), *(p.window_value for p in parts)]),
            sha_key=np.concatenate([np.empty((0, 2), _U64), *(p.sha_key for p in parts)]),
            area=np.concatenate([np.empty(0, np.int64), *(p.area for p in parts)]),
            created=np.concatenate([np.empty(0, np.int64), *(p.created for p in parts)]),
        )


def _distinct_windows(owner: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value) pairs without repeats (an image whose windows hash alike)."""
    if not len(owner):
        return owner, value
    order = np.lexsort((value, owner))
    owner, value = owner[order], value[order]
    keep = np.ones(len(owner), bool)
    keep[1:] = (owner[1:] != owner[:-1]) | (value[1:] != value[:-1])
    return owner[keep], value[keep]


def route(spec: SearchSpec, records: MapInput, first: int = 0) -> list[Slice]:
    """The entries of records at positions ``first, first + 1, ...`` of a map, one
    :class:`Slice` per partition.

    Entries are produced band by band, so the peak is the slices themselves plus one band.
    """
    count = len(records.hashes)
    if first + count > 1 << POSITION_BITS:
        raise ValueError(f"a map holds at most 2^{POSITION_BITS} records")
    positions = np.arange(first, first + count, dtype=np.uint32)
    window_owner, window_value = _distinct_windows(
        records.window_owner.astype(np.uint32) + np.uint32(first), records.window_value
    )
    pieces: list[dict[tuple[str, int], list[Entries]]] = [{} for _ in range(spec.partitions)]

    def scatter(kind: str, tag: int, owner: np.ndarray, value: np.ndarray, band: int,
                layout: BandLayout) -> None:
        bands = np.full(len(owner), band, dtype=np.uint8)
        target = spec.partition_of(tag, layout.bucket_keys(bands, value))
        order = np.argsort(target, kind="stable")
        bounds = np.searchsorted(target[order], np.arange(spec.partitions + 1))
        for p in np.flatnonzero(np.diff(bounds)).tolist():
            chosen = order[bounds[p]:bounds[p + 1]]
            pieces[p].setdefault((kind, tag), []).append(
                Entries(owner[chosen], bands[chosen], value[chosen])
            )

    for space in spec.spaces:
        for band in range(space.layout.bands):
            scatter("h", space.tag, positions, records.hashes, band, space.layout)
            if space.crop and len(window_owner):
                scatter("w", space.tag, window_owner, window_value, band, space.layout)
    sha_target = (records.sha_key[:, 0] % _U64(spec.partitions)).astype(np.int64)
    slices = []
    for p, parts in enumerate(pieces):
        piece = Slice(sha_owner=positions[sha_target == p], sha_key=records.sha_key[sha_target == p])
        while parts:  # each part is freed once joined
            (kind, tag), entries = parts.popitem()
            (piece.hashes if kind == "h" else piece.windows)[tag] = Entries.concat(entries)
        slices.append(piece)
    return slices


# --------------------------------------------------------------------------------------------
# Forests: connected components in memory proportional to the linked records
# --------------------------------------------------------------------------------------------


class Forest:
    """Components of the links between ordinals, kept as a spanning forest (each linked
    ordinal points at the smallest ordinal of its component).

    Links are buffered and folded in whenever ``buffer`` of them are waiting, so memory is the
    forest (one edge per linked record) plus the buffer, however many links arrive.

    >>> forest = Forest()
    >>> forest.add(np.array([5, 7, 9], np.uint64), np.array([7, 9, 9], np.uint64))
    >>> [a.tolist() for a in forest.edges()]
    [[7, 9], [5, 5]]
    """

    def __init__(self, buffer: int = 1 << 18) -> None:
        self.buffer = buffer
        self._nodes = np.empty(0, _U64)
        self._roots = np.empty(0, _U64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._waiting = 0
        #: Links received (self-links excluded).
        self.links = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        keep = a != b
        if not keep.any():
            return
        a, b = a[keep].astype(_U64, copy=False), b[keep].astype(_U64, copy=False)
        self._pending.append((a, b))
        self._waiting += len(a)
        self.links += len(a)
        if self._waiting >= self.buffer:
            self._fold()

    def _fold(self) -> None:
        if not self._pending:
            return
        left = np.concatenate([self._nodes, *(a for a, _ in self._pending)])
        right = np.concatenate([self._roots, *(b for _, b in self._pending)])
        self._pending, self._waiting = [], 0
        nodes = np.unique(np.concatenate([left, right]))
        rows, cols = np.searchsorted(nodes, left), np.searchsorted(nodes, right)
        del left, right
        graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(len(nodes),) * 2)
        _, labels = connected_components(graph, directed=False)
        del graph, rows, cols
        _, first = np.unique(labels, return_index=True)  # nodes are sorted: first is smallest
        roots = nodes[first[labels]]
        linked = roots != nodes
        self._nodes, self._roots = nodes[linked], roots[linked]

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(node, root)`` for every linked ordinal that is not its component's root."""
        self._fold()
        return self._nodes, self._roots

    def components(self) -> tuple[np.ndarray, np.ndarray]:
        """Every linked ordinal (sorted) and the root of its component."""
        nodes, roots = self.edges()
        members = np.unique(np.concatenate([nodes, roots]))
        root_of = members.copy()
        root_of[np.searchsorted(members, nodes)] = roots
        return members, root_of

    def to_bytes(self) -> bytes:
        nodes, roots = self.edges()
        return pack_arrays({"nodes": nodes, "roots": roots})

    @staticmethod
    def edges_from_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
        arrays = unpack_arrays(data)
        return arrays["nodes"], arrays["roots"]


# --------------------------------------------------------------------------------------------
# Partition search
# --------------------------------------------------------------------------------------------


@dataclass
class SearchStats:
    """What one partition search did."""

    entries: int = 0
    buckets: int = 0
    distances: int = 0
    links: int = 0
    edges: int = 0


def _near_pairs(queries: np.ndarray, keys: np.ndarray, radius: int, stats: SearchStats,
                self_join: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs ``(q, k)`` with ``queries[q]`` within ``radius`` of ``keys[k]`` (with
    ``self_join``, queries are the keys and only ``q < k`` is given), in blocks of bounded
    size: brute force for small sets, the multi-index for large ones."""
    if not len(queries) or not len(keys):
        return
    if len(queries) * len(keys) <= _BRUTE_LIMIT:
        rows = max(1, _BLOCK // len(keys))
        for start in range(0, len(queries), rows):
            block = queries[start:start + rows]
            near = np.bitwise_count(block[:, None] ^ keys[None, :]) <= radius
            stats.distances += near.size
            q, k = np.nonzero(near)
            q += start
            if self_join:
                keep = q < k
                q, k = q[keep], k[keep]
            yield q, k
        return
    index = HammingIndex(keys, radius)
    rows = max(1, _BLOCK // 64)
    for start in range(0, len(queries), rows):
        before = index.distance_computations
        q, k = index.cross_pairs(queries[start:start + rows])
        stats.distances += index.distance_computations - before
        q = q + start
        if self_join:
            keep = q < k
            q, k = q[keep], k[keep]
        yield q, k


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each run of equal values in a sorted array."""
    if not len(values):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.concatenate([[0], change]), np.concatenate([change, [len(values)]])


def _by_bucket(entries: Entries, layout: BandLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket keys, owners, values) sorted by bucket; the bucket keys are computed a block at
    a time so that the temporaries stay small."""
    keys = np.empty(len(entries), _U64)
    for start in range(0, len(entries), _BLOCK):
        stop = start + _BLOCK
        keys[start:stop] = layout.bucket_keys(entries.band[start:stop], entries.value[start:stop])
    entries.band = np.empty(0, np.uint8)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    owner, value = entries.owner[order], entries.value[order]
    entries.owner, entries.value = np.empty(0, _U64), np.empty(0, _U64)
    return keys, owner, value


def _value_order(owners: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values, kind="stable")
    return owners[order], values[order]


def _search_space(space: Space, hashes: Entries, windows: Entries, forest: Forest,
                  stats: SearchStats) -> None:
    radius = space.layout.threshold
    h_keys, h_owner, h_value = _by_bucket(hashes, space.layout)
    w_keys, w_owner, w_value = _by_bucket(windows, space.layout)
    w_starts, w_ends = _runs(w_keys)
    w_bucket = w_keys[w_starts]
    for start, end in zip(*_runs(h_keys)):
        stats.buckets += 1
        owners, values = _value_order(h_owner[start:end], h_value[start:end])
        v_starts, v_ends = _runs(values)
        distinct, first = values[v_starts], owners[v_starts]
        # Equal whole hashes: each holder to the first one (one link per entry).
        forest.add(owners, np.repeat(first, v_ends - v_starts))
        if space.near:
            for q, k in _near_pairs(distinct, distinct, radius, stats, self_join=True):
                forest.add(first[q], first[k])
        if not space.crop:
            continue
        at = np.searchsorted(w_bucket, h_keys[start])
        if at == len(w_bucket) or w_bucket[at] != h_keys[start]:
            continue
        window_owners, window_values = _value_order(
            w_owner[w_starts[at]:w_ends[at]], w_value[w_starts[at]:w_ends[at]]
        )
        k_starts, k_ends = _runs(window_values)
        for q, k in _near_pairs(distinct, window_values[k_starts], radius, stats):
            # A whole hash near a window value: linked with every image having that window.
            sizes = k_ends[k] - k_starts[k]
            offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            forest.add(np.repeat(first[q], sizes),
                       window_owners[np.repeat(k_starts[k], sizes) + offsets])


def _load(pieces: list[tuple[int, bytes]], stats: SearchStats) -> Slice:
    """All pieces' entries in one :class:`Slice` whose owners are ordinals. Each piece is
    removed from ``pieces`` (and its bytes freed) once copied."""
    totals: dict[str, int] = {}
    for _, data in pieces:
        for name, shape in array_shapes(data).items():
            if name.endswith("_owner"):
                stem = name.removesuffix("_owner")
                totals[stem] = totals.get(stem, 0) + shape[0]
    stats.entries = sum(totals.values())
    merged = Slice(sha_owner=np.empty(totals.pop("sha", 0), _U64))
    merged.sha_key = np.empty((len(merged.sha_owner), 2), _U64)
    for stem, count in totals.items():
        table = merged.hashes if stem[0] == "h" else merged.windows
        table[int(stem[1:])] = Entries(np.empty(count, _U64), np.empty(count, np.uint8),
                                       np.empty(count, _U64))
    filled: dict[str, int] = {}
    while pieces:
        map_index, data = pieces.pop()
        base = _U64(map_index) << _U64(POSITION_BITS)
        piece = Slice.from_bytes(data)
        at, count = filled.get("sha", 0), len(piece.sha_owner)
        merged.sha_owner[at:at + count] = piece.sha_owner.astype(_U64) | base
        merged.sha_key[at:at + count] = piece.sha_key
        filled["sha"] = at + count
        for kind, source, target in (("h", piece.hashes, merged.hashes),
                                     ("w", piece.windows, merged.windows)):
            for tag, entries in source.items():
                at, count = filled.get(f"{kind}{tag}", 0), len(entries)
                into = target[tag]
                into.owner[at:at + count] = entries.owner.astype(_U64) | base
                into.band[at:at + count] = entries.band
                into.value[at:at + count] = entries.value
                filled[f"{kind}{tag}"] = at + count
        del piece, data
    return merged


def search_partition(spec: SearchSpec, pieces: list[tuple[int, bytes]],
                     buffer: int = 1 << 18) -> tuple[Forest, SearchStats]:
    """Every verified near-duplicate link among the entries one partition received from the
    maps, folded into a forest. ``pieces`` are ``(map_index, Slice.to_bytes())``; the list is
    emptied as they are read, so that each blob is freed once its entries are copied.

    Memory: about :data:`BYTES_PER_ENTRY` bytes per entry received, plus the forest.
    """
    stats = SearchStats()
    loaded = _load(pieces, stats)
    forest = Forest(buffer)
    for space in spec.spaces:
        _search_space(
            space,
            loaded.hashes.pop(space.tag, Entries.empty(_U64)),
            loaded.windows.pop(space.tag, Entries.empty(_U64)),
            forest, stats,
        )
    if len(loaded.sha_owner):
        keys = loaded.sha_key
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        owners, keys = loaded.sha_owner[order], keys[order]
        new = np.ones(len(owners), bool)
        new[1:] = (keys[1:] != keys[:-1]).any(axis=1)
        forest.add(owners, owners[np.flatnonzero(new)][np.cumsum(new) - 1])
    stats.links = forest.links
    stats.edges = len(forest.edges()[0])
    return forest, stats


# --------------------------------------------------------------------------------------------
# Keepers
# --------------------------------------------------------------------------------------------


class Keepers:
    """The image kept in each group of a merged forest, offered the records map by map.

    Memory: the linked ordinals and one sort key per group, never the whole job.
    """

    def __init__(self, forest: Forest) -> None:
        self.members, roots = forest.components()
        self.groups, self.label = np.unique(roots, return_inverse=True)
        self._best: list[tuple[int, int, str] | None] = [None] * len(self.groups)
        self._best_ordinal = np.zeros(len(self.groups), _U64)
        self._offered = np.zeros(len(self.members), bool)

    def _span(self, first: int, count: int) -> tuple[int, int]:
        bounds = np.searchsorted(self.members, np.array([first, first + count], dtype=_U64))
        return int(bounds[0]), int(bounds[1])

    def offer(self, first: int, ids: Sequence[str], area: Sequence[int] | np.ndarray,
              created: Sequence[int] | np.ndarray) -> None:
        """Records with consecutive ordinals from ``first`` (a map, or a chunk of one): those
        in a group compete for keeper."""
        start, end = self._span(first, len(ids))
        for i in range(start, end):
            position = int(self.members[i]) - first
            key = (-int(area[position]), int(created[position]), ids[position])
            label = int(self.label[i])
            best = self._best[label]
            if best is None or key < best:
                self._best[label] = key
                self._best_ordinal[label] = self.members[i]
        self._offered[start:end] = True

    def _check(self) -> None:
        if not self._offered.all():
            missing = int((~self._offered).sum())
            raise ValueError(f"{missing} linked records were never offered: offer every map")

    def decisions(self, map_index: int) -> dict[int, str | None]:
        """Position -> the id kept in its group (None for the kept one) of every record of the
        map that is in a group; records not listed have no near-duplicate."""
        self._check()
        low = map_index << POSITION_BITS
        start, end = self._span(low, 1 << POSITION_BITS)
        out: dict[int, str | None] = {}
        for i in range(start, end):
            label = int(self.label[i])
            best = self._best[label]
            assert best is not None
            out[int(self.members[i]) - low] = (
                None if self._best_ordinal[label] == self.members[i] else best[2]
            )
        return out

    @property
    def group_count(self) -> int:
        return len(self.groups)

    @property
    def duplicate_count(self) -> int:
        return len(self.members) - len(self.groups)


# --------------------------------------------------------------------------------------------
# The whole search in one process (the reference for tests, and for small jobs)
# --------------------------------------------------------------------------------------------


def banded_duplicate_groups(
    items: Iterable[HashedImage],
    threshold: int = DEFAULT_PHASH_THRESHOLD,
    window_threshold: int | None = None,
    *,
    maps: int = 1,
    partitions: int = 1,
    buffer: int = 1 << 18,
) -> DedupeResult:
    """:func:`shared.validation.dedupe.find_duplicate_groups` computed through the banded stages, with
    the job cut into ``maps`` id ranges and the buckets into ``partitions`` (slices pass
    through their stored bytes, as between activities). Same result, whatever the counts
    (tests/unit/validation/test_banding.py checks it on random jobs).
    """
    images = sorted_by_id(items)
    spec = SearchSpec(threshold, threshold if window_threshold is None else window_threshold,
                      partitions)
    bounds = np.linspace(0, len(images), maps + 1).astype(int)
    inputs = [MapInput.of(images[bounds[m]:bounds[m + 1]]) for m in range(maps)]
    received: list[list[tuple[int, bytes]]] = [[] for _ in range(partitions)]
    for m, records in enumerate(inputs):
        for p, piece in enumerate(route(spec, records)):
            received[p].append((m, piece.to_bytes()))
    merged = Forest(buffer)
    distances = 0
    for p in range(partitions):
        forest, stats = search_partition(spec, received[p], buffer)
        merged.add(*Forest.edges_from_bytes(forest.to_bytes()))
        distances += stats.distances
    keepers = Keepers(merged)
    for m, records in enumerate(inputs):
        keepers.offer(m << POSITION_BITS, records.ids, records.area, records.created)
    keeper_of: dict[str, str | None] = {image.id: None for image in images}
    members: dict[str, list[str]] = {}
    for m, records in enumerate(inputs):
        for position, keeper in keepers.decisions(m).items():
            image_id = records.ids[position]
            keeper_of[image_id] = keeper
            members.setdefault(keeper or image_id, []).append(image_id)
    groups = [DuplicateGroup(keeper=kept, members=sorted(ids)) for kept, ids in members.items()]
    groups.sort(key=lambda group: group.keeper)
    return DedupeResult(threshold=threshold, keeper_of=keeper_of, groups=groups,
                        distance_computations=distances)
