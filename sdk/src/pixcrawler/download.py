"""Resumable, verified downloads of a dataset's files from their SAS URLs, saved as a zip or
as a folder.

Each file goes to ``<target>.part`` first. An interrupted transfer (a cut connection, a
killed process) continues from the bytes already on disk with an HTTP ``Range`` request;
the file takes its final name only once its size and sha256 match what the service
announced.

Where a dataset goes (:func:`save_dataset`): a path ending in ``.zip`` gets the zip (layouts
``zip`` and ``imagefolder``); any other path is a folder that gets the zip's content unpacked
(for ``imagefolder``, the ``{split}/{label}/`` tree), or a webdataset's shards and files.

Example::

    path = download_file(http, info, Path("pets.zip"), progress=True)
    folder = save_dataset(http, lambda: client.get_download_info("ds_1"), "data/pets", "ds_1")
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tqdm.auto import tqdm

from pixcrawler._progress import is_terminal
from pixcrawler.exceptions import APIConnectionError, IntegrityError, PixCrawlerError
from pixcrawler.models import DownloadFile, DownloadInfo, SignedFile

__all__ = [
    "download_file", "download_files", "extract_zip", "is_safe_name", "save_dataset", "sha256_of",
    "wants_zip",
]

_CHUNK = 1024 * 1024


def sha256_of(path: Path, limit: int | None = None) -> hashlib._Hash:
    """A sha256 object fed with the first ``limit`` bytes of ``path`` (all when None)."""
    digest = hashlib.sha256()
    remaining = limit
    with path.open("rb") as f:
        while remaining is None or remaining > 0:
            block = f.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest


def wants_zip(output_path: str | Path) -> bool:
    """True when ``output_path`` names a zip file (``.zip``), False for a folder.

    >>> wants_zip("pets.zip"), wants_zip("data/pets"), wants_zip("data/")
    (True, False, False)
    """
    return str(output_path).lower().endswith(".zip")


def is_safe_name(name: str) -> bool:
    """True when a zip member or file name stays below the folder it is written to on any OS:
    relative, no ``..`` or empty component, no backslash, drive letter or control character.

    >>> is_safe_name("train/cat/1.png"), is_safe_name("../x"), is_safe_name("/etc/x")
    (True, False, False)
    """
    if not name or name.startswith("/") or "\\" in name or ":" in name:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


class _Transfer:
    """The state of one download: bytes on disk, their running hash, the progress bar."""

    def __init__(self, part: Path, info: SignedFile, progress: bool, label: str) -> None:
        self.part = part
        self.info = info
        self.have = 0
        self.digest = hashlib.sha256()
        if part.exists() and part.stat().st_size <= info.size_bytes:
            self.have = part.stat().st_size
            self.digest = sha256_of(part)
        self.bar = tqdm(
            total=info.size_bytes, initial=self.have, unit="B", unit_scale=True,
            unit_divisor=1024, desc=label,
            disable=not progress or not is_terminal(),  # no \r-redrawn bar in a log file
        )

    def restart(self) -> None:
        self.have = 0
        self.digest = hashlib.sha256()
        self.bar.reset(total=self.info.size_bytes)

    def receive(self, response: httpx.Response) -> None:
        """Append the body of a 200/206 answer to the part file."""
        if response.status_code == 200 and self.have:
            self.restart()  # the server ignored Range: start over
        with self.part.open("ab" if self.have else "wb") as f:
            for block in response.iter_bytes():  # as received: a cut keeps what arrived
                f.write(block)
                self.digest.update(block)
                self.have += len(block)
                self.bar.update(len(block))
                if self.have > self.info.size_bytes:
                    break

    def verify(self) -> None:
        if self.have != self.info.size_bytes:
            self.part.unlink(missing_ok=True)
            raise IntegrityError(
                f"Downloaded {self.have} bytes but the dataset has {self.info.size_bytes}; the "
                "partial file was removed. Download again; if it persists, the dataset may "
                "have been rebuilt: check `pixcrawler datasets info`."
            )
        if self.digest.hexdigest() != self.info.sha256:
            self.part.unlink(missing_ok=True)
            raise IntegrityError(
                f"sha256 of the download is {self.digest.hexdigest()}, expected "
                f"{self.info.sha256}; the corrupt file was removed. Download again."
            )


def download_file(
    http: httpx.Client,
    info: SignedFile,
    target: Path,
    *,
    progress: bool = True,
    max_retries: int = 5,
    backoff: float = 0.5,
    refresh: Callable[[], SignedFile] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    label: str | None = None,
) -> Path:
    """Download ``info.url`` to ``target``, resuming and verifying; return ``target``.

    ``http`` must carry no PixCrawler credentials: the URL is signed for Blob storage.
    ``refresh`` gives a new URL when the signed one has expired (403). ``label`` names the
    file in the progress (default: the target's name).
    """
    label = label or target.name
    if target.exists() and target.stat().st_size == info.size_bytes:
        if sha256_of(target).hexdigest() == info.sha256:
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    transfer = _Transfer(part, info, progress, label)
    failures = 0
    try:
        while transfer.have < info.size_bytes:
            headers = {"Range": f"bytes={transfer.have}-"} if transfer.have else {}
            try:
                with http.stream("GET", info.url, headers=headers) as response:
                    if response.status_code == 403 and refresh is not None:
                        fresh, refresh = refresh(), None  # the signed URL expired: once more
                        rebuilt = (fresh.sha256, fresh.size_bytes) != (info.sha256, info.size_bytes)
                        info = transfer.info = fresh
                        if rebuilt:
                            transfer.restart()
                        continue
                    if response.status_code not in (200, 206):
                        raise PixCrawlerError(
                            f"Blob storage answered HTTP {response.status_code} for the dataset "
                            "archive. The link may have expired: run the download again."
                        )
                    transfer.receive(response)
            except httpx.TransportError as exc:
                failures += 1
                if failures > max_retries:
                    raise APIConnectionError(
                        f"Download interrupted {failures} times ({exc!r}); {transfer.have} of "
                        f"{info.size_bytes} bytes are kept in {part}. Run the download again to "
                        "resume from there."
                    ) from exc
                sleep(min(backoff * 2 ** (failures - 1), 30.0))
                continue
            if transfer.have < info.size_bytes:
                failures += 1
                if failures > max_retries:
                    break
        transfer.verify()
    finally:
        transfer.bar.close()
    part.replace(target)
    if progress and transfer.bar.disable:  # not on a terminal: one line instead of a bar
        print(f"{label}: {info.size_bytes:,} bytes downloaded, sha256 verified", file=sys.stderr)
    return target


def _file_named(info: DownloadInfo, name: str) -> DownloadFile:
    for file in info.all_files():
        if file.name == name:
            return file
    raise IntegrityError(
        f"The dataset no longer lists {name}: it was rebuilt or deleted. Download it again."
    )


def _refetch(fetch_info: Callable[[], DownloadInfo], name: str) -> Callable[[], DownloadFile]:
    """A ``refresh`` for the file ``name``: the dataset's info again, that file of it."""
    return lambda: _file_named(fetch_info(), name)


def download_files(
    http: httpx.Client, fetch_info: Callable[[], DownloadInfo], info: DownloadInfo, folder: Path,
    **options: Any,
) -> list[Path]:  # fmt: skip
    """Download every file of ``info`` into ``folder`` under its name (resumed, verified);
    ``fetch_info`` gives fresh URLs when the signed ones have expired."""
    paths = []
    for file in info.all_files():
        if "/" in file.name or not is_safe_name(file.name):
            raise IntegrityError(f"The service named a file {file.name!r}, which is not a plain file name.")
        paths.append(download_file(
            http, file, folder / file.name, refresh=_refetch(fetch_info, file.name),
            **options,
        ))  # fmt: skip
    return paths


def extract_zip(archive: Path, folder: Path) -> None:
    """Unpack ``archive`` into ``folder``, member by member (streamed: memory stays that of a
    copy buffer). Refuses a member whose name would land outside ``folder``."""
    with zipfile.ZipFile(archive) as zf:
        unsafe = [info.filename for info in zf.infolist() if not is_safe_name(info.filename.rstrip("/"))]
        if unsafe:
            raise IntegrityError(f"{archive} holds a member outside its folder ({unsafe[0]!r}); nothing was unpacked")
        for info in zf.infolist():
            target = folder / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)


