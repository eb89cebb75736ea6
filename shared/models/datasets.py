"""Datasets: the request to build one, its Cosmos document, its download, and the archive
writer's input (:class:`DatasetMeta`) and output (:class:`ArchiveSummary`).

Example::

    from shared.models.datasets import DatasetCreate
    body = DatasetCreate.model_validate({"job_id": "job-1", "name": "pets"})
    body.splits            # {"train": 0.8, "val": 0.1, "test": 0.1}
    body.layout            # DatasetLayout.zip
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from shared.models.api import PageQuery
from shared.models.base import Document, Level, Model, utcnow
from shared.models.jobs import JobCreate

__all__ = [
    "DEFAULT_SPLITS",
    "MAX_SPLITS",
    "ArchiveSummary",
    "Dataset",
    "DatasetBuild",
    "DatasetBuildFailure",
    "DatasetBuildState",
    "DatasetCounts",
    "DatasetCreate",
    "DatasetDownload",
    "DatasetFile",
    "DatasetLayout",
    "DatasetMeta",
    "DatasetPage",
    "DatasetQuery",
    "DatasetStatus",
    "DatasetTally",
    "ShardState",
    "check_splits",
    "dataset_blob_name",
    "dataset_prefix",
]

#: Fractions used when a request names no splits.
DEFAULT_SPLITS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}

_SPLIT_TOLERANCE = 1e-6
#: Most splits a dataset may have (each is a column of labels.csv and a count everywhere).
MAX_SPLITS = 20

SplitName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\w-]+$")
]


def check_splits(splits: dict[str, float]) -> dict[str, float]:
    """Validate split fractions: at least one, each finite and >= 0, summing to 1 (within 1e-6).

    Raises ``ValueError`` saying what to change (pydantic turns it into a 422 detail).

    >>> check_splits({"train": 0.9, "test": 0.1})
    {'train': 0.9, 'test': 0.1}
    """
    if not splits:
        raise ValueError('name at least one split, e.g. {"train": 0.8, "val": 0.1, "test": 0.1}')
    for name, fraction in splits.items():
        if not math.isfinite(fraction) or fraction < 0:
            raise ValueError(f"split {name!r} has fraction {fraction}; use a number >= 0")
    total = math.fsum(splits.values())
    if abs(total - 1.0) > _SPLIT_TOLERANCE:
        raise ValueError(f"split fractions add up to {total:g}; make them add up to 1")
    return dict(splits)


class DatasetLayout(StrEnum):
    """How a dataset's files are laid out, for the tools that read them.

    - ``zip``: one zip, ``{label}/{sha256}.{ext}`` and the metadata files at its root.
    - ``imagefolder``: one zip, ``{split}/{label}/{sha256}.{ext}`` (``torchvision.datasets.
      ImageFolder`` reads each split folder once unpacked) and the metadata files at its root.
    - ``webdataset``: tar shards ``{split}-{000000}.tar`` of bounded size (a member
      ``{sha256}.{ext}`` and a member ``{sha256}.json`` per image, as the ``webdataset``
      package reads them), with ``dataset.json``, ``labels.csv`` and ``README.md`` beside them.
    """

    zip = "zip"
    imagefolder = "imagefolder"
    webdataset = "webdataset"

    @property
    def is_zip(self) -> bool:
        """True when the dataset is delivered as one zip (``zip``, ``imagefolder``)."""
        return self is not DatasetLayout.webdataset


class DatasetStatus(StrEnum):
    pending = "pending"
    building = "building"
    ready = "ready"
    failed = "failed"


class DatasetCreate(Model):
    """Body of ``POST /api/v1/datasets``: build an archive from a job's images."""

    job_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    splits: dict[SplitName, float] = Field(
        default_factory=lambda: dict(DEFAULT_SPLITS),
        max_length=MAX_SPLITS,
        description=f"split name -> fraction; fractions >= 0 adding up to 1; at most {MAX_SPLITS}",
    )
    include_duplicates: bool = Field(
        default=False, description="also pack images flagged as near-duplicates"
    )
    min_level: Level = Field(
        default=Level.fast, description="pack only images validated at this level or higher"
    )
    layout: DatasetLayout = Field(
        default=DatasetLayout.zip,
        description="zip: one zip of {label}/{sha256}.{ext}; imagefolder: one zip of "
        "{split}/{label}/{sha256}.{ext} (torchvision ImageFolder); webdataset: tar shards "
        "{split}-{000000}.tar with a .json member per image (the webdataset package)",
    )

    @field_validator("splits")
    @classmethod
    def _valid_splits(cls, value: dict[str, float]) -> dict[str, float]:
        return check_splits(value)


