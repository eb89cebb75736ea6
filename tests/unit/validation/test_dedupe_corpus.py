"""Near-duplicate detection on the ground-truth corpus, file by file."""

from __future__ import annotations

from collections import Counter

from scripts.corpus import NEAR_DUPLICATE_KINDS, QUALITY_KINDS, Corpus
from shared.validation.dedupe import DEFAULT_PHASH_THRESHOLD, find_duplicate_groups
from shared.models.validation import HashedImage


def test_corpus_has_every_kind(corpus: Corpus) -> None:
    kinds = Counter(entry.kind for entry in corpus.entries)
    missing = {*NEAR_DUPLICATE_KINDS, *QUALITY_KINDS, "original", "lookalike"} - set(kinds)
    assert not missing, f"the test corpus lacks {missing}: pick another CORPUS_SEED"


def test_every_duplicate_flag_and_keeper_matches_ground_truth(
    corpus: Corpus, hashed: list[HashedImage]
) -> None:
    """Exact copies, resizes, re-encodes and brightness changes are found and point at the
    kept image of their group; originals, look-alikes and defects are not duplicates.

    Crops are left out here: a 64-bit pHash is not crop-invariant (crops of 3-10 % land 12-22
    bits away, where distinct images start), see the crop recall in bench/validation_quality.py.
    """
    result = find_duplicate_groups(hashed, DEFAULT_PHASH_THRESHOLD)
    expected = corpus.expected_keepers(skip_kinds=["crop"])
    actual = {image_id: keeper for image_id, keeper in result.keeper_of.items()
              if image_id in expected}
    wrong = {i: (actual[i], expected[i]) for i in expected if actual[i] != expected[i]}
    assert wrong == {}
    assert sum(keeper is not None for keeper in expected.values()) > 20


def test_crops_are_never_merged_into_another_group(
    corpus: Corpus, hashed: list[HashedImage]
) -> None:
    result = find_duplicate_groups(hashed, DEFAULT_PHASH_THRESHOLD)
    group_of = {entry.id: entry.group for entry in corpus.entries}
    for entry in corpus.entries:
        if entry.kind == "crop" and result.keeper_of[entry.id] is not None:
            assert group_of[result.keeper_of[entry.id]] == entry.group


def test_lookalikes_stay_apart_from_their_originals(
    corpus: Corpus, hashed: list[HashedImage]
) -> None:
    result = find_duplicate_groups(hashed, DEFAULT_PHASH_THRESHOLD)
    lookalikes = [entry for entry in corpus.entries if entry.kind == "lookalike"]
    assert lookalikes
    grouped = {member for group in result.groups for member in group.members}
    assert not grouped & {entry.id for entry in lookalikes}
