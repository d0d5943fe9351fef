"""``FileSink``: the base of sinks that append lines to a file through a ``BatchFileWriter`` thread (JSONL record,
text log) — one place for their start, health and bounded close."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbdash.logging_pipeline.sinks.base import Sink
from arbdash.logging_pipeline.writer import BatchFileWriter


class FileSink(Sink):
    """Lines go to ``path`` through a writer thread (flushed at least every ``flush_interval_s``).

    Health: ``degraded`` while writes fail (disk full: the writer holds the lines and retries; back to ``ok`` once
    they are written, see ``BatchFileWriter``) or while one write has been blocked for more than ``stall_after_s``
    seconds (back to ``ok`` when it returns); at
    close, waits at most ``close_timeout_s`` seconds for the writer, off the event loop, then gives up
    (``failed``). Subclasses implement ``write`` by calling ``self._writer.submit(bytes)``.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float = 0.2,
        stall_after_s: float = 2.0,
        close_timeout_s: float = 10.0,
        thread_name: str = "file-writer",
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.stall_after_s = stall_after_s
        self.close_timeout_s = close_timeout_s
        self._writer = BatchFileWriter(self.path, flush_interval_s=flush_interval_s, name=thread_name)

    async def start(self) -> None:
        self._writer.open()

    def check(self) -> None:
        """Refresh ``health`` from the writer thread (called by the pipeline's health watch)."""
        writer = self._writer
        if writer.error is not None:
            if self.health == "ok":
                self.health = "degraded"
                self.health_reason = (
                    f"{writer.error} (lines held and retried; {writer.dropped} dropped so far)"
                )
        elif writer.stalled_s > self.stall_after_s:
            if self.health == "ok":
                self.health = "degraded"
                self.health_reason = (
                    f"write stalled for {writer.stalled_s:.0f} s, {writer.backlog} lines waiting"
                )
        elif self.health == "degraded":
            self.health, self.health_reason = "ok", None

    @property
    def written(self) -> int:
        """Lines on disk so far."""
        return self._writer.written

    @property
    def dropped(self) -> int:
        """Lines lost to a write error (beyond what the writer holds for a retry, or still held at close)."""
        return self._writer.dropped

    @property
    def error(self) -> str | None:
        """The last write error while writes fail (``None`` once they succeed again)."""
        return self._writer.error

    @property
    def held(self) -> int:
        """Lines waiting for a retry after a failed write."""
        return self._writer.held

    async def aclose(self) -> None:
        if not await asyncio.to_thread(self._writer.close, self.close_timeout_s):
            self.health = "failed"
            self.health_reason = f"writer stalled at close; {self._writer.backlog} lines not written"