class DatasetCounts(Model):
    """How many images an archive holds, in all, per label and per split."""

    total: int = 0
    per_label: dict[str, int] = Field(default_factory=dict)
    per_split: dict[str, int] = Field(default_factory=dict)


def dataset_prefix(dataset_id: str) -> str:
    """Where the files of a ``webdataset`` dataset are (blob names in ``datasets``).

    >>> dataset_prefix("d1")
    'datasets/d1/'
    """
    return f"datasets/{dataset_id}/"


def dataset_blob_name(dataset_id: str, layout: DatasetLayout | str = DatasetLayout.zip) -> str:
    """Blob name of a dataset's main file (in the ``datasets`` container): its zip, or for a
    ``webdataset`` its ``dataset.json``, which lists every shard with its sha256.

    >>> dataset_blob_name("d1")
    'datasets/d1.zip'
    >>> dataset_blob_name("d1", "webdataset")
    'datasets/d1/dataset.json'
    """
    if DatasetLayout(layout).is_zip:
        return f"datasets/{dataset_id}.zip"
    return f"{dataset_prefix(dataset_id)}dataset.json"


class Dataset(Document, DatasetCreate):
    """A dataset record (Cosmos container ``datasets``, partition key ``/user_id``)."""

    # DatasetCreate's extra="forbid" would win the config merge; a document ignores _rid etc.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    user_id: str
    status: DatasetStatus = DatasetStatus.pending
    counts: DatasetCounts = Field(default_factory=DatasetCounts)
    size_bytes: int | None = None
    sha256: str | None = None
    blob_name: str = Field(
        default_factory=lambda data: dataset_blob_name(data["id"], data.get("layout", DatasetLayout.zip))
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    error: str | None = None
    skipped: dict[str, int] = Field(
        default_factory=dict, description="images of the job left out, by reason (also in dataset.json)"
    )
    left_out: dict[str, list[str]] = Field(
        default_factory=dict,
        description="images left out for want of their bytes, by reason: unreadable (the build could "
        "not read them), missing (a verify found them lost), bytes_mismatch; the first 100 ids of "
        "each, the totals in skipped",
    )


class DatasetQuery(PageQuery):
    """``GET /api/v1/datasets?limit=&continuation=&status=``."""

    status: DatasetStatus | None = Field(default=None, description="only datasets in this status")


class DatasetPage(Model):
    """One page of ``GET /api/v1/datasets``."""

    items: list[Dataset]
    continuation: str | None = None


class DatasetFile(Model):
    """One file of a dataset's download: where to fetch it, what to save it as, what to expect."""

    name: str = Field(description="the file's name: pets.zip, train-000000.tar, dataset.json ...")
    url: str = Field(description="a time-limited, read-only URL (SAS) to the file")
    size_bytes: int
    sha256: str
    split: str | None = Field(default=None, description="the split a webdataset shard belongs to")
    images: int | None = Field(default=None, description="images in a webdataset shard")


class DatasetDownload(Model):
    """Body of ``GET /api/v1/datasets/{id}/download``: time-limited SAS URLs to the dataset.

    ``url``, ``size_bytes`` and ``sha256`` are one file: the zip (layouts ``zip`` and
    ``imagefolder``), or ``dataset.json`` (``webdataset``: it lists every shard with its size
    and sha256). ``files`` are every file to fetch, each with its own URL (for a zip: that zip).
    """

    url: str
    expires_at: datetime
    size_bytes: int
    sha256: str
    layout: DatasetLayout = DatasetLayout.zip
    files: list[DatasetFile] = Field(default_factory=list)


class DatasetMeta(Model):
    """What the archive writer needs besides the records: the dataset's settings and the job's.

    Example::

        meta = DatasetMeta(dataset_id="d1", name="pets", job_id="job-1", job=job_create)
    """

    dataset_id: str
    name: str
    job_id: str
    created: datetime = Field(default_factory=utcnow)
    splits: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SPLITS))
    include_duplicates: bool = False
    min_level: Level = Level.fast
    layout: DatasetLayout = DatasetLayout.zip
    job: JobCreate | None = Field(default=None, description="the job's settings, for the card")

    @field_validator("splits")
    @classmethod
    def _valid_splits(cls, value: dict[str, float]) -> dict[str, float]:
        return check_splits(value)


