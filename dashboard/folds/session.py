"""Session and venues: who is running, with which limits and thresholds, how healthy, at which stage, on which
venues (``session.started`` / ``stopped`` / ``health``, ``stage.changed``, ``venue.connected`` / ``disconnected``).
"""

from __future__ import annotations

from typing import Any

from arbdash.dashboard.folds.base import Rejected, dec, fold, opt_dec
from arbdash.dashboard.state import DashboardState, SessionInfo, VenueState
from arbdash.logging_pipeline.events import (
    CommandExecuted,
    Metric,
    OpportunityFound,
    OpportunitySkipped,
    SessionHealth,
    SessionStarted,
    SessionStopped,
    StageChanged,
    VenueConnected,
    VenueDisconnected,
)

_HUNDRED = 100
#: Distinct metric names kept (a hostile log may name a new one on every line); later names are refused.
MAX_METRICS = 32


@fold(SessionStarted)
def on_session_started(state: DashboardState, ev: Any) -> None:
    """A new session: its identity, limits (USD), and the thresholds the dashboard colours against — the exit's
    ``profit_erosion_threshold`` (a fraction, shown ·100 as %) and ``max_entry_price_divergence_pct`` (%) — and
    the risk settings: ``min_liquidation_distance_pct`` (%) and ``var_confidence`` (a fraction in (0, 1))."""
    max_exposure = dec(ev.max_total_exposure_usd, "max_total_exposure_usd")
    target_margin = opt_dec(ev.target_margin, "target_margin")
    erosion = opt_dec(ev.profit_erosion_threshold, "profit_erosion_threshold")
    div_limit = opt_dec(ev.max_entry_price_divergence_pct, "max_entry_price_divergence_pct")
    liq_distance = opt_dec(ev.min_liquidation_distance_pct, "min_liquidation_distance_pct")
    confidence = opt_dec(ev.var_confidence, "var_confidence")
    if confidence is not None and not 0 < confidence < 1:
        raise Rejected("var_confidence: expected a fraction in (0, 1)")
    state.session = SessionInfo(
        session_id=ev.session_id,
        strategy=ev.strategy,
        strategy_version=ev.strategy_version,
        config_path=ev.config_path,
        dry_run=ev.dry_run,
        symbols=list(ev.symbols),
        health="running",
        started_ts=ev.ts,
        market_start=ev.market_start or ev.market_ts,
        max_positions=ev.max_positions,
        max_total_exposure_usd=max_exposure,
        target_margin=target_margin,
        data_note=ev.data_note,
        erosion_threshold_pct=erosion * _HUNDRED if erosion is not None else None,
        divergence_limit_pct=div_limit,
        min_liquidation_distance_pct=liq_distance,
        var_confidence=confidence,
    )
    for name in ev.venues:
        if name not in state.venues:
            state.venues[name] = VenueState(name=name)


@fold(CommandExecuted)
def on_command_executed(state: DashboardState, ev: Any) -> None:
    """What an operator command changed: the entry switch (``entries_paused``) and the limits ``set_limit``
    replaced (``max_positions``, ``max_total_exposure_usd`` in USD). ``command.received`` / ``rejected`` change
    nothing (they reach the timeline)."""
    if ev.entries_paused is not None:
        state.session.entries_paused = bool(ev.entries_paused)
    if ev.limit is None or ev.value is None:
        return
    value = dec(ev.value, "value")
    if ev.limit == "max_positions":
        if value != value.to_integral_value() or value < 0:
            raise Rejected(f"value: max_positions must be a whole number, not {value}")
        state.session.max_positions = int(value)
    elif ev.limit == "max_total_exposure_usd":
        state.session.max_total_exposure_usd = value


@fold(SessionStopped)
def on_session_stopped(state: DashboardState, ev: Any) -> None:
    state.session.health = ev.health
    state.session.stop_reason = ev.reason


