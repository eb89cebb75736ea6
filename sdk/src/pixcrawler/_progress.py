"""Live progress of a job: bars on a terminal (one for the whole job, one per chunk if asked),
plain lines otherwise (a file, a pipe, a CI log: no cursor movement, no ANSI escapes)."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from tqdm.auto import tqdm

from pixcrawler.models import ChunkLog, JobProgress

__all__ = ["JobDisplay", "chunk_name", "completion", "is_terminal"]


def is_terminal() -> bool:
    """True when stdout and stderr are both terminals (and TERM is not ``dumb``): progress is
    then drawn as bars; otherwise it is written as plain lines."""
    streams = (sys.stdout, sys.stderr)
    return all(getattr(s, "isatty", lambda: False)() for s in streams) and os.environ.get("TERM") != "dumb"


def chunk_name(chunk: ChunkLog) -> str:
    """What a chunk is called on screen: its query (the keyword with its variation applied)
    and source, so chunks of different variations of one keyword read apart.

    >>> chunk_name(ChunkLog(chunk_id="c1", label="cat", query="cat photo", source="wikimedia", status="pending"))
    'cat photo [wikimedia]'
    """
    return f"{chunk.query or chunk.label} [{chunk.source}]"


def completion(progress: JobProgress) -> str:
    """``completed at ...`` for a completed job, ``estimated completion ...`` while one is
    known, else an empty string."""
    when = progress.estimated_completion
    if when is None:
        return ""
    label = "completed at" if progress.status == "completed" else "estimated completion"
    return f"{label} {when:%Y-%m-%d %H:%M:%S %Z}"


def _overall(job_id: str, p: JobProgress) -> str:
    return (
        f"job {job_id}: {p.status} ({p.phase}) {p.progress}%, chunks {p.finished_chunks}/{p.total_chunks}"
        f" ({p.active_chunks} active), images {p.stored_images} stored, {p.valid_images} valid,"
        f" {p.duplicate_images} duplicates, {p.failed_downloads} failed"
    )


class _Lines:
    """Plain progress: a line when the job's counters change, a line when a chunk changes
    status; the estimate is added to a line but never causes one."""

    def __init__(self, job_id: str, stream: TextIO) -> None:
        self.job_id = job_id
        self.stream = stream
        self.last = ""
        self.chunks: dict[str, str] = {}

    def update(self, progress: JobProgress, chunks: list[ChunkLog] | None) -> None:
        line = _overall(self.job_id, progress)
        if line != self.last:
            self.last = line
            when = completion(progress)
            self._write(line + (f", {when}" if when else ""))
        for chunk in chunks or []:
            if self.chunks.get(chunk.chunk_id) != chunk.status:
                self.chunks[chunk.chunk_id] = chunk.status
                error = f", last error: {chunk.last_error}" if chunk.last_error else ""
                self._write(f"  chunk {chunk_name(chunk)}: {chunk.status}, {chunk.valid} valid,"
                            f" {chunk.downloaded} downloaded{error}")

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        return None


class _Bars:
    """Terminal progress: a bar for the job (chunks finished of total) and one per chunk (its
    valid images and status), at most ``max_chunk_bars`` of them."""

    def __init__(self, job_id: str, max_chunk_bars: int) -> None:
        self.max_chunk_bars = max_chunk_bars
        self.overall: Any = tqdm(
            total=0, desc=f"job {job_id}", unit="chunk", position=0, dynamic_ncols=True,
        )
        self.chunk_bars: dict[str, Any] = {}

    def update(self, progress: JobProgress, chunks: list[ChunkLog] | None) -> None:
        bar = self.overall
        if bar.total != progress.total_chunks:
            bar.total = progress.total_chunks
        bar.n = progress.finished_chunks
        bar.set_postfix(
            status=progress.status, valid=progress.valid_images,
            stored=progress.stored_images, dupes=progress.duplicate_images,
            failed=progress.failed_downloads, refresh=False,
        )
        bar.refresh()
        for chunk in chunks or []:
            self._chunk(chunk)

    def _chunk(self, chunk: ChunkLog) -> None:
        bar = self.chunk_bars.get(chunk.chunk_id)
        if bar is None:
            if len(self.chunk_bars) >= self.max_chunk_bars:
                return
            bar = tqdm(
                desc=f"  {chunk_name(chunk)}"[:48], unit="img",
                position=len(self.chunk_bars) + 1, dynamic_ncols=True, leave=False,
            )
            self.chunk_bars[chunk.chunk_id] = bar
        bar.n = chunk.valid
        postfix = {"status": chunk.status, "downloaded": chunk.downloaded}
        if chunk.last_error:
            postfix["error"] = chunk.last_error[:40]
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    def close(self) -> None:
        for bar in self.chunk_bars.values():
            bar.close()
        self.overall.close()


class JobDisplay:
    """Draws a job's progress: bars on a terminal, plain lines on stderr otherwise
    (``plain=True`` forces lines), nothing when ``enabled`` is False."""

    def __init__(
        self, job_id: str, *, enabled: bool = True, max_chunk_bars: int = 8,
        plain: bool | None = None, stream: TextIO | None = None,
    ) -> None:
        self._view: _Lines | _Bars | None = None
        if enabled:
            lines = plain if plain is not None else not is_terminal()
            self._view = _Lines(job_id, stream or sys.stderr) if lines else _Bars(job_id, max_chunk_bars)

    def update(self, progress: JobProgress, chunks: list[ChunkLog] | None = None) -> None:
        if self._view is not None:
            self._view.update(progress, chunks)

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
