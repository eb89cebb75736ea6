"""The archive's descriptive members: ``labels.csv``, ``dataset.json`` and the ``README.md``
data card. Built from the totals the writer gathered while packing the images.

Example::

    tally = ArchiveTally(splits={"train": 0.8, "val": 0.1, "test": 0.1})
    tally.add(record, split="train")
    readme = render_card(meta, tally)
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.datasets.curation import EXCLUDED, is_relabelled
from shared.datasets.labels import safe_label
from shared.datasets.layout import describe_layout, layout_files
from shared.models.datasets import DatasetCounts, DatasetMeta, DatasetTally
from shared.models.images import ImageRecord

__all__ = [
    "LEFT_OUT_IDS", "NAMED_REASONS", "ArchiveTally", "csv_cell", "dataset_json", "labels_csv", "render_card",
]

UNKNOWN_LICENSE = "unknown"
#: Reasons a record is left out for want of its bytes: their ids are named (``left_out`` in
#: dataset.json and on the dataset record), the first :data:`LEFT_OUT_IDS` of each.
NAMED_REASONS = ("unreadable", "missing", "bytes_mismatch")
#: Ids named per reason, at most (the total is in ``skipped``).
LEFT_OUT_IDS = 100
#: What a spreadsheet may read as the start of a formula (OWASP, "CSV Injection"), and the
#: quote that escapes it (prefixed to a cell starting with one of these, itself included, so a
#: reader gets the text back by dropping one leading quote).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (OWASP): a leading
    ``= + - @``, tab or carriage return -- or quote -- gets a ``'`` in front. The csv module
    quotes the cell when needed (commas, quotes, line breaks).

    >>> print(csv_cell('=HYPERLINK("http://x","y")'))
    '=HYPERLINK("http://x","y")
    >>> csv_cell("cat")
    'cat'
    """
    return f"'{text}" if text.startswith(FORMULA_START) else text


@dataclass
class ArchiveTally:
    """Counts gathered while packing: per label, per split, per label and split, sources,
    licenses, records left out by reason (and the ids of those left out for want of their
    bytes, see :data:`NAMED_REASONS`), and images packed under a reviewer's label."""

    splits: dict[str, float]
    per_label: Counter[str] = field(default_factory=Counter)
    per_split: Counter[str] = field(default_factory=Counter)
    per_label_split: Counter[tuple[str, str]] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    licenses: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    left_out: dict[str, list[str]] = field(default_factory=dict)
    relabelled: int = 0

    @classmethod
    def resume(cls, splits: dict[str, float], saved: DatasetTally) -> ArchiveTally:
        """The tally a previous part of the build left (see :meth:`saved`)."""
        return cls(
            splits=dict(splits),
            per_label=Counter(saved.per_label),
            per_split=Counter(saved.per_split),
            per_label_split=Counter({
                (label, split): n
                for label, by_split in saved.per_label_split.items()
                for split, n in by_split.items()
            }),
            sources=Counter(saved.sources),
            licenses=Counter(saved.licenses),
            skipped=Counter(saved.skipped),
            left_out={reason: list(ids) for reason, ids in saved.left_out.items()},
            relabelled=saved.relabelled,
        )  # fmt: skip

    def saved(self) -> DatasetTally:
        """The tally as a small model, for the next part of the build."""
        by_label: dict[str, dict[str, int]] = {}
        for (label, split), n in sorted(self.per_label_split.items()):
            by_label.setdefault(label, {})[split] = n
        return DatasetTally(
            per_label=dict(self.per_label), per_split=dict(self.per_split),
            per_label_split=by_label, sources=dict(self.sources),
            licenses=dict(self.licenses), skipped=dict(self.skipped), left_out=self.named(),
            relabelled=self.relabelled,
        )  # fmt: skip

    def skip(self, record: ImageRecord, reason: str) -> None:
        """Leave ``record`` out for ``reason``: counted, and named if it is one of
        :data:`NAMED_REASONS` (the first :data:`LEFT_OUT_IDS` of each)."""
        self.skipped[reason] += 1
        if reason in NAMED_REASONS:
            ids = self.left_out.setdefault(reason, [])
            if len(ids) < LEFT_OUT_IDS:
                ids.append(record.id)

    def named(self) -> dict[str, list[str]]:
        """The ids left out for want of their bytes, by reason (in :data:`NAMED_REASONS` order)."""
        return {reason: list(self.left_out[reason]) for reason in NAMED_REASONS if self.left_out.get(reason)}

    def add(self, record: ImageRecord, split: str) -> None:
        self.per_label[record.label] += 1
        self.per_split[split] += 1
        self.per_label_split[(record.label, split)] += 1
        self.sources[record.source] += 1
        self.licenses[record.license or UNKNOWN_LICENSE] += 1
        if is_relabelled(record):
            self.relabelled += 1

    @property
    def labels(self) -> list[str]:
        """Labels in index order (sorted, so the index is stable across builds)."""
        return sorted(self.per_label)

    def counts(self) -> DatasetCounts:
        return DatasetCounts(
            total=sum(self.per_label.values()),
            per_label=dict(sorted(self.per_label.items())),
            per_split={name: self.per_split[name] for name in self.splits},
        )


