"""Venue faults while opening and closing: a transient (non-rejection) error on one leg is rolled back and the bot
goes on; a leg whose reduce-only close failed is retried on every check until the position is flat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support_bot import START, make_config, market_for, opportunity

from arbdash.bot.config import load_config
from arbdash.bot.runner import run_bot
from arbdash.bot.strategies.funding_arbitrage.executor import CLOSE_ATTEMPTS, AtomicExecutor
from arbdash.bot.strategies.funding_arbitrage.position_manager import PositionManager
from arbdash.bot.venues.base import OrderRejectedError
from arbdash.bot.venues.paper import PaperVenue
from arbdash.helpers.unified_logger import get_logger

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "funding_arb_paper.yml"


def failing(
    venue: PaperVenue, make_error: Callable[[], BaseException], *, times: int, reduce_only: bool
) -> list[int]:
    """Make ``venue``'s next ``times`` orders of the given kind (opening or reduce-only) raise ``make_error()``
    before anything is filled; other orders go through. Returns a one-item list counting the failures raised."""
    real = venue.market_order
    raised = [0]

    async def market_order(
        symbol: str, side: Any, qty: Decimal, *, order_id: str, reduce_only: bool = False
    ) -> Any:
        if reduce_only == kind and raised[0] < times:
            raised[0] += 1
            await asyncio.sleep(0)
            raise make_error()
        return await real(symbol, side, qty, order_id=order_id, reduce_only=reduce_only)

    kind = reduce_only
    venue.market_order = market_order  # type: ignore[method-assign]
    return raised


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events if e["event"] not in ("log.message", "stage.changed")]


# --- 1. a non-rejection error while opening -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_transient_error_on_first_leg_rolls_back_the_other_and_returns_none() -> None:
    cfg = make_config({"binance": "0", "bybit": "0"})
    market = market_for(cfg)
    # the long leg (binance) is the first result: before the fix its error was raised before the bybit fill was
    # even logged, leaving a short bybit position nobody knew about
    raised = failing(
        market.venues["binance"],
        lambda: ConnectionError("binance: connection reset"),
        times=1,
        reduce_only=False,
    )
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    with capture_logs() as events:
        pos = await executor.open_position(
            "P1-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert raised == [1]
    assert pos is None
    assert _names(events) == [
        "order.placed",
        "order.placed",  # long binance, short bybit
        "order.filled",  # bybit's fill is logged although binance's error came first
        "order.placed",
        "order.filled",  # reduce-only close of the bybit leg
        "execution.rollback",
    ]
    fills = [e for e in events if e["event"] == "order.filled"]
    assert [(f["venue"], f["side"], f["reduce_only"]) for f in fills] == [
        ("bybit", "sell", False),
        ("bybit", "buy", True),
    ]
    rollback = next(e for e in events if e["event"] == "execution.rollback")
    assert rollback["failed_venue"] == "binance" and rollback["rolled_back_venues"] == ["bybit"]
    assert rollback["reason"] == "LEG_ERROR"
    errors = [e for e in events if e["event"] == "log.message" and e["log_level"] == "error"]
    assert len(errors) == 1 and isinstance(errors[0]["exc_info"], ConnectionError)
    assert errors[0]["venue"] == "binance" and errors[0]["position_id"] == "P1-BTC"
    assert market.venues["binance"].position_qty("BTC") == 0
    assert market.venues["bybit"].position_qty("BTC") == 0
    (cost,) = executor.rollbacks
    assert cost.fees == fills[0]["fee"] + fills[1]["fee"]
    # the error was transient: the next attempt opens normally
    with capture_logs():
        pos = await executor.open_position(
            "P2-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is not None and market.venues["bybit"].position_qty("BTC") == Decimal("-0.003")


@pytest.mark.asyncio
async def test_errors_on_both_legs_leave_nothing_to_roll_back() -> None:
    cfg = make_config({"binance": "0", "bybit": "1"})
    market = market_for(cfg)
    failing(market.venues["binance"], lambda: TimeoutError("binance: timed out"), times=1, reduce_only=False)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    with capture_logs() as events:
        pos = await executor.open_position(
            "P1-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is None
    assert _names(events) == ["order.placed", "order.placed", "order.rejected"]
    assert executor.rollbacks == []
    assert all(v.position_qty("BTC") == 0 for v in market.venues.values())


def test_bot_survives_a_transient_venue_error_while_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole run where the first position-increasing order of the session raises ``ConnectionError``: the
    other leg is rolled back, an error event carries the exception, and the run goes on to open positions."""
    real = PaperVenue.market_order
    raised: list[str] = []

    async def market_order(
        self: PaperVenue, symbol: str, side: Any, qty: Decimal, *, order_id: str, reduce_only: bool = False
    ) -> Any:
        if not reduce_only and not raised:
            raised.append(self.name)
            raise ConnectionError(f"{self.name}: connection reset by peer")
        return await real(self, symbol, side, qty, order_id=order_id, reduce_only=reduce_only)

    monkeypatch.setattr(PaperVenue, "market_order", market_order)
    cfg = load_config(SHIPPED)
    start = datetime(2026, 2, 24, tzinfo=UTC)
    window = cfg.market.model_copy(update={"start": start, "end": start + timedelta(days=20)})
    with capture_logs() as events:
        result = asyncio.run(run_bot(cfg.model_copy(update={"market": window}), speed=Decimal(0)))
    assert len(raised) == 1
    errors = [e for e in events if e["event"] == "log.message" and e["log_level"] == "error"]
    assert [type(e["exc_info"]) for e in errors] == [ConnectionError]
    rollbacks = [e for e in events if e["event"] == "execution.rollback" and e["reason"] == "LEG_ERROR"]
    assert len(rollbacks) == 1 and rollbacks[0]["failed_venue"] == raised[0]
    assert result.positions_opened >= 1 and result.positions_closed == result.positions_opened


