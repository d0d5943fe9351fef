"""What every fold shares: the registry (``fold``), the rejection (``Rejected``) and the readers of decimal text.

A fold is ``handler(state, line) -> extra timeline rows | None`` registered for one catalogue event with
``@fold(EventClass, reads=(...))``; ``line`` is that event's typed line (``logging_pipeline.catalogue.line_type``):
the envelope plus the fields the fold names in ``reads`` (all when it names none; a field it does not read is
skipped unread, so a hot event decodes only what its fold uses), money as decimal text validated on use,
datetimes aware. A fold checks everything it needs *before*
it mutates the state, and raises ``Rejected`` (or lets ``ArithmeticError`` / ``ValueError`` escape) to refuse the
event: the feeder then counts it and leaves the state as it was. Events with no fold only move the clocks and,
if the catalogue says so, add a timeline row (``dashboard.folds.timeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from arbdash.dashboard.state import MAX_DECIMAL_EXP, DashboardState, TimelineRow
from arbdash.logging_pipeline.catalogue import Line, line_type
from arbdash.logging_pipeline.events import Event

__all__ = ["FOLDED", "FOLDS", "Fold", "Rejected", "at", "dec", "fold", "opt_dec", "pos_dec"]

#: ``handler(state, line)``: mutates ``state``; returns extra timeline rows (or ``None``).
Fold = Callable[[DashboardState, Any], "list[TimelineRow] | None"]
#: The registry: the typed line class of an event → its fold. Filled by the fold modules at import.
FOLDS: dict[type[Line], Fold] = {}
#: The line type each folded event is read as (``reads`` applied).
FOLDED: dict[type[Event], type[Line]] = {}

F = TypeVar("F", bound=Fold)


class Rejected(Exception):
    """An event's field is unusable: ``reason`` (the counter, e.g. ``bad_field``) and ``detail`` (one line)."""

    def __init__(self, detail: str, reason: str = "bad_field") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def fold(*events: type[Event], reads: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Register the decorated function as the fold of ``events``, reading their fields ``reads`` (default all).
    One fold per event: a second raises ``RuntimeError``."""

    def register(handler: F) -> F:
        for cls in events:
            if cls in FOLDED:
                raise RuntimeError(f"two folds for {cls.__name__}")
            FOLDED[cls] = key = line_type(cls, reads)
            FOLDS[key] = handler
        return handler

    return register


def dec(text: str, name: str) -> Decimal:
    """``text`` (a decimal field's text) as a ``Decimal``: finite, ``|adjusted exponent| < MAX_DECIMAL_EXP``.
    Raises ``Rejected`` naming ``name``."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise Rejected(f"{name}: not a decimal") from None
    if d.is_finite() and -MAX_DECIMAL_EXP < d.adjusted() < MAX_DECIMAL_EXP:
        return d
    raise Rejected(f"{name}: expected finite decimal string of sane magnitude")


def pos_dec(text: str, name: str) -> Decimal:
    """``dec`` that must also be > 0."""
    d = dec(text, name)
    if d <= 0:
        raise Rejected(f"{name}: must be positive")
    return d


def opt_dec(text: str | None, name: str) -> Decimal | None:
    """``dec`` of an optional field (``None`` stays ``None``)."""
    return None if text is None else dec(text, name)


def at(line: Line) -> datetime:
    """The time a fold stamps on what it changes: the market clock if the event has one, else the wall clock."""
    return line.market_ts or line.ts