class ArchiveSummary(Model):
    """What the archive writer produced: small, so an activity can return it."""

    counts: DatasetCounts
    size_bytes: int
    sha256: str
    members: int = Field(description="zip members written, images and metadata files (webdataset: files)")
    skipped: dict[str, int] = Field(
        default_factory=dict, description="records left out, by reason"
    )
    left_out: dict[str, list[str]] = Field(
        default_factory=dict, description="ids of records left out for want of their bytes, by reason "
        "(unreadable, missing, bytes_mismatch; the first 100 of each)",
    )
    licenses: dict[str, int] = Field(default_factory=dict)


# --- the build, in parts (orchestration and activity payloads) ----------------------------


class DatasetTally(Model):
    """What the parts packed so far, by label, split, source and license, and what they left
    out by reason. Small: it travels from part to part."""

    per_label: dict[str, int] = Field(default_factory=dict)
    per_split: dict[str, int] = Field(default_factory=dict)
    per_label_split: dict[str, dict[str, int]] = Field(default_factory=dict)
    sources: dict[str, int] = Field(default_factory=dict)
    licenses: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    left_out: dict[str, list[str]] = Field(
        default_factory=dict, description="ids left out for want of their bytes, by reason (bounded)"
    )
    relabelled: int = Field(default=0, description="images packed under the label a reviewer moved them to")


class ShardState(Model):
    """The open shard of one split of a ``webdataset`` build: its number, what it holds so far,
    its running sha256 and the blocks staged for it by the parts so far (uncommitted)."""

    index: int = Field(default=0, description="the shard's number within its split")
    images: int = 0
    size: int = Field(default=0, description="tar bytes staged so far")
    sha256_state: str | None = Field(default=None, description="resumable SHA-256 state, base64")
    blocks: list[tuple[int, int]] = Field(
        default_factory=list, description="(part, blocks it staged) for each part that wrote to it"
    )


class DatasetBuildState(Model):
    """Where a build in parts stands after its last part: the archive's bytes so far (their
    length and the running sha256), the Cosmos page to go on from, and the block counts.

    The parts' directory entries and manifest lines wait in small blobs (never here)."""

    part: int = Field(default=0, description="the next part's number")
    offset: int = Field(default=0, description="archive bytes written by the parts so far")
    continuation: str | None = Field(default=None, description="Cosmos page token to go on from")
    sha256_state: str | None = Field(default=None, description="resumable SHA-256 state, base64")
    blocks: list[int] = Field(default_factory=list, description="blocks staged by each part")
    members: int = Field(default=0, description="zip members written by the parts")
    manifest_bytes: int = 0
    tally: DatasetTally = Field(default_factory=DatasetTally)
    shards: dict[str, ShardState] = Field(
        default_factory=dict, description="webdataset: the open shard of each split"
    )
    done: bool = Field(default=False, description="every record has been through a part")


class DatasetBuild(Model):
    """Input of the ``build_dataset`` orchestration and of its activities."""

    meta: DatasetMeta
    user_id: str
    part_images: int = Field(ge=1, description="records per part (one activity each)")
    parts_per_history: int = Field(ge=1, description="parts before continue_as_new")
    shard_images: int = Field(default=1000, ge=1, description="webdataset: most images per shard")
    shard_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="webdataset: most bytes per shard")
    state: DatasetBuildState = Field(default_factory=DatasetBuildState)


class DatasetBuildFailure(Model):
    """Input of ``fail_dataset``: the build stopped with ``error``."""

    dataset_id: str
    user_id: str
    parts: int = Field(default=0, description="parts whose blobs may be left to remove")
    layout: DatasetLayout = DatasetLayout.zip
    error: str
