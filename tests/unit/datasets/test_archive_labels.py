"""safe_label: every label becomes a folder name that is safe on every OS and its own."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.datasets import MAX_LABEL_BYTES, is_safe_member, safe_label

NASTY = [
    "..", ".", "", "../../etc/passwd", "a/b", "a\\b", "C:\\Windows", "CON", "con.txt", "lpt1",
    ".hidden", "trailing.", "tab\there", "nul\x00byte", "ﬁsh", "\u202eevil", "   ", "x" * 500,
    "é" * 200, "猫/犬", "cat_0123abcd",
]
labels = st.one_of(
    st.text(max_size=120),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(["..", ".", "/", "\\", "a", "É", "猫", "CON", " "]), max_size=8).map(
        "".join
    ),
)


def test_plain_labels_stay_as_they_are() -> None:
    assert safe_label("cat") == "cat"
    assert safe_label("golden retriever") == "golden retriever"
    assert safe_label("t-shirt_2") == "t-shirt_2"


def test_dangerous_labels_lose_their_danger_and_gain_a_hash() -> None:
    assert safe_label("../../etc/passwd").startswith("etc_passwd_")
    assert safe_label("..").startswith("label_")
    assert safe_label("CON").startswith("_con_")
    assert safe_label("a/b") != safe_label("a_b")
    assert safe_label("Cat") != safe_label("cat")


@given(labels)
@settings(max_examples=200)
def test_every_label_makes_a_safe_folder(label: str) -> None:
    folder = safe_label(label)
    assert folder
    assert is_safe_member(f"{folder}/x.jpg")
    assert not folder.startswith(".") and not folder.endswith((".", " "))
    assert "/" not in folder and "\\" not in folder
    assert not any(unicodedata.category(c).startswith("C") for c in folder)
    assert folder.split(".")[0].strip() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
    assert len(folder.encode("utf-8")) <= MAX_LABEL_BYTES
    assert folder == folder.lower()
    assert safe_label(label) == folder


@given(st.lists(labels, unique=True, min_size=2, max_size=12))
@settings(max_examples=150)
def test_distinct_labels_never_share_a_folder_even_ignoring_case(batch: list[str]) -> None:
    folders = [safe_label(label).casefold() for label in batch]
    assert len(set(folders)) == len(batch)


def test_a_label_that_looks_hashed_cannot_take_another_labels_folder() -> None:
    forged = safe_label("a/b")
    assert safe_label(forged) != forged
