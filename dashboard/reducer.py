"""The reducer: the fold ``apply(state, event) -> state`` and the ``Reducer`` that feeds it and snapshots it.

``apply`` mutates the state in place (for speed) and is otherwise a pure function of the state and the event:
no I/O, no clock, no randomness, and an event it rejects leaves the state as it was.

Input is exactly what the JSONL holds: one dict per event as ``orjson.loads`` returns it (envelope keys ``v, ts,
session_id, seq, level, logger, event, category, message, market_ts`` plus the event's fields; money as decimal
strings). Time comes only from events — ``market_ts`` for market figures (age, countdowns, market uptime), ``ts``
for wall uptime — so a live run, a JSONL replay and a DB replay fold to the same state and the same frame.

Speed: ``apply`` mutates the plain dataclass state in place, parses only the fields it uses and validates them
lazily (a missing / wrong-typed / non-finite field → the event is counted as rejected and the state is left
unchanged). Pydantic models are built only in ``build_snapshot`` (``dashboard.snapshot``), where every derived
figure is computed with ``helpers.formulas``.

Bad input never raises out of ``feed`` / ``feed_line`` / ``apply``; it is counted in ``IngestStats`` by reason.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import orjson

from dashboard.hot_lines import HANDLED_LINES, HOT_DECODER, HOT_ERRORS, MarkLine, RateLine
from dashboard.models import DashboardSnapshot
from dashboard.snapshot import build_snapshot
from dashboard.state import (
    MAX_DECIMAL_EXP,
    DashboardState,
    IngestStats,
    LegState,
    PositionState,
    RateState,
    SessionInfo,
    VenueState,
    state_from_dict,
)
from dashboard.timeaxis import Clock, event_time
from helpers import formulas
from logging_pipeline.events import SCHEMA_VERSION

__all__ = ["Reducer", "apply", "build_snapshot", "NOISE_EVENTS", "BOOKED_TOLERANCE_USD", "MAX_CLOSED_KEPT"]

#: Events folded but not shown in the timeline (high-rate or housekeeping).
NOISE_EVENTS = frozenset(
    {
        "market.mark_price",
        "funding.rate",
        "heartbeat",
        "position.updated",
        "metric",
        "dashboard.checkpoint",
        "funding.payment",
        "funding.settlement",
    }
)
#: ``position.closed`` figures that differ from the recomputed ones by more than this (USD) raise a warning line.
BOOKED_TOLERANCE_USD = Decimal("0.000001")
#: How many closed / rolled-back positions the state keeps (totals keep counting the evicted ones).
MAX_CLOSED_KEPT = 100
_CATEGORIES = frozenset(
    {"stage", "execution", "funding", "market", "warning", "error", "info", "metric", "checkpoint"}
)
_ZERO = Decimal(0)
_MARK = "market.mark_price"
_RATE = "funding.rate"
_MAX_EXP = MAX_DECIMAL_EXP  # see dashboard.state


class _Bad(Exception):
    """A field of an event is missing, wrong-typed or out of range: ``reason`` (counted) and ``detail``."""

    def __init__(self, detail: str, reason: str = "bad_field") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- field readers (cheap, raise _Bad) ----------------------------------------------------------------------


def _str(ev: dict[str, Any], key: str) -> str:
    v = ev.get(key)
    if type(v) is not str:
        raise _Bad(f"{key}: expected string")
    return v


def _opt_str(ev: dict[str, Any], key: str) -> str | None:
    v = ev.get(key)
    if v is not None and type(v) is not str:
        raise _Bad(f"{key}: expected string")
    return v


def _int(ev: dict[str, Any], key: str, *, positive: bool = False) -> int:
    v = ev.get(key)
    if type(v) is not int or (positive and v <= 0):
        raise _Bad(f"{key}: expected {'positive ' if positive else ''}integer")
    return v


def _dec(ev: dict[str, Any], key: str) -> Decimal:
    v = ev.get(key)
    t = type(v)
    if t is str or t is int:
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise _Bad(f"{key}: not a decimal") from None
        if d.is_finite() and -_MAX_EXP < d.adjusted() < _MAX_EXP:
            return d
    raise _Bad(f"{key}: expected finite decimal string of sane magnitude")


def _pos_dec(ev: dict[str, Any], key: str) -> Decimal:
    d = _dec(ev, key)
    if d <= 0:
        raise _Bad(f"{key}: must be positive")
    return d


def _opt_dec(ev: dict[str, Any], key: str) -> Decimal | None:
    return None if ev.get(key) is None else _dec(ev, key)


_fromiso = datetime.fromisoformat
_loads = orjson.loads


def _parse_dt(s: str) -> datetime:
    """ISO string → aware UTC datetime. Raises ``_Bad`` (``naive_timestamp`` / ``bad_timestamp``)."""
    try:
        dt = datetime.fromisoformat(s)
    except (ValueError, TypeError):
        raise _Bad(f"bad timestamp {s[:40]!r}", "bad_timestamp") from None
    off = dt.utcoffset()
    if off is None:
        raise _Bad(f"naive timestamp {s[:40]!r}", "naive_timestamp")
    return dt.astimezone(UTC) if off else dt


def _opt_dt(ev: dict[str, Any], key: str) -> datetime | None:
    v = ev.get(key)
    if v is None:
        return None
    if type(v) is not str:
        raise _Bad(f"{key}: expected ISO string")
    return _parse_dt(v)


def _bump(d: dict[str, int], reason: str) -> None:
    d[reason] = d.get(reason, 0) + 1


# --- the fold -----------------------------------------------------------------------------------------------


def apply(state: DashboardState, event: dict[str, Any]) -> DashboardState:
    """Fold one event into ``state`` (mutated in place and returned). Pure: no I/O, no wall clock.

    Order: envelope (``missing_envelope``), timestamps (``naive_timestamp`` / ``bad_timestamp``), per-session
    ``seq`` (``duplicate_seq`` / ``out_of_order_seq``: skipped), schema version (``newer_version``: kept as an info
    line, not folded), event name (``unknown_event``: info line), then the event's handler (``bad_field`` …:
    rejected, state unchanged apart from the counters and the session's last ``seq``).
    """
    try:
        v = event["v"]
        ts = event["ts"]
        sid = event["session_id"]
        seq = event["seq"]
        name = event["event"]
    except KeyError as e:
        return _skip(state, "missing_envelope", f"missing {e.args[0]!r}")
    except TypeError:
        return _skip(state, "not_object", type(event).__name__)
    # hot path checks only what a cheap operation below would not catch: seq must be an int (not a bool),
    # session_id a str (a dict key that must survive JSON); ts is checked by fromisoformat, v by ``v != 1``
    if type(seq) is not int or type(sid) is not str or seq < 0:
        return _skip(state, "missing_envelope", "seq must be a non-negative int, session_id a string")
    if v != SCHEMA_VERSION and (type(v) is not int or v < 1):
        return _skip(state, "missing_envelope", f"bad schema version {str(v)[:20]!r}")
    # timestamps, inlined for speed (hot path: UTC ts, market_ts unchanged since the previous event)
    try:
        tsdt = _fromiso(ts)
    except (ValueError, TypeError):
        return _skip(state, "bad_timestamp", f"seq {seq}: ts {str(ts)[:40]!r}")
    if tsdt.tzinfo is not UTC:
        if tsdt.utcoffset() is None:
            return _skip(state, "naive_timestamp", f"seq {seq}: ts {ts[:40]!r}")
        tsdt = tsdt.astimezone(UTC)
    mraw = event.get("market_ts")
    if mraw is None:
        mts = None
    elif mraw == state.market_ts_raw:
        mts = state.market_ts_last
    else:
        if type(mraw) is not str:
            return _skip(state, "bad_timestamp", f"seq {seq}: market_ts not a string")
        try:
            mts = _parse_dt(mraw)
        except _Bad as b:
            return _skip(state, b.reason, f"seq {seq}: market_ts {b.detail}")
        state.market_ts_raw = mraw
        state.market_ts_last = mts

    if type(name) is not str:
        return _skip(state, "missing_envelope", "event name must be a string")
    last = state.last_seq.get(sid)
    if last is not None and seq <= last:
        return _skip(state, "duplicate_seq" if seq == last else "out_of_order_seq", f"seq {seq} after {last}")
    state.last_seq[sid] = seq

    if name == _MARK and v == SCHEMA_VERSION:  # hot path (most events): _on_mark's accept case, inlined
        venue = event.get("venue")
        symbol = event.get("symbol")
        price = event.get("mark_price")
        if type(venue) is str and type(symbol) is str and type(price) is str and _fast_mark_ok(price):
            state.marks[(venue, symbol)] = price  # type: ignore[assignment]
            state.stats.applied += 1
            state.last_ts = ts
            if mts is not None and mts is not state.market_now and (
                state.market_now is None or mts > state.market_now
            ):
                state.market_now = mts
            return state
    if v != SCHEMA_VERSION or (handler := _HANDLERS.get(name)) is None:
        reason = "newer_version" if v > SCHEMA_VERSION else "unknown_event"
        _bump(state.stats.unknown, reason)
        msg = event.get("message")
        label = f"unknown event {name} (v{v})" if reason == "newer_version" else f"unknown event {name}"
        msg = f"{label}: {msg}" if type(msg) is str and msg else label
        state.last_ts = ts
        if mts is not None and (state.market_now is None or mts > state.market_now):
            state.market_now = mts
        state.timeline.append((ts, mraw if mts is not None else None, seq, "info", "info", name, msg))
        return state
    st = state.stats
    try:
        extra = handler(state, event, tsdt, mts)
    except _Bad as b:
        _bump(st.rejected, b.reason)
        st.last_problem = f"{name} seq {seq}: {b.detail}"
        return state
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError) as e:
        _bump(st.rejected, "bad_field")
        st.last_problem = f"{name} seq {seq}: {type(e).__name__}: {e}"[:200]
        return state
    except Exception as e:  # never raise out of the fold  # noqa: BLE001
        _bump(st.rejected, "internal_error")
        st.last_problem = f"{name} seq {seq}: {type(e).__name__}: {e}"[:200]
        return state

    st.applied += 1
    state.last_ts = ts
    if mts is not None and mts is not state.market_now and (state.market_now is None or mts > state.market_now):
        state.market_now = mts
    if name not in NOISE_EVENTS:
        cat = event.get("category")
        level = event.get("level")
        if type(level) is not str:
            level = "info"
        if cat not in _CATEGORIES:
            cat = "warning" if level == "warning" else "error" if level in ("error", "critical") else "info"
        msg = event.get("message")
        if type(msg) is not str or not msg:
            msg = _describe(name, event)
        row = (ts, mraw if mts is not None else None, seq, cat, level, name, msg)
        state.timeline.append(row)
        if extra:
            state.timeline.extend(extra)
    return state


#: Fields shown for a timeline event that arrived without a message (``name key=value …``).
_DESCRIBE_KEYS = ("health", "reason", "symbol", "venue", "position_id", "limit", "name", "value")


def _describe(name: str, event: dict[str, Any]) -> str:
    """A one-line description for an event without ``message``: its name and a few identifying fields."""
    parts = [name]
    for key in _DESCRIBE_KEYS:
        val = event.get(key)
        if type(val) is str or type(val) is int:
            parts.append(f"{key}={val}")
    return " ".join(parts)


def _skip(state: DashboardState, reason: str, detail: str) -> DashboardState:
    _bump(state.stats.skipped, reason)
    state.stats.last_problem = f"{reason}: {detail}"[:200]
    return state


# --- handlers: validate everything first, then mutate ----------------------------------------------------

Handler = Callable[[DashboardState, dict[str, Any], datetime, "datetime | None"], "list[Any] | None"]


def _noop(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    return None


def _on_session_started(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    strategy = _str(ev, "strategy")
    version = _str(ev, "strategy_version")
    config_path = _opt_str(ev, "config_path")
    venues = ev.get("venues")
    if type(venues) is not list or not all(type(x) is str for x in venues):
        raise _Bad("venues: expected list of strings")
    symbols = ev.get("symbols", [])
    if type(symbols) is not list or not all(type(x) is str for x in symbols):
        raise _Bad("symbols: expected list of strings")
    max_positions = _int(ev, "max_positions")
    max_exposure = _dec(ev, "max_total_exposure_usd")
    target_margin = _opt_dec(ev, "target_margin")
    market_start = _opt_dt(ev, "market_start") or mts
    data_note = _opt_str(ev, "data_note")
    dry_run = ev.get("dry_run")
    erosion = _opt_dec(ev, "profit_erosion_threshold")  # optional extras (fraction / percent)
    div_limit = _opt_dec(ev, "max_entry_price_divergence_pct")
    state.session = SessionInfo(
        session_id=ev["session_id"],
        strategy=strategy,
        strategy_version=version,
        config_path=config_path,
        dry_run=dry_run if type(dry_run) is bool else None,
        symbols=list(symbols),
        health="running",
        started_ts=ts,
        market_start=market_start,
        max_positions=max_positions,
        max_total_exposure_usd=max_exposure,
        target_margin=target_margin,
        data_note=data_note,
        erosion_threshold_pct=erosion * 100 if erosion is not None else None,
        divergence_limit_pct=div_limit,
    )
    for name in venues:
        if name not in state.venues:
            state.venues[name] = VenueState(name=name)


def _on_session_stopped(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    reason = _str(ev, "reason")
    health = ev.get("health", "stopped")
    if type(health) is not str:
        raise _Bad("health: expected string")
    state.session.health = health
    state.session.stop_reason = reason


def _on_session_health(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    """Session health. A ``component`` (a sink: ``jsonl``, ``postgres`` …) reports for itself: the session stays
    ``degraded`` while any component is, so one sink recovering does not hide another that is still down."""
    health = _str(ev, "health")
    reason = _opt_str(ev, "reason")
    component = _opt_str(ev, "component")
    session = state.session
    if component is not None:
        if health in ("degraded", "error"):
            session.degraded[component] = reason or health
        else:
            session.degraded.pop(component, None)
    if session.degraded and health in ("running", "idle", "degraded"):
        health = "degraded"
        reason = "; ".join(f"{name}: {why}" for name, why in sorted(session.degraded.items()))
    session.health = health
    session.health_reason = reason


def _on_stage(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    stage_id = _str(ev, "stage_id")
    title = _str(ev, "title")
    icon = _opt_str(ev, "icon") or ""
    lifecycle = _opt_str(ev, "lifecycle")
    msg = ev.get("message")
    banner = msg if type(msg) is str and msg else (f"{stage_id}. {icon} {title}" if icon else f"{stage_id}. {title}")
    state.session.stage_banner = banner
    if lifecycle is not None:
        state.session.lifecycle = lifecycle


def _on_venue_connected(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    name = _str(ev, "venue")
    interval = _int(ev, "funding_interval_s", positive=True)
    taker = _dec(ev, "taker_fee_rate")
    maker = _dec(ev, "maker_fee_rate")
    state.venues[name] = VenueState(name, True, None, interval, taker, maker)


def _on_venue_disconnected(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    name = _str(ev, "venue")
    reason = _str(ev, "reason")
    venue = state.venues.get(name)
    if venue is None:
        venue = state.venues[name] = VenueState(name=name)
    venue.connected = False
    venue.reason = reason


def _get_pos(state: DashboardState, pid: str, symbol: str) -> PositionState:
    pos = state.positions.get(pid) or state.closed.get(pid)
    if pos is None:
        pos = state.positions[pid] = PositionState(position_id=pid, symbol=symbol)
    return pos


def _on_fill(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    """An ``order.filled`` / ``order.partially_filled``: each event's ``qty`` and ``fee`` are that fill's own.

    Same direction as the leg → the leg grows, entry = qty-weighted average price; opposite → the leg shrinks
    and ``formulas.realized_pnl(leg side, closed qty, entry, fill price)`` is booked (a fill larger than the leg
    flips it, the remainder entering at the fill price). ``fee`` (USD) always adds to the position's fees.
    """
    pid = _str(ev, "position_id")
    venue = _str(ev, "venue")
    symbol = _str(ev, "symbol")
    side = _str(ev, "side")
    if side not in ("buy", "sell"):
        raise _Bad("side: expected buy/sell")
    qty = _pos_dec(ev, "qty")
    price = _pos_dec(ev, "price")
    fee = _dec(ev, "fee")

    pos = _get_pos(state, pid, symbol)
    fill_side = "long" if side == "buy" else "short"
    leg = pos.legs.get(venue)
    if leg is None:
        leg = pos.legs[venue] = LegState(venue=venue, side=fill_side)
    elif leg.qty == 0 and leg.side != fill_side:
        leg.side = fill_side
    realized = _ZERO
    if leg.side == fill_side:
        new_qty = leg.qty + qty
        leg.entry_price = (leg.qty * leg.entry_price + qty * price) / new_qty
        leg.qty = new_qty
        leg.opened_qty += qty
    else:
        close_qty = qty if qty <= leg.qty else leg.qty
        realized = formulas.realized_pnl(leg.side, close_qty, leg.entry_price, price)
        leg.qty -= close_qty
        rest = qty - close_qty
        if rest > 0:
            leg.side = fill_side
            leg.qty = rest
            leg.entry_price = price
            leg.opened_qty += rest
        leg.realized_pnl += realized
    leg.fees += fee
    state.fees_total += fee
    state.realized_total += realized
    if pos.long_venue is None and leg.side == "long":
        pos.long_venue = venue
    elif pos.short_venue is None and leg.side == "short":
        pos.short_venue = venue
    pos.last_update_ts = mts or ts


def _on_rollback(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    pid = _str(ev, "position_id")
    symbol = _str(ev, "symbol")
    reason = _str(ev, "reason")
    pos = _get_pos(state, pid, symbol)
    if pos.lifecycle == "opening":
        pos.lifecycle = "rolled_back"
        pos.exit_reason = f"ROLLBACK {reason}"
        pos.closed_ts = mts or ts
        _move_to_closed(state, pos)
    pos.last_update_ts = mts or ts


def _move_to_closed(state: DashboardState, pos: PositionState) -> None:
    state.positions.pop(pos.position_id, None)
    state.closed.pop(pos.position_id, None)
    state.closed[pos.position_id] = pos
    while len(state.closed) > MAX_CLOSED_KEPT:
        del state.closed[next(iter(state.closed))]


def _on_position_opened(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    pid = _str(ev, "position_id")
    symbol = _str(ev, "symbol")
    long_venue = _str(ev, "long_venue")
    short_venue = _str(ev, "short_venue")
    raw_legs = ev.get("legs")
    if type(raw_legs) is not list:
        raise _Bad("legs: expected list")
    legs = []
    for raw in raw_legs:
        if type(raw) is not dict:
            raise _Bad("legs: expected objects")
        side = _str(raw, "side")
        if side not in ("long", "short"):
            raise _Bad("legs.side: expected long/short")
        legs.append(
            (_str(raw, "venue"), side, _pos_dec(raw, "qty"), _pos_dec(raw, "entry_price"), _dec(raw, "fee"),
             _opt_dec(raw, "leverage"))
        )
    target = _dec(ev, "target_exposure_usd")
    filled = _dec(ev, "filled_exposure_usd")
    entry_apr = _dec(ev, "entry_spread_apr")
    long_rate = _opt_dec(ev, "entry_long_rate")
    short_rate = _opt_dec(ev, "entry_short_rate")

    pos = _get_pos(state, pid, symbol)
    pos.symbol = symbol
    pos.long_venue = long_venue
    pos.short_venue = short_venue
    for venue, side, qty, entry, fee, leverage in legs:
        leg = pos.legs.get(venue)
        if leg is None or leg.opened_qty == 0:  # no fills seen for this leg: take the event's figures
            leg = pos.legs[venue] = LegState(venue=venue, side=side, qty=qty, entry_price=entry, opened_qty=qty)
            leg.fees = fee
            state.fees_total += fee
        leg.leverage = leverage
    pos.target_exposure_usd = target
    pos.filled_exposure_usd = filled
    pos.entry_spread_apr = entry_apr
    pos.entry_long_rate = long_rate
    pos.entry_short_rate = short_rate
    if pos.lifecycle in ("opening", "rolled_back"):
        if pos.lifecycle == "rolled_back":
            state.closed.pop(pid, None)
            state.positions[pid] = pos
        pos.lifecycle = "open"
        pos.exit_reason = None
        state.positions_opened += 1
    pos.entry_ts = mts or ts
    pos.last_update_ts = mts or ts


def _known_pos(state: DashboardState, ev: dict[str, Any]) -> PositionState:
    pid = _str(ev, "position_id")
    pos = state.positions.get(pid) or state.closed.get(pid)
    if pos is None:
        raise _Bad(f"unknown position {pid[:40]!r}", "unknown_position")
    return pos


def _on_position_updated(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    pos = _known_pos(state, ev)
    spread = _dec(ev, "current_spread_apr")
    div = _dec(ev, "divergence_pct")
    pending = ev.get("rebalance_pending", False)
    if type(pending) is not bool:
        raise _Bad("rebalance_pending: expected bool")
    hold = _opt_str(ev, "hold_code")
    pos.bot_current_spread_apr = spread
    pos.bot_divergence_pct = div
    pos.rebalance_pending = pending
    pos.hold_code = hold
    pos.last_update_ts = mts or ts


def _on_position_rebalanced(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    pos = _known_pos(state, ev)
    pos.rebalance_pending = False
    pos.last_update_ts = mts or ts


def _on_position_closing(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    pos = _known_pos(state, ev)
    reason = _str(ev, "reason")
    if pos.lifecycle in ("opening", "open"):
        pos.lifecycle = "closing"
    pos.exit_reason = reason
    pos.last_update_ts = mts or ts


def _on_position_closed(
    state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None
) -> list[Any] | None:
    """Close the position and compare the bot's booked figures with the recomputed ones (warning if they
    differ by more than ``BOOKED_TOLERANCE_USD``)."""
    pos = _known_pos(state, ev)
    reason = _str(ev, "reason")
    booked = {k: _dec(ev, k) for k in ("realized_pnl", "fees", "funding", "net_pnl")}
    realized = sum((leg.realized_pnl for leg in pos.legs.values()), _ZERO)
    fees = sum((leg.fees for leg in pos.legs.values()), _ZERO)
    funding = sum((leg.funding_accrued for leg in pos.legs.values()), _ZERO)
    ours = {"realized_pnl": realized, "fees": fees, "funding": funding, "net_pnl": realized + funding - fees}
    was_closed = pos.lifecycle == "closed"
    pos.lifecycle = "closed"
    pos.exit_reason = reason
    pos.closed_ts = mts or ts
    pos.last_update_ts = mts or ts
    pos.booked_net_pnl = booked["net_pnl"]
    pos.rebalance_pending = False
    if not was_closed:
        state.positions_closed += 1
    _move_to_closed(state, pos)
    diffs = [
        f"{k} booked {booked[k]} vs recomputed {ours[k]}"
        for k in ("realized_pnl", "fees", "funding", "net_pnl")
        if abs(booked[k] - ours[k]) > BOOKED_TOLERANCE_USD
    ]
    if not diffs:
        return None
    state.warnings += 1
    mraw = state.market_ts_raw if mts is not None else None
    msg = f"PnL mismatch {pos.position_id} {pos.symbol}: " + "; ".join(diffs)
    return [(ev["ts"], mraw, ev["seq"], "warning", "warning", "dashboard.pnl_mismatch", msg)]


def _on_mark(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    """``market.mark_price``: keep the latest mark per venue × symbol, as its validated decimal text."""
    venue = ev.get("venue")
    symbol = ev.get("symbol")
    price = ev.get("mark_price")
    if type(venue) is not str or type(symbol) is not str or type(price) is not str:
        raise _Bad("venue/symbol/mark_price: expected strings")
    try:
        d = Decimal(price)
    except InvalidOperation:
        raise _Bad("mark_price: not a decimal") from None
    if not d.is_finite() or d <= _ZERO or d.adjusted() > _MAX_EXP:
        raise _Bad("mark_price: expected a positive finite decimal")
    state.marks[(venue, symbol)] = price  # type: ignore[assignment]


def _fast_mark_ok(price: str) -> bool:
    """A cheap sufficient test that ``_on_mark`` accepts ``price`` (a str): ``float`` parses it to a value in
    (0, 1e59). Every string ``float`` parses is also a valid ``Decimal`` (same grammar, plus underscores and
    Unicode digits on both sides — checked by ``tests/test_reducer_fastpath.py``), and a float in that range means
    the decimal is positive, finite and below ``10**_MAX_EXP``. ``False`` only means "ask ``_on_mark``"."""
    try:
        return 0.0 < float(price) < 1e59
    except ValueError:
        return False


def _on_rate(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    """``funding.rate``: keep the latest rate (fraction per ``interval_s``, as its validated decimal text) and next
    settlement per venue × symbol. ``apr`` is not read: the snapshot derives it with ``formulas.rate_to_apr``."""
    venue = ev.get("venue")
    symbol = ev.get("symbol")
    raw = ev.get("rate")
    interval = ev.get("interval_s")
    nraw = ev.get("next_funding_ts")
    if type(venue) is not str or type(symbol) is not str or type(raw) is not str or type(nraw) is not str:
        raise _Bad("venue/symbol/rate/next_funding_ts: expected strings")
    if type(interval) is not int or interval <= 0:
        raise _Bad("interval_s: expected positive integer")
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise _Bad("rate: not a decimal") from None
    if not rate.is_finite() or not -_MAX_EXP < rate.adjusted() < _MAX_EXP:
        raise _Bad("rate: not a finite decimal of sane magnitude")
    key = (venue, symbol)
    cur = state.rates.get(key)
    if cur is not None and cur.next_funding_raw == nraw:
        cur.rate_text = raw  # type: ignore[assignment]
        cur.interval_s = interval
        return
    try:
        nxt = _fromiso(nraw)
    except ValueError:
        raise _Bad(f"bad timestamp {nraw[:40]!r}", "bad_timestamp") from None
    if nxt.tzinfo is not UTC:
        nxt = _parse_dt(nraw)
    if cur is None:
        state.rates[key] = RateState(raw, interval, nxt, nraw)  # type: ignore[arg-type]
    else:
        cur.rate_text = raw  # type: ignore[assignment]
        cur.interval_s = interval
        cur.next_funding_ts = nxt
        cur.next_funding_raw = nraw


def _on_payment(state: DashboardState, ev: dict[str, Any], ts: datetime, mts: datetime | None) -> None:
    """``funding.payment``: actual (``payment``) and expected (``expected_payment``) add to the leg, the position
    (via its legs) and the session totals. Signed: + received, − paid (USD)."""
    pid = _str(ev, "position_id")
    venue = _str(ev, "venue")
    payment = _dec(ev, "payment")
    expected = _dec(ev, "expected_payment")
    pos = state.positions.get(pid) or state.closed.get(pid)
    leg = pos.legs.get(venue) if pos is not None else None
    if leg is None:  # validate everything before creating anything: a rejected event leaves no trace
        side = ev.get("side")
        if side not in ("long", "short"):
            raise _Bad("side: expected long/short")
        if pos is None:
            pos = _get_pos(state, pid, _str(ev, "symbol"))
        leg = pos.legs[venue] = LegState(venue=venue, side=side)
    leg.funding_accrued += payment
    leg.funding_expected += expected
    state.funding_total += payment
    state.funding_expected_total += expected
    pos.last_update_ts = mts or ts


_HANDLERS: dict[str, Handler] = {
    "session.started": _on_session_started,
    "session.stopped": _on_session_stopped,
    "session.health": _on_session_health,
    "stage.changed": _on_stage,
    "venue.connected": _on_venue_connected,
    "venue.disconnected": _on_venue_disconnected,
    "opportunity.found": _noop,
    "opportunity.skipped": _noop,
    "order.placed": _noop,
    "order.filled": _on_fill,
    "order.partially_filled": _on_fill,
    "order.cancelled": _noop,
    "order.rejected": _noop,
    "execution.rollback": _on_rollback,
    "position.opened": _on_position_opened,
    "position.updated": _on_position_updated,
    "position.rebalanced": _on_position_rebalanced,
    "position.closing": _on_position_closing,
    "position.closed": _on_position_closed,
    "market.mark_price": _on_mark,
    "funding.rate": _on_rate,
    "funding.payment": _on_payment,
    "funding.settlement": _noop,  # a summary of the legs' funding.payment events, which are folded
    "risk.limit_hit": _noop,
    "log.message": _noop,
    "metric": _noop,
    "heartbeat": _noop,
    "dashboard.checkpoint": _noop,  # a reader seeking uses ``Reducer.load_checkpoint``; in a replay it is redundant
}


#: Typed lines (``dashboard.hot_lines.HANDLED_LINES``) folded by the replay fast path through these handlers.
#: Only noise events (no timeline row, no handler reading the fast path's deferred scalars) qualify.
_TYPED_HANDLERS: dict[type, Handler] = {struct: _HANDLERS[name] for struct, name in HANDLED_LINES.items()}
assert all(name in NOISE_EVENTS for name in HANDLED_LINES.values())

# --- the feeding object ---------------------------------------------------------------------------------------


class Reducer:
    """Feeds lines/events into ``apply`` and builds snapshots. Not thread-safe (one owner).

    ``version`` increments on every call that changed the state (including skip counters, which are on screen).
    """

    __slots__ = ("state", "version", "max_line_bytes", "timeline_size")

    def __init__(self, *, timeline_size: int = 20, max_line_bytes: int = 64 * 1024 * 1024) -> None:
        self.timeline_size = timeline_size
        self.state = DashboardState(timeline_size=timeline_size)
        self.version = 0
        self.max_line_bytes = max_line_bytes

    @property
    def stats(self) -> IngestStats:
        """The ingest counters (they live in the state, so checkpoints carry them)."""
        return self.state.stats

    def feed_line(self, raw: bytes) -> None:
        """One JSONL line (trailing newline optional). Bad input is counted by reason, never raised."""
        self.version += 1
        if len(raw) > self.max_line_bytes:
            _skip(self.state, "too_long", f"{len(raw)} bytes")
            return
        try:
            event = _loads(raw)
        except orjson.JSONDecodeError as e:
            _skip(self.state, _classify_bad_line(raw), str(e)[:120])
            return
        apply(self.state, event)  # a non-object (array, number, string) is counted there as not_object

    def feed_lines(self, lines: Iterable[bytes]) -> int:
        """Feed many JSONL lines (a replay): same as ``feed_line`` for each, with the per-call overhead hoisted
        out of the loop. Returns how many lines were read."""
        n = _fold_lines(self.state, lines, self.max_line_bytes)
        self.version += n
        return n

    def feed_lines_until(self, lines: Iterable[bytes], until: datetime, clock: Clock = "wall") -> tuple[int, bool]:
        """Like ``feed_lines`` but stops at the first event whose time on ``clock`` (``dashboard.timeaxis``:
        envelope ``ts`` or ``market_ts``) is later than ``until`` (aware): that line is not fed. Returns
        ``(lines fed, stopped)``; ``stopped`` says a later event was found, so the caller reads no further.
        Lines without a time on that clock are fed (and bad ones counted there)."""
        n = 0
        for raw in lines:
            if len(raw) <= self.max_line_bytes:
                try:
                    event = _loads(raw)
                except orjson.JSONDecodeError:
                    event = None
                t = event_time(event, clock)
                if t is not None and t > until:
                    return n, True
                if event is not None:
                    self.version += 1
                    apply(self.state, event)
                    n += 1
                    continue
            self.feed_line(raw)
            n += 1
        return n, False

    def feed(self, event: dict[str, Any]) -> None:
        """One parsed event dict (as ``orjson.loads`` gives it). Never raises."""
        self.version += 1
        apply(self.state, event)

    def note_skip(self, reason: str, detail: str = "") -> None:
        """Count a reader's own skip (e.g. ``torn_line``) so it shows with the others."""
        self.version += 1
        _skip(self.state, reason, detail or reason)

    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool:
        """Replace the state by a ``dashboard.checkpoint`` payload (``state_to_dict`` form), keeping this
        reducer's timeline size. A malformed payload (or another version's state form) leaves the state as it
        was and — unless ``count_bad`` is false, for a caller that then replays from the start instead — is
        counted (``bad_checkpoint``); returns whether it was loaded. Never raises."""
        try:
            state = state_from_dict(data)
        except Exception as e:  # noqa: BLE001 - any malformed payload is a counted skip
            if count_bad:
                self.note_skip("bad_checkpoint", f"{type(e).__name__}: {e}"[:200])
            return False
        if state.timeline_size != self.timeline_size:
            state.timeline_size = self.timeline_size
            state.timeline = deque(state.timeline, maxlen=self.timeline_size)
        self.state = state
        self.version += 1
        return True

    def snapshot(self, *, closed_rows: int = 5) -> DashboardSnapshot:
        """Build the pydantic snapshot: every derived figure computed here (see ``dashboard.snapshot``)."""
        return build_snapshot(self.state, closed_rows=closed_rows)


