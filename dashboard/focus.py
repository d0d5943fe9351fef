"""Focus on one strategy: a snapshot whose open and closed positions, funding accruals and timeline rows are those
of one strategy instance (``DashboardSnapshot.focus`` names it; the session, portfolio and strategies panes stay
the whole session's). Pure: ``snapshot -> snapshot``, used by ``arbtail --strategy`` and the ``s`` key of the
live views (``dashboard.pane_keys``)."""

from __future__ import annotations

import msgspec

from arbdash.dashboard.models import DashboardSnapshot

__all__ = ["focus_snapshot", "next_focus", "strategy_names"]


def strategy_names(snap: DashboardSnapshot) -> list[str]:
    """The session's strategy instances, in the order they became known (the row of no strategy left out)."""
    return [v.name for v in snap.strategies if v.name is not None]


def focus_snapshot(snap: DashboardSnapshot, strategy: str | None) -> DashboardSnapshot:
    """``snap`` limited to ``strategy``'s positions, closed positions, funding accruals and timeline rows, with
    ``focus`` set and the header's stage that strategy's own (the session's last banner may be another
    strategy's); ``snap`` itself for ``None``."""
    if strategy is None:
        return snap
    funding = msgspec.structs.replace(
        snap.funding, accruals=[a for a in snap.funding.accruals if a.strategy == strategy]
    )
    session = snap.session
    view = next((v for v in snap.strategies if v.name == strategy), None)
    if view is not None and view.stage_banner is not None:
        session = msgspec.structs.replace(session, stage_banner=view.stage_banner, lifecycle=view.lifecycle)
    return msgspec.structs.replace(
        snap,
        session=session,
        positions=[p for p in snap.positions if p.strategy == strategy],
        funding=funding,
        recent_events=[e for e in snap.recent_events if e.strategy == strategy],
        focus=strategy,
    )


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
