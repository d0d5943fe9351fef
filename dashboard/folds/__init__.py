"""The folds, by domain: each module folds the events of one domain into ``dashboard.state.DashboardState``.

* ``session`` — session, health, stage banners, venues;
* ``accounts`` — the venues' collateral accounts;
* ``positions`` — fills, legs and the position lifecycle;
* ``market`` — mark prices;
* ``funding`` — funding rates and payments;
* ``strategies`` — the strategy instances, each position's strategy, per-strategy totals and PnL samples;
* ``timeline`` — the rows of the timeline;
* ``base`` — the registry (``FOLDS``: typed line class → fold) and the decimal readers they share.

The feeder that decodes lines and calls them is ``dashboard.reducer``; the figures derived from the state are
computed in ``dashboard.snapshot``.
"""

from arbdash.dashboard.folds import (  # noqa: F401 - registers the folds
    accounts,
    funding,
    market,
    positions,
    session,
    strategies,
)
from arbdash.dashboard.folds.base import FOLDED, FOLDS, Rejected
from arbdash.dashboard.folds.positions import BOOKED_TOLERANCE_USD, MAX_CLOSED_KEPT
from arbdash.logging_pipeline.catalogue import line_decoder, line_type
from arbdash.logging_pipeline.events import EVENTS

#: The dashboard's line decoder: each folded event as its fold reads it; an event without a fold with all its
#: fields if the timeline shows it (a row without a message describes it by them), else its envelope only
#: (a checkpoint's state, a settlement's figures are not decoded: nothing here reads them).
_LINE_TYPES = [FOLDED.get(cls) or line_type(cls, None if cls.TIMELINE else ()) for cls in EVENTS]
LINE_DECODER = line_decoder(_LINE_TYPES)
#: For each line type ``LINE_DECODER`` returns: (its fold or ``None``, whether the timeline shows it).
PLAN = {lt: (FOLDS.get(lt), lt.TIMELINE) for lt in _LINE_TYPES}

__all__ = ["BOOKED_TOLERANCE_USD", "FOLDS", "LINE_DECODER", "MAX_CLOSED_KEPT", "PLAN", "Rejected"]
