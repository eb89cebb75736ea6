"""What goes where in a dataset of each layout, and what each manifest line says.

Layout ``zip``, one zip::

    {safe_label}/{sha256}.{ext}     the images, STORED
    manifest.jsonl                  one JSON object per image (see MANIFEST_FIELDS)
    labels.csv                      index,label,directory,images,<one column per split>
    dataset.json                    name, created, settings, job settings, counts
    README.md                       the data card

Layout ``imagefolder``, one zip: the same, with the images under their split,
``{safe_split}/{safe_label}/{sha256}.{ext}`` (``torchvision.datasets.ImageFolder(dir/train)``).

Layout ``webdataset``, files: tar shards ``{safe_split}-{000000}.tar`` holding per image
``{sha256}.{ext}`` and ``{sha256}.json`` (its manifest line, with ``shard``), and
``dataset.json`` (which lists the shards), ``labels.csv`` and ``README.md`` beside them.

Example::

    >>> image_member("cat/dog", "ab" * 32, "jpg")
    'cat_dog_c9102ea6/abababababababababababababababababababababababababababababababab.jpg'
    >>> image_path(DatasetLayout.imagefolder, "cat", "train", "ab" * 32, "png")[:16]
    'train/cat/ababab'
    >>> shard_name("train", 3)
    'train-000003.tar'
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.datasets.labels import safe_label
from shared.models.datasets import DatasetLayout
from shared.models.images import ImageRecord

__all__ = [
    "CARD",
    "DATASET_JSON",
    "LABELS_CSV",
    "MANIFEST",
    "MANIFEST_FIELDS",
    "METADATA_MEMBERS",
    "SHARD_FILES",
    "describe_layout",
    "image_member",
    "image_path",
    "is_safe_member",
    "layout_files",
    "manifest_line",
    "manifest_row",
    "shard_name",
]

MANIFEST = "manifest.jsonl"
LABELS_CSV = "labels.csv"
DATASET_JSON = "dataset.json"
CARD = "README.md"
METADATA_MEMBERS = (MANIFEST, LABELS_CSV, DATASET_JSON, CARD)
#: The files beside a webdataset's shards (its per-image lines are the shards' .json members).
SHARD_FILES = (DATASET_JSON, LABELS_CSV, CARD)

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
    return f"{safe_label(label)}/{_checked_key(sha256, extension)}"


def _checked_key(sha256: str, extension: str) -> str:
    if not _HEX64.match(sha256):
        raise ValueError(f"not a lower-case hex sha256: {sha256!r}")
    if not _EXTENSION.match(extension):
        raise ValueError(f"not a file extension: {extension!r}")
    return f"{sha256}.{extension}"


def image_path(layout: DatasetLayout, label: str, split: str, sha256: str, extension: str) -> str:
    """Where an image is in a dataset of ``layout`` (the manifest's ``file``): below its label
    folder (``zip``), below its split and label folders (``imagefolder``), or its member name
    in its shard (``webdataset``). Label and split pass through :func:`safe_label`."""
    if layout is DatasetLayout.webdataset:
        return _checked_key(sha256, extension)
    member = image_member(label, sha256, extension)
    return f"{safe_label(split)}/{member}" if layout is DatasetLayout.imagefolder else member


def shard_name(split: str, index: int) -> str:
    """The file name of shard ``index`` of ``split`` in a webdataset (split names pass through
    :func:`safe_label`, so every shard of a split matches ``{split}-*.tar``)."""
    return f"{safe_label(split)}-{index:06d}.tar"


def layout_files(layout: DatasetLayout) -> dict[str, str]:
    """The metadata files of a layout, for ``dataset.json``'s ``files``."""
    files = {"manifest": MANIFEST, "labels": LABELS_CSV, "card": CARD}
    if layout is DatasetLayout.webdataset:
        del files["manifest"]
    return files


def describe_layout(layout: DatasetLayout) -> list[str]:
    """The data card's lines about where things are in a dataset of ``layout``."""
    fields = "file, label, split, source, url, page_url, license, attribution, width, height, bytes, sha256, phash"
    if layout is DatasetLayout.webdataset:
        return [
            "- `<split>-<000000>.tar`: WebDataset shards, each image as `<sha256>.<ext>` with "
            f"`<sha256>.json`: {fields}, shard.",
            f"- `{LABELS_CSV}`: label index, label, folder and image counts per split.",
            f"- `{DATASET_JSON}`: these facts, machine-readable, and every shard with its sha256.",
        ]
    images = (
        "- `<split>/<folder>/<sha256>.<ext>`: the images, by split and label (torchvision's "
        "`ImageFolder` reads each split folder), named by the sha256 of their bytes."
        if layout is DatasetLayout.imagefolder
        else "- `<folder>/<sha256>.<ext>`: the images, named by the sha256 of their bytes."
    )
    return [
        images,
        f"- `{MANIFEST}`: one JSON object per image: {fields}.",
        f"- `{LABELS_CSV}`: label index, label, folder and image counts per split.",
        f"- `{DATASET_JSON}`: these facts, machine-readable.",
    ]


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


def manifest_row(
    record: ImageRecord, member: str, split: str, size: int, shard: str | None = None
) -> dict[str, Any]:
    """One line of ``manifest.jsonl`` (or a webdataset's ``.json`` member, with ``shard``):
    where the image is and where it came from."""
    row = {
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
    if shard is not None:
        row["shard"] = shard
    return row


def manifest_line(row: dict[str, Any]) -> bytes:
    """One JSONL line: UTF-8 kept readable, every line break inside a value escaped.

    >>> manifest_line({"label": "a\u2028b"})
    b'{"label": "a\\\\u2028b"}\\n'
    """
    return (json.dumps(row, ensure_ascii=False).translate(_RAW_LINE_BREAKS) + "\n").encode()
