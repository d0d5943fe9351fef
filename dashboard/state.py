"""The reducer's fold state: plain mutable dataclasses (slots), mutated in place by ``dashboard.reducer.apply``.

Kept deliberately cheap (no validation, no pydantic): the hot events touch one dict entry each. Derived
figures (unrealized PnL, divergence, erosion, countdowns, totals) are *not* stored here; they are computed by
``dashboard.reducer.Reducer.snapshot`` from these inputs, in one place.

``state_to_dict`` / ``state_from_dict`` give a JSON-serialisable form (``Decimal`` → str, ``datetime`` → ISO
string, tuple keys → lists) for the ``dashboard.checkpoint`` event; the round trip is exact.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NewType

from dashboard.models import IngestTotals

#: The exact decimal text of a price or rate as logged (e.g. ``"84123.45"``), already validated by the fold
#: (finite, within the fold's magnitude bounds). The fold keeps high-rate values as text and the snapshot turns
#: the few it shows into ``Decimal`` (``Decimal(text)`` is exact), so a replay does not build a ``Decimal`` for
#: every tick that the next tick overwrites. ``state_from_dict`` re-validates it.
DecimalText = NewType("DecimalText", str)
#: ``DecimalText`` of a price: also positive (what the fold accepts for a mark).
PriceText = NewType("PriceText", str)
#: Decimal inputs beyond 10^±MAX_DECIMAL_EXP are refused by the fold (a rate within the open range; a price up
#: to it): products of a few such values stay far from the Decimal context's overflow.
MAX_DECIMAL_EXP = 60

#: One timeline row: (ts, market_ts, seq, category, level, event, message) — raw ISO strings, text unescaped.
TimelineRow = tuple[str, str | None, int, str, str, str, str]


@dataclass(slots=True)
class IngestStats(IngestTotals):
    """Counters of what the reducer did with its input.

    ``skipped``: lines/events dropped before folding, by reason (``not_json``, ``invalid_utf8``, ``not_object``,
    ``missing_envelope``, ``naive_timestamp``, ``bad_timestamp``, ``out_of_order_seq``, ``duplicate_seq``,
    ``empty_line``, ``too_long`` and a reader's own reasons such as ``torn_line``);
    ``rejected``: envelope-valid events whose fields were missing or wrong-typed (``bad_field``), state unchanged;
    ``unknown``: events kept as info lines only (``unknown_event``, ``newer_version``);
    ``last_problem``: a one-line description of the most recent skip/reject (for the operator).
    """

    applied: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    last_problem: str = ""


@dataclass(slots=True)
class VenueState:
    """A venue as announced by ``session.started`` / ``venue.connected``; fee rates are fractions."""

    name: str
    connected: bool | None = None  # None = announced, not yet connected
    reason: str | None = None
    funding_interval_s: int | None = None
    taker_fee_rate: Decimal | None = None
    maker_fee_rate: Decimal | None = None


@dataclass(slots=True)
class LegState:
    """One venue leg of a position, rebuilt from fills. ``qty`` ≥ 0 in base units; ``entry_price`` is the
    qty-weighted average of the increasing fills; money in USD."""

    venue: str
    side: str  # "long" | "short"
    qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    opened_qty: Decimal = Decimal(0)  # cumulative qty of increasing fills
    fees: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    funding_accrued: Decimal = Decimal(0)
    funding_expected: Decimal = Decimal(0)
    leverage: Decimal | None = None
    last_funding_rate: Decimal | None = None


@dataclass(slots=True)
class PositionState:
    """A position's inputs as folded from events. Totals (fees, realized, funding) are the sums of its legs'."""

    position_id: str
    symbol: str
    lifecycle: str = "opening"  # opening | open | closing | closed | rolled_back
    long_venue: str | None = None
    short_venue: str | None = None
    legs: dict[str, LegState] = field(default_factory=dict)
    entry_ts: datetime | None = None
    last_update_ts: datetime | None = None
    closed_ts: datetime | None = None
    target_exposure_usd: Decimal | None = None
    filled_exposure_usd: Decimal | None = None
    entry_spread_apr: Decimal | None = None
    entry_long_rate: Decimal | None = None
    entry_short_rate: Decimal | None = None
    rebalance_pending: bool = False
    hold_code: str | None = None
    bot_current_spread_apr: Decimal | None = None  # from position.updated (fallback only)
    bot_divergence_pct: Decimal | None = None
    exit_reason: str | None = None
    booked_net_pnl: Decimal | None = None  # position.closed, as the bot booked it


@dataclass(slots=True)
class RateState:
    """Latest ``funding.rate`` of a venue × symbol: ``rate_text`` (fraction per ``interval_s``, as logged),
    next settlement time."""

    rate_text: DecimalText
    interval_s: int
    next_funding_ts: datetime
    next_funding_raw: str = ""  # the event's string, to skip re-parsing an unchanged time

    @property
    def rate(self) -> Decimal:
        """The rate as a ``Decimal`` fraction per ``interval_s`` (exact: built from the logged text)."""
        return Decimal(self.rate_text)


@dataclass(slots=True)
class SessionInfo:
    """From ``session.started`` / ``session.health`` / ``stage.changed``."""

    session_id: str | None = None
    strategy: str | None = None
    strategy_version: str | None = None
    config_path: str | None = None
    dry_run: bool | None = None
    symbols: list[str] = field(default_factory=list)
    health: str = "starting"
    health_reason: str | None = None
    degraded: dict[str, str] = field(default_factory=dict)  # component (sink) → reason, while it is not ok
    lifecycle: str | None = None
    stage_banner: str | None = None
    started_ts: datetime | None = None  # wall clock (envelope ts)
    market_start: datetime | None = None
    max_positions: int | None = None
    max_total_exposure_usd: Decimal | None = None
    target_margin: Decimal | None = None
    data_note: str | None = None
    stop_reason: str | None = None
    erosion_threshold_pct: Decimal | None = None  # optional session.started ``profit_erosion_threshold`` · 100
    divergence_limit_pct: Decimal | None = None  # optional session.started ``max_entry_price_divergence_pct``


@dataclass(slots=True)
class DashboardState:
    """Everything the dashboard knows. Mutated in place by ``apply``; see the module docstring."""

    timeline_size: int = 20
    session: SessionInfo = field(default_factory=SessionInfo)
    venues: dict[str, VenueState] = field(default_factory=dict)
    positions: dict[str, PositionState] = field(default_factory=dict)  # not closed, insertion (= open) order
    closed: dict[str, PositionState] = field(default_factory=dict)  # closed / rolled back, most recent last
    marks: dict[tuple[str, str], PriceText] = field(default_factory=dict)  # (venue, symbol) → mark price
    rates: dict[tuple[str, str], RateState] = field(default_factory=dict)  # (venue, symbol) → latest rate
    timeline: deque[TimelineRow] = field(default_factory=deque)
    last_seq: dict[str, int] = field(default_factory=dict)  # session_id → last folded seq
    last_ts: str | None = None  # envelope ts of the last folded event (raw ISO)
    market_now: datetime | None = None  # latest (max) market_ts folded
    market_ts_raw: str | None = None  # parse cache: last market_ts string seen and its datetime
    market_ts_last: datetime | None = None
    positions_opened: int = 0
    positions_closed: int = 0
    # running totals over every position ever seen (incl. closed ones evicted from ``closed``), USD
    realized_total: Decimal = Decimal(0)
    fees_total: Decimal = Decimal(0)
    funding_total: Decimal = Decimal(0)
    funding_expected_total: Decimal = Decimal(0)
    warnings: int = 0  # reducer-generated warnings (e.g. booked vs recomputed PnL mismatch)
    stats: IngestStats = field(default_factory=IngestStats)

    def __post_init__(self) -> None:
        if self.timeline.maxlen != self.timeline_size:
            self.timeline = deque(self.timeline, maxlen=self.timeline_size)


# --- JSON form ------------------------------------------------------------------------------------------


def state_to_dict(state: DashboardState) -> dict[str, Any]:
    """A JSON-serialisable dict of ``state`` (str/int/bool/None/list/dict only)."""
    return _enc(state)


def state_from_dict(data: dict[str, Any]) -> DashboardState:
    """Inverse of ``state_to_dict``. Raises ``ValueError``/``TypeError``/``KeyError`` on malformed input."""
    return _dec(DashboardState, data)


def _enc(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if dataclasses.is_dataclass(v):
        return {f.name: _enc(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        if v and isinstance(next(iter(v)), tuple):
            return [[*(_enc(x) for x in k), _enc(val)] for k, val in v.items()]
        return {k: _enc(val) for k, val in v.items()}
    if isinstance(v, (list, tuple, deque)):
        return [_enc(x) for x in v]
    raise TypeError(f"cannot encode {type(v).__name__}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    h = _HINTS.get(cls)
    if h is None:
        h = _HINTS[cls] = typing.get_type_hints(cls)
    return h


def _dec(tp: Any, v: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _dec(inner[0], v)
    if tp is Decimal:
        if not isinstance(v, str):
            raise TypeError("decimal must be a string")
        return Decimal(v)
    if tp is DecimalText or tp is PriceText:  # the fold's own acceptance rules (dashboard.reducer)
        if type(v) is not str:
            raise TypeError("decimal text must be a string")
        try:
            d = Decimal(v)
        except ArithmeticError:  # decimal.InvalidOperation
            raise ValueError(f"not a decimal: {v[:40]!r}") from None
        ok = d.is_finite() and (d > 0 and d.adjusted() <= MAX_DECIMAL_EXP if tp is PriceText
                                else -MAX_DECIMAL_EXP < d.adjusted() < MAX_DECIMAL_EXP)
        if not ok:
            raise ValueError(f"not a {'price' if tp is PriceText else 'decimal'} the fold accepts: {v[:40]!r}")
        return v
    if tp is datetime:
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            raise ValueError("naive datetime in state")
        return dt
    if tp in (int, str, bool):
        if type(v) is not tp:
            raise TypeError(f"expected {tp.__name__}")
        return v
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {f.name: _dec(hints[f.name], v[f.name]) for f in dataclasses.fields(tp) if f.name in v}
        return tp(**kwargs)
    if origin is dict:
        kt, vt = args
        if typing.get_origin(kt) is tuple:
            n = len(typing.get_args(kt))
            return {tuple(row[:n]): _dec(vt, row[n]) for row in v}
        return {_dec(kt, k): _dec(vt, val) for k, val in v.items()}
    if origin is deque:
        return deque(_dec(args[0], x) for x in v)
    if origin is list:
        return [_dec(args[0], x) for x in v]
    if origin is tuple:
        return tuple(_dec(a, x) for a, x in zip(args, v, strict=True))
    raise TypeError(f"cannot decode {tp!r}")
