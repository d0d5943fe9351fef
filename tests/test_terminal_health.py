"""A terminal that stops reading is reported as a health spell of the ``terminal`` component — ``degraded``
when frames start being dropped, ``running`` once it has taken everything again — and the dashboard shows it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from support_terminal import BlockedStream

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee


async def _until(cond: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_stalled_terminal_is_one_degraded_spell_then_running() -> None:
    stream = BlockedStream()
    calls: list[tuple[str, str, str]] = []
    service = DashboardService(
        ReducerTee(),
        Reducer(),
        mode="live",
        stream=stream,
        force_terminal=True,
        width=100,
        refresh_interval_s=0.01,
        idle_refresh_interval_s=0.02,
        on_health=lambda *a: calls.append(a),
        terminal_recovered_after_s=0.3,
    )
    try:
        async with service:
            await _until(lambda: service.frames_dropped >= 5, "frames to be dropped")
            await asyncio.sleep(0.1)
            assert [c[:2] for c in calls] == [("terminal", "degraded")]  # one report per spell, not per frame
            assert "not reading" in calls[0][2]
            stream.release.set()
            await _until(lambda: len(calls) == 2, "the recovery report")
            assert calls[1][:2] == ("terminal", "running") and "frames dropped" in calls[1][2]
    finally:
        stream.release.set()


async def test_a_terminal_that_keeps_up_is_never_reported() -> None:
    stream = BlockedStream()
    stream.release.set()
    calls: list[tuple[str, str, str]] = []
    async with DashboardService(
        ReducerTee(),
        Reducer(),
        mode="live",
        stream=stream,
        force_terminal=True,
        width=100,
        refresh_interval_s=0.01,
        idle_refresh_interval_s=0.02,
        on_health=lambda *a: calls.append(a),
    ) as service:
        await _until(lambda: service.frames_drawn >= 10, "frames")
    assert calls == [] and service.frames_dropped == 0


class FlakyStream(BlockedStream):
    """A terminal that takes writes except while ``stall`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release.set()

    def stall(self, on: bool) -> None:
        (self.release.clear if on else self.release.set)()


async def test_stalls_closer_together_than_the_recovery_time_are_one_spell() -> None:
    """A link that stalls again before it has kept up for ``terminal_recovered_after_s`` stays one degraded
    spell (no degraded/running pair per stall); it is reported running once it keeps up long enough."""
    stream = FlakyStream()
    calls: list[tuple[str, str, str]] = []
    service = DashboardService(
        ReducerTee(),
        Reducer(),
        mode="live",
        stream=stream,
        force_terminal=True,
        width=100,
        refresh_interval_s=0.01,
        idle_refresh_interval_s=0.02,
        on_health=lambda *a: calls.append(a),
        terminal_recovered_after_s=0.5,
    )
    try:
        async with service:
            for _ in range(4):  # four short stalls, 0.15 s apart
                stream.stall(True)
                dropped = service.frames_dropped
                await _until(lambda dropped=dropped: service.frames_dropped > dropped, "a dropped frame")
                stream.stall(False)
                await asyncio.sleep(0.15)
            assert [c[1] for c in calls] == ["degraded"]
            await _until(lambda: len(calls) == 2, "the recovery report")
            assert calls[1][1] == "running"
    finally:
        stream.stall(False)
