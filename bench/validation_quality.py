"""Benchmark of the medium and slow validation levels on the generated ground-truth corpus.

Prints, for a sweep of pHash thresholds, the pairwise precision and recall of near-duplicate
detection (separately for resize/re-encode copies and for crop/brightness copies), the recall
of each variant kind at the chosen threshold, the quality checks' confusion against ground
truth, and the images per second of each level over the corpus files held in memory:

- fast: ``inspect_image`` (sniff, header checks, draft integrity decode, sha256, pHash and
  the 18 window pHashes for crop detection, from the same decode), as the download activity
- medium: fast + ``find_duplicate_groups`` over the whole corpus
- slow: medium + ``assess_quality_bytes`` of every image
- dedupe: ``find_duplicate_groups`` alone over hashes already stored, the in-memory reference
  of what a medium run of ``validate_job`` computes (the fast level ran at download time)
- banded: the same groups through ``shared.validation.banding``'s stages (maps, partitions, merge) in
  one process, the algorithm ``validate_job`` runs as activities; its precision and recall
  are printed beside the reference's

Example::

    python bench/validation_quality.py --n-base 1000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from math import comb
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.corpus import Corpus, CorpusEntry, generate_corpus  # noqa: E402
from shared.validation.banding import banded_duplicate_groups  # noqa: E402
from shared.validation.dedupe import DEFAULT_PHASH_THRESHOLD, find_duplicate_groups  # noqa: E402
from shared.imaging import ImageInfo, inspect_image  # noqa: E402
from shared.imaging.quality import assess_quality_bytes  # noqa: E402
from shared.models import ValidationRules  # noqa: E402
from shared.models.validation import DedupeResult, HashedImage  # noqa: E402

#: How the banded search cuts the corpus (any cut gives the same groups; several of each
#: exercise the routing between maps and partitions).
BANDED_MAPS = 4
BANDED_PARTITIONS = 8
#: Variant kinds measured together, and the kinds left out of each measurement.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "resize/re-encode": ("crop", "brightness"),
    "crop/brightness": ("exact", "resize", "reencode"),
}


def pairwise_scores(truth: Mapping[str, str], keeper_of: Mapping[str, str | None]) -> tuple[float, float, int]:
    """Pairwise precision, recall and false pairs of predicted groups (each image's kept image,
    None for a kept one) against true groups (each image's group label)."""
    predicted_group = {i: keeper or i for i, keeper in keeper_of.items()}
    cells = Counter((predicted_group[i], truth[i]) for i in predicted_group)
    true_positive = sum(comb(n, 2) for n in cells.values())
    predicted_pairs = sum(comb(n, 2) for n in Counter(predicted_group.values()).values())
    true_pairs = sum(comb(n, 2) for n in Counter(truth[i] for i in predicted_group).values())
    precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    return precision, recall, predicted_pairs - true_positive


def hash_corpus(corpus: Corpus, blobs: dict[str, bytes]) -> dict[str, HashedImage]:
    """Every file through the fast level: its record's hashes, window hashes included."""
    rules = ValidationRules()
    hashed = {}
    for entry in corpus.entries:
        info = inspect_image(blobs[entry.id], rules)
        if not isinstance(info, ImageInfo):
            raise RuntimeError(f"{entry.file} failed the fast level: {info}")
        hashed[entry.id] = HashedImage(id=entry.id, phash=info.phash, width=info.width,
                                       height=info.height, created_at=entry.created_at,
                                       sha256=info.sha256,
                                       windows=list(info.windows))
    return hashed


def without_windows(hashed: dict[str, HashedImage]) -> dict[str, HashedImage]:
    return {key: image.model_copy(update={"windows": []}) for key, image in hashed.items()}


def report_duplicates(corpus: Corpus, hashed: dict[str, HashedImage], chosen: int,
                      title: str) -> None:
    truth = {entry.id: entry.group for entry in corpus.entries}
    print(f"\nNear-duplicates, {title}, pairwise against ground truth "
          "(P = precision, R = recall)")
    print(f"{'threshold':>9} | " + " | ".join(f"{name:^30}" for name in CATEGORIES))
    for threshold in range(0, 17, 2):
        cells = []
        for left_out in CATEGORIES.values():
            subset = [hashed[e.id] for e in corpus.entries if e.kind not in left_out]
            p, r, false = pairwise_scores(truth, find_duplicate_groups(subset, threshold).keeper_of)
            cells.append(f"P={p:.4f} R={r:.4f} false={false:<5}")
        mark = "  <- default" if threshold == chosen else ""
        print(f"{threshold:>9} | " + " | ".join(cells) + mark)

    result = find_duplicate_groups(hashed.values(), chosen)
    p, r, false = pairwise_scores(truth, result.keeper_of)
    print(f"all variants at threshold {chosen}: P={p:.4f} R={r:.4f} false pairs={false}")
    banded = banded_duplicate_groups(hashed.values(), chosen, maps=BANDED_MAPS, partitions=BANDED_PARTITIONS)
    p, r, false = pairwise_scores(truth, banded.keeper_of)
    same = "the same groups" if banded.keeper_of == result.keeper_of else "OTHER GROUPS"
    print(f"banded search ({BANDED_MAPS} maps, {BANDED_PARTITIONS} partitions, what validate_job "
          f"runs): P={p:.4f} R={r:.4f} false pairs={false}: {same} as the in-memory reference")
    original_of = {e.group: e.id for e in corpus.entries if e.kind == "original"}
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for entry in corpus.entries:
        if entry.kind in ("original", "lookalike") or entry.group not in original_of:
            continue
        total[entry.kind] += 1
        mine = result.keeper_of[entry.id] or entry.id
        theirs = result.keeper_of[original_of[entry.group]] or original_of[entry.group]
        found[entry.kind] += mine == theirs
    print("recall per variant kind (grouped with its original): " + ", ".join(
        f"{kind} {found[kind]}/{n} = {found[kind] / n:.3f}" for kind, n in sorted(total.items())))


def report_quality(corpus: Corpus, blobs: dict[str, bytes]) -> None:
    print("\nQuality checks against ground truth (flagged / should be flagged)")
    flagged: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for entry in corpus.entries:
        failed = set(assess_quality_bytes(blobs[entry.id]).failed)
        for check in failed | set(entry.flags):
            flagged[check] += check in failed
            expected[check] += check in entry.flags
            wrong[check] += (check in failed) != (check in entry.flags)
    for check in sorted(expected):
        print(f"  {check:16} flagged {flagged[check]:4}, expected {expected[check]:4}, "
              f"wrong {wrong[check]}")


def throughput(name: str, count: int, run: Callable[[], object]) -> None:
    """Images per second of wall time, and per second of this process's CPU time (the figure
    that does not depend on what else the machine is running)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {name:6} {count / wall:7.0f} images/s wall  {count / cpu:7.0f} images/s CPU")


def report_throughput(entries: Iterable[CorpusEntry], corpus: Corpus,
                      blobs: dict[str, bytes], threshold: int) -> None:
    entries = list(entries)
    print(f"\nThroughput over {len(entries)} files in memory, one thread")

    def fast() -> dict[str, HashedImage]:
        return hash_corpus(corpus, blobs)

    def medium() -> DedupeResult:
        return find_duplicate_groups(fast().values(), threshold)

    def slow() -> None:
        medium()
        for entry in entries:
            assess_quality_bytes(blobs[entry.id])

    stored = list(fast().values())

    def dedupe_stored() -> DedupeResult:
        return find_duplicate_groups(stored, threshold)

    def dedupe_banded() -> DedupeResult:
        return banded_duplicate_groups(stored, threshold, maps=BANDED_MAPS, partitions=BANDED_PARTITIONS)

    throughput("fast", len(entries), fast)
    throughput("medium", len(entries), medium)
    throughput("slow", len(entries), slow)
    print("  what validate_job adds to records the download stored (hashes already there):")
    throughput("dedupe", len(entries), dedupe_stored)
    print("  the same through the banded stages in one process (validate_job's algorithm):")
    throughput("banded", len(entries), dedupe_banded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-base", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--directory", type=Path, default=Path(".local/validation-corpus"))
    parser.add_argument("--threshold", type=int, default=DEFAULT_PHASH_THRESHOLD)
    args = parser.parse_args(argv)

    corpus = generate_corpus(args.directory, args.n_base, args.seed)
    kinds = Counter(entry.kind for entry in corpus.entries)
    print(f"corpus: {len(corpus.entries)} files from {args.n_base} bases (seed {args.seed}): "
          + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
    blobs = {entry.id: corpus.path(entry).read_bytes() for entry in corpus.entries}
    hashed = hash_corpus(corpus, blobs)
    report_duplicates(corpus, without_windows(hashed), args.threshold, "whole-image pHash only")
    report_duplicates(corpus, hashed, args.threshold, "whole-image pHash + window pHashes")
    report_quality(corpus, blobs)
    report_throughput(corpus.entries, corpus, blobs, args.threshold)


if __name__ == "__main__":
    main()
