"""Atomic two-leg execution: open both legs of a delta-neutral position or neither, and close positions.

Opening (stages ``3. 🧨 Atomic Multi-Order Execution`` → ``3.1 🔍 Pre-flight Checks`` → ``3.2 🚀 Order
Placement``): both market orders are sent together (equal base ``qty``: buy on the long venue, sell on the short
venue). If exactly one leg is rejected, the filled leg is closed again with a reduce-only order and
``execution.rollback`` is emitted, so the book is flat. Closing sends reduce-only market orders on both legs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from arbdash.bot.metrics import MetricGate, elapsed_ms
from arbdash.bot.strategies.funding_arbitrage.models import Leg, Opportunity, Position
from arbdash.bot.strategies.legs import leg_open
from arbdash.bot.venues.base import Fill, OrderRejectedError, OrderSide, Venue
from arbdash.helpers.formulas import margin_for, realized_pnl
from arbdash.helpers.unified_logger import UnifiedLogger
from arbdash.logging_pipeline.events import (
    ExecutionRollback,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    PositionOpened,
)

CLOSE_ATTEMPTS = 3


@dataclass(slots=True)
class RollbackCost:
    """What one rolled-back entry attempt cost (USD): the fees of every fill it took (the entries and their
    reduce-only closes) and the price PnL of those round trips."""

    fees: Decimal
    realized_pnl: Decimal


class AtomicExecutor:
    """Places and unwinds orders through the ``Venue`` interface, emitting order and position events."""

    def __init__(
        self, venues: Mapping[str, Venue], log: UnifiedLogger, metrics: MetricGate | None = None
    ) -> None:
        """``metrics``: where the time a two-leg placement takes goes (``order_latency_ms``), if anywhere."""
        self._venues = venues
        self._log = log
        self._metrics = metrics
        self.rollbacks: list[RollbackCost] = []

    async def open_position(
        self,
        position_id: str,
        opp: Opportunity,
        qty: Decimal,
        leverage: Decimal,
        target_exposure_usd: Decimal,
        now: datetime,
    ) -> Position | None:
        """Open long ``opp.long_venue`` / short ``opp.short_venue`` for ``qty`` base units at ``leverage``.

        Returns the ``Position`` when both legs filled, ``None`` when pre-flight failed or a leg was rejected or
        raised (after rolling back the other).
        """
        sym = opp.symbol
        self._log.stage(
            "3",
            "🧨",
            "Atomic Multi-Order Execution",
            lifecycle="opening_position",
            symbol=sym,
            position_id=position_id,
        )
        self._log.stage(
            "3.1",
            "🔍",
            "Pre-flight Checks",
            lifecycle="opening_position",
            symbol=sym,
            position_id=position_id,
        )
        long_v, short_v = self._venues[opp.long_venue], self._venues[opp.short_venue]
        problem = self.preflight(sym, [(long_v, "buy", qty), (short_v, "sell", qty)])
        if problem:
            self._log.warning(f"Pre-flight failed for {sym}: {problem}", position_id=position_id, symbol=sym)
            return None
        self._log.info(
            f"Pre-flight OK: {sym} qty {qty} on {long_v.name} (long) and {short_v.name} (short)",
            position_id=position_id,
            symbol=sym,
        )
        self._log.stage(
            "3.2", "🚀", "Order Placement", lifecycle="opening_position", symbol=sym, position_id=position_id
        )
        fills = await self.place_legs(
            position_id, sym, [(long_v, "buy", qty), (short_v, "sell", qty)], leverage
        )
        if fills is None:
            return None
        long_fill, short_fill = fills
        return self._opened(position_id, opp, long_fill, short_fill, leverage, target_exposure_usd, now)

    async def place_legs(
        self,
        position_id: str,
        symbol: str,
        legs: Sequence[tuple[Venue, OrderSide, Decimal]],
        leverage: Decimal,
    ) -> list[Fill] | None:
        """Send every leg's market order together (``(venue, side, qty)``, qty in base units) at ``leverage``:
        all or nothing. Returns the fills in ``legs`` order when every leg filled; otherwise closes the legs that
        did fill again (reduce-only), emits ``execution.rollback`` and returns ``None``. A cancellation or
        interrupt while the orders are out is re-raised once the book is flat again."""
        for v, _, _ in legs:  # the venues hold initial margin at the position's leverage
            set_leverage = getattr(v, "set_leverage", None)
            if set_leverage is not None:
                set_leverage(symbol, leverage)
        order_ids = [self._place(position_id, symbol, v, side, q, reduce_only=False) for v, side, q in legs]
        placed = time.perf_counter()
        results = await asyncio.gather(
            *(
                v.market_order(symbol, side, q, order_id=oid)
                for (v, side, q), oid in zip(legs, order_ids, strict=True)
            ),
            return_exceptions=True,
        )
        if self._metrics is not None:  # every leg answered (filled or not): the round trip, wall clock
            self._metrics.record("order_latency_ms", elapsed_ms(placed), "ms")
        fills: list[Fill] = []
        failures: list[tuple[Venue, str]] = []  # (venue, rollback reason) per leg that did not fill
        fatal: BaseException | None = None  # cancellation/interrupt: re-raised once the book is flat again
        # Every result is handled before anything is rolled back or raised: a fill is always logged, whatever
        # happened on the other legs.
        for (venue, side, q), oid, result in zip(legs, order_ids, results, strict=True):
            if isinstance(result, OrderRejectedError):
                self._log.emit(
                    OrderRejected(
                        order_id=oid,
                        position_id=position_id,
                        venue=venue.name,
                        symbol=symbol,
                        side=side,
                        qty=q,
                        reason=result.reason,
                    ),
                    message=f"{venue.name} {side} {q} {symbol} rejected: {result.reason}",
                    level="warning",
                )
                failures.append((venue, "LEG_REJECTED"))
            elif isinstance(result, BaseException):
                self._log.error(
                    f"{venue.name} {side} {q} {symbol} failed: {type(result).__name__}: {result}",
                    position_id=position_id,
                    symbol=symbol,
                    venue=venue.name,
                    order_id=oid,
                    exc_info=result,
                )
                failures.append((venue, "LEG_ERROR"))
                if not isinstance(result, Exception) and fatal is None:
                    fatal = result
            else:
                self._filled(position_id, result)
                fills.append(result)
        if not failures:
            return fills
        if not fills:
            self._log.warning(f"No leg of {symbol} filled; nothing to roll back", position_id=position_id)
        else:
            failed, reason = failures[0]
            await self._rollback(position_id, symbol, fills, failed=failed, reason=reason)
        if fatal is not None:
            raise fatal
        return None

    async def close_leg(self, position_id: str, symbol: str, leg: Leg) -> Fill | None:
        """Close ``leg`` with a reduce-only market order (up to ``CLOSE_ATTEMPTS`` tries; a rejection or any
        venue error counts as a failed try). Returns the fill, or ``None`` if every attempt failed (the leg stays
        open and is retried next cycle)."""
        venue = self._venues[leg.venue]
        side: OrderSide = leg.order_side_to_close
        for _ in range(CLOSE_ATTEMPTS):
            oid = self._place(position_id, symbol, venue, side, leg.qty, reduce_only=True)
            try:
                fill = await venue.market_order(symbol, side, leg.qty, order_id=oid, reduce_only=True)
            except OrderRejectedError as err:
                self._log.emit(
                    OrderRejected(
                        order_id=oid,
                        position_id=position_id,
                        venue=venue.name,
                        symbol=symbol,
                        side=side,
                        qty=leg.qty,
                        reason=err.reason,
                    ),
                    message=f"{venue.name} reduce-only {side} {leg.qty} {symbol} rejected: {err.reason}",
                    level="warning",
                )
                continue
            except Exception as err:  # a transient venue error: reduce-only is safe to retry
                self._log.error(
                    f"{venue.name} reduce-only {side} {leg.qty} {symbol} failed: {type(err).__name__}: {err}",
                    position_id=position_id,
                    symbol=symbol,
                    venue=venue.name,
                    order_id=oid,
                    exc_info=err,
                )
                continue
            self._filled(position_id, fill)
            return fill
        return None

    # --- internals ----------------------------------------------------------------------------------------

    @staticmethod
    def preflight(symbol: str, legs: Sequence[tuple[Venue, OrderSide, Decimal]]) -> str | None:
        """Why ``legs`` (``(venue, side, qty)``) cannot be opened as one position, else ``None``: two legs on one
        venue, a qty that is not a positive multiple of the venue's lot, or a venue that already holds the
        symbol (a leg a failed rollback left behind: a new leg would net with it on the venue's account)."""
        names = [v.name for v, _, _ in legs]
        if len(set(names)) != len(names):
            return "two legs on the same venue"
        for v, _, qty in legs:
            if qty < v.lot_size(symbol) or qty % v.lot_size(symbol) != 0:
                return f"qty {qty} is not a positive multiple of {v.name} lot {v.lot_size(symbol)}"
            if v.position_qty(symbol) != 0:
                return f"{v.name} already holds {v.position_qty(symbol)} {symbol}"
        return None

    def _place(
        self, position_id: str, symbol: str, venue: Venue, side: OrderSide, qty: Decimal, *, reduce_only: bool
    ) -> str:
        oid = venue.next_order_id()
        self._log.emit(
            OrderPlaced(
                order_id=oid,
                position_id=position_id,
                venue=venue.name,
                symbol=symbol,
                side=side,
                qty=qty,
                ref_price=venue.mark_price(symbol),
                reduce_only=reduce_only,
            ),
            message=f"{venue.name} market {side} {qty} {symbol}{' (reduce-only)' if reduce_only else ''}",
        )
        return oid

    def _filled(self, position_id: str, fill: Fill) -> None:
        self._log.emit(
            OrderFilled(
                order_id=fill.order_id,
                position_id=position_id,
                venue=fill.venue,
                symbol=fill.symbol,
                side=fill.side,
                qty=fill.qty,
                price=fill.price,
                fee=fill.fee,
                fee_rate=fill.fee_rate,
                slippage_bps=fill.slippage_bps,
                reduce_only=fill.reduce_only,
            ),
            message=f"{fill.venue} {fill.side} {fill.qty} {fill.symbol} @ {fill.price} fee {fill.fee:.4f}",
        )

    async def _rollback(
        self, position_id: str, symbol: str, filled: Sequence[Fill], failed: Venue, reason: str
    ) -> None:
        """Close the ``filled`` legs again (reduce-only) because ``failed``'s leg did not fill (``reason``:
        ``LEG_REJECTED`` or ``LEG_ERROR``); emits ``execution.rollback``."""
        rolled: list[str] = []
        stuck: list[str] = []
        cost = RollbackCost(fees=Decimal(0), realized_pnl=Decimal(0))  # one attempt, however many legs
        for fill in filled:
            leg_side = "long" if fill.side == "buy" else "short"
            leg = Leg(
                venue=fill.venue,
                side=leg_side,
                qty=fill.qty,
                entry_price=fill.price,
                notional=fill.qty * fill.price,
                entry_fee=fill.fee,
                leverage=Decimal(1),
                margin=fill.qty * fill.price,
                entry_rate=Decimal(0),
                interval_s=1,
            )
            close = await self.close_leg(position_id, symbol, leg)
            if close is None:
                stuck.append(fill.venue)
                continue
            rolled.append(fill.venue)
            cost.fees += fill.fee + close.fee
            cost.realized_pnl += realized_pnl(leg_side, fill.qty, fill.price, close.price)
        if rolled:
            self.rollbacks.append(cost)
        self._log.emit(
            ExecutionRollback(
                position_id=position_id,
                symbol=symbol,
                failed_venue=failed.name,
                rolled_back_venues=rolled,
                reason=reason,
            ),
            message=f"Rollback {symbol}: {failed.name} leg {'rejected' if reason == 'LEG_REJECTED' else 'failed'}, "
            + (f"closed {' and '.join(rolled)} leg{'s' if len(rolled) > 1 else ''}" if rolled else "")
            + (f"{'; ' if rolled else ''}could NOT close {' and '.join(stuck)} leg" if stuck else ""),
            level="error" if stuck else "warning",
        )

    def _opened(
        self,
        position_id: str,
        opp: Opportunity,
        long_fill: Fill,
        short_fill: Fill,
        leverage: Decimal,
        target_exposure_usd: Decimal,
        now: datetime,
    ) -> Position:
        def leg(fill: Fill, side: str, rate: Decimal, interval_s: int) -> Leg:
            notional = fill.qty * fill.price
            return Leg(
                venue=fill.venue,
                side=side,
                qty=fill.qty,
                entry_price=fill.price,
                notional=notional,
                entry_fee=fill.fee,
                leverage=leverage,
                margin=margin_for(notional, leverage),
                entry_rate=rate,
                interval_s=interval_s,
            )

        pos = Position(
            position_id=position_id,
            symbol=opp.symbol,
            long=leg(long_fill, "long", opp.long_rate, opp.long_interval_s),
            short=leg(short_fill, "short", opp.short_rate, opp.short_interval_s),
            opened_at=now,
            entry_spread_apr=opp.spread_apr,
            target_exposure_usd=target_exposure_usd,
        )
        self._log.emit(
            PositionOpened(
                position_id=position_id,
                symbol=opp.symbol,
                long_venue=opp.long_venue,
                short_venue=opp.short_venue,
                legs=[leg_open(lg) for lg in pos.legs],
                target_exposure_usd=target_exposure_usd,
                filled_exposure_usd=pos.exposure_usd,
                entry_spread_apr=opp.spread_apr,
                entry_long_rate=opp.long_rate,
                entry_short_rate=opp.short_rate,
            ),
            message=f"Opened {opp.symbol} {opp.long_venue} long / {opp.short_venue} short, qty {long_fill.qty}",
        )
        return pos


__all__ = ["AtomicExecutor", "RollbackCost"]
