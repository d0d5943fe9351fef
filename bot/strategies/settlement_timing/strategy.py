"""Settlement timing: carry the 8-hourly venues' funding through their settlements, hedged on the hourly venue.

Binance and Bybit settle perpetual funding every 8 hours (00:00, 08:00, 16:00 UTC) and pay the whole interval to
whoever holds the position at that instant; Hyperliquid settles every hour (its rate is per hour). A position
held across an 8-hourly settlement therefore earns the full 8-hour payment on its settling legs however briefly
it was held before, while its hourly leg pays only for the hours it was actually held. This strategy uses that
timing:

* **entry only in the hour before a settlement** of the settling venues (``next_funding_ts − 1 h``): the first
  payment arrives one hour later, against one hourly payment on the hedge;
* **exit only right after a settlement**, when the next one no longer pays for the hourly leg's eight payments
  (``CARRY_FADED``) or after ``max_settlements`` (``MAX_SETTLEMENTS``): no interval is left half accrued;
* **legs**: one per settling venue on the side their rates pay (short when their next rate is positive: longs
  pay shorts), the base quantity split equally, and one leg on the hourly venue on the other side for the sum:
  three legs with Binance and Bybit, delta-neutral in base units.

The window's figures (``settlement.window``): ``edge_usd`` = d · N · (mean settling rate − m · hourly rate) per
settlement (d = +1 short settling, −1 long settling; N the hourly leg's notional; m the hedge's payments between
two settlements, 8 with Binance/Bybit and Hyperliquid; the hourly venue's current rate taken for all of them), ``fees_usd`` = Σ over legs of notional · (taker fee + slippage) · 2 (a
round trip). It enters when every settling rate reaches ``min_settlement_rate`` in the carried direction and
``edge_usd · expected_settlements ≥ fees_usd``. Funding payments follow the venues' convention
(``helpers.formulas.funding_payment``: a long pays a positive rate). Money in USD, ``Decimal`` throughout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from arbdash.bot.config import RiskConfig, SettlementTimingConfig
from arbdash.bot.metrics import MetricGate
from arbdash.bot.strategies.base import SessionLimits, Strategy, StrategySummary, apply_limit, switch_entries
from arbdash.bot.strategies.funding_arbitrage.executor import AtomicExecutor
from arbdash.bot.strategies.funding_arbitrage.models import Leg
from arbdash.bot.strategies.legs import book_funding, book_liquidation, leg_open, start_exit
from arbdash.bot.venues.base import FundingCredit, OrderSide, Venue
from arbdash.control.commands import (
    ClosePosition,
    Command,
    FlattenAll,
    Outcome,
    PauseEntries,
    ResumeEntries,
    SetLimit,
)
from arbdash.helpers.formulas import divergence_pct, margin_for
from arbdash.helpers.unified_logger import UnifiedLogger, get_logger
from arbdash.logging_pipeline.events import (
    PositionClosed,
    PositionOpened,
    PositionUpdated,
    RiskLimitHit,
    SettlementWindow,
)

STRATEGY_VERSION = "1.0.0"
_HOUR = timedelta(hours=1)
_BP = Decimal("0.0001")


@dataclass(slots=True)
class TimedPosition:
    """A position of this strategy: ``legs`` (settling venues first, the hourly hedge last), ``direction`` +1
    (short the settling venues) or −1 (long them); ``captured``: settlements the settling legs were paid at;
    ``settled_at``: the last of them (the exit rule runs once per settlement)."""

    position_id: str
    symbol: str
    legs: list[Leg]
    direction: int
    opened_at: datetime
    captured: int = 0
    settled_at: datetime | None = None
    reviewed_at: datetime | None = None
    exit_reason: str | None = None
    edge_usd: Decimal = Decimal(0)

    @property
    def exposure_usd(self) -> Decimal:
        """The hourly leg's entry notional (USD): what ``max_total_exposure_usd`` counts."""
        return self.legs[-1].notional

    @property
    def fees(self) -> Decimal:
        return sum((leg.entry_fee + leg.exit_fee for leg in self.legs), Decimal(0))

    @property
    def funding(self) -> Decimal:
        return sum((leg.funding for leg in self.legs), Decimal(0))

    @property
    def realized_pnl(self) -> Decimal:
        return sum((leg.realized for leg in self.legs), Decimal(0))

    @property
    def net_pnl(self) -> Decimal:
        """``realized_pnl + funding − fees`` (USD)."""
        return self.realized_pnl + self.funding - self.fees


