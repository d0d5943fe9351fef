"""The bot's own measurements as ``metric`` events (issue 15 item 5), at most one batch every few wall seconds.

A strategy cycle, a scan and a two-leg order placement are timed on the wall clock (``time.perf_counter``); the
latest value of each is kept and logged as ``metric`` events (``log.metric``: name, ``Decimal`` value, unit) the
first time one is recorded, then at most every ``interval_s`` seconds, and once more by ``flush`` at the end — so a
replay at ``--speed 0`` logs a handful, a live bot one batch per interval, never one per cycle. Wall-clock figures:
they never steer the trading, and two runs of one config differ in them (tests leave them out as they leave out
heartbeats).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from arbdash.helpers.unified_logger import UnifiedLogger

__all__ = ["METRIC_INTERVAL_S", "MetricGate", "elapsed_ms"]

#: Wall seconds between two batches of metric events.
METRIC_INTERVAL_S = 10.0


def elapsed_ms(since: float) -> Decimal:
    """Milliseconds (to 0.001) since ``since``, a ``time.perf_counter()`` reading."""
    return Decimal(round((time.perf_counter() - since) * 1000, 3)).quantize(Decimal("0.001"))


class MetricGate:
    """The latest value of each named measurement, logged as ``metric`` events through ``log`` at most every
    ``interval_s`` wall seconds (``now`` is injectable for tests)."""

    def __init__(
        self,
        log: UnifiedLogger,
        *,
        interval_s: float = METRIC_INTERVAL_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self.interval_s = interval_s
        self._now = now
        self._latest: dict[str, tuple[Decimal, str]] = {}
        self._last_emit: float | None = None

    def record(self, name: str, value: Decimal, unit: str) -> None:
        """Keep ``value`` (in ``unit``) as the latest of ``name``; log the batch if it is due."""
        self._latest[name] = (value, unit)
        now = self._now()
        if self._last_emit is None or now - self._last_emit >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Log the latest value of every measurement now (nothing when none was recorded since)."""
        for name, (value, unit) in self._latest.items():
            self._log.metric(name, value, unit)
        self._latest.clear()
        self._last_emit = self._now()
