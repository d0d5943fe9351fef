"""Bot test builders: a one-venue-set BTC config, its paper market at START, and a fixed opportunity."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arbdash.bot.config import BotConfig, parse_config
from arbdash.bot.strategies.funding_arbitrage.models import Opportunity
from arbdash.bot.venues.market_data import load_market_data
from arbdash.bot.venues.paper import PaperMarket

START = datetime(2026, 3, 1, tzinfo=UTC)


def make_config(failure: dict[str, str], noise: str = "0") -> BotConfig:
    venue = {"binance": "0.0005", "bybit": "0.00055", "hyperliquid": "0.00045"}
    return parse_config(
        {
            "strategy": {
                "scan_exchanges": list(failure),
                "symbols": ["BTC"],
                "target_margin": Decimal(100),
                "max_positions": 1,
                "max_total_exposure_usd": Decimal(10000),
                "min_profit_rate": Decimal(0),
                "profit_erosion_threshold": Decimal("0.5"),
                "min_hold_hours": Decimal(0),
                "max_position_age_hours": Decimal(100),
                "max_new_positions_per_cycle": 1,
                "check_interval_seconds": 3600,
                "max_entry_price_divergence_pct": Decimal(1),
            },
            "venues": {
                name: {
                    "taker_fee": Decimal(venue[name]),
                    "leverage": Decimal(2),
                    "slippage_bps": Decimal(2),
                    "order_failure_rate": Decimal(rate),
                }
                for name, rate in failure.items()
            },
            "market": {
                "start": START,
                "end": datetime(2026, 3, 2, tzinfo=UTC),
                "mark_noise_bps": Decimal(noise),
            },
        }
    )


def market_for(cfg: BotConfig) -> PaperMarket:
    data = load_market_data(venues=sorted(set(cfg.strategy.scan_exchanges) | {"binance"}), symbols=["BTC"])
    market = PaperMarket(data, cfg)
    market.advance_to(START)
    return market


def opportunity(long_venue: str, short_venue: str) -> Opportunity:
    return Opportunity(
        "BTC",
        long_venue,
        short_venue,
        Decimal("0.00001"),
        Decimal("0.0001"),
        3600,
        28800,
        Decimal("0.1"),
        Decimal("0.05"),
    )
