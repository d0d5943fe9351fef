"""Whole runs on the shipped config at speed 0: determinism, coverage of the strategy paths, no float money."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.config import BotConfig, load_config
from bot.runner import RunResult, make_clock, run_bot

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "funding_arb_paper.yml"
WALL_ONLY = {"heartbeat"}  # emitted on the wall clock; must not (and does not) affect trading


def _run(cfg: BotConfig) -> tuple[RunResult, list[dict[str, Any]]]:
    with capture_logs() as events:
        result = asyncio.run(run_bot(cfg, config_path=str(SHIPPED), speed=Decimal(0)))
    return result, [e for e in events if e["event"] not in WALL_ONLY]


@pytest.fixture(scope="module")
def shipped_run() -> tuple[RunResult, list[dict[str, Any]]]:
    return _run(load_config(SHIPPED))


def test_same_seed_gives_identical_event_sequence(shipped_run) -> None:
    _, first = shipped_run
    _, second = _run(load_config(SHIPPED))
    assert len(first) == len(second)
    assert first == second


def test_other_seed_changes_the_run(shipped_run) -> None:
    cfg = load_config(SHIPPED)
    other = cfg.model_copy(update={"market": cfg.market.model_copy(update={"seed": cfg.market.seed + 1})})
    _, events = _run(other)
    _, base = shipped_run
    assert events != base


def test_shipped_run_exercises_the_strategy(shipped_run) -> None:
    result, events = shipped_run
    counts = Counter(e["event"] for e in events)
    assert counts["session.started"] == 1
    assert counts["venue.connected"] == 3
    assert "session.stopped" not in counts  # the caller (CLI) emits it
    opened = [e for e in events if e["event"] == "position.opened"]
    closed = [e for e in events if e["event"] == "position.closed"]
    assert len(opened) == len(closed) >= 3
    assert {e["position_id"] for e in opened} == {e["position_id"] for e in closed}
    assert len({e["symbol"] for e in opened}) >= 2
    assert counts["execution.rollback"] >= 1
    assert len({e["reason"] for e in closed}) >= 3
    assert result.positions_opened == len(opened) and result.positions_closed == len(closed)
    assert len(events) < 150_000
    # every closed position's figures add up: net = realized + funding − fees
    for e in closed:
        assert e["net_pnl"] == e["realized_pnl"] + e["funding"] - e["fees"]
    assert result.net_pnl == sum((e["net_pnl"] for e in closed), Decimal(0))


def test_funding_payment_per_open_leg_per_settlement(shipped_run) -> None:
    _, events = shipped_run
    open_legs: dict[tuple[str, str], str] = {}  # (venue, symbol) -> position_id
    seen: dict[tuple[str, str], int] = Counter()
    for e in events:
        if e["event"] == "position.opened":
            for leg in e["legs"]:
                open_legs[(leg["venue"], e["symbol"])] = e["position_id"]
        elif e["event"] == "position.closed":
            open_legs = {k: v for k, v in open_legs.items() if v != e["position_id"]}
        elif e["event"] == "funding.payment":
            assert open_legs[(e["venue"], e["symbol"])] == e["position_id"]
            seen[(e["position_id"], e["venue"])] += 1
            assert e["payment"] == -(1 if e["side"] == "long" else -1) * e["qty"] * e["mark_price"] * e["rate"]
    assert seen, "no funding booked"


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_no_float_anywhere(shipped_run) -> None:
    _, events = shipped_run
    floats = [(e["event"], v) for e in events for v in _walk(e) if isinstance(v, float)]
    assert floats == []


def test_make_clock_starts_at_window_and_is_used(shipped_run) -> None:
    cfg = load_config(SHIPPED)
    clock = make_clock(cfg, Decimal(0))
    result, _ = shipped_run
    assert clock.now() == result.market_start
    with capture_logs():
        one_day = cfg.market.model_copy(update={"end": result.market_start + timedelta(days=1)})
        asyncio.run(run_bot(cfg.model_copy(update={"market": one_day}), clock=clock))
    assert clock.now() == result.market_start + timedelta(days=1)


def test_cancellation_propagates_and_stops_heartbeat() -> None:
    cfg = load_config(SHIPPED)

    async def main() -> None:
        task = asyncio.create_task(run_bot(cfg, speed=Decimal(3600)))
        await asyncio.sleep(1.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftovers = [t for t in asyncio.all_tasks() if t.get_name() == "bot-heartbeat" and not t.done()]
        assert leftovers == []

    with capture_logs() as events:
        asyncio.run(main())
    names = [e["event"] for e in events]
    assert "heartbeat" in names  # ~1 per wall second while running
    assert "session.stopped" not in names
    assert names.count("market.mark_price") <= 3 * 3 * 3  # at most ~2 market hours at 1 h per wall second
