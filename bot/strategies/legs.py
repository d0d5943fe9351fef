"""What every strategy books the same way, whatever its position looks like: a funding settlement on a leg, a
venue's liquidation of a leg, a leg as ``position.opened`` reports it, the start of an exit. Each function updates the ``Leg``
(``bot.strategies.funding_arbitrage.models.Leg``: money in USD, quantities in base units) and returns the event
that says so, with the message the timeline shows; the strategy emits it through its own logger (so the event
carries its ``strategy``)."""

from __future__ import annotations

from typing import Any

from arbdash.bot.strategies.funding_arbitrage.models import Leg
from arbdash.bot.venues.base import FundingCredit
from arbdash.helpers.formulas import funding_payment
from arbdash.helpers.unified_logger import UnifiedLogger
from arbdash.logging_pipeline.events import FundingPayment, LegOpen, PositionClosing, PositionLiquidated


def book_funding(position_id: str, leg: Leg, credit: FundingCredit) -> tuple[FundingPayment, str]:
    """The venue's settlement ``credit`` on ``leg``: ``leg.funding`` += the payment (signed, + received), and
    ``leg.expected_funding`` += the same formula at the leg's entry rate (``helpers.formulas.funding_payment``:
    −side · qty · mark · rate, a long pays a positive rate). Returns ``funding.payment`` and its message."""
    expected = funding_payment(leg.side, leg.qty, credit.mark_price, leg.entry_rate)
    leg.funding += credit.payment
    leg.expected_funding += expected
    event = FundingPayment(
        position_id=position_id,
        symbol=credit.symbol,
        venue=credit.venue,
        side=leg.side,
        rate=credit.rate,
        entry_rate=leg.entry_rate,
        interval_s=credit.interval_s,
        qty=leg.qty,
        mark_price=credit.mark_price,
        notional=leg.qty * credit.mark_price,
        payment=credit.payment,
        expected_payment=expected,
    )
    message = (
        f"Funding {credit.venue} {leg.side} {credit.symbol}: {credit.payment:+.4f} USD "
        f"(expected {expected:+.4f}) at rate {credit.rate}"
    )
    return event, message


def book_liquidation(position_id: str, leg: Leg, liq: Any) -> tuple[PositionLiquidated, str]:
    """The venue closed ``leg`` at ``liq.liquidation_price`` (``bot.venues.paper.Liquidation``), charging
    ``liq.liquidation_fee`` (USD) as its exit fee. Returns ``position.liquidated`` and its message."""
    leg.exit_price = liq.liquidation_price
    leg.exit_fee = liq.liquidation_fee
    event = PositionLiquidated(
        position_id=position_id,
        symbol=liq.symbol,
        venue=liq.venue,
        side=leg.side,
        qty=liq.qty,
        entry_price=leg.entry_price,
        liquidation_price=liq.liquidation_price,
        trigger_price=liq.trigger_price,
        liquidation_fee=liq.liquidation_fee,
        realized_pnl=leg.realized,
    )
    message = (
        f"LIQUIDATED {position_id}: {liq.venue} {leg.side} {liq.qty} {liq.symbol} at {liq.liquidation_price} "
        f"(bar {'low' if leg.side == 'long' else 'high'} {liq.trigger_price}), price PnL {leg.realized:.2f}, "
        f"liquidation fee {liq.liquidation_fee:.2f} USD"
    )
    return event, message


def start_exit(
    log: UnifiedLogger,
    position_id: str,
    symbol: str,
    reason: str,
    exit_reason: str | None,
    detail: str | None = None,
) -> str:
    """An exit of any position: the ``5. 🚪 Exiting {SYM} • {REASON}`` banner, and the first time
    (``exit_reason`` still ``None``) ``position.closing`` with ``reason``. Returns the position's exit reason
    (a retry keeps the first)."""
    log.stage(
        "5",
        "🚪",
        f"Exiting {symbol} • {reason}",
        lifecycle="closing_position",
        symbol=symbol,
        position_id=position_id,
    )
    if exit_reason is not None:
        return exit_reason
    log.emit(
        PositionClosing(position_id=position_id, symbol=symbol, reason=reason, detail=detail),
        message=f"Closing {position_id} ({reason})",
    )
    return reason


def leg_open(leg: Leg) -> LegOpen:
    """``leg`` as ``position.opened`` lists it (its entry fill, leverage and initial margin)."""
    return LegOpen(
        venue=leg.venue,
        side=leg.side,
        qty=leg.qty,
        entry_price=leg.entry_price,
        notional=leg.notional,
        fee=leg.entry_fee,
        leverage=leg.leverage,
        margin=leg.margin,
    )


__all__ = ["book_funding", "book_liquidation", "leg_open", "start_exit"]
