"""Near-duplicate detection across a whole job (the medium validation level).

Two images are near-duplicates when the Hamming distance of their 64-bit perceptual hashes is
at most a threshold, or when their sha256 is equal. Groups are the connected components of
that relation (union-find), so near-duplicates chain. In each group one image is kept: the
largest ``width * height``, then the earliest ``created_at``, then the smallest id, whatever
order the images arrive in.

Neighbours are found with multi-index hashing (Norouzi et al., "Fast Search in Hamming Space
with Multi-Index Hashing"): the 64 bits are cut into ``m`` substrings, each with a hash table;
if two hashes differ in at most ``r`` bits, at least one substring differs in at most
``r // m`` bits, so probing each table with every key within ``r // m`` bits of the query's
substring finds every neighbour. ``m`` is chosen from a cost model so that, for 100,000
hashes, a query looks at a few dozen candidates instead of all of them.

Example::

    from shared.dedupe import find_duplicate_groups
    result = find_duplicate_groups(images, threshold=DEFAULT_PHASH_THRESHOLD)
    result.keeper_of["img-2"]        # "img-1": img-2 is a duplicate of img-1
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from math import comb

from shared.models.validation import DedupeResult, DuplicateGroup, HashedImage

__all__ = ["DEFAULT_PHASH_THRESHOLD", "HammingIndex", "find_duplicate_groups"]

#: Default Hamming threshold on 64-bit pHash, measured on the ground-truth corpus: resized and
#: re-encoded copies stay within it, distinct images (look-alikes included) stay outside it.
DEFAULT_PHASH_THRESHOLD = 6


def _substring_cost(bits: int, parts: int, radius: int, expected_size: int) -> float:
    """Expected probes plus candidates per query for ``parts`` substrings (uniform hashes)."""
    width = bits // parts
    sub_radius = radius // parts
    probes = parts * sum(comb(width, k) for k in range(sub_radius + 1))
    return probes * (1 + expected_size / 2**width)


class HammingIndex:
    """Multi-index hash table of ``bits``-bit integers answering "all within ``radius``".

    >>> index = HammingIndex(radius=2)
    >>> index.add(0, 0b1011)
    >>> index.add(1, 0b0100)
    >>> sorted(index.query(0b1001))
    [(0, 1)]
    """

    def __init__(self, radius: int, bits: int = 64, expected_size: int = 100_000) -> None:
        if not 0 <= radius < bits:
            raise ValueError(f"radius must be in [0, {bits}), got {radius}")
        self.radius = radius
        self.bits = bits
        parts = min(
            range(1, min(radius + 1, bits // 8) + 1),
            key=lambda m: _substring_cost(bits, m, radius, expected_size),
        )
        base, extra = divmod(bits, parts)
        widths = [base + (1 if i < extra else 0) for i in range(parts)]
        self._shifts: list[tuple[int, int]] = []  # (shift, mask) of each substring
        shift = 0
        for width in widths:
            self._shifts.append((shift, (1 << width) - 1))
            shift += width
        sub_radius = radius // parts
        self._probes = [_masks_within(width, sub_radius) for width in widths]
        self._tables: list[dict[int, list[int]]] = [{} for _ in widths]
        self._values: dict[int, int] = {}
        #: Hamming distances computed by ``query`` so far.
        self.distance_computations = 0

    @property
    def parts(self) -> int:
        return len(self._tables)

    def __len__(self) -> int:
        return len(self._values)

    def add(self, key: int, value: int) -> None:
        """Index ``value`` under ``key`` (keys are unique)."""
        if key in self._values:
            raise ValueError(f"key {key} is already in the index")
        self._values[key] = value
        for (shift, mask), table in zip(self._shifts, self._tables):
            table.setdefault((value >> shift) & mask, []).append(key)

    def query(self, value: int) -> Iterator[tuple[int, int]]:
        """Yield ``(key, distance)`` for every indexed value within ``radius`` of ``value``."""
        seen: set[int] = set()
        values = self._values
        radius = self.radius
        for (shift, mask), table, probes in zip(self._shifts, self._tables, self._probes):
            sub = (value >> shift) & mask
            for probe in probes:
                bucket = table.get(sub ^ probe)
                if bucket is None:
                    continue
                for key in bucket:
                    if key in seen:
                        continue
                    seen.add(key)
                    distance = (values[key] ^ value).bit_count()
                    if distance <= radius:
                        yield key, distance
        self.distance_computations += len(seen)


def _masks_within(width: int, radius: int) -> list[int]:
    """All ``width``-bit masks with at most ``radius`` bits set, fewest bits first."""
    masks = [0]
    for ones in range(1, min(radius, width) + 1):
        for positions in combinations(range(width), ones):
            masks.append(sum(1 << p for p in positions))
    return masks


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def _keep_order(image: HashedImage) -> tuple[int, object, str]:
    """Sort key whose minimum is the image kept in a group."""
    return (-image.area, image.created_at, image.id)


def find_duplicate_groups(
    items: Iterable[HashedImage], threshold: int = DEFAULT_PHASH_THRESHOLD
) -> DedupeResult:
    """Group near-duplicates (pHash within ``threshold`` bits, or equal sha256); keep one each.

    The result does not depend on the order of ``items``. Ids must be unique.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> a = HashedImage(id="a", phash="ffff0000ffff0000", width=800, height=600,
    ...                 created_at=t, sha256="1")
    >>> b = a.model_copy(update={"id": "b", "phash": "ffff0000ffff0003", "width": 400,
    ...                          "height": 300, "sha256": "2"})
    >>> find_duplicate_groups([b, a], threshold=4).keeper_of
    {'a': None, 'b': 'a'}
    """
    images = sorted(items, key=lambda image: image.id)
    for previous, current in zip(images, images[1:]):
        if previous.id == current.id:
            raise ValueError(f"image id {current.id!r} appears twice: ids must be unique")
    sets = _UnionFind(len(images))
    first_with_sha: dict[str, int] = {}
    index = HammingIndex(threshold, expected_size=max(len(images), 1))
    for position, image in enumerate(images):
        same_bytes = first_with_sha.setdefault(image.sha256, position)
        if same_bytes != position:
            sets.union(same_bytes, position)
        value = int(image.phash, 16)
        for neighbour, _ in index.query(value):
            sets.union(neighbour, position)
        index.add(position, value)

    members: dict[int, list[HashedImage]] = {}
    for position, image in enumerate(images):
        members.setdefault(sets.find(position), []).append(image)
    kept_in: dict[int, HashedImage] = {
        root: min(group, key=_keep_order) for root, group in members.items()
    }
    keeper_of: dict[str, str | None] = {}
    for position, image in enumerate(images):
        kept = kept_in[sets.find(position)]
        keeper_of[image.id] = None if kept is image else kept.id
    groups = [
        DuplicateGroup(keeper=kept_in[root].id, members=[image.id for image in group])
        for root, group in members.items()
        if len(group) > 1
    ]
    groups.sort(key=lambda group: group.keeper)
    return DedupeResult(
        threshold=threshold,
        keeper_of=keeper_of,
        groups=groups,
        distance_computations=index.distance_computations,
    )
