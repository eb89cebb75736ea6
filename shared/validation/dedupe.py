"""Near-duplicate detection across a whole job (the medium validation level).

Two images are near-duplicates when the Hamming distance of their 64-bit perceptual hashes is
at most a threshold, when the hash of one is that close to the hash of a sub-window of the
other (a crop: see :func:`shared.imaging.hashes.window_phashes`), or when their sha256 is equal. Groups are the connected components of
that relation (scipy's connected_components over the graph of matching pairs), so
near-duplicates chain. In each group one image is kept: the
largest ``width * height``, then the earliest ``created_at``, then the smallest id, whatever
order the images arrive in.

Neighbours are found with multi-index hashing (Norouzi et al., "Fast Search in Hamming Space
with Multi-Index Hashing"): the 64 bits are cut into ``m >= 4`` substrings of at most 16 bits,
each with a counting-sorted table;
if two hashes differ in at most ``r`` bits, at least one substring differs in at most
``r // m`` bits, so probing each table with every key within ``r // m`` bits of the query's
substring finds every neighbour. ``m`` is chosen from a cost model; at the default threshold
and 100,000 uniformly random hashes each image is compared with about 50 candidates instead of
100,000. All probes of a table run as numpy array operations over the whole job at once.

This module groups a job held in one process: it is the reference that ``shared.validation.banding``
reproduces in bounded memory for validation runs (``shared.validation.dedupe_stages``), and what
``bench/validation_quality.py`` measures; the window hashes are computed here at download time.

Example::

    from shared.validation.dedupe import find_duplicate_groups
    result = find_duplicate_groups(images, threshold=DEFAULT_PHASH_THRESHOLD)
    result.keeper_of["img-2"]        # "img-1": img-2 is a duplicate of img-1
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import combinations
from math import comb

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from shared.imaging.hashes import WINDOW_POSITIONS, WINDOW_SCALES
from shared.models.validation import DedupeResult, DuplicateGroup, HashedImage

__all__ = [
    "DEFAULT_PHASH_THRESHOLD", "HammingIndex", "WINDOW_POSITIONS", "WINDOW_SCALES",
    "find_duplicate_groups", "sorted_by_id",
]

#: Default Hamming threshold on 64-bit pHash, measured on the ground-truth corpus (1,000 bases,
#: 2,088 files, 2.2 million distinct pairs; bench/validation_quality.py): resize/re-encode
#: recall 0.994 at precision 1.0. Resized copies reach 8 bits (3 of 212), distinct pairs start
#: at 10 (3 pairs), then 12 (3), 14 (85), 16 (507): the distinct tail grows about 5x per 2 bits,
#: so 6 rather than 8 keeps false pairs rare in a 100,000-image job (5e9 pairs), where 8 would
#: be expected to merge a few hundred distinct pairs more. (pHash distances are even here,
#: so 6 and 7 behave alike.)
DEFAULT_PHASH_THRESHOLD = 6

_BITS = 64
#: Substrings are at most 16 bits wide, so that each table is a dense array of 65,537 offsets.
_MIN_PARTS = 4

_Pairs = tuple[np.ndarray, np.ndarray]


def _cost(parts: int, radius: int, size: int) -> float:
    """Expected probes plus candidates per item with ``parts`` substrings (uniform hashes)."""
    width = _BITS // parts
    probes = parts * sum(comb(width, k) for k in range(radius // parts + 1))
    return probes * (1 + size / (1 << width))


def _masks_within(width: int, radius: int) -> np.ndarray:
    """All ``width``-bit masks with at most ``radius`` bits set."""
    masks = [
        sum(1 << p for p in positions)
        for ones in range(min(radius, width) + 1)
        for positions in combinations(range(width), ones)
    ]
    return np.array(masks, dtype=np.int64)


class _Table:
    """One substring of every hash, counting-sorted: the keys whose substring is ``v`` are
    ``order[start[v]:start[v + 1]]``."""

    def __init__(self, hashes: np.ndarray, shift: int, width: int, sub_radius: int) -> None:
        self.shift, self.mask = shift, (1 << width) - 1
        self.values = ((hashes >> np.uint64(shift)) & np.uint64(self.mask)).astype(np.int64)
        self.order = np.argsort(self.values, kind="stable")
        self.start = np.zeros(self.mask + 2, dtype=np.int64)
        np.cumsum(np.bincount(self.values, minlength=self.mask + 1), out=self.start[1:])
        self.probes = _masks_within(width, sub_radius)

    def bucket_members(self, targets: np.ndarray) -> _Pairs:
        """For each ``targets[q]``, every key in its bucket: (query positions, keys)."""
        low, high = self.start[targets], self.start[targets + 1]
        counts = high - low
        total = int(counts.sum())
        queries = np.repeat(np.arange(len(targets)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return queries, self.order[np.repeat(low, counts) + offsets]


class HammingIndex:
    """Multi-index hash tables over a fixed set of 64-bit hashes: who is within ``radius``?

    >>> index = HammingIndex([0b1011, 0b0100, 0b1001], radius=2)
    >>> index.query(0b1001)
    [(0, 1), (2, 0)]
    >>> [pair.tolist() for pair in index.pairs()]
    [[0], [2]]
    """

    def __init__(self, hashes: Sequence[int] | np.ndarray, radius: int) -> None:
        if not 0 <= radius < _BITS:
            raise ValueError(f"radius must be in [0, {_BITS}), got {radius}")
        self.hashes = np.asarray(hashes, dtype=np.uint64)
        self.radius = radius
        parts = min(range(_MIN_PARTS, max(_MIN_PARTS, radius + 1) + 1),
                    key=lambda m: _cost(m, radius, len(self.hashes)))
        base, extra = divmod(_BITS, parts)
        widths = [base + (1 if i < extra else 0) for i in range(parts)]
        shifts = np.cumsum([0, *widths[:-1]])
        self._tables = [
            _Table(self.hashes, int(shift), width, radius // parts)
            for shift, width in zip(shifts, widths)
        ]
        #: Hamming distances computed so far by ``query`` and ``pairs``.
        self.distance_computations = 0

    @property
    def parts(self) -> int:
        return len(self._tables)

    def _within(self, left: np.ndarray, right: np.ndarray | np.uint64) -> np.ndarray:
        self.distance_computations += len(left)
        near: np.ndarray = np.bitwise_count(left ^ right) <= self.radius
        return near

    def query(self, value: int) -> list[tuple[int, int]]:
        """Every ``(key, distance)`` within ``radius`` of ``value``, by key."""
        found: dict[int, int] = {}
        for table in self._tables:
            sub = (value >> table.shift) & table.mask
            _, keys = table.bucket_members(sub ^ table.probes)
            keys = keys[~np.isin(keys, np.fromiter(found, np.int64, len(found)))]
            near = keys[self._within(self.hashes[keys], np.uint64(value))]
            for key in near.tolist():
                found[key] = (int(self.hashes[key]) ^ value).bit_count()
        return sorted(found.items())

    def cross_pairs(self, queries: Sequence[int] | np.ndarray) -> _Pairs:
        """All ``(q, key)`` with ``queries[q]`` within ``radius`` of key ``key``, sorted.

        >>> HammingIndex([0b1011, 0b0100], radius=1).cross_pairs([0b1010, 0b0000])
        (array([0, 1]), array([0, 1]))
        """
        values = np.asarray(queries, dtype=np.uint64)
        lefts, rights = [], []
        for table in self._tables:
            subs = ((values >> np.uint64(table.shift)) & np.uint64(table.mask)).astype(np.int64)
            for probe in table.probes:
                left, right = table.bucket_members(subs ^ probe)
                near = self._within(values[left], self.hashes[right])
                lefts.append(left[near])
                rights.append(right[near])
        return _unique_pairs(lefts, rights, len(self.hashes))

    def pairs(self) -> _Pairs:
        """All key pairs ``(i, j)``, ``i < j``, within ``radius`` of each other, sorted."""
        lefts, rights = [], []
        for table in self._tables:
            for probe in table.probes:
                left, right = table.bucket_members(table.values ^ probe)
                keep = left < right
                left, right = left[keep], right[keep]
                near = self._within(self.hashes[left], self.hashes[right])
                lefts.append(left[near])
                rights.append(right[near])
        return _unique_pairs(lefts, rights, len(self.hashes))


def _unique_pairs(lefts: list[np.ndarray], rights: list[np.ndarray], size: int) -> _Pairs:
    """The distinct ``(left, right)`` pairs of the concatenated arrays, sorted."""
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    codes = np.unique(np.concatenate(lefts) * size + np.concatenate(rights))
    return codes // size, codes % size


def sorted_by_id(items: Iterable[HashedImage]) -> list[HashedImage]:
    """The images by id; ValueError when an id appears twice."""
    images = sorted(items, key=lambda image: image.id)
    for previous, current in zip(images, images[1:]):
        if previous.id == current.id:
            raise ValueError(f"image id {current.id!r} appears twice: ids must be unique")
    return images


def _keep_order(image: HashedImage) -> tuple[int, datetime, str]:
    """Sort key whose minimum is the image kept in a group."""
    return (-image.area, image.created_at, image.id)


def _window_links(
    images: list[HashedImage], distinct: np.ndarray, first_of_value: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pairs (image, image) where one image's hash is within ``radius`` of one of the other's
    window hashes (the first is a crop of the second), and the distances computed."""
    owners = [i for i, image in enumerate(images) for _ in image.windows]
    if not owners:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0
    windows = [int(value, 16) for image in images for value in image.windows]
    index = HammingIndex(windows, radius)
    query, key = index.cross_pairs(distinct)
    left, right = first_of_value[query], np.asarray(owners, np.int64)[key]
    keep = left != right
    return left[keep], right[keep], index.distance_computations


