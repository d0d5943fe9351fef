"""The timeline: one row per event the catalogue marks ``TIMELINE`` (stage banners, orders, positions, warnings,
plain log lines), newest last, at most ``DashboardState.timeline_size`` rows; also the rows of unknown events.

A row is ``(ts, market_ts, seq, category, level, event, message, strategy)``. The message is the event's own; an event
logged without one is described by its name and a few identifying fields (``describe``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from arbdash.dashboard.state import DashboardState, TimelineRow
from arbdash.logging_pipeline.events import Category

__all__ = ["CATEGORIES", "add_row", "describe", "unknown_row"]

CATEGORIES = frozenset(get_args(Category))
#: Fields shown for a timeline event that arrived without a message (``name key=value …``).
_DESCRIBE_KEYS = ("health", "reason", "symbol", "venue", "position_id", "limit", "name", "value")


def describe(name: str, ev: Any) -> str:
    """A one-line description for an event without ``message``: its name and a few identifying fields."""
    parts = [name]
    for key in _DESCRIBE_KEYS:
        val = getattr(ev, key, None)
        if type(val) is str or type(val) is int:
            parts.append(f"{key}={val}")
    return " ".join(parts)


def add_row(state: DashboardState, ev: Any, name: str, extra: list[TimelineRow] | None) -> None:
    """The row of a folded catalogue event ``ev`` (typed line) named ``name``, then the fold's ``extra`` rows.
    A category outside the schema's is replaced by one from the level (``warning`` / ``error`` / ``info``)."""
    level = ev.level
    cat = ev.category
    if cat not in CATEGORIES:
        cat = "warning" if level == "warning" else "error" if level in ("error", "critical") else "info"
    state.add_timeline(
        (ev.ts, ev.market_ts, ev.seq, cat, level, name, ev.message or describe(name, ev), ev.strategy)
    )
    if extra:
        for row in extra:
            state.add_timeline(row)


def unknown_row(
    state: DashboardState,
    ts: datetime,
    market_ts: datetime | None,
    seq: int,
    name: str,
    version: int,
    message: Any,
) -> None:
    """The info row of an event not in this reader's catalogue (``name``) or of a newer schema ``version``."""
    label = f"unknown event {name} (v{version})" if version > 1 else f"unknown event {name}"
    msg = f"{label}: {message}" if type(message) is str and message else label
    state.add_timeline((ts, market_ts, seq, "info", "info", name, msg, None))
