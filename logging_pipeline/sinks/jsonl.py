"""JSONL sink: the durable record, one event per line at ``<log_dir>/<session_id>.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logging_pipeline.sinks.base import Sink
from logging_pipeline.writer import BatchFileWriter


class JsonlSink(Sink):
    """Appends each serialised event plus ``\\n`` through a writer thread (flushed at least every 0.2 s)."""

    name = "jsonl"

    def __init__(self, path: Path, *, flush_interval_s: float = 0.2) -> None:
        super().__init__()
        self.path = Path(path)
        self._writer = BatchFileWriter(self.path, flush_interval_s=flush_interval_s, name="jsonl-writer")

    async def start(self) -> None:
        self._writer.open()

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self._writer.submit(line)
        if self._writer.error is not None and self.health == "ok":
            self.health = "degraded"
            self.health_reason = self._writer.error

    @property
    def written(self) -> int:
        """Lines on disk so far."""
        return self._writer.written

    async def aclose(self) -> None:
        self._writer.close()
