"""Quality checks on the ground-truth corpus: each file fails exactly the checks it should."""

from __future__ import annotations

from PIL import Image

from scripts.corpus import Corpus
from shared.imaging.quality import assess_quality, assess_quality_bytes


def test_every_file_fails_exactly_its_ground_truth_checks(corpus: Corpus) -> None:
    wrong = {}
    for entry in corpus.entries:
        with Image.open(corpus.path(entry)) as image:
            report = assess_quality(image, entry.bytes)
        if set(report.failed) != set(entry.flags) or report.passed != (not entry.flags):
            wrong[entry.file] = (report.failed, entry.flags, report.scores)
    assert wrong == {}


def test_draft_decoded_bytes_give_the_same_verdicts(corpus: Corpus) -> None:
    for entry in corpus.entries:
        report = assess_quality_bytes(corpus.path(entry).read_bytes())
        assert set(report.failed) == set(entry.flags), (entry.file, report.scores)