def find_duplicate_groups(
    items: Iterable[HashedImage],
    threshold: int = DEFAULT_PHASH_THRESHOLD,
    window_threshold: int | None = None,
) -> DedupeResult:
    """Group near-duplicates (pHash within ``threshold`` bits, a pHash within
    ``window_threshold`` bits of another image's window hash, or equal sha256); keep one each.

    ``window_threshold`` defaults to ``threshold``; images without ``windows`` are only found
    by their whole hash. The result does not depend on the order of ``items``. Ids must be
    unique.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> a = HashedImage(id="a", phash="ffff0000ffff0000", width=800, height=600,
    ...                 created_at=t, sha256="1")
    >>> b = a.model_copy(update={"id": "b", "phash": "ffff0000ffff0003", "width": 400,
    ...                          "height": 300, "sha256": "2"})
    >>> find_duplicate_groups([b, a], threshold=4).keeper_of
    {'a': None, 'b': 'a'}
    """
    images = sorted_by_id(items)
    count = len(images)
    # Equal pHash values are linked to their first holder and indexed once, so that a job full
    # of identical images does not make buckets (and candidate pairs) quadratic.
    values = np.array([int(image.phash, 16) for image in images], dtype=np.uint64)
    distinct, first_of_value, value_of = np.unique(values, return_index=True, return_inverse=True)
    index = HammingIndex(distinct, threshold)
    near_left, near_right = index.pairs()
    radius = threshold if window_threshold is None else window_threshold
    crop_left, crop_right, crop_computations = _window_links(images, distinct, first_of_value, radius)
    first_with_sha: dict[str, int] = {}
    same_sha = [first_with_sha.setdefault(image.sha256, i) for i, image in enumerate(images)]
    rows = np.concatenate(
        [first_of_value[near_left], crop_left, first_of_value[value_of], same_sha]
    ).astype(np.int64)
    cols = np.concatenate(
        [first_of_value[near_right], crop_right, np.arange(count), np.arange(count)]
    ).astype(np.int64)
    graph = coo_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)

    members: dict[int, list[HashedImage]] = {}
    for label, image in zip(labels.tolist(), images):
        members.setdefault(label, []).append(image)
    kept = {label: min(group, key=_keep_order) for label, group in members.items()}
    keeper_of = {
        image.id: None if kept[label] is image else kept[label].id
        for label, image in zip(labels.tolist(), images)
    }
    groups = [
        DuplicateGroup(keeper=kept[label].id, members=[image.id for image in group])
        for label, group in members.items()
        if len(group) > 1
    ]
    groups.sort(key=lambda group: group.keeper)
    return DedupeResult(
        threshold=threshold,
        keeper_of=keeper_of,
        groups=groups,
        distance_computations=index.distance_computations + crop_computations,
    )
