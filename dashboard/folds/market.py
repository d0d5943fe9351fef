"""Market prices: the latest mark per venue × symbol (``market.mark_price``), kept as its validated decimal text.

About two thirds of a session log are mark prices, so this fold is the replay's hot path: one acceptance test
(``dashboard.state.price_text_ok``, a float range test in the common case) and one dict store. The index price
is not read: nothing on screen uses it.
"""

from __future__ import annotations

from typing import Any

from arbdash.dashboard.folds.base import Rejected, fold
from arbdash.dashboard.risk import hour_of, sample_mark
from arbdash.dashboard.state import DashboardState, price_text_ok
from arbdash.logging_pipeline.events import MarkPrice


@fold(MarkPrice, reads=("venue", "symbol", "mark_price"))
def on_mark(state: DashboardState, ev: Any) -> None:
    """Keep ``mark_price`` (positive, finite, ≤ 10^60) for ``venue`` × ``symbol``, and as the mark of its
    market hour in the risk history (``dashboard.risk.sample_mark``; a mark without ``market_ts`` is not)."""
    price = ev.mark_price
    try:
        ok = 0.0 < float(price) < 1e59  # the common case of price_text_ok, without a call (the hot path)
    except ValueError:
        ok = False
    if not ok and not price_text_ok(price):
        raise Rejected("mark_price: expected a positive finite decimal")
    by_symbol = state.marks.get(ev.venue)
    if by_symbol is None:
        by_symbol = state.marks[ev.venue] = {}
    by_symbol[ev.symbol] = price
    mts = ev.market_ts
    if mts is not None:
        sample_mark(state, ev.venue, ev.symbol, hour_of(mts.timestamp()), price)
