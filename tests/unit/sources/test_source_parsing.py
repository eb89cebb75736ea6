"""Reading the search services' answers: the quirks of each format, and the paging
arithmetic every source relies on to resume without losing or repeating results."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import SourceError, SourceRateLimited
from shared.crawl.sources import baidu, bing, duckduckgo, flickr, google, openverse, wikimedia
from shared.crawl.sources._http import RetryPolicy
from shared.crawl.sources._parse import as_int, slice_page, strip_html


def commons_page(index: int, mime: str = "image/jpeg", **info: object) -> dict[str, object]:
    return {
        "pageid": 500 + index,
        "ns": 6,
        "title": f"File:Owl {index}.jpg",
        "index": index,
        "imageinfo": [
            {
                "url": f"https://upload.example.org/owl{index}.jpg",
                "mime": mime,
                "width": 800,
                "height": 600,
                "descriptionurl": f"https://commons.example.org/wiki/File:Owl_{index}.jpg",
                **info,
            }
        ],
    }


def test_commons_results_follow_the_search_rank_not_the_page_order() -> None:
    payload = {
        "continue": {"gsroffset": 13},
        "query": {"pages": [commons_page(3), commons_page(1), commons_page(2)]},
    }
    page = wikimedia.parse_page(payload, offset=10, count=3)
    assert [c.title for c in page.candidates] == ["Owl 1.jpg", "Owl 2.jpg", "Owl 3.jpg"]
    assert page.next_offset == 13


def test_commons_formatversion_1_pages_keyed_by_id_read_the_same() -> None:
    pages = {"501": commons_page(1), "502": commons_page(2)}
    page = wikimedia.parse_page({"batchcomplete": "", "query": {"pages": pages}}, 0, 10)
    assert [c.url for c in page.candidates] == [
        "https://upload.example.org/owl1.jpg",
        "https://upload.example.org/owl2.jpg",
    ]
    assert page.next_offset is None


def test_commons_skips_files_that_are_not_images_and_reads_licence_metadata() -> None:
    ext = {
        "ObjectName": {"value": "Barn <i>owl</i>"},
        "LicenseShortName": {"value": "CC0"},
        "Artist": {"value": '<a href="//commons.example.org/wiki/User:Ann">Ann</a> &amp; Bo'},
    }
    payload = {
        "query": {
            "pages": [
                commons_page(1, mime="application/pdf"),
                commons_page(2, extmetadata=ext),
                commons_page(3, mime="video/webm"),
            ]
        }
    }
    (owl,) = wikimedia.parse_page(payload, 0, 10).candidates
    assert (owl.title, owl.license, owl.attribution) == ("Barn owl", "CC0", "Ann & Bo")


def test_commons_asking_only_imageinfo_to_continue_still_moves_the_search_on() -> None:
    payload = {
        "continue": {"iistart": "2024", "continue": "gsroffset||"},
        "query": {"pages": [commons_page(1), commons_page(2)]},
    }
    assert wikimedia.parse_page(payload, offset=40, count=50).next_offset == 42


def test_commons_api_errors_are_reported_with_their_code() -> None:
    with pytest.raises(SourceError, match="wikimedia API error badvalue: Unrecognized value"):
        wikimedia.parse_page({"error": {"code": "badvalue", "info": "Unrecognized value"}}, 0, 5)


@pytest.mark.parametrize(
    ("code", "version", "expected"),
    [
        ("by", "2.0", "CC BY 2.0"),
        ("by-nc-nd", "4.0", "CC BY-NC-ND 4.0"),
        ("cc0", "1.0", "CC0 1.0"),
        ("pdm", None, "PDM"),
        (None, "1.0", None),
    ],
)
def test_openverse_licences_read_as_people_write_them(
    code: str | None, version: str | None, expected: str | None
) -> None:
    assert openverse.license_name(code, version) == expected


def test_openverse_an_offset_inside_a_page_skips_into_it_and_ends_on_the_last_page() -> None:
    results = [{"url": f"https://x.example/{i}.jpg"} for i in range(40, 47)]
    page = openverse.parse_page({"page_count": 3, "results": results}, offset=43, count=10)
    assert [c.url for c in page.candidates] == [f"https://x.example/{i}.jpg" for i in range(43, 47)]
    assert page.next_offset is None


def test_flickr_prefers_the_original_and_falls_back_to_large() -> None:
    photos = [
        {
            "id": "1",
            "owner": "o@N1",
            "url_l": "https://live.example/1_b.jpg",
            "width_l": "1024",
            "height_l": 683,
            "license": "9",
        },
        {
            "id": "2",
            "owner": "o@N1",
            "url_o": "https://live.example/2_o.jpg",
            "url_l": "https://live.example/2_b.jpg",
            "width_o": 4000,
            "height_o": "3000",
            "license": "42",
        },
        {"id": "3", "title": "no url at all"},
    ]
    page = flickr.parse_page({"stat": "ok", "photos": {"pages": 1, "photo": photos}}, 0, 100)
    first, second = page.candidates
    assert (first.url, first.width, first.height, first.license) == (
        "https://live.example/1_b.jpg",
        1024,
        683,
        "CC0 1.0",
    )
    assert (second.url, second.width, second.height, second.license) == (
        "https://live.example/2_o.jpg",
        4000,
        3000,
        "42",
    )
    assert first.page_url == "https://www.flickr.com/photos/o@N1/1"


def test_google_without_a_next_page_is_exhausted() -> None:
    items = [{"link": "https://a.example/1.png", "image": {"contextLink": "https://a.example/"}}]
    page = google.parse_page({"items": items, "queries": {"request": [{}]}}, 20, 10)
    assert page.next_offset is None and page.candidates[0].page_url == "https://a.example/"


def test_bing_metadata_is_html_escaped_json_and_sizes_are_read_from_the_caption() -> None:
    meta = json.dumps(
        {"murl": "https://i.example/a.jpg", "purl": "https://p.example/a", "t": "Snow &amp; ice"}
    )
    fragment = (
        f'<div class="imgpt"><a class="iusc" m="{meta.replace(chr(34), "&quot;")}" href="#">'
        '<img/></a><div class="img_info hon"><span class="nowrap">1600 x 900 · jpeg</span>'
        '</div></div><div class="imgpt"><a class="iusc" m="{broken">x</a></div>'
    )
    page = bing.parse_page(fragment, offset=70, count=35)
    (first,) = page.candidates
    assert (first.url, first.page_url, first.title, first.width, first.height) == (
        "https://i.example/a.jpg",
        "https://p.example/a",
        "Snow & ice",
        1600,
        900,
    )
    assert page.next_offset == 72  # the broken result still counts as a position


@pytest.mark.parametrize(
    "html_text",
    [
        '<script>vqd="4-2156";</script>',
        "<script>vqd='4-2156'</script>",
        '<a href="/d.js?q=x&vqd=4-2156&p=1">',
        '{"vqd":"4-2156"}',
    ],
)
def test_duckduckgo_token_is_found_in_each_of_its_spellings(html_text: str) -> None:
    assert duckduckgo.extract_vqd(html_text) == "4-2156"


def test_duckduckgo_next_link_gives_the_next_start() -> None:
    results = [{"image": f"https://d.example/{i}.jpg"} for i in range(100)]
    payload = {"results": results, "next": "i.js?q=owl&o=json&p=1&s=100&u=bing&f=,,,&l=us-en"}
    page = duckduckgo.parse_page(payload, offset=0, count=100)
    assert len(page.candidates) == 100 and page.next_offset == 100


def test_baidu_obfuscated_urls_decode() -> None:
    encoded = "ippr_z2C$qAzdH3FAzdH3Fooo_z&e3Bkwt17_z&e3Bv54AzdH3F"
    assert baidu.decode_url(encoded) == "http://www.baidu.com/"
    assert baidu.decode_url("https://plain.example/x.jpg") == "https://plain.example/x.jpg"


def test_baidu_repairs_its_escapes_drops_the_empty_tail_and_uses_its_copies() -> None:
    body = (
        '{"listNum": 100, "data": ['
        '{"objURL": "https://o.example/1.jpg", "width": 500, "height": 375,'
        ' "fromPageTitleEnc": "<strong>panda</strong> it\\\'s \\x cute"},'
        '{"objURL": "garbage", "replaceUrl": [{"ObjURL": "https://copy.example/2.jpg"}]},'
        '{"thumbURL": "https://img0.example/it/u=3", "width": 900, "height": 600},'
        "{}]}"
    )
    page = baidu.parse_page(body, offset=30, count=30)
    first, second, third = page.candidates
    assert first.title == "panda it's \\x cute" and (first.width, first.height) == (500, 375)
    assert second.url == "https://copy.example/2.jpg"
    # A Baidu thumbnail is not the original: its size is unknown.
    assert (third.url, third.width, third.height) == ("https://img0.example/it/u=3", None, None)
    assert page.next_offset == 33


def test_baidu_blocking_a_client_is_a_rate_limit() -> None:
    with pytest.raises(SourceRateLimited, match="Forbid spider access"):
        baidu.parse_page('{"antiFlag": 1, "message": "Forbid spider access"}', 0, 30)


@given(
    page_start=st.integers(0, 10_000),
    size=st.integers(0, 60),
    skip=st.integers(0, 80),
    count=st.integers(1, 100),
    gap=st.one_of(st.none(), st.integers(-5, 100)),
)
def test_paging_always_moves_forward_and_never_overlaps(
    page_start: int, size: int, skip: int, count: int, gap: int | None
) -> None:
    items = list(range(page_start, page_start + size))
    offset = page_start + skip
    next_start = None if gap is None else page_start + size + gap
    chosen, next_offset = slice_page(items, offset, page_start, count, next_start)
    assert len(chosen) <= count
    assert chosen == [i for i in items if i >= offset][:count]
    if next_offset is not None:
        assert next_offset > offset
        assert next_offset >= offset + len(chosen)


@given(st.integers(0, 9), st.floats(0, 100, allow_nan=False))
def test_backoff_stays_within_its_bounds(attempt: int, base: float) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_cap=30.0)
    ceiling = min(30.0, base * 2**attempt)
    assert ceiling / 2 <= policy.delay(attempt, None) <= ceiling
    assert policy.delay(attempt, 4.5) == 4.5


def test_loose_fields_become_none_instead_of_raising() -> None:
    values: list[object] = ["12", 12.0, True, None, "1e3", "nan", []]
    assert [as_int(v) for v in values] == [
        12,
        12,
        None,
        None,
        1000,
        None,
        None,
    ]
    assert strip_html({"value": 1}) is None and strip_html(" <b> </b> ") is None
