"""Resumable, verified downloads of dataset archives from their SAS URL.

The archive goes to ``<target>.part`` first. An interrupted transfer (a cut connection, a
killed process) continues from the bytes already on disk with an HTTP ``Range`` request;
the file takes its final name only once its size and sha256 match what the service
announced.

Example::

    path = download_file(http, info, Path("pets.zip"), progress=True)
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tqdm.auto import tqdm

from pixcrawler._progress import is_terminal
from pixcrawler.exceptions import APIConnectionError, IntegrityError, PixCrawlerError
from pixcrawler.models import DownloadInfo

__all__ = ["download_file", "sha256_of", "target_path"]

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


def target_path(output_path: str | Path, dataset_id: str) -> Path:
    """``output_path`` itself, or ``<output_path>/<dataset_id>.zip`` for a folder."""
    path = Path(output_path).expanduser()
    if path.is_dir() or str(output_path).endswith(("/", "\\")):
        return path / f"{dataset_id}.zip"
    return path


class _Transfer:
    """The state of one download: bytes on disk, their running hash, the progress bar."""

    def __init__(self, part: Path, info: DownloadInfo, progress: bool) -> None:
        self.part = part
        self.info = info
        self.have = 0
        self.digest = hashlib.sha256()
        if part.exists() and part.stat().st_size <= info.size_bytes:
            self.have = part.stat().st_size
            self.digest = sha256_of(part)
        self.bar = tqdm(
            total=info.size_bytes, initial=self.have, unit="B", unit_scale=True,
            unit_divisor=1024, desc=part.name.removesuffix(".part"),
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
    info: DownloadInfo,
    target: Path,
    *,
    progress: bool = True,
    max_retries: int = 5,
    backoff: float = 0.5,
    refresh: Callable[[], DownloadInfo] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``info.url`` to ``target``, resuming and verifying; return ``target``.

    ``http`` must carry no PixCrawler credentials: the URL is signed for Blob storage.
    ``refresh`` gives a new URL when the signed one has expired (403).
    """
    if target.exists() and target.stat().st_size == info.size_bytes:
        if sha256_of(target).hexdigest() == info.sha256:
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    transfer = _Transfer(part, info, progress)
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
        print(f"{target.name}: {info.size_bytes:,} bytes downloaded, sha256 verified", file=sys.stderr)
    return target
