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

A limit that stops an entry emits ``risk.limit_hit`` and ``opportunity.skipped`` with the reason code; an entry
whose leg would start inside the liquidation guard's threshold is skipped with ``LIQUIDATION_RISK``.

Operator commands (``control.commands``) run through ``execute`` at the runner's safe points: between cycles,
never inside ``on_cycle`` (so never between the two legs of an entry or an exit). ``pause_entries`` keeps the
scan going (the dashboard still sees the opportunities, skipped with ``ENTRIES_PAUSED``) and opens nothing;
``close_position`` / ``flatten_all`` exit with ``OPERATOR_CLOSE`` (flatten also pauses entries, so the book
stays flat); ``set_limit`` replaces ``max_positions`` / ``max_total_exposure_usd`` for the rest of the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from arbdash.bot.config import RiskConfig, StrategyConfig
from arbdash.bot.metrics import MetricGate, elapsed_ms
from arbdash.bot.strategies.base import SessionLimits, Strategy, StrategySummary, apply_limit, switch_entries
from arbdash.bot.strategies.funding_arbitrage.executor import AtomicExecutor
from arbdash.bot.strategies.funding_arbitrage.models import Opportunity
from arbdash.bot.strategies.funding_arbitrage.position_manager import PositionManager
from arbdash.bot.strategies.funding_arbitrage.scanner import Scanner
from arbdash.bot.venues.base import FundingCredit, Venue
from arbdash.control.commands import (
    ClosePosition,
    Command,
    FlattenAll,
    Outcome,
    PauseEntries,
    ResumeEntries,
    SetLimit,
)
from arbdash.helpers.formulas import divergence_pct, liquidation_distance_pct
from arbdash.helpers.unified_logger import UnifiedLogger, get_logger
from arbdash.logging_pipeline.events import NET_APR_ENTRY, OpportunitySkipped, RiskLimitHit

if TYPE_CHECKING:
    from arbdash.bot.venues.paper import Liquidation

STRATEGY_VERSION = "1.0.0"


