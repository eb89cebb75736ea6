"""Job bodies and chunk planning: what a user sends and what gets crawled."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.models import JobCreate, SourceType, expand_keyword, plan_chunks


def test_names_and_objects_both_name_sources() -> None:
    job = JobCreate.model_validate(
        {
            "name": "pets",
            "keywords": ["cat"],
            "sources": ["wikimedia", {"type": "urls", "label": "dog", "urls": ["http://x/1.jpg"]}],
        }
    )
    assert [s.type for s in job.sources] == [SourceType.wikimedia, SourceType.urls]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "keywords": ["cat"], "sources": ["nosuch"]}, "sources"),
        ({"name": "x", "keywords": ["cat"], "sources": [{"type": "urls", "urls": ["u"]}]}, "sources"),
        ({"name": "x", "keywords": ["cat"], "sources": ["bing"], "variations": ["photo"]}, "variations"),
        ({"name": "x", "keywords": [], "sources": ["bing"]}, None),
        ({"name": "", "keywords": ["cat"], "sources": ["bing"]}, "name"),
        ({"name": "x", "keywords": ["cat"], "sources": ["bing"], "max_images_per_keyword": 0}, "max_images_per_keyword"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(body: dict[str, object], field: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        JobCreate.model_validate(body)
    if field:
        assert any(err["loc"][0] == field for err in info.value.errors())


def test_variations_expand_and_dedupe() -> None:
    assert expand_keyword("cat", ["{kw}", "{kw} photo", "{kw}", " {kw} "]) == ["cat", "cat photo"]


keywords = st.lists(st.text("abcdefgh ", min_size=1, max_size=8).map(str.strip).filter(bool), min_size=1, max_size=5, unique=True)
variations = st.lists(st.sampled_from(["{kw}", "{kw} photo", "{kw} close-up", "a {kw}"]), min_size=1, max_size=4)


@given(keywords, variations, st.integers(1, 500), st.integers(1, 3))
def test_chunks_cover_keywords_times_sources_and_split_the_quota(
    kws: list[str], variants: list[str], quota: int, n_sources: int
) -> None:
    sources = ["wikimedia", "openverse", "bing"][:n_sources]
    job = JobCreate(name="j", keywords=kws, sources=sources, variations=variants, max_images_per_keyword=quota)
    chunks = plan_chunks("job", job)
    unique_kws = list(dict.fromkeys(kws))
    assert {c.label for c in chunks} == set(unique_kws)
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    for kw in unique_kws:
        for source in sources:
            mine = [c for c in chunks if c.label == kw and c.source.name == source]
            assert sum(c.quota for c in mine) == quota
            assert len(mine) == len(expand_keyword(kw, job.variations))
    assert [c.chunk_id for c in plan_chunks("job", job)] == [c.chunk_id for c in chunks]
