"""SimClock pacing: speed 0 never sleeps but yields; speed N sleeps market/N wall seconds; time never goes back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from arbdash.bot.clock import SimClock

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.asyncio
async def test_speed_zero_yields_to_other_tasks() -> None:
    clock = SimClock(T0, Decimal(0))
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    task = asyncio.create_task(other())
    t = time.perf_counter()
    await clock.advance_to(T0 + timedelta(days=30))
    assert time.perf_counter() - t < 0.05
    assert ran == [1]
    assert clock.now() == T0 + timedelta(days=30)
    await task


@pytest.mark.asyncio
async def test_speed_paces_against_wall_clock() -> None:
    clock = SimClock(T0, Decimal(36000))  # 10 market hours per wall second
    assert clock.wall_seconds_for(T0 + timedelta(hours=1)) == Decimal("0.1")
    t = time.perf_counter()
    await clock.advance_to(T0 + timedelta(hours=1))
    assert 0.09 <= time.perf_counter() - t < 0.5


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