@fold(SessionHealth)
def on_session_health(state: DashboardState, ev: Any) -> None:
    """Session health. A ``component`` (a sink: ``jsonl``, ``postgres`` …) reports for itself: the session stays
    ``degraded`` while any component is, so one sink recovering does not hide another that is still down. The
    last health and reason of each component are kept (``SessionInfo.components``: PostgreSQL's is shown)."""
    health, reason = ev.health, ev.reason
    session = state.session
    if ev.component is not None:
        session.components[ev.component] = (health, reason)
        if health in ("degraded", "error"):
            session.degraded[ev.component] = reason or health
        else:
            session.degraded.pop(ev.component, None)
    if session.degraded and health in ("running", "idle", "degraded"):
        health = "degraded"
        reason = "; ".join(f"{name}: {why}" for name, why in sorted(session.degraded.items()))
    session.health = health
    session.health_reason = reason


@fold(StageChanged)
def on_stage(state: DashboardState, ev: Any) -> None:
    """The banner shown is the event's message (``"3.1 🔍 Pre-flight Checks"``), else rebuilt from its parts; a
    strategy's banner (the envelope's ``strategy``) is also that strategy's last."""
    icon = ev.icon
    banner = ev.message or (f"{ev.stage_id}. {icon} {ev.title}" if icon else f"{ev.stage_id}. {ev.title}")
    state.session.stage_banner = banner
    if ev.lifecycle is not None:
        state.session.lifecycle = ev.lifecycle
    if ev.strategy is not None and (st := state.strategies.get(ev.strategy)) is not None:
        st.stage_banner = banner  # the strategy's own (the feeder admitted its name)
        if ev.lifecycle is not None:
            st.lifecycle = ev.lifecycle


@fold(VenueConnected)
def on_venue_connected(state: DashboardState, ev: Any) -> None:
    """A venue is up: its funding interval (s), fee rates (fractions) and slippage per fill (bp; absent in
    older logs: ``None``, counted as 0 by the spread figures, as the bot that wrote them did)."""
    if ev.funding_interval_s <= 0:
        raise Rejected("funding_interval_s: expected positive integer")
    taker = dec(ev.taker_fee_rate, "taker_fee_rate")
    maker = dec(ev.maker_fee_rate, "maker_fee_rate")
    slip = dec(ev.slippage_bps, "slippage_bps") if ev.slippage_bps is not None else None
    state.venues[ev.venue] = VenueState(ev.venue, True, None, ev.funding_interval_s, taker, maker, slip)


@fold(VenueDisconnected)
def on_venue_disconnected(state: DashboardState, ev: Any) -> None:
    venue = state.venues.get(ev.venue)
    if venue is None:
        venue = state.venues[ev.venue] = VenueState(name=ev.venue)
    venue.connected = False
    venue.reason = ev.reason


@fold(OpportunityFound, OpportunitySkipped)
def on_opportunity(state: DashboardState, ev: Any) -> None:
    """The entry rule a scanner verdict carries (optional fields, absent in older logs): ``min_profit_rate`` (net
    APR, fraction/yr), ``expected_hold_hours`` and ``mandatory_exchange``. A value the fold cannot use is left
    out, never a reason to refuse the event (its timeline row stays). The rule is the session's latest and,
    for an event of a strategy instance, that strategy's own (several strategies have several rules)."""
    if ev.min_profit_rate is None:
        return
    try:
        rule = dec(ev.min_profit_rate, "min_profit_rate")
        hold = opt_dec(ev.expected_hold_hours, "expected_hold_hours")
    except Rejected:
        return
    hold = hold if hold is not None and hold > 0 else None
    st = state.strategies.get(ev.strategy) if ev.strategy is not None else None
    for holder in (state.session, *((st,) if st is not None else ())):
        holder.min_profit_rate = rule
        holder.expected_hold_hours = hold
        holder.mandatory_exchange = ev.mandatory_exchange


@fold(Metric, reads=("name", "value", "unit"))
def on_metric(state: DashboardState, ev: Any) -> None:
    """The latest value of a named measurement (``metric``: the bot's cycle, scan and order timings, the
    pipeline's events/s and queue depth), kept as its decimal text and unit; at most ``MAX_METRICS`` names."""
    value = dec(ev.value, "value")
    metrics = state.session.metrics
    if ev.name not in metrics and len(metrics) >= MAX_METRICS:
        raise Rejected(f"more than {MAX_METRICS} metric names")
    metrics[str(ev.name)[:64]] = (str(value), str(ev.unit)[:16])
