"""A downloaded dataset archive, read lazily: items come from ``manifest.jsonl``, their bytes
from the zip on disk only when asked for.

Example::

    ds = pixcrawler.load_dataset("ds_123")
    len(ds), ds.labels, ds.metadata["image_count"]
    for item in ds["train"]:      # or ds.split("train")
        item.label, item["url"]
        img = item.image()        # PIL.Image.Image (pip install 'pixcrawler[images]')
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from pixcrawler.exceptions import DatasetTooLargeError, PixCrawlerError
from pixcrawler.models import DatasetInfo

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["DEFAULT_MAX_MEMORY_BYTES", "Dataset", "DatasetItem"]

#: Largest archive :meth:`Dataset.open` loads into memory with ``in_memory=True``.
DEFAULT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024

_MANIFEST = "manifest.jsonl"
_DATASET_JSON = "dataset.json"
_LABELS_CSV = "labels.csv"


class _Archive:
    """The zip behind a dataset: one open handle shared by all views, reads serialised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PixCrawlerError(
                f"{path} is not a readable zip ({exc}); delete it and download the dataset again"
            ) from exc
        self.names = set(self.zip.namelist())
        self.lock = threading.Lock()
        self.memory: dict[str, bytes] | None = None

    def read(self, name: str) -> bytes:
        if self.memory is not None:
            return self.memory[name]
        with self.lock:
            return self.zip.read(name)

    def load_all(self, names: list[str]) -> None:
        self.memory = {name: self.read(name) for name in names}

    def close(self) -> None:
        self.zip.close()


class DatasetItem:
    """One image of a dataset: its label, split and manifest line; bytes read on demand.

    ``metadata`` holds the manifest's fields: file, label, split, source, url, page_url,
    license, attribution, width, height, bytes, sha256, phash; ``item["url"]`` reads one.
    """

    __slots__ = ("_archive", "metadata")

    def __init__(self, archive: _Archive, metadata: dict[str, Any]) -> None:
        self._archive = archive
        self.metadata = metadata

    @property
    def file(self) -> str:
        return str(self.metadata["file"])

    @property
    def label(self) -> str:
        return str(self.metadata["label"])

    @property
    def split(self) -> str:
        return str(self.metadata["split"])

    @property
    def sha256(self) -> str:
        return str(self.metadata["sha256"])

    @property
    def bytes(self) -> bytes:
        """The image file's bytes, read from the archive now."""
        return self._archive.read(self.file)

    def image(self) -> Image:
        """The image as a PIL image (decoded lazily by Pillow).

        Needs Pillow: ``pip install 'pixcrawler[images]'``.
        """
        try:
            from PIL import Image as PILImage
        except ImportError as exc:
            raise PixCrawlerError(
                "DatasetItem.image() needs Pillow: pip install 'pixcrawler[images]'"
            ) from exc
        return PILImage.open(io.BytesIO(self.bytes))

    def __getitem__(self, key: str) -> Any:
        """A manifest field: ``item["label"]``, ``item["url"]``."""
        return self.metadata[key]

    def keys(self) -> list[str]:
        return list(self.metadata)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def __repr__(self) -> str:
        return f"DatasetItem(label={self.label!r}, split={self.split!r}, file={self.file!r})"


