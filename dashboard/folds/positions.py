"""Fills and positions: legs rebuilt from fills (entry price, realized PnL, fees), and each position's lifecycle
from opening to closed or rolled back, with the bot's booked figures checked against the recomputed ones.

Events: ``order.filled`` / ``order.partially_filled``, ``execution.rollback``, ``position.opened`` / ``updated`` /
``rebalanced`` / ``liquidated`` / ``closing`` / ``closed``. Money in USD, quantities in base units (≥ 0 per leg).
A leg the venue liquidated (``position.liquidated``) exits at its liquidation price, its liquidation fee counted
among the position's fees, so the recomputed figures still check the bot's ``position.closed``. A position made
known by an event belongs to that event's strategy (``folds.strategies.attribute``), and each amount added to the
session's totals is added to its strategy's too (``folds.strategies.bucket``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbdash.dashboard.folds.base import Rejected, at, dec, fold, opt_dec, pos_dec
from arbdash.dashboard.folds.strategies import attribute, bucket
from arbdash.dashboard.state import DashboardState, LegState, PositionState, TimelineRow, decimal_text_ok
from arbdash.helpers import formulas
from arbdash.logging_pipeline.events import (
    ExecutionRollback,
    OrderFilled,
    OrderPartiallyFilled,
    PositionClosed,
    PositionClosing,
    PositionLiquidated,
    PositionOpened,
    PositionRebalanced,
    PositionUpdated,
)

#: ``position.closed`` figures that differ from the recomputed ones by more than this (USD) raise a warning line.
BOOKED_TOLERANCE_USD = Decimal("0.000001")
#: How many closed / rolled-back positions the state keeps (totals keep counting the evicted ones).
MAX_CLOSED_KEPT = 100
_ZERO = Decimal(0)
#: A ``hold_s`` beyond this (~3,000 years) is counted as this in the session's hold total.
_MAX_HOLD_S = 10**11


def _get_pos(state: DashboardState, pid: str, symbol: str, strategy: str | None) -> PositionState:
    """The position ``pid``; one not known yet is made, belonging to ``strategy`` (the event's envelope)."""
    pos = state.positions.get(pid) or state.closed.get(pid)
    if pos is None:
        pos = state.positions[pid] = PositionState(position_id=pid, symbol=symbol)
        attribute(state, pos, strategy)
    return pos


def _known_pos(state: DashboardState, pid: str) -> PositionState:
    pos = state.positions.get(pid) or state.closed.get(pid)
    if pos is None:
        raise Rejected(f"unknown position {pid[:40]!r}", "unknown_position")
    return pos


def _move_to_closed(state: DashboardState, pos: PositionState) -> None:
    state.positions.pop(pos.position_id, None)
    state.closed.pop(pos.position_id, None)
    state.closed[pos.position_id] = pos
    while len(state.closed) > MAX_CLOSED_KEPT:
        del state.closed[next(iter(state.closed))]


@fold(OrderFilled, OrderPartiallyFilled)
def on_fill(state: DashboardState, ev: Any) -> None:
    """An ``order.filled`` / ``order.partially_filled``: each event's ``qty`` and ``fee`` are that fill's own.

    Same direction as the leg → the leg grows, entry = qty-weighted average price; opposite → the leg shrinks
    and ``formulas.realized_pnl(leg side, closed qty, entry, fill price)`` is booked (a fill larger than the leg
    flips it, the remainder entering at the fill price). ``fee`` (USD) always adds to the position's fees.
    """
    venue = ev.venue
    if ev.side not in ("buy", "sell"):
        raise Rejected("side: expected buy/sell")
    qty = pos_dec(ev.qty, "qty")
    price = pos_dec(ev.price, "price")
    fee = dec(ev.fee, "fee")

    pos = _get_pos(state, ev.position_id, ev.symbol, ev.strategy)
    fill_side = "long" if ev.side == "buy" else "short"
    leg = pos.legs.get(venue)
    if leg is None:
        leg = pos.legs[venue] = LegState(venue=venue, side=fill_side)
    elif leg.qty == 0 and leg.side != fill_side:
        leg.side = fill_side
    realized = _ZERO
    if leg.side == fill_side:
        new_qty = leg.qty + qty
        leg.entry_price = (leg.qty * leg.entry_price + qty * price) / new_qty
        leg.qty = new_qty
        leg.opened_qty += qty
    else:
        close_qty = qty if qty <= leg.qty else leg.qty
        realized = formulas.realized_pnl(leg.side, close_qty, leg.entry_price, price)
        leg.qty -= close_qty
        rest = qty - close_qty
        if rest > 0:
            leg.side = fill_side
            leg.qty = rest
            leg.entry_price = price
            leg.opened_qty += rest
        leg.realized_pnl += realized
    leg.fees += fee
    state.fees_total += fee
    state.realized_total += realized
    totals = bucket(state, pos)
    totals.fees_total += fee
    totals.realized_total += realized
    if len(pos.legs) > 2:  # more legs than a pair: no long / short venue
        pos.long_venue = pos.short_venue = None
    elif pos.long_venue is None and leg.side == "long":
        pos.long_venue = venue
    elif pos.short_venue is None and leg.side == "short":
        pos.short_venue = venue
    pos.last_update_ts = at(ev)


@fold(ExecutionRollback)
def on_rollback(state: DashboardState, ev: Any) -> None:
    """A position whose opening failed and was unwound: ``rolled_back`` (kept with the closed ones)."""
    pos = _get_pos(state, ev.position_id, ev.symbol, ev.strategy)
    when = at(ev)
    if pos.lifecycle == "opening":
        pos.lifecycle = "rolled_back"
        pos.exit_reason = f"ROLLBACK {ev.reason}"
        pos.closed_ts = when
        _move_to_closed(state, pos)
    pos.last_update_ts = when


@fold(PositionOpened)
def on_position_opened(state: DashboardState, ev: Any) -> None:
    """Every leg is open: venues and sides, exposures (USD) and, for a two-leg pair, the entry spread (APR
    fraction) and rates. A leg without fills seen takes the event's figures (a log cut after the fills still
    shows the position)."""
    legs = []
    margin: Decimal | None = _ZERO
    for raw in ev.legs:
        if raw.side not in ("long", "short"):
            raise Rejected("legs.side: expected long/short")
        try:  # the base of ROI %: a margin the fold cannot read leaves ROI unknown, not the position refused
            margin = margin + dec(raw.margin, "legs.margin") if margin is not None else None
        except Rejected:
            margin = None
        legs.append(
            (
                raw.venue,
                raw.side,
                pos_dec(raw.qty, "legs.qty"),
                pos_dec(raw.entry_price, "legs.entry_price"),
                dec(raw.fee, "legs.fee"),
                dec(raw.leverage, "legs.leverage"),
            )
        )
    target = dec(ev.target_exposure_usd, "target_exposure_usd")
    filled = dec(ev.filled_exposure_usd, "filled_exposure_usd")
    entry_apr = opt_dec(ev.entry_spread_apr, "entry_spread_apr")
    long_rate = opt_dec(ev.entry_long_rate, "entry_long_rate")
    short_rate = opt_dec(ev.entry_short_rate, "entry_short_rate")

    pid = ev.position_id
    pos = _get_pos(state, pid, ev.symbol, ev.strategy)
    totals = bucket(state, pos)
    pos.symbol = ev.symbol
    if len(legs) > 2:  # not a pair: no one long and one short venue (the legs say which side each is on)
        pos.long_venue = pos.short_venue = None
    else:  # a pair names its venues; an older or smaller bot may leave them to the fills
        pos.long_venue = ev.long_venue or pos.long_venue
        pos.short_venue = ev.short_venue or pos.short_venue
    for venue, side, qty, entry, fee, leverage in legs:
        leg = pos.legs.get(venue)
        if leg is None or leg.opened_qty == 0:  # no fills seen for this leg: take the event's figures
            leg = pos.legs[venue] = LegState(
                venue=venue, side=side, qty=qty, entry_price=entry, opened_qty=qty
            )
            leg.fees = fee
            state.fees_total += fee
            totals.fees_total += fee
        leg.leverage = leverage
    pos.target_exposure_usd = target
    pos.filled_exposure_usd = filled
    pos.entry_spread_apr = entry_apr
    pos.entry_long_rate = long_rate
    pos.entry_short_rate = short_rate
    pos.entry_margin = margin if legs else None
    if pos.lifecycle in ("opening", "rolled_back"):
        if pos.lifecycle == "rolled_back":
            state.closed.pop(pid, None)
            state.positions[pid] = pos
        pos.lifecycle = "open"
        pos.exit_reason = None
        state.positions_opened += 1
        totals.positions_opened += 1
    pos.entry_ts = pos.last_update_ts = at(ev)


@fold(
    PositionUpdated,
    reads=(
        "position_id",
        "current_spread_apr",
        "divergence_pct",
        "rebalance_pending",
        "hold_code",
        "hold_until",
        "long_liquidation_price",
        "short_liquidation_price",
        "figures",
    ),
)
def on_position_updated(state: DashboardState, ev: Any) -> None:
    """The bot's own view of a position: its hold code (and, with ``MIN_HOLD_ACTIVE``, when the hold ends) and
    rebalance flag, and a two-leg pair's spread / divergence figures kept as validated text — a fallback the
    snapshot turns into ``Decimal`` only without marks or rates; each leg's liquidation price (USD per base unit,
    the venue's own formula on its account; ``None``: no finite price, or an older bot that does not say); a
    strategy's own ``figures`` (at most ``MAX_FIGURES`` names), replaced by each update."""
    pos = _known_pos(state, ev.position_id)
    spread, div = ev.current_spread_apr, ev.divergence_pct
    if spread is not None and not decimal_text_ok(spread):
        raise Rejected("current_spread_apr: expected finite decimal string of sane magnitude")
    if div is not None and not decimal_text_ok(div):
        raise Rejected("divergence_pct: expected finite decimal string of sane magnitude")
    figures = _figures(ev.figures)
    long_lp = opt_dec(ev.long_liquidation_price, "long_liquidation_price")
    short_lp = opt_dec(ev.short_liquidation_price, "short_liquidation_price")
    if long_lp is not None or short_lp is not None:
        pos.liquidation_reported = True  # this position's updates carry LPs (absent: none exists)
    for venue, lp in ((pos.long_venue, long_lp), (pos.short_venue, short_lp)):
        leg = pos.legs.get(venue) if venue is not None else None
        if leg is not None:
            leg.liquidation_price = lp if lp is not None and lp > 0 else None
            # a leg's price left out by updates that report LPs, on a venue whose account is logged: no price
            # can liquidate it. Unknown (—) otherwise: a strategy that reports no LP (settlement_timing), an
            # older bot (no account.updated), or before the position's first update with a price
            leg.no_liquidation_price = (
                leg.liquidation_price is None and pos.liquidation_reported and venue in state.accounts
            )
    pos.bot_current_spread_apr = spread
    pos.bot_divergence_pct = div
    pos.figures = figures
    pos.rebalance_pending = ev.rebalance_pending
    pos.hold_code = ev.hold_code
    pos.hold_until = ev.hold_until if ev.hold_code is not None else None
    pos.last_update_ts = at(ev)


#: A strategy's own figures kept per position (``position.updated``'s ``figures``); more are refused.
MAX_FIGURES = 8


def _figures(raw: dict[str, Any] | None) -> dict[str, Decimal]:
    """``figures`` as names (at most 24 characters) → ``Decimal``; ``Rejected`` for too many or a bad value."""
    if not raw:
        return {}
    if len(raw) > MAX_FIGURES:
        raise Rejected(f"figures: more than {MAX_FIGURES} names")
    return {str(name)[:24]: dec(value, f"figures.{str(name)[:24]}") for name, value in raw.items()}


@fold(PositionRebalanced)
def on_position_rebalanced(state: DashboardState, ev: Any) -> None:
    """A rebalance: the pending flag clears. With ``amount_usd`` (collateral moved from ``from_venue`` to
    ``to_venue``), the amount adds to the position's moved total and to the two accounts' transfers (USD)."""
    pos = _known_pos(state, ev.position_id)
    amount = opt_dec(ev.amount_usd, "amount_usd")
    if amount is not None:
        if amount < 0:
            raise Rejected("amount_usd: must not be negative")
        src, dst = ev.from_venue or "?", ev.to_venue or ev.venue
        pos.collateral_moved_usd += amount
        pos.last_transfer = (str(amount), src, dst)
        if (acc := state.accounts.get(src)) is not None:
            acc.transfers_out += amount
        if (acc := state.accounts.get(dst)) is not None:
            acc.transfers_in += amount
    pos.rebalance_pending = False
    pos.last_update_ts = at(ev)


@fold(PositionLiquidated)
def on_position_liquidated(state: DashboardState, ev: Any) -> None:
    """The venue liquidated a leg: it exits at ``liquidation_price`` as a reducing fill would
    (``formulas.realized_pnl`` of the closed qty against the leg's entry), and ``liquidation_fee`` (USD) adds to
    the leg's fees — so the position's recomputed net matches the bot's ``position.closed`` (which books both).
    No ``order.filled`` is written for it; a leg already closed by one only takes the fee."""
    if ev.side not in ("long", "short"):
        raise Rejected("side: expected long/short")
    qty = pos_dec(ev.qty, "qty")
    price = pos_dec(ev.liquidation_price, "liquidation_price")
    fee = dec(ev.liquidation_fee, "liquidation_fee")
    pos = _known_pos(state, ev.position_id)
    leg = pos.legs.get(ev.venue)
    if leg is None:
        raise Rejected(f"no {ev.venue[:20]} leg to liquidate", "unknown_position")
    close_qty = qty if qty <= leg.qty else leg.qty
    realized = formulas.realized_pnl(leg.side, close_qty, leg.entry_price, price) if close_qty else _ZERO
    leg.qty -= close_qty
    leg.realized_pnl += realized
    leg.fees += fee
    leg.liquidated_at = price
    leg.liquidation_fee += fee
    state.fees_total += fee
    state.realized_total += realized
    totals = bucket(state, pos)
    totals.fees_total += fee
    totals.realized_total += realized
    pos.last_update_ts = at(ev)


@fold(PositionClosing)
def on_position_closing(state: DashboardState, ev: Any) -> None:
    pos = _known_pos(state, ev.position_id)
    if pos.lifecycle in ("opening", "open"):
        pos.lifecycle = "closing"
    pos.exit_reason = ev.reason
    pos.hold_code = pos.hold_until = None  # an exit was decided: nothing holds it any more
    pos.last_update_ts = at(ev)


_BOOKED = ("realized_pnl", "fees", "funding", "net_pnl")


@fold(PositionClosed)
def on_position_closed(state: DashboardState, ev: Any) -> list[TimelineRow] | None:
    """Close the position and compare the bot's booked figures with the recomputed ones: a warning row if they
    differ by more than ``BOOKED_TOLERANCE_USD`` (net = realized + funding − fees). The first close of a position
    counts it a win (booked net PnL > 0) or a loss, and adds its ``hold_s`` to the session's hold total."""
    pos = _known_pos(state, ev.position_id)
    booked = {k: dec(getattr(ev, k), k) for k in _BOOKED}
    realized = sum((leg.realized_pnl for leg in pos.legs.values()), _ZERO)
    fees = sum((leg.fees for leg in pos.legs.values()), _ZERO)
    funding = sum((leg.funding_accrued for leg in pos.legs.values()), _ZERO)
    ours = {"realized_pnl": realized, "fees": fees, "funding": funding, "net_pnl": realized + funding - fees}
    was_closed = pos.lifecycle == "closed"
    pos.lifecycle = "closed"
    pos.hold_code = pos.hold_until = None
    pos.exit_reason = ev.reason
    pos.closed_ts = pos.last_update_ts = at(ev)
    pos.booked_net_pnl = booked["net_pnl"]
    pos.rebalance_pending = False
    if not was_closed:
        state.positions_closed += 1
        bucket(state, pos).positions_closed += 1
        if booked["net_pnl"] > 0:
            state.wins += 1
        else:
            state.losses += 1
        state.held_s_total += min(max(0, ev.hold_s), _MAX_HOLD_S)
    _move_to_closed(state, pos)
    diffs = [
        f"{k} booked {booked[k]} vs recomputed {ours[k]}"
        for k in _BOOKED
        if abs(booked[k] - ours[k]) > BOOKED_TOLERANCE_USD
    ]
    if not diffs:
        return None
    state.warnings += 1
    msg = f"PnL mismatch {pos.position_id} {pos.symbol}: " + "; ".join(diffs)
    return [(ev.ts, ev.market_ts, ev.seq, "warning", "warning", "dashboard.pnl_mismatch", msg, pos.strategy)]
