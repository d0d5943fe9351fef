"""The figures an alert rule may watch, each read from a ``DashboardSnapshot`` (``dashboard.models``).

A figure yields ``(key, value)`` pairs: ``key`` is ``""`` for a session-wide figure and the position id (or
``position_id/venue`` for a leg) for a per-position one, so one rule raises one alert per position. A rule with a
``strategy`` reads the figure over that strategy instance alone (its positions; its net PnL, drawdown and funding
from its row of the strategies pane, ``StrategyView``); the figures of the session's own health (``scoped``
false) take no strategy. A strategy not announced yet (``strategy.started``) reads nothing. ``value`` is a
``Decimal`` in the figure's unit; a figure with nothing to say yields nothing (no open position, no account yet) —
never a placeholder 0. ``drawdown`` is the one figure with memory (the peak of net PnL seen so far); the engine
keeps it (``Peaks``).

| name | unit | what |
|---|---|---|
| ``net_pnl_drawdown_usd`` | USD | peak net PnL seen − net PnL now (≥ 0) |
| ``net_pnl_usd`` | USD | portfolio net PnL (realized + unrealized + funding − fees) |
| ``position_erosion_pct`` | % | each open position's profit erosion (share of the entry spread gone) |
| ``divergence_pct`` | % | each open position's |mark divergence| between its two venues |
| ``funding_gap_usd`` | USD | expected − received funding over the session (> 0: less than expected) |
| ``liquidation_distance_pct`` | % | each open leg's signed distance to its liquidation price (negative: past it; once logged) |
| ``sink_degraded`` | 0/1 | 1 while the session or PostgreSQL reports ``degraded`` or ``error`` |
| ``seconds_since_event`` | s | wall seconds since the last event folded (a stalled bot) |
| ``session_error`` | 0/1 | 1 once the session's health is ``error`` (it ended in error) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only attributes are read: the config check imports this module without the dashboard
    from arbdash.dashboard.models import DashboardSnapshot

Reading = tuple[str, Decimal]
_OPEN = ("opening", "open", "closing")


@dataclass(frozen=True)
class Figure:
    """A watchable figure: its ``unit``, how to read it (``read(snapshot, now, peak, strategy)``: ``peak`` is
    the highest net PnL seen of the same scope, ``strategy`` the instance or ``None`` for the whole session) and
    whether a rule may scope it to one strategy (``scoped``)."""

    name: str
    unit: str
    read: Callable[[DashboardSnapshot, datetime, Decimal | None, str | None], Iterator[Reading]]
    scoped: bool = True


def totals(snap: DashboardSnapshot, strategy: str | None) -> Any:
    """What carries ``net_pnl``, ``funding`` and ``funding_expected`` for the scope: the portfolio (``strategy``
    ``None``; ``None`` before ``session.started``), else the strategy's row (``None`` until it is announced)."""
    if strategy is None:
        return snap.portfolio if snap.session.session_id is not None else None
    return next((v for v in snap.strategies if v.name == strategy), None)


def _open_positions(snap: DashboardSnapshot, strategy: str | None) -> Iterator[Any]:
    return (
        p for p in snap.positions if p.lifecycle in _OPEN and (strategy is None or p.strategy == strategy)
    )


def _drawdown(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    t = totals(snap, strategy)
    if t is not None:
        net = t.net_pnl  # ``peak`` already includes it (the engine updates the peak first)
        yield "", max(Decimal(0), (peak if peak is not None else net) - net)


def _net(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    t = totals(snap, strategy)
    if t is not None:
        yield "", t.net_pnl


def _erosion(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    for p in _open_positions(snap, strategy):
        if p.profit_erosion_pct is not None:
            yield p.position_id, p.profit_erosion_pct


def _divergence(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    for p in _open_positions(snap, strategy):
        if p.divergence_pct is not None:
            yield p.position_id, abs(p.divergence_pct)


def _funding_gap(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    t = totals(snap, strategy)
    if t is not None:
        yield "", t.funding_expected - t.funding


def _liquidation(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    for p in _open_positions(snap, strategy):
        for venue, leg in p.legs.items():
            distance = getattr(leg, "liquidation_distance_pct", None)
            if distance is not None:
                yield f"{p.position_id}/{venue}", distance


def _sink(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    s = snap.session
    if s.session_id is None:
        return
    bad = s.health in ("degraded", "error") or s.postgres_health in ("degraded", "error")
    yield "", Decimal(1 if bad else 0)


def _stalled(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    last = snap.generated_at
    if last is None or snap.session.health in ("stopped", "error"):
        return  # nothing folded yet, or the session is over: silence is expected
    yield "", Decimal(max(0, int((now - last).total_seconds())))


def _session_error(
    snap: DashboardSnapshot, now: datetime, peak: Decimal | None, strategy: str | None
) -> Iterator[Reading]:
    if snap.session.session_id is not None:
        yield "", Decimal(1 if snap.session.health == "error" else 0)


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("net_pnl_drawdown_usd", "USD", _drawdown),
        Figure("net_pnl_usd", "USD", _net),
        Figure("position_erosion_pct", "%", _erosion),
        Figure("divergence_pct", "%", _divergence),
        Figure("funding_gap_usd", "USD", _funding_gap),
        Figure("liquidation_distance_pct", "%", _liquidation),
        Figure("sink_degraded", "", _sink, scoped=False),
        Figure("seconds_since_event", "s", _stalled, scoped=False),
        Figure("session_error", "", _session_error, scoped=False),
    )
}

__all__ = ["FIGURES", "Figure", "Reading", "totals"]
