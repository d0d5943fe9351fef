"""Atomic executor on real replay data: a rejected leg is rolled back so the book is flat."""

from __future__ import annotations

from decimal import Decimal

import pytest
from structlog.testing import capture_logs
from support_bot import START, make_config, market_for, opportunity

from arbdash.bot.strategies.funding_arbitrage.executor import AtomicExecutor
from arbdash.helpers.formulas import realized_pnl
from arbdash.helpers.unified_logger import get_logger


@pytest.mark.asyncio
async def test_rejected_leg_is_rolled_back_and_book_is_flat() -> None:
    cfg = make_config({"binance": "0", "bybit": "1"})
    market = market_for(cfg)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    with capture_logs() as events:
        pos = await executor.open_position(
            "P1-BTC", opportunity("binance", "bybit"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is None
    names = [e["event"] for e in events if e["event"] != "log.message"]
    assert names == [
        "stage.changed",
        "stage.changed",
        "stage.changed",  # 3, 3.1, 3.2
        "order.placed",
        "order.placed",  # long binance, short bybit
        "order.filled",
        "order.rejected",
        "order.placed",
        "order.filled",  # reduce-only close of the binance leg
        "execution.rollback",
    ]
    stages = [(e["stage_id"], e["icon"], e["title"]) for e in events if e["event"] == "stage.changed"]
    assert stages == [
        ("3", "🧨", "Atomic Multi-Order Execution"),
        ("3.1", "🔍", "Pre-flight Checks"),
        ("3.2", "🚀", "Order Placement"),
    ]
    fills = [e for e in events if e["event"] == "order.filled"]
    assert [(f["venue"], f["side"], f["reduce_only"]) for f in fills] == [
        ("binance", "buy", False),
        ("binance", "sell", True),
    ]
    rollback = next(e for e in events if e["event"] == "execution.rollback")
    assert rollback["failed_venue"] == "bybit" and rollback["rolled_back_venues"] == ["binance"]
    assert market.venues["binance"].position_qty("BTC") == 0
    assert market.venues["bybit"].position_qty("BTC") == 0
    # The round trip costs exactly both fees and the slippage on both sides.
    (cost,) = executor.rollbacks
    assert cost.fees == fills[0]["fee"] + fills[1]["fee"]
    assert cost.realized_pnl == realized_pnl("long", Decimal("0.003"), fills[0]["price"], fills[1]["price"])
    assert cost.realized_pnl < 0


@pytest.mark.asyncio
async def test_both_legs_fill_opens_a_delta_neutral_position() -> None:
    cfg = make_config({"binance": "0", "hyperliquid": "0"})
    market = market_for(cfg)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    with capture_logs() as events:
        pos = await executor.open_position(
            "P1-BTC", opportunity("hyperliquid", "binance"), Decimal("0.003"), Decimal(2), Decimal(200), START
        )
    assert pos is not None
    assert market.venues["hyperliquid"].position_qty("BTC") == Decimal("0.003")
    assert market.venues["binance"].position_qty("BTC") == Decimal("-0.003")
    opened = next(e for e in events if e["event"] == "position.opened")
    legs = {leg["side"]: leg for leg in opened["legs"]}
    mark = market.venues["hyperliquid"].mark_price("BTC")
    # buy at mark + 2 bp, rounded up to the 0.1 tick; fee = price·qty·taker fee; margin = notional / leverage
    price = (mark * Decimal("1.0002")).quantize(Decimal("0.1"), rounding="ROUND_CEILING")
    assert legs["long"]["entry_price"] == price
    assert legs["long"]["notional"] == price * Decimal("0.003")
    assert legs["long"]["fee"] == price * Decimal("0.003") * Decimal("0.00045")
    assert legs["long"]["margin"] == price * Decimal("0.003") / 2
    assert legs["short"]["qty"] == legs["long"]["qty"] == Decimal("0.003")
