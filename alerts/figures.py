"""The figures an alert rule may watch, each read from a ``DashboardSnapshot`` (``dashboard.models``).

A figure yields ``(key, value)`` pairs: ``key`` is ``""`` for a session-wide figure and the position id (or
``position_id/venue`` for a leg) for a per-position one, so one rule raises one alert per position. ``value`` is a
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
| ``liquidation_distance_pct`` | % | each open leg's distance from its liquidation price (once the log has it) |
| ``sink_degraded`` | 0/1 | 1 while the session or PostgreSQL reports ``degraded`` or ``error`` |
| ``seconds_since_event`` | s | wall seconds since the last event folded (a stalled bot) |
| ``session_error`` | 0/1 | 1 once the session's health is ``error`` (it ended in error) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only attributes are read: the config check imports this module without the dashboard
    from arbdash.dashboard.models import DashboardSnapshot

Reading = tuple[str, Decimal]
_OPEN = ("opening", "open", "closing")


@dataclass(frozen=True)
class Figure:
    """A watchable figure: its ``unit`` and how to read it (``read(snapshot, now, peak)``)."""

    name: str
    unit: str
    read: Callable[[DashboardSnapshot, datetime, Decimal | None], Iterator[Reading]]


def _open_positions(snap: DashboardSnapshot) -> Iterator[object]:
    return (p for p in snap.positions if p.lifecycle in _OPEN)


def _drawdown(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    if snap.session.session_id is None:
        return
    net = snap.portfolio.net_pnl  # ``peak`` already includes it (the engine updates the peak first)
    yield "", max(Decimal(0), (peak if peak is not None else net) - net)


def _net(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    if snap.session.session_id is not None:
        yield "", snap.portfolio.net_pnl


def _erosion(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    for p in _open_positions(snap):
        if p.profit_erosion_pct is not None:  # type: ignore[attr-defined]
            yield p.position_id, p.profit_erosion_pct  # type: ignore[attr-defined]


def _divergence(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    for p in _open_positions(snap):
        if p.divergence_pct is not None:  # type: ignore[attr-defined]
            yield p.position_id, abs(p.divergence_pct)  # type: ignore[attr-defined]


def _funding_gap(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    if snap.session.session_id is not None:
        yield "", snap.portfolio.funding_expected - snap.portfolio.funding


def _liquidation(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    for p in _open_positions(snap):
        for venue, leg in p.legs.items():  # type: ignore[attr-defined]
            distance = getattr(leg, "liquidation_distance_pct", None)
            if distance is not None:
                yield f"{p.position_id}/{venue}", distance  # type: ignore[attr-defined]


def _sink(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    s = snap.session
    if s.session_id is None:
        return
    bad = s.health in ("degraded", "error") or s.postgres_health in ("degraded", "error")
    yield "", Decimal(1 if bad else 0)


def _stalled(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
    last = snap.generated_at
    if last is None or snap.session.health in ("stopped", "error"):
        return  # nothing folded yet, or the session is over: silence is expected
    yield "", Decimal(max(0, int((now - last).total_seconds())))


def _session_error(snap: DashboardSnapshot, now: datetime, peak: Decimal | None) -> Iterator[Reading]:
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
        Figure("sink_degraded", "", _sink),
        Figure("seconds_since_event", "s", _stalled),
        Figure("session_error", "", _session_error),
    )
}

__all__ = ["FIGURES", "Figure", "Reading"]