class Dataset(Sequence[DatasetItem]):
    """A dataset archive on disk: a sequence of :class:`DatasetItem`; ``ds["train"]`` is a
    split (as :meth:`split`), ``ds[0]`` an item.

    ``metadata`` is the archive's ``dataset.json`` (name, created, settings, counts) with
    ``image_count`` and ``size_mb`` (the archive's MiB); ``info`` is the service's
    :class:`~pixcrawler.DatasetInfo` when the dataset came from :func:`pixcrawler.load_dataset`.

    Use :func:`pixcrawler.load_dataset` to fetch one from the service, or
    :meth:`Dataset.open` for an archive you already have. Close it (or use ``with``) to
    release the file.
    """

    def __init__(
        self, archive: _Archive, items: list[DatasetItem], metadata: dict[str, Any],
        labels: list[str], info: DatasetInfo | None = None,
    ) -> None:
        self._archive = archive
        self._items = items
        self._labels = labels
        self.metadata = metadata
        self.info = info

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        in_memory: bool = False,
        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    ) -> Dataset:
        """Open a PixCrawler archive. ``in_memory=True`` reads every image now, and refuses
        (``DatasetTooLargeError``) when the archive is larger than ``max_memory_bytes``.

        >>> ds = Dataset.open("pets.zip")            # doctest: +SKIP
        """
        path = Path(path)
        size = path.stat().st_size
        if in_memory and size > max_memory_bytes:
            raise DatasetTooLargeError(
                f"{path} holds {size:,} bytes, over the in-memory limit of {max_memory_bytes:,}. "
                "Load it lazily (in_memory=False, the default) or raise max_memory_bytes."
            )
        archive = _Archive(path)
        if _MANIFEST not in archive.names:
            archive.close()
            raise PixCrawlerError(f"{path} has no {_MANIFEST}: it is not a PixCrawler dataset")
        rows = [json.loads(line) for line in archive.read(_MANIFEST).decode("utf-8").split("\n") if line]
        missing = [row["file"] for row in rows if row["file"] not in archive.names]
        if missing:
            archive.close()
            raise PixCrawlerError(
                f"{path} lists {len(missing)} files its zip lacks (e.g. {missing[0]!r}); "
                "delete it and download the dataset again"
            )
        metadata = json.loads(archive.read(_DATASET_JSON)) if _DATASET_JSON in archive.names else {}
        metadata.setdefault("image_count", len(rows))
        metadata.setdefault("size_mb", round(size / 2**20, 2))
        labels = _read_labels(archive) or sorted({str(row["label"]) for row in rows})
        if in_memory:
            archive.load_all([str(row["file"]) for row in rows])
        return cls(archive, [DatasetItem(archive, row) for row in rows], metadata, labels)

    @property
    def path(self) -> Path:
        """The archive on disk."""
        return self._archive.path

    @property
    def labels(self) -> list[str]:
        """All labels of the dataset, in index order (``labels.csv``)."""
        return list(self._labels)

    @property
    def splits(self) -> dict[str, int]:
        """Images per split in this view."""
        counts: dict[str, int] = {}
        for item in self._items:
            counts[item.split] = counts.get(item.split, 0) + 1
        return counts

    def split(self, name: str) -> Dataset:
        """The items of one split, as a dataset sharing this archive.

        >>> train = ds.split("train")                # doctest: +SKIP
        """
        known = self.metadata.get("splits") or self.splits
        if name not in known:
            raise KeyError(f"no split {name!r}; this dataset has {', '.join(known)}")
        items = [item for item in self._items if item.split == name]
        return Dataset(self._archive, items, self.metadata, self._labels, self.info)

    def download(self, output_path: str | Path) -> Path:
        """Copy the archive to ``output_path`` (a file, or a folder to put ``<name>.zip`` in).

        >>> ds.download(output_path="backup/pets.zip")   # doctest: +SKIP
        """
        target = Path(output_path).expanduser()
        if target.is_dir():
            target = target / self.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        return target

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[DatasetItem]:
        return iter(self._items)

    @overload
    def __getitem__(self, index: int) -> DatasetItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[DatasetItem]: ...

    @overload
    def __getitem__(self, index: str) -> Dataset: ...

    def __getitem__(self, index: int | slice | str) -> DatasetItem | Sequence[DatasetItem] | Dataset:
        """``ds[0]`` an item, ``ds[2:5]`` items, ``ds["train"]`` a split (KeyError naming the
        splits there are)."""
        if isinstance(index, str):
            return self.split(index)
        return self._items[index]

    def close(self) -> None:
        """Release the archive file (every view of it)."""
        self._archive.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self.metadata.get("name", self.path.name)
        return f"Dataset({name!r}, items={len(self)}, labels={len(self._labels)})"


def _read_labels(archive: _Archive) -> list[str]:
    if _LABELS_CSV not in archive.names:
        return []
    rows = csv.DictReader(io.StringIO(archive.read(_LABELS_CSV).decode("utf-8")))
    # A text cell that could start a spreadsheet formula (or starts with a quote) is written
    # with one leading quote in front (OWASP): drop it to get the label back.
    labels = [row["label"] for row in sorted(rows, key=lambda row: int(row["index"]))]
    return [label[1:] if label.startswith("'") else label for label in labels]
