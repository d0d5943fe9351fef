"""Monitor open positions, book funding per leg, and decide and carry out exits.

Every check (one per strategy cycle) computes per position, with ``helpers.formulas``:

* current spread APR from each leg venue's latest known rate (``spread_apr``),
* profit erosion % = (1 − current/entry spread)·100 (``profit_erosion_pct``),
* divergence % = (short mark / long mark − 1)·100 (``divergence_pct``).

Exit rules, first match wins (codes from ``logging_pipeline.events.EXIT_REASONS``):

1. ``TIME_LIMIT``: age ≥ ``max_position_age_hours``;
2. ``SEVERE_EROSION``: erosion ≥ ``severe_erosion_threshold``·100 %, even inside the minimum hold;
3. hold with ``MIN_HOLD_ACTIVE`` while age < ``min_hold_hours``;
4. ``SPREAD_FLIPPED``: current spread < 0 (the funding spread changed sign; not the price divergence; logs
   before issue 11 call it ``DIVERGENCE_FLIPPED``);
5. ``PROFIT_EROSION``: erosion ≥ ``profit_erosion_threshold``·100 %.

Once a close has started (``exit_reason`` set) the rules no longer apply to that position: if a leg could not be
closed, the close is retried with the same reason on every check until both legs are flat, and while exactly one
leg is still open a warning ``log.message`` (fields ``unhedged_venue``, ``unhedged_side``, ``unhedged_qty``) is
emitted on each failed attempt.

``position.updated`` is emitted at most once per check and only when a displayed figure moved (spread by
≥ 0.1 % APR, erosion by ≥ 1 point, divergence by ≥ 0.001 %, or the hold code changed); while the hold code is
``MIN_HOLD_ACTIVE`` it carries ``hold_until``, the market time the minimum hold ends. Funding is booked from
the venues' settlements as ``funding.payment`` per leg, with the expected payment computed by the same formula
at the entry rate.

**Liquidation risk** (config ``risk``, before the exit rules): each leg's liquidation price comes from its venue's
account (``bot.venues.accounts``; published as ``long/short_liquidation_price`` in ``position.updated``) and its
signed distance = side · (mark − LP) / mark · 100 (``formulas.liquidation_distance_pct``; ≤ 0: already past it). Below ``min_liquidation_distance_pct`` (0 = guard off): ``close`` exits
with ``LIQUIDATION_RISK_<VENUE>``; ``rebalance`` moves collateral from the other leg's venue (the winner) to the
at-risk venue — the amount that puts the distance back at 2× the threshold, capped by what the winner can spare
(no unrealized profit, its own holdings kept beyond the threshold), in whole cents — and emits ``position.rebalanced``; if the distance is still below the threshold, the
position is closed as with ``close``. When a venue liquidates a leg anyway (``on_liquidations``), the leg is
booked closed at the liquidation price with the liquidation fee as its exit fee (``position.liquidated``) and
the surviving leg is closed at once (``LIQUIDATION_<VENUE>``), so ``position.closed`` books both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from arbdash.bot.config import RiskConfig, StrategyConfig
from arbdash.bot.strategies.funding_arbitrage.executor import AtomicExecutor
from arbdash.bot.strategies.funding_arbitrage.models import Leg, Position
from arbdash.bot.strategies.legs import book_funding, book_liquidation, start_exit
from arbdash.bot.venues.base import FundingCredit, Venue
from arbdash.helpers.formulas import divergence_pct, liquidation_distance_pct, profit_erosion_pct, spread_apr
from arbdash.helpers.unified_logger import UnifiedLogger
from arbdash.logging_pipeline.events import (
    FundingSettlement,
    PositionClosed,
    PositionRebalanced,
    PositionUpdated,
)

_APR_Q = Decimal("0.00000001")  # APR fraction, 1e-6 %
_PCT_Q = Decimal("0.000001")  # percent
if TYPE_CHECKING:
    from arbdash.bot.venues.paper import Liquidation

_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


class PositionView:
    """The monitored figures of one position at one check (values rounded as published in events)."""

    __slots__ = ("current_spread_apr", "erosion_pct", "divergence_pct")

    def __init__(self, current_spread_apr: Decimal, erosion_pct: Decimal, divergence: Decimal) -> None:
        self.current_spread_apr = current_spread_apr
        self.erosion_pct = erosion_pct
        self.divergence_pct = divergence


class PositionManager:
    """Owns the open positions of the strategy: monitoring, funding bookkeeping and exits."""

    def __init__(
        self,
        config: StrategyConfig,
        venues: Mapping[str, Venue],
        executor: AtomicExecutor,
        log: UnifiedLogger,
        risk: RiskConfig | None = None,
    ) -> None:
        self._config = config
        self._risk = risk or RiskConfig()
        self._venues = venues
        self._executor = executor
        self._log = log
        self.open: dict[str, Position] = {}
        self.closed: list[Position] = []

    # --- queries ------------------------------------------------------------------------------------------

    def exposure_usd(self) -> Decimal:
        """Sum of open positions' exposure (long-leg entry notional, USD)."""
        return sum((p.exposure_usd for p in self.open.values()), Decimal(0))

    def symbols_open(self) -> set[str]:
        return {p.symbol for p in self.open.values()}

    def add(self, position: Position) -> None:
        self.open[position.position_id] = position

    def view(self, position: Position) -> PositionView:
        """Current spread APR, profit erosion % and divergence % of ``position`` (see module docstring)."""
        lq = self._venues[position.long.venue].funding_quote(position.symbol)
        sq = self._venues[position.short.venue].funding_quote(position.symbol)
        current = spread_apr(lq.rate, lq.interval_s, sq.rate, sq.interval_s).quantize(_APR_Q, ROUND_HALF_EVEN)
        erosion = profit_erosion_pct(position.entry_spread_apr, current).quantize(_PCT_Q, ROUND_HALF_EVEN)
        long_mark = self._venues[position.long.venue].mark_price(position.symbol)
        short_mark = self._venues[position.short.venue].mark_price(position.symbol)
        div = divergence_pct(long_mark, short_mark).quantize(_PCT_Q, ROUND_HALF_EVEN)
        return PositionView(current, erosion, div)

    def exit_decision(
        self, position: Position, view: PositionView, now: datetime
    ) -> tuple[str | None, str | None]:
        """``(exit_reason, hold_code)`` by the rules in the module docstring; at most one is not ``None``."""
        cfg = self._config
        age_h = position.age_hours(now)
        if age_h >= cfg.max_position_age_hours:
            return "TIME_LIMIT", None
        if view.erosion_pct >= cfg.severe_erosion_threshold * _HUNDRED:
            return "SEVERE_EROSION", None
        if age_h < cfg.min_hold_hours:
            return None, "MIN_HOLD_ACTIVE"
        if view.current_spread_apr < 0:
            return "SPREAD_FLIPPED", None
        if view.erosion_pct >= cfg.profit_erosion_threshold * _HUNDRED:
            return "PROFIT_EROSION", None
        return None, None

    def hold_until(self, position: Position) -> datetime:
        """When the minimum hold of ``position`` ends: entry + ``min_hold_hours`` (market clock, whole seconds
        rounded up: the first moment ``exit_decision`` no longer holds it with ``MIN_HOLD_ACTIVE``)."""
        seconds = (self._config.min_hold_hours * 3600).to_integral_value(rounding=ROUND_CEILING)
        return position.opened_at + timedelta(seconds=int(seconds))

    # --- per cycle ----------------------------------------------------------------------------------------

    async def check(self, now: datetime) -> int:
        """Monitor every open position (in opening order) and close those an exit rule fires for. A position
        whose close already started (``exit_reason`` set: a leg could not be closed) is retried with that
        reason on every check, whatever the exit rules say now. Returns how many closes were attempted."""
        attempted = 0
        for position in list(self.open.values()):
            view = self.view(position)
            risk_reason: str | None = None
            if position.exit_reason is not None:
                reason, hold = position.exit_reason, None
            else:
                risk_reason = self._guard(position)
                reason, hold = (risk_reason, None) if risk_reason else self.exit_decision(position, view, now)
            long_lp, short_lp = self.liquidation_prices(position)
            key = (
                view.current_spread_apr.quantize(Decimal("0.001")),
                view.erosion_pct.quantize(Decimal(1)),
                view.divergence_pct.quantize(Decimal("0.001")),
                hold,
                long_lp,
                short_lp,
            )
            if key != position.last_update_key:
                position.last_update_key = key
                self._log.emit(
                    PositionUpdated(
                        position_id=position.position_id,
                        symbol=position.symbol,
                        current_spread_apr=view.current_spread_apr,
                        profit_erosion_pct=view.erosion_pct,
                        divergence_pct=view.divergence_pct,
                        hold_code=hold,
                        hold_until=self.hold_until(position) if hold == "MIN_HOLD_ACTIVE" else None,
                        long_liquidation_price=long_lp,
                        short_liquidation_price=short_lp,
                    ),
                    message=f"{position.position_id} spread {view.current_spread_apr * 100:.2f}% APR, erosion "
                    f"{view.erosion_pct:.1f}%, divergence {view.divergence_pct:.4f}%"
                    + (f" [{hold}]" if hold else ""),
                )
            if reason is not None and risk_reason is not None:
                attempted += 1
                await self.close(position, reason, now, detail=self._risk_detail(position))
            elif reason is not None:
                detail = (
                    f"spread {view.current_spread_apr * 100:.2f}% APR vs entry "
                    f"{position.entry_spread_apr * 100:.2f}%, erosion {view.erosion_pct:.1f}%, "
                    f"age {position.age_hours(now):.1f} h"
                )
                attempted += 1
                await self.close(position, reason, now, detail=detail)
        return attempted

    # --- liquidation risk ---------------------------------------------------------------------------------

    def liquidation_prices(self, position: Position) -> tuple[Decimal | None, Decimal | None]:
        """``(long LP, short LP)`` of an open position from its venues' accounts (USD, to the tick); ``None``
        for a closed leg, a venue without accounts, or a leg no price can liquidate."""
        out: list[Decimal | None] = []
        for leg in position.legs:
            get = getattr(self._venues[leg.venue], "liquidation_price", None)
            out.append(get(position.symbol) if get is not None and leg.exit_price is None else None)
        return out[0], out[1]

    def _distances(self, position: Position) -> list[tuple[Decimal, int]]:
        """``(distance %, leg index)`` of each open leg with a liquidation price, nearest first."""
        found = []
        for i, (leg, lp) in enumerate(zip(position.legs, self.liquidation_prices(position), strict=True)):
            mark = self._venues[leg.venue].mark_price(position.symbol)
            if lp is not None and mark > 0:
                found.append((liquidation_distance_pct(leg.side, mark, lp), i))
        return sorted(found)

    def _risk_detail(self, position: Position) -> str:
        near = self._distances(position)
        if not near:
            return "liquidation risk"
        d, i = near[0]
        leg = position.legs[i]
        where = f"{d:.2f}% from" if d > 0 else f"{-d:.2f}% past"
        return (
            f"{leg.venue} {leg.side} leg {where} its liquidation price "
            f"(threshold {self._risk.min_liquidation_distance_pct}%)"
        )

    def _guard(self, position: Position) -> str | None:
        """The liquidation guard (module docstring). Returns ``LIQUIDATION_RISK_<VENUE>`` when the position must
        be closed, ``None`` when no leg is too near (after a rebalance that restored the distance)."""
        threshold = self._risk.min_liquidation_distance_pct
        if threshold <= 0:
            return None
        near = self._distances(position)
        if not near or near[0][0] >= threshold:
            return None
        leg = position.legs[near[0][1]]
        reason = f"LIQUIDATION_RISK_{leg.venue.upper()}"
        rebalance = self._risk.on_liquidation_risk == "rebalance"
        if rebalance and self._rebalance(position, leg, threshold, reason):
            near = self._distances(position)
            if not near or near[0][0] >= threshold:
                return None
        return reason

    def _rebalance(self, position: Position, leg: Leg, threshold: Decimal, reason: str) -> bool:
        """Move collateral from the other leg's venue to ``leg``'s so its distance becomes 2 × ``threshold``
        (as much as the winner can spare, ``VenueAccount.spare_collateral``, whole cents). Returns ``True`` if
        anything moved."""
        other = position.short if leg is position.long else position.long
        loser, winner = self._venues[leg.venue], self._venues[other.venue]
        loser_account = getattr(loser, "account", None)
        winner_account = getattr(winner, "account", None)
        if loser_account is None or winner_account is None:
            return False
        mark = loser.mark_price(position.symbol)
        step = 2 * threshold / _HUNDRED
        target = mark * (1 - step) if leg.side == "long" else mark * (1 + step)
        needed = loser_account.collateral_for(position.symbol, target).quantize(_CENT, rounding=ROUND_CEILING)
        # the winner gives what it can spare: never unrealized profit, and never so much that a holding of its own
        # would come within the threshold (it would be the next one the guard acts on)
        room = winner_account.spare_collateral(threshold).quantize(_CENT, rounding=ROUND_FLOOR)
        amount = min(needed, room)
        if amount <= 0:
            return False
        winner.transfer_collateral(amount, loser)
        self._log.emit(
            PositionRebalanced(
                position_id=position.position_id,
                venue=leg.venue,
                reason=reason,
                amount_usd=amount,
                from_venue=other.venue,
                to_venue=leg.venue,
            ),
            message=f"Rebalanced {position.position_id}: moved {amount} USD of collateral {other.venue} → "
            f"{leg.venue} ({leg.side} leg near its liquidation price"
            + ("" if amount == needed else f"; {needed} wanted, {other.venue} could spare {room}")
            + ")",
            level="warning",
        )
        return True

    async def on_liquidations(self, liquidations: Sequence[Liquidation], now: datetime) -> None:
        """Book legs the venues liquidated (``position.liquidated``) and close each surviving leg at once with
        ``LIQUIDATION_<VENUE>`` (reduce-only), so ``position.closed`` books both legs: the liquidated one at its
        liquidation price with the liquidation fee as its exit fee."""
        hit: list[tuple[Position, str]] = []
        for liq in liquidations:
            match = next(
                (
                    (p, lg)
                    for p in self.open.values()
                    if p.symbol == liq.symbol
                    for lg in p.legs
                    if lg.venue == liq.venue and lg.exit_price is None
                ),
                None,
            )
            if match is None:
                self._log.error(
                    f"{liq.venue} liquidated {liq.side} {liq.qty} {liq.symbol} held by no open position",
                    venue=liq.venue,
                    symbol=liq.symbol,
                )
                continue
            position, leg = match
            event, message = book_liquidation(position.position_id, leg, liq)
            self._log.emit(event, message=message, level="error")
            hit.append((position, f"LIQUIDATION_{liq.venue.upper()}"))
        for position, reason in hit:
            if position.position_id in self.open:
                await self.close(position, reason, now, detail="the other leg was liquidated by its venue")

    async def close_all(self, now: datetime, reason: str) -> None:
        """Close every open position with ``reason`` (e.g. ``SESSION_END``)."""
        for position in list(self.open.values()):
            await self.close(position, reason, now, detail="end of the market data window")

    async def close(
        self, position: Position, reason: str, now: datetime, *, detail: str | None = None
    ) -> bool:
        """Exit both legs with reduce-only orders and emit ``position.closed``. Returns ``False`` if a leg could
        not be closed (it stays open and ``check`` retries it on every call, regardless of the exit rules).
        ``reason`` only counts on the first call: a retry keeps the position's ``exit_reason``."""
        sym = position.symbol
        position.exit_reason = start_exit(
            self._log, position.position_id, sym, reason, position.exit_reason, detail
        )
        for leg in position.legs:
            if leg.exit_price is not None:
                continue
            fill = await self._executor.close_leg(position.position_id, sym, leg)
            if fill is None:
                self._log.error(
                    f"Could not close {leg.venue} {leg.side} leg of {position.position_id}",
                    position_id=position.position_id,
                )
                self._warn_unhedged(position)
                return False
            leg.exit_price = fill.price
            leg.exit_fee = fill.fee
        position.closed_at = now
        del self.open[position.position_id]
        self.closed.append(position)
        self._log.emit(
            PositionClosed(
                position_id=position.position_id,
                symbol=position.symbol,
                reason=position.exit_reason,
                realized_pnl=position.realized_pnl,
                fees=position.fees,
                funding=position.funding,
                net_pnl=position.net_pnl,
                hold_s=position.age_s(now),
            ),
            message=f"Closed {position.position_id} {sym} ({position.exit_reason}): net {position.net_pnl:.2f} USD "
            f"(price {position.realized_pnl:.2f}, funding {position.funding:.2f}, fees {position.fees:.2f})",
        )
        return True

    def _warn_unhedged(self, position: Position) -> None:
        """Warn (a ``log.message`` with fields) when one leg of ``position`` is closed and the other is not: the
        book is no longer delta-neutral until the next check closes the open leg."""
        open_legs = [leg for leg in position.legs if leg.exit_price is None]
        closed_legs = [leg for leg in position.legs if leg.exit_price is not None]
        if len(open_legs) != 1 or not closed_legs:
            return
        (leg,) = open_legs
        self._log.warning(
            f"UNHEDGED {position.position_id} {position.symbol}: {leg.venue} {leg.side} {leg.qty} still open, "
            f"{closed_legs[0].venue} leg closed; retrying the close ({position.exit_reason}) every check",
            position_id=position.position_id,
            symbol=position.symbol,
            unhedged_venue=leg.venue,
            unhedged_side=leg.side,
            unhedged_qty=leg.qty,
            closed_venue=closed_legs[0].venue,
            exit_reason=position.exit_reason,
        )

    def on_funding(self, credits: Sequence[FundingCredit]) -> None:
        """Book venue funding settlements on the matching open legs: ``funding.payment`` per leg, then one
        ``funding.settlement`` per position that was paid (both legs' payments, rates and the mark divergence)."""
        settled: dict[str, dict[str, FundingCredit]] = {}
        for credit in credits:
            for position in self.open.values():
                if position.symbol != credit.symbol:
                    continue
                for leg in position.legs:
                    if leg.venue != credit.venue or leg.exit_price is not None:
                        continue
                    event, message = book_funding(position.position_id, leg, credit)
                    settled.setdefault(position.position_id, {})[leg.side] = credit
                    self._log.emit(event, message=message)
        for position_id, by_side in settled.items():
            self._emit_settlement(self.open[position_id], by_side)

    def _emit_settlement(self, position: Position, by_side: dict[str, FundingCredit]) -> None:
        long_c, short_c = by_side.get("long"), by_side.get("short")
        long_v, short_v = self._venues[position.long.venue], self._venues[position.short.venue]
        long_pay = long_c.payment if long_c else Decimal(0)
        short_pay = short_c.payment if short_c else Decimal(0)
        div = divergence_pct(long_v.mark_price(position.symbol), short_v.mark_price(position.symbol))
        self._log.emit(
            FundingSettlement(
                position_id=position.position_id,
                symbol=position.symbol,
                long_venue=position.long.venue,
                short_venue=position.short.venue,
                long_payment=long_pay,
                short_payment=short_pay,
                net_payment=long_pay + short_pay,
                long_rate=long_c.rate if long_c else None,
                short_rate=short_c.rate if short_c else None,
                divergence_pct=div,
            ),
            message=f"Funding {position.position_id}: net {long_pay + short_pay:+.4f} USD "
            f"(long {long_pay:+.4f}, short {short_pay:+.4f}), divergence {div:+.4f}%",
        )


__all__ = ["PositionManager", "PositionView"]
