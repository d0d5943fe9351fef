"""SimClock pacing: speed 0 never sleeps but yields; speed N sleeps market/N wall seconds; time never goes back.

The pace is checked on the wall durations the clock asks ``asyncio.sleep`` for, never by measuring them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from arbdash.bot import clock as clock_module
from arbdash.bot.clock import SimClock

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class RecordedSleeps:
    """``asyncio`` as ``bot.clock`` sees it, but ``sleep`` records each requested wall duration and the market
    time at that moment, then only yields to the loop (the pace is read from what was asked, not measured)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, datetime]] = []

    async def sleep(self, seconds: float) -> None:
        self.calls.append((seconds, self.clock.now()))
        await asyncio.sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Callable[[SimClock], RecordedSleeps]:
    """Installs a ``RecordedSleeps`` for a clock (only ``bot.clock``'s own sleeps are recorded)."""

    def install(clock: SimClock) -> RecordedSleeps:
        recorder = RecordedSleeps(clock)
        monkeypatch.setattr(clock_module, "asyncio", recorder)
        return recorder

    return install


@pytest.mark.asyncio
async def test_speed_zero_yields_to_other_tasks(sleeps: Callable[[SimClock], RecordedSleeps]) -> None:
    clock = SimClock(T0, Decimal(0))
    recorded = sleeps(clock)
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    task = asyncio.create_task(other())
    await clock.advance_to(T0 + timedelta(days=30))
    assert recorded.calls == [(0, T0)]  # 30 market days: one yield, no wall time asked for
    assert ran == [1]
    assert clock.now() == T0 + timedelta(days=30)
    await task


@pytest.mark.asyncio
async def test_speed_paces_against_wall_clock(sleeps: Callable[[SimClock], RecordedSleeps]) -> None:
    clock = SimClock(T0, Decimal(36000))  # 10 market hours per wall second
    recorded = sleeps(clock)
    assert clock.wall_seconds_for(T0 + timedelta(hours=1)) == Decimal("0.1")
    await clock.advance_to(T0 + timedelta(hours=1))
    assert recorded.calls == [(0.1, T0)]  # one market hour: 0.1 wall s, slept before market time moves
    assert clock.now() == T0 + timedelta(hours=1)
    await clock.advance_to(T0 + timedelta(hours=1, minutes=30))
    assert recorded.calls[1:] == [(0.05, T0 + timedelta(hours=1))]  # and from where it is now


@pytest.mark.asyncio
async def test_time_never_goes_back_and_must_be_aware() -> None:
    clock = SimClock(T0)
    await clock.advance_to(T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance_to(T0)
    with pytest.raises(ValueError, match="aware"):
        await clock.advance_to(datetime(2026, 3, 2))
    with pytest.raises(ValueError):
        SimClock(datetime(2026, 3, 1))
    assert clock.now().tzinfo is not None
