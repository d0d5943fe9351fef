"""Rank symbol/venue pairs by funding spread APR after fees and report them as opportunities.

For each symbol and each ordered venue pair (long A, short B) the carry is ``APR(B) − APR(A)``
(``helpers.formulas.spread_apr``; rates are each venue's latest known rate for its next settlement, annualised
with its own interval so 1 h and 8 h venues compare). Only the orientation with a positive spread is a
candidate: long the cheaper-funding venue, short the dearer one. The net figure subtracts the round trip's taker
fees and slippage (both legs, open and close: ``2·(f_long + f_short) + 2·(s_long + s_short)·10⁻⁴``) amortised
over ``expected_hold_hours`` (``helpers.formulas.net_spread_apr``). The best pair per symbol is kept;
symbols are ranked by net APR, best first.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypedDict

from arbdash.bot.config import StrategyConfig
from arbdash.bot.strategies.funding_arbitrage.models import Opportunity
from arbdash.bot.venues.base import FundingQuote, Venue
from arbdash.helpers.formulas import net_spread_apr, spread_apr
from arbdash.helpers.unified_logger import UnifiedLogger
from arbdash.logging_pipeline.events import OpportunityFound, OpportunitySkipped

BELOW_MIN_PROFIT = "BELOW_MIN_PROFIT"
NO_POSITIVE_SPREAD = "NO_POSITIVE_SPREAD"


def rank_opportunities(
    symbols: Sequence[str],
    quotes: Mapping[tuple[str, str], FundingQuote],
    taker_fees: Mapping[str, Decimal],
    *,
    expected_hold_hours: Decimal,
    mandatory_exchange: str | None = None,
    slippage_bps: Mapping[str, Decimal] | None = None,
) -> list[Opportunity]:
    """Best positive-spread pair per symbol, ranked by ``net_apr`` (ties: symbol, then venue names).

    ``quotes`` maps ``(venue, symbol)`` to the venue's next-settlement rate; ``taker_fees`` maps venue → fee
    fraction; ``slippage_bps`` venue → expected slippage per fill in bp (missing venue: 0). With ``mandatory_exchange`` set, only pairs including that venue are considered. Pure function.
    """
    venues = sorted(taker_fees)
    best: list[Opportunity] = []
    for symbol in symbols:
        candidates: list[Opportunity] = []
        for long_v, short_v in itertools.permutations(venues, 2):
            if mandatory_exchange is not None and mandatory_exchange not in (long_v, short_v):
                continue
            lq, sq = quotes.get((long_v, symbol)), quotes.get((short_v, symbol))
            if lq is None or sq is None:
                continue
            spread = spread_apr(lq.rate, lq.interval_s, sq.rate, sq.interval_s)
            if spread <= 0:
                continue
            slip = slippage_bps or {}
            net = net_spread_apr(
                spread,
                taker_fees[long_v],
                taker_fees[short_v],
                expected_hold_hours,
                long_slippage_bps=slip.get(long_v, Decimal(0)),
                short_slippage_bps=slip.get(short_v, Decimal(0)),
            )
            candidates.append(
                Opportunity(
                    symbol, long_v, short_v, lq.rate, sq.rate, lq.interval_s, sq.interval_s, spread, net
                )
            )
        if candidates:
            best.append(min(candidates, key=lambda o: (-o.net_apr, o.long_venue, o.short_venue)))
    return sorted(best, key=lambda o: (-o.net_apr, o.symbol))


class _Rule(TypedDict):
    """The entry-rule fields of ``opportunity.found`` / ``opportunity.skipped``."""

    min_profit_rate: Decimal
    expected_hold_hours: Decimal
    mandatory_exchange: str | None


class Scanner:
    """Reads venue quotes, ranks them and emits ``opportunity.found`` / ``opportunity.skipped`` events."""

    def __init__(self, config: StrategyConfig, venues: Mapping[str, Venue], log: UnifiedLogger) -> None:
        self._config = config
        self._venues = venues
        self._log = log
        self._reported: dict[str, tuple[object, ...]] = {}

    def _changed(self, symbol: str, key: tuple[object, ...]) -> bool:
        """True when ``symbol``'s verdict (found/skipped, venues, reason, rank) differs from the last scan's."""
        if self._reported.get(symbol) == key:
            return False
        self._reported[symbol] = key
        return True

    def _rule(self) -> _Rule:
        """The entry rule each verdict is made against, carried by its event (the dashboard compares the best
        current spread per symbol with it)."""
        cfg = self._config
        return _Rule(
            min_profit_rate=cfg.min_profit_rate,
            expected_hold_hours=cfg.expected_hold_hours,
            mandatory_exchange=cfg.mandatory_exchange,
        )

    def scan(self) -> list[Opportunity]:
        """Rank, then emit: ``opportunity.found`` (with rank) for each symbol whose net APR ≥ ``min_profit_rate``
        and ``opportunity.skipped`` (``BELOW_MIN_PROFIT`` / ``NO_POSITIVE_SPREAD``) for the others. Returns the
        found ones, best first.

        Events are emitted only when a symbol's verdict changes from the previous scan (the figures move every
        hour; a repeated "below minimum" line every cycle is the log spam the dashboard exists to remove)."""
        symbols = self._config.symbols
        quotes = {(v, s): venue.funding_quote(s) for v, venue in self._venues.items() for s in symbols}
        fees = {v: venue.taker_fee_rate for v, venue in self._venues.items()}
        slippage = {v: venue.slippage_bps for v, venue in self._venues.items()}
        ranked = rank_opportunities(
            symbols,
            quotes,
            fees,
            expected_hold_hours=self._config.expected_hold_hours,
            mandatory_exchange=self._config.mandatory_exchange,
            slippage_bps=slippage,
        )
        found = [o for o in ranked if o.net_apr >= self._config.min_profit_rate]
        for rank, o in enumerate(found, start=1):
            if not self._changed(o.symbol, ("found", o.long_venue, o.short_venue, rank)):
                continue
            self._log.emit(
                OpportunityFound(
                    symbol=o.symbol,
                    long_venue=o.long_venue,
                    short_venue=o.short_venue,
                    long_rate=o.long_rate,
                    short_rate=o.short_rate,
                    long_interval_s=o.long_interval_s,
                    short_interval_s=o.short_interval_s,
                    spread_apr=o.spread_apr,
                    net_apr=o.net_apr,
                    rank=rank,
                    **self._rule(),
                ),
                message=f"#{rank} {o.symbol}: long {o.long_venue} / short {o.short_venue} "
                f"spread {_pct(o.spread_apr)} APR, net {_pct(o.net_apr)}",
            )
        for o in ranked[len(found) :]:
            if not self._changed(o.symbol, (BELOW_MIN_PROFIT,)):
                continue
            self._log.emit(
                OpportunitySkipped(
                    symbol=o.symbol,
                    long_venue=o.long_venue,
                    short_venue=o.short_venue,
                    reason=BELOW_MIN_PROFIT,
                    net_apr=o.net_apr,
                    **self._rule(),
                ),
                message=f"{o.symbol}: net {_pct(o.net_apr)} APR below min {_pct(self._config.min_profit_rate)}",
            )
        seen = {o.symbol for o in ranked}
        for symbol in symbols:
            if symbol not in seen and self._changed(symbol, (NO_POSITIVE_SPREAD,)):
                self._log.emit(
                    OpportunitySkipped(symbol=symbol, reason=NO_POSITIVE_SPREAD, **self._rule()),
                    message=f"{symbol}: no venue pair with a positive funding spread",
                )
        return found


def _pct(fraction: Decimal) -> str:
    return f"{fraction * 100:.2f}%"


__all__ = ["BELOW_MIN_PROFIT", "NO_POSITIVE_SPREAD", "Scanner", "rank_opportunities"]