def save_dataset(
    http: httpx.Client, fetch_info: Callable[[], DownloadInfo], output_path: str | Path, **options: Any
) -> Path:
    """Save a dataset at ``output_path``: ``NAME.zip`` gets the zip (layouts ``zip`` and
    ``imagefolder``; a webdataset is several shards and is refused), any other path is a
    folder that gets the zip unpacked, or a webdataset's shards and files. Returns the zip or
    the folder. ``options`` go to :func:`download_file`."""
    info = fetch_info()
    path = Path(output_path).expanduser()
    if wants_zip(path):
        if not info.is_zip:
            raise ValueError(
                f"A {info.layout} dataset is several files (tar shards and their metadata), not a "
                f"zip: give a folder instead of {output_path}"
            )
        return download_file(http, info, path, refresh=fetch_info, **options)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder: give a folder, or a path ending in .zip")
    path.mkdir(parents=True, exist_ok=True)
    if not info.is_zip:
        download_files(http, fetch_info, info, path, **options)
        return path
    archive = path / f".pixcrawler-{info.sha256[:16]}.zip"  # kept until unpacked: a rerun resumes
    download_file(http, info, archive, refresh=fetch_info, label=info.all_files()[0].name, **options)
    extract_zip(archive, path)
    archive.unlink()
    return path
