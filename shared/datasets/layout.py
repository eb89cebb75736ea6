"""What goes where in a dataset archive, and what each manifest line says.

Layout::

    {safe_label}/{sha256}.{ext}     the images, STORED
    manifest.jsonl                  one JSON object per image (see MANIFEST_FIELDS)
    labels.csv                      index,label,directory,images,<one column per split>
    dataset.json                    name, created, settings, job settings, counts
    README.md                       the data card

Example::

    >>> image_member("cat/dog", "ab" * 32, "jpg")
    'cat_dog_c9102ea6/abababababababababababababababababababababababababababababababab.jpg'
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.datasets.labels import safe_label
from shared.models.images import ImageRecord

__all__ = [
    "CARD",
    "DATASET_JSON",
    "LABELS_CSV",
    "MANIFEST",
    "MANIFEST_FIELDS",
    "METADATA_MEMBERS",
    "image_member",
    "is_safe_member",
    "manifest_line",
    "manifest_row",
]

MANIFEST = "manifest.jsonl"
LABELS_CSV = "labels.csv"
DATASET_JSON = "dataset.json"
CARD = "README.md"
METADATA_MEMBERS = (MANIFEST, LABELS_CSV, DATASET_JSON, CARD)

MANIFEST_FIELDS = (
    "file", "label", "split", "source", "url", "page_url", "license", "attribution",
    "width", "height", "bytes", "sha256", "phash",
)

# Line breaks that JSON leaves raw but str.splitlines() and some JSONL readers split on.
_RAW_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")


def image_member(label: str, sha256: str, extension: str) -> str:
    """The archive path of an image: sanitised label folder, content hash, extension.

    Only ``label`` comes from a user, and it passes through :func:`safe_label`; the hash and
    the extension are checked to be what they claim, so a forged record cannot reach a path.
    """
    if not _HEX64.match(sha256):
        raise ValueError(f"not a lower-case hex sha256: {sha256!r}")
    if not _EXTENSION.match(extension):
        raise ValueError(f"not a file extension: {extension!r}")
    return f"{safe_label(label)}/{sha256}.{extension}"


def is_safe_member(name: str) -> bool:
    """True when a member name extracts below the target folder on any OS: relative, no
    ``..`` or empty component, no backslash, drive letter or control character.

    >>> is_safe_member("cat/1.jpg"), is_safe_member("../x"), is_safe_member("/etc/x")
    (True, False, False)
    """
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def manifest_row(record: ImageRecord, member: str, split: str, size: int) -> dict[str, Any]:
    """One line of ``manifest.jsonl``: where the image is and where it came from."""
    return {
        "file": member,
        "label": record.label,
        "split": split,
        "source": record.source,
        "url": record.url,
        "page_url": record.page_url,
        "license": record.license,
        "attribution": record.attribution,
        "width": record.width,
        "height": record.height,
        "bytes": size,
        "sha256": record.sha256,
        "phash": record.phash,
    }


def manifest_line(row: dict[str, Any]) -> bytes:
    """One JSONL line: UTF-8 kept readable, every line break inside a value escaped.

    >>> manifest_line({"label": "a\u2028b"})
    b'{"label": "a\\\\u2028b"}\\n'
    """
    return (json.dumps(row, ensure_ascii=False).translate(_RAW_LINE_BREAKS) + "\n").encode()
