"""Reducer tee: hands each serialised line to the in-memory dashboard reducer, lazily.

``write`` only appends the bytes to a deque; the dashboard service drains the deque into its ``Reducer``
before each frame with ``drain_into``. A full drain (no ``limit``: the final frame, a checkpoint) first asks the
pipeline to dispatch every event logged so far, so the reducer's state is that after exactly the events logged
before the drain. The reducer parses exactly the bytes
the JSONL file receives, so a live frame and a replayed frame come from identical input.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from arbdash.logging_pipeline.sinks.base import Sink


class LineConsumer(Protocol):
    def feed_lines(self, lines: list[bytes]) -> int: ...


class ReducerTee(Sink):
    """Buffers lines for a consumer with ``feed_lines`` (``dashboard.reducer.Reducer``)."""

    name = "reducer"

    def __init__(self) -> None:
        super().__init__()
        self._lines: deque[bytes] = deque()

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self._lines.append(line)

    @property
    def pending(self) -> int:
        return len(self._lines)

    def drain_into(self, consumer: LineConsumer, limit: int | None = None) -> int:
        """Feed buffered lines (all, or at most ``limit``) to ``consumer`` in order, as one batch; returns how
        many were fed.
        Without ``limit``, every event logged before the call is dispatched first (``flush_upstream``)."""
        if limit is None and self.flush_upstream is not None:
            self.flush_upstream(1.0)
        lines = self._lines
        count = len(lines) if limit is None else min(limit, len(lines))
        batch = [lines.popleft() for _ in range(count)]
        if batch:
            consumer.feed_lines(batch)  # one call: the reducer folds a run of lines with its bookkeeping once
        return count
