"""Fixtures of the validation tests: a small generated ground-truth corpus and its hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.corpus import Corpus, generate_corpus
from shared.imaging import ImageInfo, inspect_image
from shared.models import ValidationRules
from shared.models.validation import HashedImage

#: Small enough to generate in a few seconds; every 20 bases hold every variant and defect kind.
CORPUS_BASES = 40
CORPUS_SEED = 4


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return generate_corpus(tmp_path_factory.mktemp("corpus"), CORPUS_BASES, CORPUS_SEED)


@pytest.fixture(scope="session")
def hashed(corpus: Corpus) -> list[HashedImage]:
    """Every corpus file through the fast level (the real download-time checks and hashes)."""
    items = []
    for entry in corpus.entries:
        info = inspect_image(Path(corpus.path(entry)).read_bytes(), ValidationRules())
        assert isinstance(info, ImageInfo), (entry.file, info)
        items.append(HashedImage(id=entry.id, phash=info.phash, width=info.width,
                                 height=info.height, created_at=entry.created_at,
                                 sha256=info.sha256))
    return items
