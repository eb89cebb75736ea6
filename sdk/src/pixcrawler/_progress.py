"""Live progress bars for a job: one for the whole job, and one per chunk if asked."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from pixcrawler.models import ChunkLog, JobProgress

__all__ = ["JobDisplay"]


class JobDisplay:
    """Draws a job's progress: chunks finished of total, images found; per-chunk bars show
    each chunk's valid images and status (at most ``max_chunk_bars`` of them)."""

    def __init__(self, job_id: str, *, enabled: bool = True, max_chunk_bars: int = 8) -> None:
        self.enabled = enabled
        self.max_chunk_bars = max_chunk_bars
        self.overall: Any = tqdm(
            total=0, desc=f"job {job_id}", unit="chunk", disable=not enabled, position=0,
            dynamic_ncols=True,
        )
        self.chunk_bars: dict[str, Any] = {}

    def update(self, progress: JobProgress, chunks: list[ChunkLog] | None = None) -> None:
        if not self.enabled:
            return
        bar = self.overall
        if bar.total != progress.total_chunks:
            bar.total = progress.total_chunks
        bar.n = progress.finished_chunks
        bar.set_postfix(
            status=progress.status, valid=progress.valid_images,
            downloaded=progress.downloaded_images, dupes=progress.duplicate_images,
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
                desc=f"  {chunk.label} [{chunk.source}]"[:40], unit="img",
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
