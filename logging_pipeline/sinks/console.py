"""Console and text-log sinks: the human-readable stream (``--dashboard-mode=off``, plain warnings, text log).

Market ticks, funding-rate refreshes, position updates, heartbeats, metrics and checkpoints are dashboard data,
not log lines: they are not printed unless they are warnings or worse.

The console is a destination the process does not control: a terminal scrolled back, a pipe into a slow or
stopped reader (``runbot ... | less``), a suspended ``tmux`` pane. ``ConsoleSink.write`` therefore only
formats the line and appends it to a bounded queue (a ``background.BackgroundWriter``, drop-newest); a
``console-writer`` thread writes the queue to the stream.
When the stream cannot keep up and the queue is full, new console lines are dropped and counted (``dropped``)
and the sink reports itself degraded (→ a ``session.health`` event, component ``console``); the JSONL record,
written by its own thread, loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from arbdash.logging_pipeline.background import BackgroundWriter
from arbdash.logging_pipeline.catalogue import CATALOGUE
from arbdash.logging_pipeline.console_format import format_record
from arbdash.logging_pipeline.sinks.base import Sink
from arbdash.logging_pipeline.sinks.file_sink import FileSink

_QUIET_EVENTS = CATALOGUE.console_quiet
_LEVEL_ORDER = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_BATCH = 512  # console lines per write to the stream


def _wanted(record: dict[str, Any], min_level: int) -> bool:
    level = _LEVEL_ORDER.get(record["level"], 20)
    if level < min_level:
        return False
    return level >= 30 or record["event"] not in _QUIET_EVENTS


class ConsoleSink(Sink):
    """Writes human lines to a stream (stdout by default) at or above ``min_level``, through a writer thread;
    ANSI colour only when the stream is a terminal and ``NO_COLOR`` is unset.

    ``max_pending``: console lines queued for the writer thread; beyond it new lines are dropped and counted
    (``dropped``) — the terminal cannot keep up. Health: ``degraded`` while lines are being dropped or one
    write to the stream has been blocked for more than ``stall_after_s`` seconds (back to ``ok`` once writes
    return and nothing was dropped for ``recover_after_s`` seconds), and for good when the stream is broken
    (closed pipe, dead terminal: ``OSError``/``ValueError`` on write). At close, waits at most
    ``close_timeout_s`` seconds for the queue to reach the stream; what is left then is dropped.
    """

    name = "console"

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        min_level: str = "info",
        max_pending: int = 1_000,
        stall_after_s: float = 1.0,
        recover_after_s: float = 2.0,
        close_timeout_s: float = 2.0,
    ) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self.min_level = _LEVEL_ORDER[min_level]
        self.recover_after_s = recover_after_s
        self.close_timeout_s = close_timeout_s
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.colour = bool(isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self._queue: BackgroundWriter[str] = BackgroundWriter(
            self._write_out,
            name="console-writer",
            max_pending=max_pending,
            overflow="drop-newest",  # the terminal cannot keep up: the newest lines go, counted
            batch=_BATCH,
            interval_s=0.2,
            wake_at=1,
            stall_s=stall_after_s,
        )
        self._counts_lock = threading.Lock()  # ``_lost`` changes on the writer thread and at close
        self._started = False
        self._stop = False
        self._last_drop = 0.0  # monotonic time of the last drop
        self._lost = 0  # lines taken off the queue and not written (a broken stream, an abandoned close)
        self.written = 0
        self.broken: str | None = None  # the stream's error, once it failed

    @property
    def max_pending(self) -> int:
        """Console lines that may wait for the writer thread (the queue's bound)."""
        return self._queue.max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self._queue.max_pending = value

    @property
    def stall_after_s(self) -> float:
        """Seconds one blocked write to the stream takes to make the sink ``degraded`` (the queue's stall)."""
        return self._queue.stall_s

    @stall_after_s.setter
    def stall_after_s(self, value: float) -> None:
        self._queue.stall_s = value

    async def start(self) -> None:
        self._start_thread()

    def _start_thread(self) -> None:
        if not self._started:
            self._started = True
            self._queue.start()

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        """Format the line and queue it for the writer thread: never touches the stream, never blocks."""
        if self.broken is not None or self._stop or not _wanted(record, self.min_level):
            return
        if not self._queue.put(format_record(record, colour=self.colour) + "\n"):
            self._note_drop()
        if not self._started:  # used without ``start`` (a sink outside a Pipeline)
            self._start_thread()

    @property
    def dropped(self) -> int:
        """Console lines lost: refused while ``max_pending`` waited, or not written when the stream broke or
        was abandoned at close."""
        return self._queue.dropped + self._lost

    def _count_lost(self, n: int) -> None:
        with self._counts_lock:
            self._lost += n
        self._note_drop()

    def _note_drop(self) -> None:
        self._last_drop = time.monotonic()
        if self.health == "ok":
            self.health = "degraded"
            self.health_reason = self._drop_reason()

    def _drop_reason(self) -> str:
        stalled = self.stalled_s
        blocked = f"write blocked {stalled:.1f} s, " if stalled > self.stall_after_s else ""
        return (
            f"console output cannot keep up ({blocked}{self._queue.backlog} lines waiting): "
            f"{self.dropped} lines dropped so far; the JSONL record has every event"
        )

    @property
    def stalled_s(self) -> float:
        """Seconds the stream write in progress has been blocked (0 when the writer thread is idle)."""
        return self._queue.stalled_s

    @property
    def backlog(self) -> int:
        """Console lines queued and not yet written to the stream."""
        return self._queue.backlog

    def check(self) -> None:
        if self.broken is not None:
            self.health, self.health_reason = "degraded", self.broken
            return
        dropping = self.dropped > 0 and time.monotonic() - self._last_drop < self.recover_after_s
        stalled = self._queue.check()
        behind = self.health == "degraded" and self._queue.backlog >= self.max_pending // 2
        if dropping or stalled or behind:
            self.health, self.health_reason = "degraded", self._drop_reason()
        else:
            self.health, self.health_reason = "ok", None

    # --- the writer thread ------------------------------------------------------------------------------

    def _write_out(self, lines: Iterator[str]) -> None:
        """The writer thread's consumer: one batch of lines, joined, to the stream."""
        batch = list(lines)
        if not batch:
            return
        if self.broken is not None:  # queued just as the stream broke
            self._count_lost(len(batch))
            return
        try:
            self.stream.write("".join(batch))  # may block for as long as the reader wants
            self.stream.flush()
        except (OSError, ValueError) as exc:
            self.broken = f"{type(exc).__name__}: {exc}"
            self.health, self.health_reason = "degraded", self.broken
            self._count_lost(len(batch) + self._queue.discard())
            return
        self.written += len(batch)

    async def aclose(self) -> None:
        """Write what is queued (waiting at most ``close_timeout_s``), then stop the thread. A stream still
        blocked then is abandoned: the rest is counted as dropped and the thread writes nothing more."""
        if not self._started or self._stop:
            return
        self._stop = True
        queue = self._queue
        queue.close(0)
        deadline = time.monotonic() + self.close_timeout_s
        while queue.running and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if queue.running:
            left = queue.discard()  # the thread, once the stream returns, finds nothing more to write
            if left:
                self._count_lost(left)


class TextLogSink(FileSink):
    """The per-run text log (``logs/session_%Y%m%d_%H%M%S.log``): console lines, no colour, via a writer thread;
    health and close as ``FileSink``."""

    name = "text_log"

    def __init__(
        self,
        path: Path,
        *,
        min_level: str = "info",
        stall_after_s: float = 2.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(
            path, stall_after_s=stall_after_s, close_timeout_s=close_timeout_s, thread_name="text-log-writer"
        )
        self.min_level = _LEVEL_ORDER[min_level]

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        if _wanted(record, self.min_level):
            self._writer.submit(format_record(record, colour=False).encode("utf-8", "backslashreplace"))
