"""A downloaded dataset, read lazily whatever its layout: items come from ``manifest.jsonl``
(a zip, or a folder it was unpacked into) or from a webdataset's shards' ``.json`` members,
their bytes from the files on disk only when asked for.

Example::

    ds = pixcrawler.load_dataset("ds_123")
    len(ds), ds.labels, ds.metadata["image_count"]
    for item in ds["train"]:      # or ds.split("train")
        item.label, item["url"]
        img = item.image()        # PIL.Image.Image (pip install 'pixcrawler[images]')
    pixcrawler.Dataset.open("data/pets")   # a zip, an unpacked folder, or a folder of shards
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, overload

from pixcrawler.download import extract_zip, is_safe_name, wants_zip
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


class _Files:
    """Where a dataset's bytes are on disk; reads are serialised (one handle shared by all
    views). Files are named as the manifest's ``file`` (a shard's with ``shard/`` before)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.memory: dict[str, bytes] | None = None

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def _read(self, name: str) -> bytes:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        if self.memory is not None and name in self.memory:
            return self.memory[name]
        with self.lock:
            return self._read(name)

    def load_all(self, names: list[str]) -> None:
        self.memory = {name: self.read(name) for name in names}

    def size(self) -> int:
        """Bytes on disk."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def close(self) -> None:
        """Release open handles."""


class _Archive(_Files):
    """A zip (layouts ``zip`` and ``imagefolder``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PixCrawlerError(
                f"{path} is not a readable zip ({exc}); delete it and download the dataset again"
            ) from exc
        self.names = set(self.zip.namelist())

    def has(self, name: str) -> bool:
        return name in self.names

    def _read(self, name: str) -> bytes:
        return self.zip.read(name)

    def size(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self.zip.close()


class _Folder(_Files):
    """A zip unpacked into a folder (``--out DIR``)."""

    def has(self, name: str) -> bool:
        return is_safe_name(name) and (self.path / name).is_file()

    def _read(self, name: str) -> bytes:
        if not is_safe_name(name):
            raise PixCrawlerError(f"{name!r} is not a file of {self.path}")
        return (self.path / name).read_bytes()


class _Shards(_Folder):
    """A folder of webdataset shards and their files: every member's place in its tar, found
    by reading the tar headers once; image bytes are read with one seek each."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.members: dict[str, tuple[int, int]] = {}
        self.handles: dict[str, IO[bytes]] = {}
        self.rows: list[dict[str, Any]] = []
        for shard in sorted(path.glob("*.tar")):
            try:
                with tarfile.open(shard) as tar:
                    for member in tar:
                        self.members[f"{shard.name}/{member.name}"] = (member.offset_data, member.size)
                        if member.name.endswith(".json"):
                            handle = tar.extractfile(member)
                            assert handle is not None
                            self.rows.append(json.loads(handle.read()))
            except (tarfile.TarError, OSError, ValueError) as exc:
                raise PixCrawlerError(
                    f"{shard} is not a readable shard ({exc}); delete it and download the dataset again"
                ) from exc

    def has(self, name: str) -> bool:
        return name in self.members or super().has(name)

    def _read(self, name: str) -> bytes:
        if name not in self.members:
            return super()._read(name)
        shard, _ = name.split("/", 1)
        offset, size = self.members[name]
        if shard not in self.handles:
            self.handles[shard] = (self.path / shard).open("rb")
        handle = self.handles[shard]
        handle.seek(offset)
        return handle.read(size)

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()


def _key(row: dict[str, Any]) -> str:
    """Where an item's bytes are among its dataset's files."""
    return f"{row['shard']}/{row['file']}" if row.get("shard") else str(row["file"])


class DatasetItem:
    """One image of a dataset: its label, split and manifest line; bytes read on demand.

    ``metadata`` holds the manifest's fields: file, label, split, source, url, page_url,
    license, attribution, width, height, bytes, sha256, phash; ``item["url"]`` reads one.
    """

    __slots__ = ("_archive", "metadata")

    def __init__(self, archive: _Files, metadata: dict[str, Any]) -> None:
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
        """The image file's bytes, read from the dataset's files now."""
        return self._archive.read(_key(self.metadata))

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
    """A dataset on disk: a sequence of :class:`DatasetItem`; ``ds["train"]`` is a split (as
    :meth:`split`), ``ds[0]`` an item.

    ``metadata`` is the dataset's ``dataset.json`` (name, created, layout, settings, counts)
    with ``image_count`` and ``size_mb`` (its files' MiB); ``info`` is the service's
    :class:`~pixcrawler.DatasetInfo` when the dataset came from :func:`pixcrawler.load_dataset`.

    Use :func:`pixcrawler.load_dataset` to fetch one from the service, or
    :meth:`Dataset.open` for one you already have. Close it (or use ``with``) to release the
    files.
    """

    def __init__(
        self, archive: _Files, items: list[DatasetItem], metadata: dict[str, Any],
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
        """Open a PixCrawler dataset: a zip (layouts ``zip``, ``imagefolder``), a folder one
        was unpacked into, or a folder of webdataset shards. ``in_memory=True`` reads every
        image now, and refuses (``DatasetTooLargeError``) a dataset larger than
        ``max_memory_bytes``.

        >>> ds = Dataset.open("pets.zip")            # doctest: +SKIP
        >>> ds = Dataset.open("data/pets")           # doctest: +SKIP
        """
        path = Path(path)
        archive = _files(path)
        try:
            size = archive.size()
            if in_memory and size > max_memory_bytes:
                raise DatasetTooLargeError(
                    f"{path} holds {size:,} bytes, over the in-memory limit of {max_memory_bytes:,}. "
                    "Load it lazily (in_memory=False, the default) or raise max_memory_bytes."
                )
            rows = _rows(archive)
            missing = [_key(row) for row in rows if not archive.has(_key(row))]
            if missing:
                kind = "zip" if isinstance(archive, _Archive) else "folder"
                raise PixCrawlerError(
                    f"{path} lists {len(missing)} files its {kind} lacks (e.g. {missing[0]!r}); "
                    "delete it and download the dataset again"
                )
            metadata = json.loads(archive.read(_DATASET_JSON)) if archive.has(_DATASET_JSON) else {}
        except BaseException:
            archive.close()
            raise
        metadata.setdefault("image_count", len(rows))
        metadata.setdefault("size_mb", round(size / 2**20, 2))
        labels = _read_labels(archive) or sorted({str(row["label"]) for row in rows})
        if in_memory:
            archive.load_all([_key(row) for row in rows])
        return cls(archive, [DatasetItem(archive, row) for row in rows], metadata, labels)

    @property
    def path(self) -> Path:
        """The zip or the folder on disk."""
        return self._archive.path

    @property
    def layout(self) -> str:
        """``zip``, ``imagefolder`` or ``webdataset`` (as ``dataset.json`` says)."""
        return str(self.metadata.get("layout", "zip"))

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
        """Save a copy at ``output_path``, as :func:`pixcrawler.download_dataset` does:
        ``NAME.zip`` gets the zip (a webdataset is refused: it is several shards), any other
        path is a folder that gets the zip's content unpacked, or the shards and files.

        >>> ds.download(output_path="backup/pets.zip")   # doctest: +SKIP
        >>> ds.download("backup/pets")                   # doctest: +SKIP
        """
        target = Path(output_path).expanduser()
        source = self._archive
        if wants_zip(target):
            if isinstance(source, _Shards):
                raise ValueError(
                    f"A webdataset is several files (tar shards and their metadata), not a zip: "
                    f"give a folder instead of {output_path}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, _Archive):
                shutil.copyfile(source.path, target)
            else:
                _zip_folder(source.path, target)
            return target
        if target.exists() and not target.is_dir():
            raise ValueError(f"{target} exists and is not a folder: give a folder, or a path ending in .zip")
        target.mkdir(parents=True, exist_ok=True)
        if isinstance(source, _Archive):
            extract_zip(source.path, target)
        else:
            shutil.copytree(source.path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
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


def _files(path: Path) -> _Files:
    """The reader of a zip, an unpacked folder, or a folder of shards."""
    if path.is_dir():
        if (path / _MANIFEST).is_file():
            return _Folder(path)
        if any(path.glob("*.tar")):
            return _Shards(path)
        raise PixCrawlerError(
            f"{path} has no {_MANIFEST} and no .tar shards: it is not a PixCrawler dataset"
        )
    if not path.exists():
        raise PixCrawlerError(f"{path} does not exist: download the dataset first")
    return _Archive(path)


def _rows(archive: _Files) -> list[dict[str, Any]]:
    """One dict per image: the manifest's lines, or the shards' .json members."""
    if isinstance(archive, _Shards):
        return archive.rows
    if not archive.has(_MANIFEST):
        raise PixCrawlerError(f"{archive.path} has no {_MANIFEST}: it is not a PixCrawler dataset")
    return [json.loads(line) for line in archive.read(_MANIFEST).decode("utf-8").split("\n") if line]


def _zip_folder(folder: Path, target: Path) -> None:
    """Write an unpacked dataset back into one zip (images STORED, text DEFLATEd)."""
    with zipfile.ZipFile(target, "w") as zf:
        for file in sorted(folder.rglob("*")):
            name = file.relative_to(folder).as_posix()
            if file.is_file() and not name.startswith("."):
                compress = zipfile.ZIP_DEFLATED if file.suffix in (".json", ".jsonl", ".csv", ".md") else zipfile.ZIP_STORED
                zf.write(file, name, compress_type=compress)


def _read_labels(archive: _Files) -> list[str]:
    if not archive.has(_LABELS_CSV):
        return []
    rows = csv.DictReader(io.StringIO(archive.read(_LABELS_CSV).decode("utf-8")))
    return [row["label"] for row in sorted(rows, key=lambda row: int(row["index"]))]