# --- 2. a reduce-only close that fails on one leg --------------------------------------------------------------


@pytest.mark.asyncio
async def test_unhedged_leg_is_retried_on_every_check_until_flat() -> None:
    # min hold 100 h: once the close has started, no exit rule fires any more (the rules say MIN_HOLD_ACTIVE)
    cfg = make_config({"binance": "0", "bybit": "0"})
    cfg = cfg.model_copy(
        update={"strategy": cfg.strategy.model_copy(update={"min_hold_hours": Decimal(100)})}
    )
    market = market_for(cfg)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    pm = PositionManager(cfg.strategy, market.venues, executor, get_logger("test.position_manager"))
    with capture_logs():
        pos = await executor.open_position(
            "P1-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is not None
    pm.add(pos)
    # the short leg (bybit, closed second) refuses every reduce-only attempt of the first close
    raised = failing(
        market.venues["bybit"],
        lambda: OrderRejectedError("bybit", "RATE_LIMITED"),
        times=CLOSE_ATTEMPTS,
        reduce_only=True,
    )
    with capture_logs() as first:
        assert await pm.close(pos, "TIME_LIMIT", START) is False
    assert raised == [CLOSE_ATTEMPTS]
    assert market.venues["binance"].position_qty("BTC") == 0  # long leg closed ...
    assert market.venues["bybit"].position_qty("BTC") == Decimal(
        "-0.003"
    )  # ... short leg still open: unhedged
    unhedged = [
        e
        for e in first
        if e["event"] == "log.message" and e["log_level"] == "warning" and e.get("unhedged_venue")
    ]
    assert len(unhedged) == 1
    assert unhedged[0]["unhedged_venue"] == "bybit" and unhedged[0]["unhedged_side"] == "short"
    assert unhedged[0]["position_id"] == "P1-BTC" and unhedged[0]["exit_reason"] == "TIME_LIMIT"
    assert pm.exit_decision(pos, pm.view(pos), START + timedelta(hours=1)) == (None, "MIN_HOLD_ACTIVE")

    # next check: the exit rules say hold, but a close in progress is retried regardless
    with capture_logs() as second:
        await pm.check(START + timedelta(hours=1))
    assert market.venues["bybit"].position_qty("BTC") == 0
    assert pm.open == {} and pm.closed == [pos]
    closed = [e for e in second if e["event"] == "position.closed"]
    assert len(closed) == 1 and closed[0]["reason"] == "TIME_LIMIT"
    assert [e["event"] for e in second].count("position.closing") == 0  # announced once, by the first close
    assert not [e for e in second if e.get("unhedged_venue")]


@pytest.mark.asyncio
async def test_unhedged_warning_repeats_while_the_leg_stays_open() -> None:
    cfg = make_config({"binance": "0", "bybit": "0"})
    market = market_for(cfg)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    pm = PositionManager(cfg.strategy, market.venues, executor, get_logger("test.position_manager"))
    with capture_logs():
        pos = await executor.open_position(
            "P1-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is not None
    pm.add(pos)
    failing(
        market.venues["bybit"],
        lambda: ConnectionError("bybit: connection reset"),
        times=2 * CLOSE_ATTEMPTS,
        reduce_only=True,
    )
    with capture_logs() as events:
        assert await pm.close(pos, "PROFIT_EROSION", START) is False
        await pm.check(START + timedelta(hours=1))  # still failing
        await pm.check(START + timedelta(hours=2))  # goes through
    warnings = [e for e in events if e.get("unhedged_venue")]
    assert len(warnings) == 2
    assert market.venues["bybit"].position_qty("BTC") == 0 and pm.open == {}
