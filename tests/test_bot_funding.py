"""Funding is settled at each venue's own times (Hyperliquid hourly, Binance 8-hourly) with hand-computed values.

Position: long 0.010 BTC on Hyperliquid, short 0.010 BTC on Binance, opened 2026-03-01 00:00 UTC (after that
hour's settlements). Data rows used (bot/data/market):

* hyperliquid BTC 2026-03-01T01:00 rate 9.7737e-06 (1 h); Binance BTC 00:00 rate -6.88e-06 (8 h);
  Binance 1 h kline opening 00:00 closes at 66791.29 (= price at 01:00, the index and Hyperliquid's oracle proxy).
* binance BTC 2026-03-01T08:00 rate 4.563e-05, reported mark_price 67113.9.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from structlog.testing import capture_logs
from support_bot import START, make_config, market_for, opportunity

from arbdash.bot.strategies.funding_arbitrage.executor import AtomicExecutor
from arbdash.bot.strategies.funding_arbitrage.position_manager import PositionManager
from arbdash.helpers.unified_logger import get_logger


def test_modelled_mark_hand_computed() -> None:
    market = market_for(make_config({"binance": "0", "hyperliquid": "0"}))
    market.advance_to(START + timedelta(hours=1))
    # both clamps saturated below the interest rate (F < 0.01 %/8 h), so P = F_8h − 0.05 %:
    # premium_hl = 9.7737e-06·8 − 0.0005 = −0.0004218104; premium_binance = −6.88e-06 − 0.0005 = −0.00050688
    # mark_hl = 66791.29 · (1 − 0.0004218104 + 0.00050688) = 66796.9719… → tick 0.1 → 66797.0
    assert market.venues["hyperliquid"].mark_price("BTC") == Decimal("66797.0")
    assert market.venues["binance"].mark_price("BTC") == Decimal("66791.29")
    assert market.venues["hyperliquid"].index_price("BTC") == Decimal("66791.29")


@pytest.mark.asyncio
async def test_funding_paid_at_each_venues_own_times() -> None:
    cfg = make_config({"binance": "0", "hyperliquid": "0"})
    market = market_for(cfg)
    executor = AtomicExecutor(market.venues, get_logger("test.executor"))
    manager = PositionManager(cfg.strategy, market.venues, executor, get_logger("test.pm"))
    opp = opportunity("hyperliquid", "binance")
    opp = type(opp)(
        "BTC",
        "hyperliquid",
        "binance",
        Decimal("1.8723e-06"),
        Decimal("-6.88e-06"),
        3600,
        28800,
        Decimal("0.1"),
        Decimal("0.05"),
    )
    pos = await executor.open_position("P1-BTC", opp, Decimal("0.010"), Decimal(2), Decimal(600), START)
    assert pos is not None
    manager.add(pos)

    with capture_logs() as events:
        for h in range(1, 10):
            step = market.advance_to(START + timedelta(hours=h))
            manager.on_funding(step.credits)
    payments = [e for e in events if e["event"] == "funding.payment"]
    hl = [p for p in payments if p["venue"] == "hyperliquid"]
    bn = [p for p in payments if p["venue"] == "binance"]
    assert len(hl) == 9  # every hour 01:00 … 09:00
    assert len(bn) == 1  # only at 08:00 (00:00 settled before entry, 16:00 outside)

    first = hl[0]
    # Hyperliquid values funding at its oracle price (the index proxy, Binance's 66791.29), not its mark 66797.0
    assert first["mark_price"] == Decimal("66791.29")
    assert first["rate"] == Decimal("9.7737e-06") and first["interval_s"] == 3600
    # long pays a positive rate: −0.010 · 66791.29 · 0.0000097737
    assert first["payment"] == Decimal("-0.00652798031073")
    # expected at the entry rate 1.8723e-06: −0.010 · 66791.29 · 0.0000018723
    assert first["expected_payment"] == Decimal("-0.00125053332267")

    (b,) = bn
    assert b["side"] == "short" and b["mark_price"] == Decimal("67113.9")  # Binance's reported mark
    # short receives a positive rate: +0.010 · 67113.9 · 0.00004563
    assert b["payment"] == Decimal("0.03062407257")
    # expected at the entry rate −6.88e-06: the short would have paid 0.010 · 67113.9 · 0.00000688
    assert b["expected_payment"] == Decimal("-0.00461743632")

    assert pos.long.funding == sum((p["payment"] for p in hl), Decimal(0))
    assert pos.short.funding == Decimal("0.03062407257")
