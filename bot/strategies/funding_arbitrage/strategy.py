"""The funding-arbitrage strategy cycle: monitor and exit, scan, validate, size and open.

One ``on_cycle`` (stage banners as in the original bot; ``lifecycle`` set on each):

* ``4. 👀 Monitoring Position`` (monitoring_position) when positions are open → ``position.updated``, exits
  (``5. 🚪 Exiting {SYM} • {REASON}``, closing_position);
* ``0. 🔎 Scanning`` (scanning), shown *before* the scan unless the bot already rests in Scanning or Monitoring
  → scanner emits ``opportunity.found`` / ``opportunity.skipped``;
* per found opportunity, best first: cheap checks (``ALREADY_OPEN``, ``MAX_POSITIONS``, per-cycle limit), then
  ``1. 📋 {SYM} • Opportunity Validation`` (scanning; ``DIVERGENCE_TOO_HIGH``), ``2. 🔍 Leverage Validation &
  Normalization`` (opening_position; leverage = min of both venues' and ``max_leverage``, leg notional =
  ``target_margin`` × leverage, ``EXPOSURE_LIMIT``, qty = notional / long mark rounded down to the lot), then the
  atomic executor (stage 3);
* ``6. ✅ Cycle Complete`` (cycle_complete).

At the end of the data (``on_stop``) the positions still open are closed (``SESSION_END``) and, when that
closed any, ``6. ✅ Cycle Complete`` is the run's last banner.

A limit that stops an entry emits ``risk.limit_hit`` and ``opportunity.skipped`` with the reason code.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from bot.config import StrategyConfig
from bot.metrics import MetricGate, elapsed_ms
from bot.strategies.base import Strategy, StrategySummary
from bot.strategies.funding_arbitrage.executor import AtomicExecutor
from bot.strategies.funding_arbitrage.models import Opportunity
from bot.strategies.funding_arbitrage.position_manager import PositionManager
from bot.strategies.funding_arbitrage.scanner import Scanner
from bot.venues.base import FundingCredit, Venue
from helpers.formulas import divergence_pct
from helpers.unified_logger import UnifiedLogger, get_logger
from logging_pipeline.events import OpportunitySkipped, RiskLimitHit

STRATEGY_VERSION = "1.0.0"


class FundingArbitrageStrategy(Strategy):
    """Delta-neutral funding-rate arbitrage across perpetual venues (long cheap funding, short dear funding)."""

    name = "funding_arbitrage"
    version = STRATEGY_VERSION

    def __init__(self, config: StrategyConfig, venues: Mapping[str, Venue]) -> None:
        self._config = config
        self._venues = venues
        self._log: UnifiedLogger = get_logger("bot.strategy")
        self._scanner = Scanner(config, venues, get_logger("bot.scanner"))
        self.metrics = MetricGate(get_logger("bot.metrics"))
        self._executor = AtomicExecutor(venues, get_logger("bot.executor"), self.metrics)
        self._positions = PositionManager(config, venues, self._executor, get_logger("bot.position_manager"))
        self._attempts = 0
        self._opened = 0
        # the resting banner last shown ("scanning" / "monitoring"), None once any other banner was shown since
        self._resting: str | None = None
        self._skips: dict[str, str] = {}
        self._skips_this_cycle: dict[str, str] = {}

    # --- Strategy interface -------------------------------------------------------------------------------

    async def on_cycle(self, now: datetime) -> None:
        """One check: monitor open positions (exits), scan, try entries.

        Banners mark changes, not ticks. The bot *rests* in ``0. 🔎 Scanning`` (no positions) or ``4. 👀
        Monitoring Position`` (positions open; scanning goes on under it): a cycle in which nothing happens emits
        no banner. A cycle that starts not resting (first cycle, or the check just showed exit banners) shows
        ``0. 🔎 Scanning`` before the scan, so the scanner's lines always come under it. After a cycle that
        opened or closed a position: ``6. ✅ Cycle Complete``; then, if anything else was shown during the cycle
        (exit, validation or execution banners), the resting banner again.
        """
        started = time.perf_counter()
        before = set(self._positions.open)
        if before and await self._positions.check(now):
            self._resting = None  # exit banners were shown
        if self._resting is None:
            self._log.stage("0", "🔎", "Scanning", lifecycle="scanning")
            self._resting = "scanning"
        scan_started = time.perf_counter()
        found = self._scanner.scan()
        scan_ms = elapsed_ms(scan_started)
        opened_now = 0
        self._skips_this_cycle = {}
        for opp in found:
            if await self._consider(opp, now, opened_now):
                opened_now += 1
        self._skips = self._skips_this_cycle
        after = set(self._positions.open)
        if after != before:
            self._log.stage("6", "✅", "Cycle Complete", lifecycle="cycle_complete")
            self._resting = None
        steady = "monitoring" if after else "scanning"
        if steady != self._resting:
            self._resting = steady
            if after:
                self._log.stage("4", "👀", "Monitoring Position", lifecycle="monitoring_position")
            else:
                self._log.stage("0", "🔎", "Scanning", lifecycle="scanning")
        self.metrics.record("scan_duration_ms", scan_ms, "ms")
        self.metrics.record("cycle_duration_ms", elapsed_ms(started), "ms")

    def on_funding(self, credits: Sequence[FundingCredit], now: datetime) -> None:
        self._positions.on_funding(credits)

    async def on_stop(self, now: datetime) -> None:
        """End of the data: close every open position (``5. 🚪 Exiting {SYM} • SESSION_END``) and, as after any
        cycle that closed a position, show ``6. ✅ Cycle Complete`` (cycle_complete), so the last banner of a
        completed run is not a stale "Exiting". Nothing open: no banner (the bot rests where it was)."""
        self.metrics.flush()  # the latest measurements, whenever the last batch went out
        before = set(self._positions.open)
        if not before:
            return
        await self._positions.close_all(now, "SESSION_END")
        if set(self._positions.open) != before:
            self._log.stage("6", "✅", "Cycle Complete", lifecycle="cycle_complete")
            self._resting = None

    def open_position_count(self) -> int:
        return len(self._positions.open)

    def summary(self) -> StrategySummary:
        closed = self._positions.closed
        rb_fees = sum((r.fees for r in self._executor.rollbacks), Decimal(0))
        rb_realized = sum((r.realized_pnl for r in self._executor.rollbacks), Decimal(0))
        return StrategySummary(
            positions_opened=self._opened,
            positions_closed=len(closed),
            open_positions=len(self._positions.open),
            symbols_traded=sorted({p.symbol for p in closed} | self._positions.symbols_open()),
            rollbacks=len(self._executor.rollbacks),
            exit_reasons=dict(Counter(p.exit_reason for p in closed if p.exit_reason)),
            realized_pnl=sum((p.realized_pnl for p in closed), Decimal(0)) + rb_realized,
            fees=sum((p.fees for p in closed), Decimal(0)) + rb_fees,
            funding=sum((p.funding for p in closed), Decimal(0)),
            net_pnl=sum((p.net_pnl for p in closed), Decimal(0)) + rb_realized - rb_fees,
            rollback_fees=rb_fees,
            rollback_realized_pnl=rb_realized,
        )

    # --- entry --------------------------------------------------------------------------------------------

    def _repeated(self, opp: Opportunity, reason: str) -> bool:
        """True when ``opp.symbol`` was skipped for the same reason in the previous cycle (not re-reported)."""
        self._skips_this_cycle[opp.symbol] = reason
        return self._skips.get(opp.symbol) == reason

    def _skip(self, opp: Opportunity, reason: str, message: str) -> None:
        if self._repeated(opp, reason):
            return
        self._log.emit(
            OpportunitySkipped(
                symbol=opp.symbol,
                long_venue=opp.long_venue,
                short_venue=opp.short_venue,
                reason=reason,
                net_apr=opp.net_apr,
            ),
            message=f"{opp.symbol}: {message}",
        )

    def _limit(self, opp: Opportunity, limit: str, value: Decimal, limit_value: Decimal, reason: str) -> None:
        if self._skips.get(opp.symbol) == reason:
            self._skips_this_cycle[opp.symbol] = reason
            return
        self._log.emit(
            RiskLimitHit(limit=limit, value=value, limit_value=limit_value, symbol=opp.symbol),
            message=f"{limit} reached ({value} / {limit_value}): {opp.symbol} not opened",
            level="warning",
        )
        self._skip(opp, reason, f"{limit} reached")

    async def _consider(self, opp: Opportunity, now: datetime, opened_now: int) -> bool:
        """Validate, size and try to open ``opp``. Returns ``True`` if a position was opened."""
        cfg = self._config
        sym = opp.symbol
        if sym in self._positions.symbols_open():
            self._skip(opp, "ALREADY_OPEN", "a position in this symbol is already open")
            return False
        n_open = len(self._positions.open)
        if n_open >= cfg.max_positions:
            self._limit(opp, "max_positions", Decimal(n_open), Decimal(cfg.max_positions), "MAX_POSITIONS")
            return False
        if opened_now >= cfg.max_new_positions_per_cycle:
            self._limit(
                opp,
                "max_new_positions_per_cycle",
                Decimal(opened_now),
                Decimal(cfg.max_new_positions_per_cycle),
                "MAX_NEW_PER_CYCLE",
            )
            return False

        self._resting = None
        self._log.stage("1", "📋", f"{sym} • Opportunity Validation", lifecycle="scanning", symbol=sym)
        long_v, short_v = self._venues[opp.long_venue], self._venues[opp.short_venue]
        long_mark, short_mark = long_v.mark_price(sym), short_v.mark_price(sym)
        div = divergence_pct(long_mark, short_mark)
        if abs(div) > cfg.max_entry_price_divergence_pct:
            self._skip(
                opp,
                "DIVERGENCE_TOO_HIGH",
                f"mark divergence {div:.4f}% exceeds {cfg.max_entry_price_divergence_pct}%",
            )
            return False

        self._log.stage(
            "2", "🔍", "Leverage Validation & Normalization", lifecycle="opening_position", symbol=sym
        )
        leverage = min(long_v.leverage, short_v.leverage, cfg.max_leverage)
        notional = cfg.target_margin * leverage
        exposure = self._positions.exposure_usd()
        if exposure + notional > cfg.max_total_exposure_usd:
            self._limit(
                opp,
                "max_total_exposure_usd",
                exposure + notional,
                cfg.max_total_exposure_usd,
                "EXPOSURE_LIMIT",
            )
            return False
        lot = max(long_v.lot_size(sym), short_v.lot_size(sym))
        qty = (notional / long_mark / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
        if qty <= 0:
            self._skip(opp, "BELOW_MIN_SIZE", f"target notional {notional} is below one lot ({lot})")
            return False
        self._log.info(
            f"{sym}: leverage normalized to {leverage}x on {long_v.name}/{short_v.name}; "
            f"notional {notional} USD per leg → qty {qty} (lot {lot})",
            symbol=sym,
            leverage=leverage,
            qty=qty,
        )
        self._attempts += 1
        position_id = f"P{self._attempts:04d}-{sym}"
        position = await self._executor.open_position(position_id, opp, qty, leverage, notional, now)
        if position is None:
            return False
        self._positions.add(position)
        self._opened += 1
        return True


__all__ = ["STRATEGY_VERSION", "FundingArbitrageStrategy"]