def labels_csv(tally: ArchiveTally) -> str:
    """``index,label,directory,images,<split>...``: one row per label, in index order. Every
    text cell passes through :func:`csv_cell` (labels are user input)."""
    out = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator, a label holding either character is quoted.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["index", "label", "directory", "images", *map(csv_cell, tally.splits)])
    for index, label in enumerate(tally.labels):
        per_split = [tally.per_label_split[(label, name)] for name in tally.splits]
        writer.writerow(
            [index, csv_cell(label), csv_cell(safe_label(label)), tally.per_label[label], *per_split]
        )
    return out.getvalue()


def dataset_json(meta: DatasetMeta, tally: ArchiveTally, shards: list[dict[str, Any]] | None = None) -> str:
    """``dataset.json``: what the dataset is, how it was built, and what it holds (for a
    ``webdataset``, ``shards``: every shard's name, split, images, size_bytes and sha256)."""
    body: dict[str, Any] = {
        "dataset_id": meta.dataset_id,
        "name": meta.name,
        "created": meta.created.isoformat(),
        "layout": meta.layout.value,
        "job_id": meta.job_id,
        "splits": meta.splits,
        "include_duplicates": meta.include_duplicates,
        "min_level": meta.min_level.value,
        "job": meta.job.model_dump(mode="json") if meta.job else None,
        "counts": tally.counts().model_dump(mode="json"),
        "labels": [
            {"index": i, "label": label, "directory": safe_label(label)}
            for i, label in enumerate(tally.labels)
        ],
        "sources": dict(sorted(tally.sources.items())),
        "licenses": dict(sorted(tally.licenses.items())),
        "skipped": dict(sorted(tally.skipped.items())),
        "left_out": tally.named(),
        "relabelled": tally.relabelled,
        "files": layout_files(meta.layout),
    }
    if shards is not None:
        body["shards"] = shards
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def _cell(text: object) -> str:
    """A value made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_card(meta: DatasetMeta, tally: ArchiveTally) -> str:
    """The ``README.md`` data card: contents, sources, licenses, and how it was built."""
    counts = tally.counts()
    splits = list(meta.splits)
    job = meta.job
    lines = [
        f"# {_cell(meta.name)}",
        "",
        f"An image classification dataset of {counts.total} images in {len(tally.labels)} "
        f"labels, built by PixCrawler on {meta.created:%Y-%m-%d %H:%M} UTC "
        f"(dataset `{meta.dataset_id}`, job `{meta.job_id}`).",
        "",
        "## Contents",
        "",
        *_table(
            ["label", "folder", "images", *splits],
            [
                [label, f"`{safe_label(label)}/`", tally.per_label[label]]
                + [tally.per_label_split[(label, s)] for s in splits]
                for label in tally.labels
            ],
        ),
        "",
        f"## Layout: {meta.layout.value}",
        "",
        *describe_layout(meta.layout),
        "",
        "## Sources",
        "",
        *_table(["source", "images"], [[s, n] for s, n in sorted(tally.sources.items())]),
        "",
        "## Licenses",
        "",
        "Each image keeps the license and attribution its source reported (see the manifest).",
        f"`{UNKNOWN_LICENSE}` means the source reported none: check the page_url before reuse.",
        "",
        *_table(["license", "images"], [[s, n] for s, n in sorted(tally.licenses.items())]),
        "",
        "## How it was built",
        "",
    ]
    if job is not None:
        lines += [
            f"- Keywords: {', '.join(_cell(k) for k in job.keywords) or '(none)'}",
            f"- Sources: {', '.join(s.name for s in job.sources)}",
            f"- Up to {job.max_images_per_keyword} images per keyword; minimum size "
            f"{job.min_width}x{job.min_height}; formats {', '.join(f.value for f in job.formats)}",
            f"- Validated at level `{job.validation_level.value}`",
        ]
    lines += [
        f"- Included: images validated at level `{meta.min_level.value}` or higher"
        + ("" if meta.include_duplicates else ", near-duplicates left out"),
        "- Split by the first 8 hex digits of each image's sha256 against the cumulative "
        "fractions " + ", ".join(f"{name} {fraction:g}" for name, fraction in meta.splits.items())
        + ": an image keeps its split in every rebuild.",
    ]
    excluded = tally.skipped.get(EXCLUDED, 0)
    if excluded or tally.relabelled:
        lines.append(
            f"- Reviewed before the build: {excluded} images excluded, {tally.relabelled} moved to "
            "another label (they are counted under that label above)"
        )
    if tally.skipped:
        skipped = ", ".join(f"{reason}: {n}" for reason, n in sorted(tally.skipped.items()))
        lines.append(f"- Left out: {skipped}")
    if tally.named():
        lines.append(
            "- Images whose bytes could not be read (`unreadable`), that a verify found lost "
            "(`missing`) or that did not match their sha256 (`bytes_mismatch`) are named in "
            f"`dataset.json` (`left_out`, the first {LEFT_OUT_IDS} of each)"
        )
    return "\n".join(lines) + "\n"
