"""Focus on one strategy: a snapshot whose open and closed positions, funding accruals and timeline rows are those
of one strategy instance (``DashboardSnapshot.focus`` names it; the session, portfolio and strategies panes stay
the whole session's). Pure: ``snapshot -> snapshot``, used by ``arbtail --strategy`` and the ``s`` key of the
live views (``dashboard.pane_keys``)."""

from __future__ import annotations

import msgspec

from arbdash.dashboard.models import DashboardSnapshot

__all__ = ["focus_counts", "focus_snapshot", "next_focus", "strategy_names"]

_DONE = ("closed", "rolled_back")


def strategy_names(snap: DashboardSnapshot) -> list[str]:
    """The session's strategy instances, in the order they became known (the row of no strategy left out)."""
    return [v.name for v in snap.strategies if v.name is not None]


def focus_snapshot(snap: DashboardSnapshot, strategy: str | None) -> DashboardSnapshot:
    """``snap`` limited to ``strategy``: its open positions, its most recently closed ones and its own timeline
    (``snap.focus_rows``: the session's lists hold the latest of every strategy), its funding accruals and
    totals, the header's stage its own (the session's last banner may be another strategy's); ``focus`` set.
    ``snap`` itself for ``None``."""
    if strategy is None:
        return snap
    rows = snap.focus_rows.get(strategy)
    view = next((v for v in snap.strategies if v.name == strategy), None)
    funding = msgspec.structs.replace(
        snap.funding, accruals=[a for a in snap.funding.accruals if a.strategy == strategy]
    )
    session = snap.session
    if view is not None:  # its funding totals, its symbols' best pairs and its own entry rule
        funding = msgspec.structs.replace(
            funding,
            total_actual=view.funding,
            total_expected=view.funding_expected,
            best=[b for b in funding.best if b.symbol in view.symbols] if view.symbols else funding.best,
            min_profit_rate=view.min_profit_rate,
            per_strategy_rules=False,
            no_entry_rule=view.no_apr_rule,
        )
        if view.stage_banner is not None:
            session = msgspec.structs.replace(
                session, stage_banner=view.stage_banner, lifecycle=view.lifecycle
            )
    live = [p for p in snap.positions if p.strategy == strategy and p.lifecycle not in _DONE]
    if rows is not None:
        closed, timeline = rows.closed, rows.recent_events
    else:  # a snapshot without them (one strategy): what the session's lists hold of it
        closed = [p for p in snap.positions if p.strategy == strategy and p.lifecycle in _DONE]
        timeline = [e for e in snap.recent_events if e.strategy == strategy]
    return msgspec.structs.replace(
        snap,
        session=session,
        positions=live + closed,
        funding=funding,
        recent_events=timeline,
        focus=strategy,
    )


def focus_counts(snap: DashboardSnapshot) -> tuple[int, int, int]:
    """``(open, opened, closed)`` positions of the strategy ``snap`` focuses on, else of the session."""
    view = next((v for v in snap.strategies if v.name == snap.focus), None) if snap.focus else None
    if view is not None:
        return view.positions_open, view.positions_opened, view.positions_closed
    p = snap.portfolio
    return p.positions_open, p.positions_opened, p.positions_closed


def next_focus(snap: DashboardSnapshot, current: str | None) -> str | None:
    """The focus after ``current`` in the cycle none → each strategy → none (with fewer than two strategies
    there is nothing to focus on: ``None``)."""
    names = strategy_names(snap)
    if len(names) < 2:
        return None
    if current not in names:
        return names[0] if current is None else None
    i = names.index(current) + 1
    return names[i] if i < len(names) else None
