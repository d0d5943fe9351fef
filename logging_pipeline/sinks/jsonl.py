"""JSONL sink: the durable record, one event per line at ``<log_dir>/<session_id>.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logging_pipeline.sinks.file_sink import FileSink


class JsonlSink(FileSink):
    """Appends each serialised event plus ``\\n`` through a writer thread (flushed at least every 0.2 s); health
    and close as ``FileSink``."""

    name = "jsonl"

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float = 0.2,
        stall_after_s: float = 2.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(
            path,
            flush_interval_s=flush_interval_s,
            stall_after_s=stall_after_s,
            close_timeout_s=close_timeout_s,
            thread_name="jsonl-writer",
        )

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self._writer.submit(line)
        if self._writer.error is not None and self.health == "ok":
            self.health = "degraded"
            self.health_reason = self._writer.error
