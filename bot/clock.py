"""The simulated market clock: market time advances in steps, paced against the wall clock by ``speed``.

``speed`` is market seconds per wall second: ``3600`` replays one market hour per wall second, ``0`` runs as fast
as possible (no sleeping, but every step still yields to the event loop so the dashboard, sinks and heartbeat
tasks get to run). ``now`` is a plain callable returning an aware UTC datetime, so it can be handed to the
logging pipeline (``market_ts`` of each event) before the bot starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_MICROSECOND = timedelta(microseconds=1)


class SimClock:
    """A market clock starting at ``start`` (aware; stored as UTC) that only moves forward via ``advance_to``."""

    def __init__(self, start: datetime, speed: Decimal = Decimal(0)) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start time")
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (market seconds per wall second), got {speed}")
        self._now = start.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        """The current market time (aware UTC)."""
        return self._now

    def wall_seconds_for(self, t: datetime) -> Decimal:
        """Wall seconds ``advance_to(t)`` will sleep: ``(t − now) / speed`` (0 when ``speed`` is 0)."""
        if self.speed == 0 or t <= self._now:
            return Decimal(0)
        micros = (t - self._now) // _MICROSECOND
        return Decimal(micros) / Decimal(1_000_000) / self.speed

    async def advance_to(
        self,
        t: datetime,
        *,
        wake: asyncio.Event | None = None,
        on_wake: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Sleep ``(t − now)/speed`` wall seconds (just yield when ``speed`` is 0), then set market time to ``t``.

        ``wake`` / ``on_wake``: when ``wake`` is set during the sleep, ``await on_wake()`` runs at once, at the
        current market time (still ``now``), and the sleep goes on to the same wall deadline (operator commands
        are carried out while the clock waits; the pace is unchanged). Raises ``ValueError`` if ``t`` is before
        ``now`` or naive: market time never goes backwards.
        """
        if t.tzinfo is None:
            raise ValueError("advance_to needs a timezone-aware time")
        if t < self._now:
            raise ValueError(f"market time cannot go backwards: {t.isoformat()} < {self._now.isoformat()}")
        wall = self.wall_seconds_for(t)
        # asyncio takes seconds as a number; this is wall time, not money.
        seconds = int(wall * 1_000_000) / 1_000_000 if wall > 0 else 0.0
        if wake is None or on_wake is None or seconds <= 0:
            await asyncio.sleep(seconds)
        else:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            while (remaining := deadline - loop.time()) > 0:
                if not wake.is_set():
                    try:
                        await asyncio.wait_for(wake.wait(), remaining)
                    except TimeoutError:
                        break
                await on_wake()
                wake.clear()
        self._now = t.astimezone(UTC)


__all__ = ["SimClock"]
