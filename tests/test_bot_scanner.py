"""Scanner ranking on hand-made funding rates (real formulas from helpers.formulas, no mocks of the math)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from structlog.testing import capture_logs

from arbdash.bot.config import StrategyConfig
from arbdash.bot.strategies.funding_arbitrage.scanner import Scanner, rank_opportunities
from arbdash.bot.venues.base import FundingQuote
from arbdash.helpers.unified_logger import get_logger

T = datetime(2026, 3, 1, 8, tzinfo=UTC)
FEES = {"binance": Decimal("0.0005"), "bybit": Decimal("0.00055"), "hyperliquid": Decimal("0.00045")}


def q(rate: str, hours: int) -> FundingQuote:
    return FundingQuote(rate=Decimal(rate), interval_s=hours * 3600, next_funding_ts=T)


QUOTES = {
    # BTC: hyperliquid 0.00005/h = 43.8 % APR, binance 0.0001/8h = 10.95 %, bybit -0.0001/8h = -10.95 %
    ("binance", "BTC"): q("0.0001", 8),
    ("bybit", "BTC"): q("-0.0001", 8),
    ("hyperliquid", "BTC"): q("0.00005", 1),
    # ETH: binance 0.0003/8h = 32.85 %, bybit 0.0001/8h = 10.95 %, hyperliquid 0.0000125/h = 10.95 %
    ("binance", "ETH"): q("0.0003", 8),
    ("bybit", "ETH"): q("0.0001", 8),
    ("hyperliquid", "ETH"): q("0.0000125", 1),
    # SOL: all equal -> no positive spread
    ("binance", "SOL"): q("0.0001", 8),
    ("bybit", "SOL"): q("0.0001", 8),
    ("hyperliquid", "SOL"): q("0.0000125", 1),
}


def test_ranks_by_net_apr_long_cheap_short_dear() -> None:
    ranked = rank_opportunities(["BTC", "ETH", "SOL"], QUOTES, FEES, expected_hold_hours=Decimal(168))
    assert [o.symbol for o in ranked] == ["BTC", "ETH"]  # SOL has no positive spread
    btc, eth = ranked
    assert (btc.long_venue, btc.short_venue) == ("bybit", "hyperliquid")
    # 0.00005·8760 − (−0.0001·1095) = 0.438 + 0.1095
    assert btc.spread_apr == Decimal("0.5475")
    # net = spread − 2·(0.00055 + 0.00045)·8760/168
    assert btc.net_apr == Decimal("0.5475") - Decimal("0.002") * Decimal(8760) / Decimal(168)
    # ETH: short binance (32.85 %) against the cheaper of bybit / hyperliquid (both 10.95 %);
    # hyperliquid wins on the lower taker fee (0.00045 < 0.00055)
    assert (eth.long_venue, eth.short_venue) == ("hyperliquid", "binance")
    assert eth.spread_apr == Decimal("0.3285") - Decimal("0.1095")
    assert eth.net_apr == eth.spread_apr - Decimal("0.0019") * Decimal(8760) / Decimal(168)


def test_mandatory_exchange_restricts_pairs() -> None:
    ranked = rank_opportunities(
        ["BTC"], QUOTES, FEES, expected_hold_hours=Decimal(168), mandatory_exchange="binance"
    )
    (btc,) = ranked
    assert "binance" in (btc.long_venue, btc.short_venue)
    assert (btc.long_venue, btc.short_venue) == ("binance", "hyperliquid")  # 43.8 − 10.95 > 10.95 + 10.95
    assert btc.spread_apr == Decimal("0.438") - Decimal("0.1095")


class _QuoteVenue:
    """A venue exposing only what the scanner reads (quotes and fee); prices are irrelevant here."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.taker_fee_rate = FEES[name]
        self.slippage_bps = Decimal(0)  # the reason codes below, not the slippage cost (tested on its own)

    def funding_quote(self, symbol: str) -> FundingQuote:
        return QUOTES[(self.name, symbol)]


def test_scan_emits_found_and_skipped_with_reason_codes() -> None:
    cfg = StrategyConfig(
        scan_exchanges=["binance", "bybit", "hyperliquid"],
        symbols=["BTC", "ETH", "SOL"],
        target_margin=Decimal(100),
        max_positions=2,
        max_total_exposure_usd=Decimal(1000),
        min_profit_rate=Decimal("0.3"),
        profit_erosion_threshold=Decimal("0.5"),
        min_hold_hours=Decimal(1),
        max_position_age_hours=Decimal(10),
        max_new_positions_per_cycle=1,
        check_interval_seconds=3600,
        max_entry_price_divergence_pct=Decimal("0.1"),
        expected_hold_hours=Decimal(168),
    )
    venues = {n: _QuoteVenue(n) for n in FEES}
    with capture_logs() as events:
        found = Scanner(cfg, venues, get_logger("test.scanner")).scan()  # type: ignore[arg-type]
    assert [o.symbol for o in found] == ["BTC"]
    by_event = [(e["event"], e["symbol"], e.get("reason"), e.get("rank")) for e in events]
    assert by_event == [
        ("opportunity.found", "BTC", None, 1),
        ("opportunity.skipped", "ETH", "BELOW_MIN_PROFIT", None),
        ("opportunity.skipped", "SOL", "NO_POSITIVE_SPREAD", None),
    ]
