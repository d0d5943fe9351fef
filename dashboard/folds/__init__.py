"""The folds, by domain: each module folds the events of one domain into ``dashboard.state.DashboardState``.

* ``session`` — session, health, stage banners, venues;
* ``positions`` — fills, legs and the position lifecycle;
* ``market`` — mark prices;
* ``funding`` — funding rates and payments;
* ``timeline`` — the rows of the timeline;
* ``base`` — the registry (``FOLDS``: typed line class → fold) and the decimal readers they share.

The feeder that decodes lines and calls them is ``dashboard.reducer``; the figures derived from the state are
computed in ``dashboard.snapshot``.
"""

from dashboard.folds import funding, market, positions, session  # noqa: F401 - registers the folds
from dashboard.folds.base import FOLDS, Rejected
from dashboard.folds.positions import BOOKED_TOLERANCE_USD, MAX_CLOSED_KEPT

__all__ = ["BOOKED_TOLERANCE_USD", "FOLDS", "MAX_CLOSED_KEPT", "Rejected"]
