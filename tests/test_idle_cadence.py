"""Cadence that follows activity (issue 15 item 1): the live view redraws when something visible changed, at
most every ``refresh_interval_s``; the heartbeat (wall uptime, the events count) alone is not activity, so with
the market clock standing still the frame is redrawn only at the idle pace. Redraws are counted, never timed."""

from __future__ import annotations

import asyncio
import io

from events_builder import Events, build

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService, visible_key
from arbdash.logging_pipeline.events import FundingRate, Heartbeat
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee


def rate(e: Events, value: str) -> dict:
    """A funding rate (drawn in the funding pane) at the market time the builder stands at."""
    return e.emit(
        build(
            FundingRate,
            venue="binance",
            symbol="BTC",
            rate=value,
            interval_s=28800,
            apr=str(float(value) * 1095),
            next_funding_ts="2026-03-01T16:00:00+00:00",
        )
    )


def _service(reducer: Reducer) -> DashboardService:
    return DashboardService(
        ReducerTee(),
        reducer,
        mode="live",
        stream=io.StringIO(),
        force_terminal=True,
        width=100,
        refresh_interval_s=0.02,
        idle_refresh_interval_s=3600.0,  # never, within the test
    )


async def test_heartbeats_alone_do_not_redraw_a_new_rate_does() -> None:
    e = Events()
    reducer = Reducer()
    reducer.feed(rate(e, "0.0001"))
    async with _service(reducer) as service:
        while service.frames_drawn < 1:
            await asyncio.sleep(0.01)
        first = service.frames_drawn
        for _ in range(25):  # the market clock stands still; the wall clock and the events count move
            reducer.feed(e.emit(build(Heartbeat)))
            await asyncio.sleep(0.02)
        assert service.frames_drawn == first
        reducer.feed(rate(e, "0.0002"))
        for _ in range(200):
            if service.frames_drawn > first:
                break
            await asyncio.sleep(0.01)
        assert service.frames_drawn == first + 1


def test_the_visible_key_ignores_only_what_moves_by_itself() -> None:
    e = Events()
    reducer = Reducer()
    reducer.feed(rate(e, "0.0001"))
    before = visible_key(reducer.snapshot())
    reducer.feed(e.emit(build(Heartbeat)))
    assert reducer.snapshot().session.events_applied == 2
    assert visible_key(reducer.snapshot()) == before
    reducer.feed(rate(e, "0.0003"))
    assert visible_key(reducer.snapshot()) != before