@dataclass(frozen=True, slots=True)
class Window:
    """One symbol's look at the next settlement (module docstring for the figures)."""

    symbol: str
    settles_at: datetime
    direction: int
    rates: dict[str, Decimal]
    hourly_rate: Decimal
    edge_usd: Decimal
    fees_usd: Decimal


class SettlementTimingStrategy(Strategy):
    """Carry the 8-hourly venues' funding through their settlements, hedged hourly (module docstring)."""

    name = "settlement_timing"
    version = STRATEGY_VERSION
    entry_rule = "settlement_window"  # enter in the hour before a settlement on the carry, not on an APR

    def __init__(
        self,
        config: SettlementTimingConfig,
        venues: Mapping[str, Venue],
        risk: RiskConfig | None = None,
        *,
        session: SessionLimits | None = None,
        attempt_ids: Iterator[int] | None = None,
    ) -> None:
        """``venues``: every venue of the session (this instance uses ``config.scan_exchanges``); ``risk`` is
        accepted for the common constructor (the paper venues' liquidation still applies: ``on_liquidations``);
        ``session`` / ``attempt_ids`` as for ``FundingArbitrageStrategy``."""
        self._instance(config, venues, session, attempt_ids)
        self._log: UnifiedLogger = get_logger("bot.settlement_timing")
        self.metrics = MetricGate(get_logger("bot.metrics"))
        self._executor = AtomicExecutor(venues, get_logger("bot.executor"), self.metrics)
        self.open: dict[str, TimedPosition] = {}
        self.closed: list[TimedPosition] = []

    # --- the runner's calls -------------------------------------------------------------------------------

    async def on_cycle(self, now: datetime) -> None:
        """Review positions right after a settlement (exits), retry unfinished exits, update every position, then
        look at the hour before the next settlement (entries)."""
        for pos in list(self.open.values()):
            if pos.exit_reason is not None:
                await self._close(pos, pos.exit_reason, now)
            elif pos.settled_at is not None and pos.reviewed_at != pos.settled_at:
                pos.reviewed_at = pos.settled_at
                await self._review(pos, now)
        for pos in self.open.values():
            self._update(pos, now)
        for symbol in self._config.symbols:
            window = self._window(symbol, now)
            if window is not None:
                await self._consider(window, now)
        self._rest()
        self.metrics.flush()

    def on_funding(self, credits: Sequence[FundingCredit], now: datetime) -> None:
        """Book each venue's settlement on the matching open leg (``funding.payment``); a payment on a settling
        leg counts the settlement as captured."""
        settling = set(self._config.settling_venues)
        for credit in credits:
            for pos in self.open.values():
                if pos.symbol != credit.symbol:
                    continue
                for leg in pos.legs:
                    if leg.venue != credit.venue or leg.exit_price is not None:
                        continue
                    event, message = book_funding(pos.position_id, leg, credit)
                    if (
                        credit.venue in settling and credit.settled_at != pos.settled_at
                    ):  # once per settlement
                        pos.captured += 1
                        pos.settled_at = credit.settled_at
                    self._log.emit(event, message=message)

    async def on_liquidations(self, liquidations: Sequence[Any], now: datetime) -> None:
        """A leg the venue liquidated is booked at its liquidation price with the liquidation fee; the others
        are closed in this same cycle (``LIQUIDATION_<VENUE>``)."""
        for liq in liquidations:
            pos = next(
                (
                    p
                    for p in self.open.values()
                    if p.symbol == liq.symbol
                    and any(lg.venue == liq.venue and lg.exit_price is None for lg in p.legs)
                ),
                None,
            )
            if pos is None:
                self._log.error(f"{liq.venue} liquidated {liq.qty} {liq.symbol} held by no open position")
                continue
            leg = next(lg for lg in pos.legs if lg.venue == liq.venue and lg.exit_price is None)
            event, message = book_liquidation(pos.position_id, leg, liq)
            self._log.emit(event, message=message, level="error")
            await self._close(pos, f"LIQUIDATION_{liq.venue.upper()}", now)

    async def on_stop(self, now: datetime) -> None:
        """End of the data: close everything (``SESSION_END``)."""
        self.metrics.flush()
        for pos in list(self.open.values()):
            await self._close(pos, "SESSION_END", now, detail="end of the market data window")

    def open_position_count(self) -> int:
        return len(self.open)

    def exposure_usd(self) -> Decimal:
        return sum((p.exposure_usd for p in self.open.values()), Decimal(0))

    def holds(self, position_id: str) -> bool:
        return position_id in self.open or any(p.position_id == position_id for p in self.closed)

    def summary(self) -> StrategySummary:
        return StrategySummary.of(
            self._opened, self.closed, list(self.open.values()), self._executor.rollbacks
        )

    async def execute(self, command: Command, now: datetime) -> Outcome:
        """Operator commands, as ``FundingArbitrageStrategy.execute`` answers them."""
        if isinstance(command, PauseEntries | ResumeEntries):
            return switch_entries(self, command)
        if isinstance(command, ClosePosition):
            pos = self.open.get(command.position_id)
            if pos is None:
                if self.holds(command.position_id):
                    return Outcome.rejected("ALREADY_CLOSED", f"{command.position_id} is closed already")
                return Outcome.rejected(
                    "UNKNOWN_POSITION", f"no open position {command.position_id!r} in this session"
                )
            if pos.exit_reason is not None:
                return Outcome.rejected(
                    "ALREADY_CLOSING", f"{pos.position_id} is already closing ({pos.exit_reason})"
                )
            done = await self._close(pos, "OPERATOR_CLOSE", now, detail="operator: close position")
            if not done:
                return Outcome(
                    "executed",
                    f"{pos.position_id} closing; a leg is retried",
                    position_ids=(pos.position_id,),
                )
            return Outcome(
                "executed",
                f"{pos.position_id} closed (net {pos.net_pnl:.2f} USD)",
                position_ids=(pos.position_id,),
            )
        if isinstance(command, FlattenAll):
            self.entries_paused = True
            closed, retried = [], []
            for pos in list(self.open.values()):
                if pos.exit_reason is None:
                    done = await self._close(pos, "OPERATOR_CLOSE", now, detail="operator: flatten all")
                    (closed if done else retried).append(pos.position_id)
            still = f", {len(retried)} closing (a leg is retried)" if retried else ""
            return Outcome(
                "executed",
                f"{len(closed)} closed{still}; entries paused",
                position_ids=tuple(closed + retried),
                entries_paused=True,
            )
        if isinstance(command, SetLimit):
            return apply_limit(self, command)
        return Outcome.rejected("FAILED", f"unknown command {type(command).__name__}")

    # --- the window -----------------------------------------------------------------------------------------

    def _window(self, symbol: str, now: datetime) -> Window | None:
        """The next settlement's figures when ``now`` is the hour before it (else ``None``)."""
        cfg = self._config
        quotes = {v: self._venues[v].funding_quote(symbol) for v in cfg.settling_venues}
        when = {q.next_funding_ts for q in quotes.values()}
        if len(when) != 1:
            return None  # the settling venues do not settle together (never with the shipped data)
        (settles_at,) = when
        if settles_at - now != _HOUR:
            return None
        rates = {v: q.rate for v, q in quotes.items()}
        mean = sum(rates.values(), Decimal(0)) / len(rates)
        direction = 1 if mean >= 0 else -1
        hourly_rate = self._venues[cfg.hourly_venue].funding_quote(symbol).rate
        n = cfg.notional_usd
        # the hedge's payments between two settlements of the settling venues (8 hourly ones with the data)
        hedge_payments = (
            self._venues[cfg.settling_venues[0]].funding_interval_s
            // self._venues[cfg.hourly_venue].funding_interval_s
        )
        edge = direction * n * (mean - hedge_payments * hourly_rate)
        per_leg = [(v, n / len(rates)) for v in cfg.settling_venues] + [(cfg.hourly_venue, n)]
        fees = sum(
            (
                notional * (self._venues[v].taker_fee_rate + self._venues[v].slippage_bps * _BP) * 2
                for v, notional in per_leg
            ),
            Decimal(0),
        )
        return Window(symbol, settles_at, direction, rates, hourly_rate, edge, fees)

    async def _consider(self, w: Window, now: datetime) -> None:
        """Enter ``w`` if it pays and the limits allow; every window whose rates qualify is reported."""
        cfg = self._config
        if any(p.symbol == w.symbol for p in self.open.values()):
            return  # held: the window is the position's own next settlement
        if any(w.direction * r < cfg.min_settlement_rate for r in w.rates.values()):
            return  # the settling venues do not all pay this side enough: not a candidate
        reason = self._refusal(w)
        self._log.emit(
            SettlementWindow(
                symbol=w.symbol,
                settles_at=w.settles_at,
                direction="short_settling" if w.direction > 0 else "long_settling",
                rates=w.rates,
                hourly_rate=w.hourly_rate,
                notional_usd=cfg.notional_usd,
                edge_usd=w.edge_usd,
                fees_usd=w.fees_usd,
                decision="skip" if reason else "enter",
                reason=reason,
            ),
            message=f"{w.symbol} settlement {w.settles_at:%H:%M}: edge {w.edge_usd:+.4f} USD per settlement, "
            f"round trip {w.fees_usd:.4f} USD → {reason or 'enter'}",
        )
        if reason is None:
            await self._open(w, now)

    def _refusal(self, w: Window) -> str | None:
        """Why ``w`` is not entered (a reason code), ``None`` when it is."""
        cfg = self._config
        if w.edge_usd * cfg.expected_settlements < w.fees_usd:
            return "EDGE_BELOW_FEES"
        if self.entries_paused:
            return "ENTRIES_PAUSED"
        if len(self.open) >= self.max_positions:
            return self._limit(
                w, "max_positions", Decimal(len(self.open)), Decimal(self.max_positions), "MAX_POSITIONS"
            )
        if self.exposure_usd() + cfg.notional_usd > self.max_total_exposure_usd:
            return self._limit(
                w,
                "max_total_exposure_usd",
                self.exposure_usd() + cfg.notional_usd,
                self.max_total_exposure_usd,
                "EXPOSURE_LIMIT",
            )
        book = self._session
        if book is not None and book.open_positions() >= book.max_positions:
            n = Decimal(book.open_positions())
            return self._limit(
                w, "limits.max_positions", n, Decimal(book.max_positions), "SESSION_MAX_POSITIONS"
            )
        if book is not None and book.exposure_usd() + cfg.notional_usd > book.max_total_exposure_usd:
            value = book.exposure_usd() + cfg.notional_usd
            return self._limit(
                w,
                "limits.max_total_exposure_usd",
                value,
                book.max_total_exposure_usd,
                "SESSION_EXPOSURE_LIMIT",
            )
        hourly = self._venues[cfg.hourly_venue].mark_price(w.symbol)
        for v in cfg.settling_venues:
            div = abs(divergence_pct(hourly, self._venues[v].mark_price(w.symbol)))
            if div > cfg.max_entry_price_divergence_pct:
                return "DIVERGENCE_TOO_HIGH"
        return None

    def _limit(self, w: Window, limit: str, value: Decimal, limit_value: Decimal, reason: str) -> str:
        self._log.emit(
            RiskLimitHit(limit=limit, value=value, limit_value=limit_value, symbol=w.symbol),
            message=f"{limit} reached ({value} / {limit_value}): {w.symbol} not opened",
            level="warning",
        )
        return reason

    # --- entry and exit ---------------------------------------------------------------------------------------

    async def _open(self, w: Window, now: datetime) -> None:
        cfg = self._config
        sym = w.symbol
        venues = [self._venues[v] for v in cfg.settling_venues]
        hourly = self._venues[cfg.hourly_venue]
        lot = max(v.lot_size(sym) for v in (*venues, hourly))
        each = (cfg.notional_usd / hourly.mark_price(sym) / len(venues) / lot).to_integral_value(
            ROUND_FLOOR
        ) * lot
        if each <= 0:
            self._log.warning(
                f"{sym}: {cfg.notional_usd} USD is below one lot ({lot}) per settling venue", symbol=sym
            )
            return
        leverage = min(cfg.max_leverage, hourly.leverage, *(v.leverage for v in venues))
        settling_side: OrderSide = "sell" if w.direction > 0 else "buy"
        hedge_side: OrderSide = "buy" if w.direction > 0 else "sell"
        position_id = f"P{next(self._ids):04d}-{sym}"
        self._resting = None
        self._log.stage(
            "3",
            "🧨",
            f"{sym} • Settlement Capture",
            lifecycle="opening_position",
            symbol=sym,
            position_id=position_id,
        )
        legs = [(v, settling_side, each) for v in venues] + [(hourly, hedge_side, each * len(venues))]
        if (problem := self._executor.preflight(sym, legs)) is not None:
            self._log.warning(f"Pre-flight failed for {sym}: {problem}", position_id=position_id, symbol=sym)
            return
        fills = await self._executor.place_legs(position_id, sym, legs, leverage)
        if fills is None:
            return
        rates = {**w.rates, cfg.hourly_venue: w.hourly_rate}
        opened = [
            Leg(
                venue=f.venue,
                side="long" if f.side == "buy" else "short",
                qty=f.qty,
                entry_price=f.price,
                notional=f.qty * f.price,
                entry_fee=f.fee,
                leverage=leverage,
                margin=margin_for(f.qty * f.price, leverage),
                entry_rate=rates[f.venue],
                interval_s=self._venues[f.venue].funding_interval_s,
            )
            for f in fills
        ]
        pos = TimedPosition(position_id, sym, opened, w.direction, now, edge_usd=w.edge_usd)
        self.open[position_id] = pos
        self._opened += 1
        self._log.emit(
            PositionOpened(
                position_id=position_id,
                symbol=sym,
                legs=[leg_open(lg) for lg in opened],
                target_exposure_usd=cfg.notional_usd,
                filled_exposure_usd=pos.exposure_usd,
            ),
            message=f"Opened {sym} {'short' if w.direction > 0 else 'long'} {'+'.join(cfg.settling_venues)} / "
            f"{'long' if w.direction > 0 else 'short'} {cfg.hourly_venue} for the {w.settles_at:%H:%M} settlement",
        )

    async def _review(self, pos: TimedPosition, now: datetime) -> None:
        """Right after a settlement the position was paid at: keep it only while the next one still pays."""
        if pos.captured >= self._config.max_settlements:
            await self._close(pos, "MAX_SETTLEMENTS", now, detail=f"held through {pos.captured} settlements")
            return
        w = self._next_window(pos)
        pos.edge_usd = w.edge_usd if w is not None else Decimal(0)
        if w is None or w.direction != pos.direction or w.edge_usd <= 0:
            await self._close(pos, "CARRY_FADED", now, detail=f"next settlement edge {pos.edge_usd:+.4f} USD")

    def _next_window(self, pos: TimedPosition) -> Window | None:
        """The next settlement's figures for ``pos``'s symbol, whatever the hour."""
        quote = self._venues[self._config.settling_venues[0]].funding_quote(pos.symbol)
        return self._window(pos.symbol, quote.next_funding_ts - _HOUR)

    async def _close(
        self, pos: TimedPosition, reason: str, now: datetime, *, detail: str | None = None
    ) -> bool:
        """Exit every open leg (reduce-only); ``position.closed`` once all are flat. ``False`` when a leg could
        not be closed (it is retried at the next cycle; ``reason`` counts only the first time)."""
        sym = pos.symbol
        self._resting = None
        pos.exit_reason = start_exit(self._log, pos.position_id, sym, reason, pos.exit_reason, detail)
        for leg in pos.legs:
            if leg.exit_price is not None:
                continue
            fill = await self._executor.close_leg(pos.position_id, sym, leg)
            if fill is None:
                self._log.error(
                    f"Could not close {leg.venue} {leg.side} leg of {pos.position_id}; retried next cycle",
                    position_id=pos.position_id,
                )
                return False
            leg.exit_price, leg.exit_fee = fill.price, fill.fee
        del self.open[pos.position_id]
        self.closed.append(pos)
        self._log.emit(
            PositionClosed(
                position_id=pos.position_id,
                symbol=sym,
                reason=pos.exit_reason,
                realized_pnl=pos.realized_pnl,
                fees=pos.fees,
                funding=pos.funding,
                net_pnl=pos.net_pnl,
                hold_s=(now - pos.opened_at) // timedelta(seconds=1),
            ),
            message=f"Closed {pos.position_id} {sym} ({pos.exit_reason}) after {pos.captured} settlement"
            f"{'' if pos.captured == 1 else 's'}: net {pos.net_pnl:.2f} USD (price {pos.realized_pnl:.2f}, "
            f"funding {pos.funding:.2f}, fees {pos.fees:.2f})",
        )
        return True

    def _update(self, pos: TimedPosition, now: datetime) -> None:
        """``position.updated`` with this strategy's own figures: settlements captured, the hours to the next one
        and what it is expected to bring (USD)."""
        quote = self._venues[self._config.settling_venues[0]].funding_quote(pos.symbol)
        hours = Decimal((quote.next_funding_ts - now) // _HOUR)
        self._log.emit(
            PositionUpdated(
                position_id=pos.position_id,
                symbol=pos.symbol,
                figures={
                    "captured": Decimal(pos.captured),
                    "next_settle_h": hours,
                    "edge_usd": pos.edge_usd.quantize(Decimal("0.0001")),
                },
            ),
        )

    def _rest(self) -> None:
        """The resting banner: waiting for a window, or carrying positions through settlements."""
        resting = "carrying" if self.open else "waiting"
        if resting == self._resting:
            return
        self._resting = resting
        if resting == "carrying":
            self._log.stage("4", "👀", "Carrying Through Settlements", lifecycle="monitoring_position")
        else:
            self._log.stage("0", "⏱", "Waiting For A Settlement Window", lifecycle="scanning")


__all__ = ["STRATEGY_VERSION", "SettlementTimingStrategy", "TimedPosition"]
