"""Console and text-log sinks: the human-readable stream (``--dashboard-mode=off``, plain warnings, text log).

Market ticks, funding-rate refreshes, position updates, heartbeats, metrics and checkpoints are dashboard data,
not log lines: they are not printed unless they are warnings or worse.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

from logging_pipeline.console_format import format_record
from logging_pipeline.sinks.base import Sink
from logging_pipeline.writer import BatchFileWriter

_QUIET_EVENTS = frozenset(
    {"market.mark_price", "funding.rate", "heartbeat", "position.updated", "metric", "dashboard.checkpoint"}
)
_LEVEL_ORDER = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _wanted(record: dict[str, Any], min_level: int) -> bool:
    level = _LEVEL_ORDER.get(record["level"], 20)
    if level < min_level:
        return False
    return level >= 30 or record["event"] not in _QUIET_EVENTS


class ConsoleSink(Sink):
    """Writes human lines to a stream (stdout by default) at or above ``min_level``; ANSI colour only when the
    stream is a terminal and ``NO_COLOR`` is unset. A broken stream (closed pipe, dead terminal) marks the sink
    degraded instead of raising."""

    name = "console"

    def __init__(self, stream: IO[str] | None = None, *, min_level: str = "info") -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self.min_level = _LEVEL_ORDER[min_level]
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.colour = bool(isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        if self.health != "ok" or not _wanted(record, self.min_level):
            return
        try:
            self.stream.write(format_record(record, colour=self.colour) + "\n")
        except (OSError, ValueError) as exc:
            self.health = "degraded"
            self.health_reason = f"{type(exc).__name__}: {exc}"


class TextLogSink(Sink):
    """The per-run text log (``logs/session_%Y%m%d_%H%M%S.log``): console lines, no colour, via a writer thread."""

    name = "text_log"

    def __init__(self, path: Path, *, min_level: str = "info") -> None:
        super().__init__()
        self.path = Path(path)
        self.min_level = _LEVEL_ORDER[min_level]
        self._writer = BatchFileWriter(self.path, name="text-log-writer")

    async def start(self) -> None:
        self._writer.open()

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        if _wanted(record, self.min_level):
            self._writer.submit(format_record(record, colour=False).encode("utf-8", "backslashreplace"))

    def check(self) -> None:
        if self._writer.error is not None and self.health == "ok":
            self.health, self.health_reason = "degraded", self._writer.error

    async def aclose(self) -> None:
        self._writer.close()