class FundingArbitrageStrategy(Strategy):
    """Delta-neutral funding-rate arbitrage across perpetual venues (long cheap funding, short dear funding)."""

    name = "funding_arbitrage"
    version = STRATEGY_VERSION
    entry_rule = NET_APR_ENTRY  # enter on a net funding APR at or above min_profit_rate

    def __init__(
        self,
        config: StrategyConfig,
        venues: Mapping[str, Venue],
        risk: RiskConfig | None = None,
        *,
        session: SessionLimits | None = None,
        attempt_ids: Iterator[int] | None = None,
    ) -> None:
        """``risk``: the liquidation guard (``bot.config.RiskConfig``; default: its defaults). ``session``: the
        session-wide limits shared with the other instances (``SESSION_MAX_POSITIONS`` /
        ``SESSION_EXPOSURE_LIMIT`` when reached); ``attempt_ids``: the entry-attempt numbers shared with them, so
        position ids (``P0001-BTC``) are unique across instances (default: this instance's own count)."""
        self._instance(config, venues, session, attempt_ids)
        self._log: UnifiedLogger = get_logger("bot.strategy")
        self._scanner = Scanner(config, venues, get_logger("bot.scanner"))
        self.metrics = MetricGate(get_logger("bot.metrics"))
        self._executor = AtomicExecutor(venues, get_logger("bot.executor"), self.metrics)
        self._positions = PositionManager(
            config, venues, self._executor, get_logger("bot.position_manager"), risk
        )
        self._risk = risk
        self._attempts = 0
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

    async def on_liquidations(self, liquidations: Sequence[Liquidation], now: datetime) -> None:
        """Book the venues' liquidations and close the surviving legs in this same cycle
        (``PositionManager.on_liquidations``)."""
        if not liquidations:
            return
        before = set(self._positions.open)
        await self._positions.on_liquidations(liquidations, now)
        if set(self._positions.open) != before:
            self._log.stage("6", "✅", "Cycle Complete", lifecycle="cycle_complete")
            self._resting = None

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

    def exposure_usd(self) -> Decimal:
        return self._positions.exposure_usd()

    def holds(self, position_id: str) -> bool:
        return position_id in self._positions.open or any(
            p.position_id == position_id for p in self._positions.closed
        )

    def summary(self) -> StrategySummary:
        return StrategySummary.of(
            self._opened,
            self._positions.closed,
            list(self._positions.open.values()),
            self._executor.rollbacks,
        )

    async def execute(self, command: Command, now: datetime) -> Outcome:
        """Carry out an operator command at market time ``now`` (the runner calls this between cycles only).
        Returns the ``Outcome``; a command that cannot apply is ``Outcome.rejected`` with a reason code
        (``UNKNOWN_POSITION``, ``ALREADY_CLOSING``, ``ALREADY_CLOSED``, ``BAD_VALUE``), never an exception."""
        if isinstance(command, PauseEntries | ResumeEntries):
            return switch_entries(self, command)
        if isinstance(command, ClosePosition):
            return await self._operator_close(command.position_id, now)
        if isinstance(command, FlattenAll):
            self.entries_paused = True
            closed: list[str] = []
            retrying: list[str] = []
            for position in list(self._positions.open.values()):
                if position.exit_reason is not None:
                    retrying.append(position.position_id)  # its exit is under way: no second order
                    continue
                await self._positions.close(position, "OPERATOR_CLOSE", now, detail="operator: flatten all")
                (closed if position.position_id not in self._positions.open else retrying).append(
                    position.position_id
                )
            self._after_operator_exit(closed)
            message = f"closed {len(closed)} position{'s' if len(closed) != 1 else ''}"
            if retrying:
                message += f"; {', '.join(retrying)} still closing (retried every check)"
            return Outcome(
                "executed", message + "; entries paused", position_ids=tuple(closed), entries_paused=True
            )
        if isinstance(command, SetLimit):
            return apply_limit(self, command)
        return Outcome.rejected("FAILED", f"{type(command).__name__} is not a command this strategy knows")

    def _starts_near_liquidation(self, opp: Opportunity, qty: Decimal) -> str | None:
        """Why an entry of ``qty`` would start too near its liquidation price, or ``None``: with the guard on
        (``risk.min_liquidation_distance_pct`` > 0), a leg whose projected liquidation price (its venue's account
        after the fill at the current mark) is already within the threshold would be closed (or rebalanced) by
        the guard at its first check — two fills and their fees for nothing. Skipped as ``LIQUIDATION_RISK``."""
        threshold = self._risk.min_liquidation_distance_pct if self._risk is not None else Decimal(0)
        if threshold <= 0:
            return None
        for name, side in ((opp.long_venue, "buy"), (opp.short_venue, "sell")):
            venue = self._venues[name]
            project = getattr(venue, "projected_liquidation_price", None)
            if project is None:
                continue
            mark = venue.mark_price(opp.symbol)
            lp = project(opp.symbol, side, qty)
            d = liquidation_distance_pct(side, mark, lp) if lp is not None and mark > 0 else None
            if d is not None and d < threshold:
                return (
                    f"the {name} leg would start {d:.2f}% from its liquidation price "
                    f"(the guard acts below {threshold}%)"
                )
        return None

    async def _operator_close(self, position_id: str, now: datetime) -> Outcome:
        position = self._positions.open.get(position_id)
        if position is None:
            if any(p.position_id == position_id for p in self._positions.closed):
                return Outcome.rejected("ALREADY_CLOSED", f"{position_id} is closed already")
            return Outcome.rejected("UNKNOWN_POSITION", f"no open position {position_id!r} in this session")
        if position.exit_reason is not None:
            return Outcome.rejected(
                "ALREADY_CLOSING",
                f"{position_id} is already closing ({position.exit_reason}); no second order placed",
            )
        await self._positions.close(position, "OPERATOR_CLOSE", now, detail="operator: close position")
        if position_id in self._positions.open:
            self._after_operator_exit([])
            return Outcome(
                "executed",
                f"{position_id}: a leg could not be closed; the exit (OPERATOR_CLOSE) is retried every check",
            )
        self._after_operator_exit([position_id])
        return Outcome(
            "executed", f"{position_id} closed (net {position.net_pnl:.2f} USD)", position_ids=(position_id,)
        )

    def _after_operator_exit(self, closed: list[str]) -> None:
        """Banners after exits outside a cycle: as a cycle that closed positions ends (``6. ✅ Cycle Complete``),
        then the resting banner again at the next cycle."""
        if closed:
            self._log.stage("6", "✅", "Cycle Complete", lifecycle="cycle_complete")
        self._resting = None

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
        if self.entries_paused:
            self._skip(opp, "ENTRIES_PAUSED", "entries paused by the operator")
            return False
        n_open = len(self._positions.open)
        if n_open >= self.max_positions:
            self._limit(opp, "max_positions", Decimal(n_open), Decimal(self.max_positions), "MAX_POSITIONS")
            return False
        book = self._session
        if book is not None and (n_all := book.open_positions()) >= book.max_positions:
            self._limit(
                opp,
                "limits.max_positions",
                Decimal(n_all),
                Decimal(book.max_positions),
                "SESSION_MAX_POSITIONS",
            )
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
        if exposure + notional > self.max_total_exposure_usd:
            self._limit(
                opp,
                "max_total_exposure_usd",
                exposure + notional,
                self.max_total_exposure_usd,
                "EXPOSURE_LIMIT",
            )
            return False
        if (
            book is not None
            and (all_exposure := book.exposure_usd()) + notional > book.max_total_exposure_usd
        ):
            self._limit(
                opp,
                "limits.max_total_exposure_usd",
                all_exposure + notional,
                book.max_total_exposure_usd,
                "SESSION_EXPOSURE_LIMIT",
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
        if (why := self._starts_near_liquidation(opp, qty)) is not None:
            self._skip(opp, "LIQUIDATION_RISK", why)
            return False
        self._attempts += 1
        position_id = f"P{next(self._ids):04d}-{sym}"
        position = await self._executor.open_position(position_id, opp, qty, leverage, notional, now)
        if position is None:
            return False
        self._positions.add(position)
        self._opened += 1
        return True


__all__ = ["STRATEGY_VERSION", "FundingArbitrageStrategy"]