def _classify_bad_line(raw: bytes | str) -> str:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        b = bytes(raw)
        if not b.strip():
            return "empty_line"
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
    elif not raw.strip():
        return "empty_line"
    return "not_json"


# --- the replay fast path ----------------------------------------------------------------------------------


_NO_SID = object()  # equal to no JSON value


def _fold_lines(state: DashboardState, lines: Iterable[bytes], limit: int) -> int:
    """``feed_line`` for each of ``lines`` (returns how many), with the frequent events of a replay decoded by
    ``dashboard.hot_lines`` (typed, in C): ``market.mark_price`` and ``funding.rate`` (~90 % of a log) folded
    inline, ``funding.payment`` / ``funding.settlement`` / ``position.updated`` through their reference handler
    (``_TYPED_HANDLERS``; a handler that rejects the event sends the line to ``apply``, which counts it).

    The inline fold is taken only when *every* check ``apply`` makes passes (the decoder has checked the JSON
    types, ``v`` and the bounds; here: ``seq`` above the session's last one, ``ts`` / ``market_ts`` ISO strings
    in UTC, a price or rate that ``float`` reads into a safe range — see ``_fast_mark_ok``); it then makes exactly
    the mutations ``apply`` would. Anything else — another event, a line of another shape, a zero rate, a huge
    exponent, a new session id, a ``ts`` not in UTC — is read with ``orjson.loads`` and folded by ``apply``
    itself, so skips and rejects are counted by the one reference code. The fold's hot scalars live in locals
    here and are written back to ``state`` before each ``apply`` call and at the end (``finally``), so ``apply``
    and the caller always see the exact state. ``tests/test_reducer_fastpath.py`` checks the result equals
    ``apply`` on every event, on real and hostile logs.
    """
    loads = _loads
    decode = HOT_DECODER.decode
    hot_errors = HOT_ERRORS
    mark_line = MarkLine
    rate_line = RateLine
    handled = _TYPED_HANDLERS
    as_dict = msgspec.structs.asdict
    fromiso = _fromiso
    to_float = float
    utc = UTC
    marks = state.marks
    rates = state.rates
    last_seq = state.last_seq
    st = state.stats
    applied = st.applied
    last_ts = state.last_ts
    market_now = state.market_now
    m_raw = state.market_ts_raw
    m_last = state.market_ts_last
    cur_sid: object = _NO_SID  # the session whose last seq is held in cur_last (written back lazily; -1 = none)
    cur_last = -1
    n = 0
    in_apply = False
    try:
        for raw in lines:
            n += 1
            if len(raw) > limit:
                _skip(state, "too_long", f"{len(raw)} bytes")
                continue
            try:
                hot = decode(raw)
            except hot_errors:
                hot = None
            if hot is not None:
                sid = hot.session_id
                if sid != cur_sid:
                    if cur_last >= 0:
                        last_seq[cur_sid] = cur_last  # type: ignore[index]
                    cur_sid = sid
                    last = last_seq.get(sid)
                    cur_last = -1 if last is None else last
                seq = hot.seq
                if seq > cur_last:
                    ts = hot.ts
                    try:
                        tsdt = fromiso(ts)
                    except ValueError:
                        tsdt = None
                    mraw = hot.market_ts
                    if mraw is None or mraw == m_raw:
                        mts = m_last if mraw is not None else None
                    else:
                        try:
                            mts = fromiso(mraw)
                        except ValueError:
                            mts = None
                        if mts is None or mts.tzinfo is not utc:
                            tsdt = None  # apply handles it (a skip, or a non-UTC offset)
                    if tsdt is not None and tsdt.tzinfo is utc:
                        folded = False
                        kind = type(hot)
                        if kind is mark_line:
                            price = hot.mark_price
                            try:
                                f = to_float(price)
                            except ValueError:
                                f = 0.0
                            if 0.0 < f < 1e59:  # see _fast_mark_ok
                                marks[(hot.venue, hot.symbol)] = price
                                folded = True
                        elif kind is rate_line:
                            rtext = hot.rate
                            try:
                                f = to_float(rtext)
                            except ValueError:
                                f = 0.0
                            if 1e-58 < abs(f) < 1e58:  # nonzero, |adjusted| < _MAX_EXP (zero: apply)
                                key = (hot.venue, hot.symbol)
                                nraw = hot.next_funding_ts
                                cur = rates.get(key)
                                if cur is not None and cur.next_funding_raw == nraw:
                                    cur.rate_text = rtext
                                    cur.interval_s = hot.interval_s
                                    folded = True
                                else:
                                    try:
                                        nxt = fromiso(nraw)
                                    except ValueError:
                                        nxt = None
                                    if nxt is not None and nxt.tzinfo is utc:
                                        if cur is None:
                                            rates[key] = RateState(rtext, hot.interval_s, nxt, nraw)
                                        else:
                                            cur.rate_text = rtext
                                            cur.interval_s = hot.interval_s
                                            cur.next_funding_ts = nxt
                                            cur.next_funding_raw = nraw
                                        folded = True
                        else:
                            try:  # the reference handler on the typed fields; a rejection: apply counts it
                                handled[kind](state, as_dict(hot), tsdt, mts)
                                folded = True
                            except Exception:  # noqa: BLE001 - handlers leave the state as it was
                                pass
                        if folded:  # the bookkeeping apply does after a handler
                            cur_last = seq
                            applied += 1
                            last_ts = ts
                            if mts is not None:
                                if mraw != m_raw:
                                    m_raw = mraw
                                    m_last = mts
                                if mts is not market_now and (market_now is None or mts > market_now):
                                    market_now = mts
                            continue
            # the reference path: parse, sync the state, fold with apply, reload
            try:
                event = loads(raw)
            except orjson.JSONDecodeError as e:
                _skip(state, _classify_bad_line(raw), str(e)[:120])
                continue
            _sync(state, applied, last_ts, market_now, m_raw, m_last, cur_sid, cur_last)
            cur_sid = _NO_SID
            cur_last = -1
            in_apply = True
            apply(state, event)
            in_apply = False
            applied = st.applied
            last_ts = state.last_ts
            market_now = state.market_now
            m_raw = state.market_ts_raw
            m_last = state.market_ts_last
    finally:
        if not in_apply:  # (apply never raises; if it did, the state it left is the truth)
            _sync(state, applied, last_ts, market_now, m_raw, m_last, cur_sid, cur_last)
    return n


def _sync(state: DashboardState, applied: int, last_ts: str | None, market_now: datetime | None,
          m_raw: str | None, m_last: datetime | None, sid: object, last: int) -> None:
    if last >= 0:  # only ever set for a string session id
        state.last_seq[sid] = last  # type: ignore[index]
    state.stats.applied = applied
    state.last_ts = last_ts
    state.market_now = market_now
    state.market_ts_raw = m_raw
    state.market_ts_last = m_last
