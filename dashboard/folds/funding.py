"""Funding: the latest rate and next settlement per venue × symbol (``funding.rate``), and what each leg actually
received or paid against what the entry rate promised (``funding.payment``; signed USD, + = received).

``funding.settlement`` (both legs at one funding time) summarises the legs' payments and is not folded again.
"""

from __future__ import annotations

from typing import Any

from arbdash.dashboard.folds.base import Rejected, at, dec, fold
from arbdash.dashboard.folds.strategies import attribute, bucket
from arbdash.dashboard.risk import hour_of, sample_rate
from arbdash.dashboard.state import DashboardState, LegState, PositionState, RateState, decimal_text_ok
from arbdash.logging_pipeline.events import FundingPayment, FundingRate


@fold(FundingRate, reads=("venue", "symbol", "rate", "interval_s", "next_funding_ts"))
def on_rate(state: DashboardState, ev: Any) -> None:
    """Keep the rate (fraction per ``interval_s`` seconds, as its validated text) and next settlement time.
    ``apr`` is not read: the snapshot derives it with ``formulas.rate_to_apr``. A rate with a ``market_ts``
    also goes into the risk history (``dashboard.risk.sample_rate``)."""
    rate = ev.rate
    interval = ev.interval_s
    if interval <= 0:
        raise Rejected("interval_s: expected positive integer")
    try:
        ok = 1e-58 < abs(float(rate)) < 1e58  # the common case of decimal_text_ok, without a call (hot path)
    except ValueError:
        ok = False
    if not ok and not decimal_text_ok(rate):
        raise Rejected("rate: not a finite decimal of sane magnitude")
    by_symbol = state.rates.get(ev.venue)
    if by_symbol is None:
        by_symbol = state.rates[ev.venue] = {}
    cur = by_symbol.get(ev.symbol)
    if cur is None:
        by_symbol[ev.symbol] = RateState(rate, interval, ev.next_funding_ts)
    else:
        cur.rate_text = rate
        cur.interval_s = interval
        cur.next_funding_ts = ev.next_funding_ts
    mts = ev.market_ts
    if mts is not None:
        sample_rate(state, ev.venue, ev.symbol, hour_of(mts.timestamp()), rate, interval)


@fold(FundingPayment, reads=("position_id", "symbol", "venue", "side", "payment", "expected_payment"))
def on_payment(state: DashboardState, ev: Any) -> None:
    """Actual (``payment``) and expected (``expected_payment``) add to the leg, the position (via its legs) and
        the session totals (and its strategy's: ``folds.strategies.bucket``). A payment for a leg not seen yet creates it
    (a log cut after the fills)."""
    payment = dec(ev.payment, "payment")
    expected = dec(ev.expected_payment, "expected_payment")
    pos: PositionState | None = state.positions.get(ev.position_id) or state.closed.get(ev.position_id)
    leg = pos.legs.get(ev.venue) if pos is not None else None
    if leg is None:  # validate everything before creating anything: a rejected event leaves no trace
        if ev.side not in ("long", "short"):
            raise Rejected("side: expected long/short")
        if pos is None:
            pos = state.positions[ev.position_id] = PositionState(
                position_id=ev.position_id, symbol=ev.symbol
            )
            attribute(state, pos, ev.strategy)
        leg = pos.legs[ev.venue] = LegState(venue=ev.venue, side=ev.side)
    leg.funding_accrued += payment
    leg.funding_expected += expected
    state.funding_total += payment
    state.funding_expected_total += expected
    totals = bucket(state, pos)
    totals.funding_total += payment
    totals.funding_expected_total += expected
    pos.last_update_ts = at(ev)
