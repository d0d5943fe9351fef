"""The benchmarks' synthetic bot (``tools/bench.py`` section 2, ``tools/bench_server.py``): a session with ``n``
open positions, then a steady mix of events — a mark price, a funding rate, a position update and a plain log
line, in turn — logged through the unified logger like the real bot's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from arbdash.helpers.unified_logger import UnifiedLogger
from arbdash.logging_pipeline.events import (
    FundingRate,
    LegOpen,
    MarkPrice,
    PositionOpened,
    PositionUpdated,
    SessionStarted,
)

__all__ = ["MARKET_T", "one_event", "open_positions"]

#: The market time the synthetic session stands at.
MARKET_T = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _legs() -> list[LegOpen]:
    return [
        LegOpen(
            venue="binance",
            side="long",
            qty=Decimal("0.01"),
            entry_price=Decimal("65000.5"),
            notional=Decimal("650.005"),
            fee=Decimal("0.325"),
            leverage=Decimal(3),
            margin=Decimal("216.67"),
        ),
        LegOpen(
            venue="bybit",
            side="short",
            qty=Decimal("0.01"),
            entry_price=Decimal("65010"),
            notional=Decimal("650.1"),
            fee=Decimal("0.325"),
            leverage=Decimal(3),
            margin=Decimal("216.7"),
        ),
    ]


def open_positions(log: UnifiedLogger, n: int) -> None:
    """``session.started`` and ``n`` BTC positions (``pos0000`` …), binance long / bybit short."""
    log.emit(
        SessionStarted(
            strategy="funding_arbitrage",
            strategy_version="1",
            venues=["binance", "bybit"],
            symbols=["BTC"],
            max_positions=n,
            max_total_exposure_usd=Decimal(100000),
            target_margin=Decimal(50),
        ),
        message="bench session",
    )
    for i in range(n):
        log.emit(
            PositionOpened(
                position_id=f"pos{i:04d}",
                symbol="BTC",
                long_venue="binance",
                short_venue="bybit",
                legs=_legs(),
                target_exposure_usd=Decimal(650),
                filled_exposure_usd=Decimal(650),
                entry_spread_apr=Decimal("0.15"),
                entry_long_rate=Decimal("0.0001"),
                entry_short_rate=Decimal("0.0003"),
            ),
            message=f"Opened pos{i:04d}",
        )


def one_event(log: UnifiedLogger, i: int, positions: int) -> None:
    """The ``i``-th event of the mix; position updates go round the ``positions`` open ones."""
    kind = i % 4
    if kind == 0:
        px = Decimal(65000) + Decimal(i % 100) / 10
        log.emit(
            MarkPrice(venue="binance" if i % 8 else "bybit", symbol="BTC", mark_price=px, index_price=px),
            message=f"mark {px}",
        )
    elif kind == 1:
        log.emit(
            FundingRate(
                venue="bybit",
                symbol="BTC",
                rate=Decimal("0.0001"),
                interval_s=28800,
                apr=Decimal("0.1095"),
                next_funding_ts=MARKET_T + timedelta(hours=8),
            ),
            message="rate",
        )
    elif kind == 2:
        log.emit(
            PositionUpdated(
                position_id=f"pos{i % positions:04d}",
                current_spread_apr=Decimal("0.14"),
                profit_erosion_pct=Decimal("6.6"),
                divergence_pct=Decimal("0.03"),
            ),
            message="upd",
        )
    else:
        log.info(f"scan {i}: nothing to do", cycle=i)
