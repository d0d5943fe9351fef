"""Plain-text renderer: a compact multi-line summary, no cursor control, no colour, no box drawing.

For non-TTY output, CI and ``--dashboard-mode=plain``. The line builders here (``session_lines``,
``ingest_line``, ``portfolio_line``, ``clock_line``, ``hidden_line`` …) are pure ``snapshot -> str`` and are
reused by ``render_rich`` so the two renderers say the same thing; ``LEGEND`` explains every header and colour
of both (``legend_text``; ``render_rich.legend`` draws the same entries). Every log-derived string goes through
``dashboard.text.safe_text``.

The summary is ordered by what an operator must see first (the order the Rich layout gives rows in): session
health and stage, the wall and market clocks, every open position, net PnL; then the entry threshold against
the best spread per symbol, funding rates, the timeline, closed positions, and last the venues, limits, ingest
counters and the data note.
"""

from __future__ import annotations

from decimal import Decimal

from arbdash.dashboard.focus import focus_counts
from arbdash.dashboard.models import (
    AccountSnapshot,
    BestSpread,
    DashboardSnapshot,
    PortfolioSnapshot,
    PositionSnapshot,
    RiskSnapshot,
    SessionState,
    StrategyView,
    VenueLeg,
)
from arbdash.dashboard.text import (
    DASH,
    fmt_apr,
    fmt_bp,
    fmt_duration,
    fmt_pct,
    fmt_price,
    fmt_qty,
    fmt_ts,
    fmt_usd,
    safe_text,
)

__all__ = [
    "LEGEND",
    "account_line",
    "accounts_lines",
    "imbalance_line",
    "liquidation_text",
    "has_liquidation_figure",
    "liquidation_flag",
    "past_liquidation",
    "stress_label",
    "worst_headroom_text",
    "DANGER_WORDS",
    "NO_EQUITY",
    "NO_ENTRY_RULE",
    "NO_LIQUIDATION",
    "PAST_LIQUIDATION",
    "focus_line",
    "multi_strategy",
    "sparkline",
    "strategy_label",
    "strategy_line",
    "risk_line",
    "risk_text",
    "best_line",
    "clock_line",
    "closed_line",
    "entry_rule",
    "hidden_closed_line",
    "hidden_line",
    "hold_text",
    "ingest_line",
    "legend_text",
    "limits_line",
    "other_sessions_line",
    "metrics_line",
    "plain_summary",
    "portfolio_line",
    "position_line",
    "postgres_text",
    "session_lines",
    "short_id",
    "venues_line",
    "wins_line",
]


def short_id(position_id: str, n: int = 8) -> str:
    """A position/session id for a narrow column, made safe: whole if ≤ 12 characters (``P0009-SOL``), else its
    first ``n`` characters (a UUID is unique enough there)."""
    return safe_text(position_id if len(position_id) <= 12 else position_id[:n])


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{safe_text(k)} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def other_sessions_line(s: SessionState) -> str | None:
    """``not shown, other sessions in this log: 3f2a…-… 1234 events`` when the log holds events of sessions
    other than the one drawn (never mixed into its figures), else ``None``."""
    others = s.other_sessions
    if not others:
        return None
    parts = [
        f"{'more sessions' if sid == '*' else safe_text(sid, 64)} {n} event{'s' if n != 1 else ''}"
        for sid, n in sorted(others.items(), key=lambda kv: (kv[0] == "*", -kv[1], kv[0]))
    ]
    what = "other session" if len(others) == 1 and "*" not in others else "other sessions"
    return f"not shown, {what} in this log: " + " · ".join(parts)


#: Short names for the bot's metrics on the metrics line (others are shown by their own name).
METRIC_LABELS = {
    "cycle_duration_ms": "cycle",
    "scan_duration_ms": "scan",
    "order_latency_ms": "order",
    "events_per_s": "throughput",
    "dispatch_queue_depth": "queue",
}


def metrics_line(s: SessionState) -> str | None:
    """``metrics cycle 1.2 ms · scan 0.4 ms · order 0.1 ms · throughput 850 events/s · queue 0 events`` — the latest
    ``metric`` events (wall-clock measurements), or ``None`` before any."""
    if not s.metrics:
        return None
    parts = []
    for m in s.metrics:
        label = METRIC_LABELS.get(m.name, m.name)
        value = f"{m.value.normalize():f}" if m.value == m.value.to_integral_value() else f"{m.value:.2f}"
        parts.append(safe_text(f"{label} {value}{' ' + m.unit if m.unit else ''}", 60))
    return "metrics " + " · ".join(parts)


def ingest_line(s: SessionState) -> str:
    """``events 123 · skipped lines: 3 (not_json 1, invalid_utf8 1, torn_line 1) · bad events: 0 · unknown 0`` (bad events: well-formed lines whose fields
    were missing or wrong-typed, not rejected orders). Another session's events are not bad lines: they are
    named by ``other_sessions_line``."""
    g = s.ingest
    parts = [f"events {g.applied}"]
    skipped = g.skipped
    sk = sum(skipped.values())
    parts.append(f"skipped lines: {sk}" + (f" ({_counts(skipped)})" if sk else ""))
    rj = g.rejected_total
    parts.append(f"bad events: {rj}" + (f" ({_counts(g.rejected)})" if rj else ""))
    un = g.unknown_total
    parts.append(f"unknown: {un}" + (f" ({_counts(g.unknown)})" if un else ""))
    return " · ".join(parts)


def venues_line(s: SessionState) -> str:
    """``binance up 8h taker 5.00bp · bybit DOWN (reason)`` (interval in hours, taker fee in bp)."""
    out = []
    for v in s.venues:
        name = safe_text(v.name)
        if v.connected is None:
            out.append(f"{name} pending")
        elif not v.connected:
            out.append(f"{name} DOWN ({safe_text(v.reason, 40)})" if v.reason else f"{name} DOWN")
        else:
            iv = fmt_duration(v.funding_interval_s) if v.funding_interval_s else DASH
            out.append(f"{name} up {iv} taker {fmt_bp(v.taker_fee_rate).lstrip('+')}bp")
    return " · ".join(out) if out else DASH


def limits_line(s: SessionState) -> str:
    """``positions 1/3 · exposure 5,000.00/10,000.00 USD``."""
    mp = s.max_positions if s.max_positions is not None else DASH
    return (
        f"positions {s.open_positions}/{mp} · exposure {fmt_usd(s.exposure_used_usd)}/"
        f"{fmt_usd(s.max_total_exposure_usd)} USD"
    )


def postgres_text(s: SessionState) -> str | None:
    """``postgres OK`` / ``postgres DEGRADED`` / ``postgres ERROR`` from the PostgreSQL sink's last
    ``session.health`` report, ``None`` when it has reported nothing (the sink reports changes only: off, or on
    and never away)."""
    h = s.postgres_health
    if h is None:
        return None
    return "postgres " + ("OK" if h in ("running", "idle") else safe_text(h, 20).upper())


def clock_line(snap: DashboardSnapshot) -> str:
    """``market now … UTC · wall now … UTC · uptime market 4d20h, wall 21s · started … UTC``: both clocks from the
    events (wall now = the last event's ``ts``, never the reader's clock, so a replay draws the same line)."""
    s = snap.session
    return (
        f"market now {fmt_ts(s.market_now, date=True)} UTC · wall now {fmt_ts(snap.generated_at, date=True)} UTC"
        f" · uptime market {fmt_duration(s.market_uptime_s)}, wall {fmt_duration(s.wall_uptime_s)}"
        f" · started {fmt_ts(s.started_ts, date=True)} UTC"
    )


def session_lines(s: SessionState) -> list[str]:
    """The session as lines (the head of the plain summary): identity and health, stage, limits, venues, ingest,
    other sessions, stop reason and the data note. ``clock_line`` (it needs the snapshot) is not among them."""
    ver = f" v{safe_text(s.strategy_version)}" if s.strategy_version else ""
    dry = (" · DRY RUN" if s.dry_run else "") + (" · ENTRIES PAUSED" if s.entries_paused else "")
    pg = postgres_text(s)
    lines = [
        f"{safe_text(s.strategy) if s.strategy else DASH}{ver} · config {safe_text(s.config_path or DASH)}"
        f" · session {short_id(s.session_id or DASH)} · health {safe_text(s.health).upper()}{dry}"
        + (f" ({safe_text(s.health_reason, 60)})" if s.health_reason else "")
        + (f" · {pg}" if pg else ""),
        f"stage {safe_text(s.stage_banner or DASH)}"
        + (f" [{safe_text(s.lifecycle)}]" if s.lifecycle else ""),
        f"venues {venues_line(s)}",
        f"limits {limits_line(s)}",
        ingest_line(s),
        *([line] if (line := metrics_line(s)) else []),
    ]
    if others := other_sessions_line(s):
        lines.append(others)
    if s.stop_reason:
        lines.append(f"stopped: {safe_text(s.stop_reason, 120)}")
    if s.data_note:
        lines.append(f"note: {safe_text(s.data_note, 200)}")
    return lines


def hold_text(p: PositionSnapshot) -> str | None:
    """``ends in 13h00m``: while ``MIN_HOLD_ACTIVE`` holds the position, the time until the minimum hold ends and
    the exits on erosion / a flipped spread apply (``ended`` once it has passed and the bot has not checked
    since), else ``None``."""
    if p.hold_code is None or p.hold_left_s is None:
        return None
    return "ended" if p.hold_left_s <= 0 else f"ends in {fmt_duration(p.hold_left_s)}"


#: How the plain text marks a liquidation distance below 2× / below the session's threshold (Rich colours it).
LIQUIDATION_MARKS = {"warn": " NEAR", "danger": " AT RISK"}
#: The ``vs min`` of a symbol whose strategy has no net-APR entry rule (``BestSpread.no_entry_rule``, e.g.
#: ``settlement_timing``): nothing to measure its net against.
NO_ENTRY_RULE = "no rule"
#: An open leg no price can liquidate (its venue's cross-margined account covers any move): its liquidation
#: price and distance cells read this, never ``—`` (which means not known).
NO_LIQUIDATION = "none"
#: The plain mark of a leg at or past its liquidation price (a signed distance ≤ 0; Rich shows it red).
PAST_LIQUIDATION = "PAST LIQ"
#: How an account with equity ≤ 0 is shown in place of its margin ratio and headroom % (Rich: red): it has
#: nothing left to cover its maintenance margin — not a figure missing.
NO_EQUITY = "EQUITY ≤ 0"
#: The words a Rich view shows in red wherever a line from here carries them.
DANGER_WORDS = (PAST_LIQUIDATION, NO_EQUITY)


def past_liquidation(leg: VenueLeg) -> bool:
    """The leg's mark is at or past its liquidation price (signed distance ≤ 0)."""
    return leg.liquidation_distance_pct is not None and leg.liquidation_distance_pct <= 0


def has_liquidation_figure(leg: VenueLeg) -> bool:
    """The leg has something to show for its liquidation: a price, or ``none`` (no price can liquidate it)."""
    return leg.liquidation_price is not None or leg.no_liquidation_price


def liquidation_text(leg: VenueLeg) -> str:
    """``45,000.0 (12.34 %)``: a leg's liquidation price and signed distance from its mark (``n/a`` without a
    mark), then `` NEAR`` / `` AT RISK`` below 2× / 1× the session's threshold, `` PAST LIQ`` at or past the price
    (the distance ≤ 0, shown negative); ``none`` when no price can liquidate the leg (``no_liquidation_price``),
    ``—`` when no price is known."""
    if leg.no_liquidation_price:
        return NO_LIQUIDATION
    if leg.liquidation_price is None:
        return DASH
    dist = "n/a" if leg.liquidation_distance_pct is None else f"{fmt_pct(leg.liquidation_distance_pct, 2)} %"
    mark = (
        f" {PAST_LIQUIDATION}"
        if past_liquidation(leg)
        else LIQUIDATION_MARKS.get(leg.liquidation_level or "", "")
    )
    return f"{fmt_price(leg.liquidation_price)} ({dist}){mark}"


def stress_label(r: RiskSnapshot) -> str:
    """``stress (worst day, last 8 d)``: the worst 1-day loss over the history the scenarios span
    (``r.history_hours``: the hours seen so far, at most the 30 days kept), not over the whole session; whole
    days from two days on (rounded), else hours."""
    h = r.history_hours
    window = f"{round(h / 24)} d" if h >= 48 else f"{h} h"
    return f"stress (worst day, last {window})"


def risk_text(r: RiskSnapshot | None) -> str:
    """``VaR 12.34 · ES 15.00 · stress (worst day, last 8 d) 20.00 USD`` (1-day, a loss > 0),
    ``n/a (needs 192 h)`` before enough scenarios (the hours of marks they need), ``—`` for an empty book."""
    if r is None or r.empty:
        return f"VaR {DASH}"
    if r.var is None:
        return f"VaR n/a (needs {r.needed_hours} h)"
    return f"VaR {fmt_usd(r.var)} · ES {fmt_usd(r.es)} · {stress_label(r)} {fmt_usd(r.stress)} USD"


def worst_headroom_text(p: PortfolioSnapshot) -> str:
    """`` (worst: bybit 12.00 USD, 3.1 %)``: the venue account nearest liquidation (``EQUITY ≤ 0`` in place of
    its % when it has none); empty without accounts."""
    if p.mm_headroom_worst_venue is None or p.mm_headroom_worst_usd is None:
        return ""
    pct = NO_EQUITY if p.mm_headroom_worst_pct is None else f"{fmt_pct(p.mm_headroom_worst_pct, 1)} %"
    return f" (worst: {safe_text(p.mm_headroom_worst_venue)} {fmt_usd(p.mm_headroom_worst_usd)} USD, {pct})"


def risk_line(snap: DashboardSnapshot) -> str:
    """``mm headroom 1,234.00 USD (80.0%) (worst: bybit 12.00 USD, 3.1 %) · risk 1d 99%: VaR … · ES … · stress
    (worst day, last 17 d) … USD (383 h) · P0009-SOL VaR …``: the maintenance-margin headroom across the venues
    (``n/a`` without accounts) and the venue nearest liquidation — first, so that a line cut short at the pane's
    width still shows them — then the book's 1-day VaR (``dashboard.risk``) over its hourly scenarios, then each
    open position's own VaR."""
    p = snap.portfolio
    r = p.risk
    conf = fmt_pct(r.confidence * 100, 0) if r is not None else "99"
    scen = f" ({r.scenarios} h)" if r is not None and r.var is not None else ""
    head = (
        f"{fmt_usd(p.mm_headroom_usd)} USD ({fmt_pct(p.mm_headroom_pct, 1)}%){worst_headroom_text(p)}"
        if p.mm_headroom_usd is not None
        else "n/a"
    )
    parts = [f"mm headroom {head}", f"risk 1d {conf}%: {risk_text(r)}{scen}"]
    for q in snap.positions:
        if q.risk is not None and not q.risk.empty:
            parts.append(f"{short_id(q.position_id)} {risk_text(q.risk)}")
    return " · ".join(parts)


def account_line(a: AccountSnapshot) -> str:
    """``binance equity 1,000.00 · margin ratio 1.23 % · mm headroom 987.65 USD (98.8 %) · available …``; an
    account with equity ≤ 0 shows ``EQUITY ≤ 0`` in place of its ratio and headroom % (neither exists)."""
    if a.equity <= 0:
        ratio = pct = NO_EQUITY
    else:
        ratio = f"{fmt_pct(a.margin_ratio * 100, 2)} %" if a.margin_ratio is not None else "n/a"
        pct = f"{fmt_pct(a.mm_headroom_pct, 1)} %"
    moved = ""
    if a.transfers_in or a.transfers_out:
        moved = f" · moved in {fmt_usd(a.transfers_in)} out {fmt_usd(a.transfers_out)}"
    return (
        f"{safe_text(a.venue)} equity {fmt_usd(a.equity)} · margin ratio {ratio}"
        f" · mm headroom {fmt_usd(a.mm_headroom_usd)} USD ({pct})"
        f" · available {fmt_usd(a.available)}{moved}"
    )


def liquidation_flag(p: PositionSnapshot) -> str | None:
    """``PAST LIQ`` (a leg at or past its liquidation price), ``NEAR LIQ`` (a leg within 2× the session's
    threshold), else ``None``. Not ``REBALANCE``: whether the bot then closes or rebalances
    (``risk.on_liquidation_risk``) is not in the events."""
    if not p.near_liquidation:
        return None
    return PAST_LIQUIDATION if any(past_liquidation(leg) for leg in p.legs.values()) else "NEAR LIQ"


def imbalance_line(p: PositionSnapshot) -> str:
    """``P0009-SOL imbalance +12.00 USD (binance − bybit equity) · NEAR LIQ · REBALANCE (moved 500 bybit→binance)``:
    ``NEAR LIQ`` / ``PAST LIQ`` by ``liquidation_flag``, ``REBALANCE`` when collateral was moved or a rebalance is
    pending."""
    flag = ""
    near = liquidation_flag(p)
    if near is not None:
        flag += f" · {near}"
    if p.rebalance_flag:
        flag += " · REBALANCE" + (f" (moved {safe_text(p.last_transfer, 60)})" if p.last_transfer else "")
    pair = f"{safe_text(p.long_venue or DASH)} − {safe_text(p.short_venue or DASH)} equity"
    value = (
        fmt_usd(p.collateral_imbalance_usd, signed=True) if p.collateral_imbalance_usd is not None else "n/a"
    )
    return f"{short_id(p.position_id)} {safe_text(p.symbol)} imbalance {value} USD ({pair}){flag}"


def accounts_lines(snap: DashboardSnapshot) -> list[str]:
    """The venues/accounts section: one line per venue account, one per open position (the collateral
    imbalance between its venues and the rebalance flag); empty without ``account.updated`` (an older log)."""
    if not snap.accounts:
        return []
    live = [p for p in snap.positions if p.lifecycle in ("opening", "open", "closing")]
    return [account_line(a) for a in snap.accounts] + [imbalance_line(p) for p in live]


def position_line(p: PositionSnapshot, strategy: bool = False) -> str:
    """One position on one line (USD unless marked); ``strategy``: led by its strategy (a session of several)."""
    legs = "/".join(f"{safe_text(v)} {leg.side}" for v, leg in p.legs.items()) or DASH
    state = p.lifecycle + (f" {safe_text(p.exit_reason, 40)}" if p.exit_reason else "")
    if p.hold_code:
        hold = hold_text(p)
        state += f" {safe_text(p.hold_code, 30)}" + (f" ({hold})" if hold else "")
    flags = " REBALANCE" if p.rebalance_pending else ""
    upnl = fmt_usd(p.unrealized_pnl, signed=True)
    if len(p.legs) > 1 and any(leg.unrealized_pnl is not None for leg in p.legs.values()):
        upnl += (
            " ("
            + ", ".join(
                f"{safe_text(v)} {fmt_usd(leg.unrealized_pnl, signed=True)}" for v, leg in p.legs.items()
            )
            + ")"
        )
    return (
        (f"[{strategy_label(p.strategy)}] " if strategy else "")
        + f"{short_id(p.position_id)} {safe_text(p.symbol)} {state}{flags} · {legs}"
        f" · opened {fmt_ts(p.entry_ts, short=True)} · held {fmt_duration(p.age_s)}"
        f" · APR now {fmt_apr(p.current_spread_apr)} % / entry {fmt_apr(p.entry_spread_apr)} %"
        f" · div {fmt_pct(p.divergence_pct, 3)} % · erosion {fmt_pct(p.profit_erosion_pct, 1)} %"
        f" · uPnL {upnl} · rPnL {fmt_usd(p.realized_pnl, signed=True)}"
        f" · fees {fmt_usd(p.fees)} · funding {fmt_usd(p.funding_accrued, signed=True)}"
        f" (exp {fmt_usd(p.funding_expected, signed=True)}) · net {fmt_usd(p.net_pnl, signed=True)} USD"
        f" · ROI {fmt_pct(p.roi_pct, 2, signed=True)} %"
        + (
            " · liq " + ", ".join(f"{safe_text(v)} {liquidation_text(leg)}" for v, leg in p.legs.items())
            if any(has_liquidation_figure(leg) for leg in p.legs.values())
            else ""
        )
        + (
            " · " + ", ".join(f"{safe_text(name, 24)} {fmt_qty(v)}" for name, v in p.figures.items())
            if p.figures
            else ""
        )
    )


def closed_line(p: PositionSnapshot, strategy: bool = False) -> str:
    """A closed (or rolled-back) position on one line: why, how long it was held, what it made; ``strategy``:
    led by its strategy (a session of several)."""
    legs = "/".join(f"{safe_text(v)} {leg.side}" for v, leg in p.legs.items()) or DASH
    return (
        (f"[{strategy_label(p.strategy)}] " if strategy else "")
        + f"{short_id(p.position_id)} {safe_text(p.symbol)} {p.lifecycle} {safe_text(p.exit_reason or DASH, 40)}"
        f" · {legs} · opened {fmt_ts(p.entry_ts, short=True)} · closed {fmt_ts(p.closed_ts, short=True)}"
        f" · held {fmt_duration(p.age_s) if p.entry_ts is not None else DASH}"
        f" · rPnL {fmt_usd(p.realized_pnl, signed=True)} · fees {fmt_usd(p.fees)}"
        f" · funding {fmt_usd(p.funding_accrued, signed=True)} · net {fmt_usd(p.net_pnl, signed=True)} USD"
        f" · ROI {fmt_pct(p.roi_pct, 2, signed=True)} %"
    )


#: The sparkline's levels, lowest first.
SPARK = "▁▂▃▄▅▆▇█"


def multi_strategy(snap: DashboardSnapshot) -> bool:
    """Whether the session runs two or more strategy instances: only then are the strategies pane and the
    ``Strategy`` columns shown (every frame of a one-strategy session, or an older log, is unchanged)."""
    return sum(1 for v in snap.strategies if v.name is not None) >= 2


def strategy_label(name: str | None, n: int = 20) -> str:
    """A strategy's name as shown (``(none)``: the positions of no strategy)."""
    return "(none)" if name is None else safe_text(name, n)


def sparkline(values: list[Decimal]) -> str:
    """``▁▃▅█``: one character per value, scaled from the lowest (▁) to the highest (█) of them; all equal: ▄."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[3] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[int((v - lo) / (hi - lo) * top)] for v in values)


def strategy_line(v: StrategyView) -> str:
    """One strategy on one line (USD): stage, open / max positions, exposure / limit, the PnL figures and the
    hourly net PnL sparkline."""
    mp = v.max_positions if v.max_positions is not None else DASH
    return (
        f"{strategy_label(v.name)} {safe_text(v.type or DASH, 24)} · stage {safe_text(v.stage_banner or DASH, 40)}"
        f" · positions {v.positions_open}/{mp} · exposure {fmt_usd(v.exposure_used_usd)}/"
        f"{fmt_usd(v.max_total_exposure_usd)} · realized {fmt_usd(v.realized_pnl, signed=True)}"
        f" · unrealized {fmt_usd(v.unrealized_pnl, signed=True)} · funding {fmt_usd(v.funding, signed=True)}"
        f" · fees {fmt_usd(v.fees)} · net {fmt_usd(v.net_pnl, signed=True)} USD"
        + (f" · {sparkline(v.pnl_history)}" if v.pnl_history else "")
    )


def focus_line(snap: DashboardSnapshot) -> str | None:
    """``focus alpha: its positions, accruals and timeline only`` when a view focuses on one strategy."""
    if snap.focus is None:
        return None
    return f"focus {safe_text(snap.focus, 40)}: its positions, accruals and timeline only"


def hidden_line(what: str, below: int, above: int = 0, *, beyond: int = 0) -> str | None:
    """What a cut or paged list does not show: ``… 3 more closed positions``, ``↑ 2 above · … 4 more rates``;
    ``beyond`` of the ``below`` are not in the snapshot at all (``(see arbtail stats)``). ``None`` if nothing
    is hidden. ``what`` is the plural noun."""
    parts = []
    if above > 0:
        parts.append(f"↑ {above} above")
    if below > 0:
        noun = what if below != 1 else what[:-1] if what.endswith("s") else what
        parts.append(f"… {below} more {noun}" + (" (see arbtail stats)" if beyond > 0 else ""))
    return " · ".join(parts) or None


def hidden_closed_line(snap: DashboardSnapshot, shown: int | None = None, above: int = 0) -> str | None:
    """``… 16 more closed positions (see arbtail stats)``: the closed (and rolled-back) rows of the snapshot a
    pane does not show (``shown`` of them, after ``above`` skipped by paging; ``None``: all shown) plus the
    positions the session closed beyond the few the snapshot carries (``positions_closed`` − its closed rows;
    rolled-back attempts are not closed positions), else ``None``."""
    rows = [p for p in snap.positions if p.lifecycle in ("closed", "rolled_back")]
    in_snap = sum(1 for p in rows if p.lifecycle == "closed")
    beyond = max(0, focus_counts(snap)[2] - in_snap)  # the focused strategy's closed, else the session's
    below = 0 if shown is None else max(0, len(rows) - above - shown)
    return hidden_line("closed positions", below + beyond, above, beyond=beyond)


def wins_line(snap: DashboardSnapshot) -> str:
    """``closed 7: wins 2 · losses 5 · avg hold 1d23h``."""
    p = snap.portfolio
    return (
        f"closed {p.positions_closed}: wins {p.wins} · losses {p.losses}"
        f" · avg hold {fmt_duration(p.avg_hold_s)}"
    )


def portfolio_line(snap: DashboardSnapshot) -> str:
    """Portfolio totals on one line (USD), without the net PnL (each renderer leads with it)."""
    p = snap.portfolio
    head = (
        f"{fmt_usd(p.exposure_headroom_usd)} USD ({fmt_pct(p.exposure_headroom_pct, 1)}%)"
        if p.exposure_headroom_usd is not None
        else DASH
    )
    return (
        f"realized {fmt_usd(p.realized_pnl, signed=True)} · unrealized {fmt_usd(p.unrealized_pnl, signed=True)}"
        f" · funding {fmt_usd(p.funding, signed=True)} (exp {fmt_usd(p.funding_expected, signed=True)})"
        f" · fees {fmt_usd(p.fees)} · {wins_line(snap)} · notional {fmt_usd(p.total_notional)}"
        f" · margin used {fmt_usd(p.margin_used)} USD · limit headroom {head} · positions open {p.positions_open}"
        f" opened {p.positions_opened} closed {p.positions_closed}"
    )


def best_line(b: BestSpread) -> str:
    """``SOL binance/hyperliquid spread +13.11 % net +3.21 % (-16.79 vs min)`` (APR %)."""
    if b.long_venue is None:
        return f"{safe_text(b.symbol)} no pair with a positive spread" + (
            f" ({NO_ENTRY_RULE}: its strategy has no APR entry rule)" if b.no_entry_rule else ""
        )
    if b.no_entry_rule:
        gap = f" ({NO_ENTRY_RULE}: its strategy has no APR entry rule)"
    else:
        gap = f" ({fmt_apr(b.vs_min)} vs min)" if b.vs_min is not None else ""
    held = " · position open" if b.position_open else ""
    return (
        f"{safe_text(b.symbol)} {safe_text(b.long_venue)}/{safe_text(b.short_venue or DASH)}"
        f" spread {fmt_apr(b.spread_apr)} % net {fmt_apr(b.net_apr)} %{gap}{held}"
    )


def entry_rule(snap: DashboardSnapshot) -> str:
    """``entry ≥ 20.00% net APR`` (the ``min_profit_rate`` the scanner announced), ``entry rule per strategy``
    (strategies with different rules: each symbol against its own strategy's), ``no APR entry rule`` (no
    strategy in view has one: ``FundingSnapshot.no_entry_rule``) or ``entry rule not announced``."""
    if snap.funding.per_strategy_rules:
        return "entry rule per strategy"
    m = snap.funding.min_profit_rate
    if m is None and snap.funding.no_entry_rule:
        return "no APR entry rule"  # e.g. focused on a settlement_timing instance
    return f"entry ≥ {fmt_apr(m).lstrip('+')}% net APR" if m is not None else "entry rule not announced"


#: The legend: every header and colour of the dashboard, by pane: (header, what it means). ``legend_text``
#: prints it; ``render_rich.legend`` draws it.
LEGEND: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "every pane",
        [
            ("ID / Pos", "the position's id (its first 8 characters when longer than 12)"),
            ("Sym / Venue", "the symbol traded / the perpetual venue"),
            ("USD, %, bp, APR", "US dollars (USDT = USDC = 1 USD), percent, basis points, a rate per year"),
        ],
    ),
    (
        "session",
        [
            ("health", "the session's health; DEGRADED names the component (a sink) that is not ok"),
            ("postgres", "PostgreSQL's last report (persistence on): OK, DEGRADED (spooling), ERROR"),
            ("stage", "the last stage banner of the bot and its lifecycle stage"),
            (
                "market now / wall now",
                "the market clock (replayed history) and the wall clock of the last event",
            ),
            ("limits", "open positions / max_positions · exposure used / max_total_exposure_usd"),
        ],
    ),
    (
        "positions (open)",
        [
            (
                "State",
                "lifecycle; then the hold code (MIN_HOLD_ACTIVE: inside min_hold_hours) or exit reason",
            ),
            (
                "ends in",
                "under MIN_HOLD_ACTIVE: when the minimum hold ends and the erosion / flipped-spread exits apply",
            ),
            ("Legs venue L/S", "each leg's venue and side (L long, S short), one line per leg"),
            ("Qty", "each leg's quantity, base units"),
            ("Entry px / Mark px", "each leg's average entry price / latest mark price"),
            (
                "Expo USD tgt/fill",
                "exposure: the position's target / what was filled at entry (long leg notional), USD",
            ),
            ("Div %", "price divergence: short mark / long mark − 1, percent"),
            ("APR % now/ent", "the funding spread APR now (line 1) and at entry (line 2)"),
            ("Eros %", "profit erosion: 1 − spread now / spread at entry, percent (exits at its threshold)"),
            ("uPnL USD", "unrealized price PnL of each leg at its mark; Σ: the position's sum"),
            ("rPnL USD", "realized price PnL booked by reducing fills"),
            ("Fees USD", "fees paid on every fill of the position"),
            ("Funding USD", "funding received (+) or paid (−); exp: what the entry rates promised"),
            ("Net USD", "rPnL + uPnL + funding − fees"),
            ("ROI %", "net PnL / margin posted at entry (both legs), percent"),
            ("Lev × Margin USD", "each leg's leverage and initial margin at the current mark"),
            (
                "Liq px / dist %",
                "where the venue liquidates each leg; signed distance side · (mark − liq px) / mark · 100 (negative:"
                " past it); none: no price can liquidate it (the account covers any move)",
            ),
            ("Held / opened", "held so far, and the market time it opened"),
        ],
    ),
    (
        "closed",
        [
            (
                "Exit",
                "the exit reason code (ROLLBACK …: the opening failed and was unwound; SPREAD_FLIPPED: the funding"
                " spread changed sign, not Div %; older logs: DIVERGENCE_FLIPPED)",
            ),
            ("Long/Short", "the venues of the long leg / the short leg"),
            ("Opened / Closed", "the market times it opened and closed"),
            ("Held", "how long the position was held (open → close, market clock)"),
            ("APR ent %", "the spread APR the position was opened at"),
            ("Funding / exp", "funding received (+) or paid (−) / what the entry rates promised"),
        ],
    ),
    (
        "funding",
        [
            ("entry ≥ … net APR", "the entry threshold min_profit_rate the scanner announced (pane title)"),
            (
                "Long/Short",
                "the best venue pair of the symbol now: long the cheaper, short the dearer funding",
            ),
            (
                "Spread % / Net %",
                "its spread APR, and net of round-trip taker fees and slippage amortised over the hold",
            ),
            (
                "vs min",
                "net − min_profit_rate, APR points; ≥ 0: the bot enters at its next check; no rule: the symbol's"
                " strategy enters on no APR rule (settlement_timing: its settlement window), so no net / gap",
            ),
            (
                "Last bp",
                "the venue's last settled funding rate, basis points per interval (+: longs pay shorts); the rate"
                " of the settlement under Next in is not known before it settles",
            ),
            ("Int", "the venue's funding interval"),
            ("APR %", "the last settled rate annualised: rate × (1 year / interval)"),
            ("Next in", "time to the venue's next funding settlement"),
            (
                "Actual / Expected / Diff",
                "funding per position: received, promised by the entry rates, the gap",
            ),
        ],
    ),
    (
        "timeline and portfolio",
        [
            ("Time", "market time of the event (MM-DD HH:MM; the wall time if it has none)"),
            ("Category", "stage, execution, funding, warning, error, info …"),
            ("Message", "the event's message (newest first)"),
            ("net", "realized + unrealized + funding − fees over every position of the session, USD"),
            ("wins / losses", "closed positions with booked net PnL > 0 / ≤ 0; avg hold: their mean hold"),
            ("limit headroom", "max_total_exposure_usd − exposure used (the strategy's limit, not margin)"),
            (
                "mm headroom",
                "Σ venues' equity − maintenance margin, USD and % of equity (n/a: no accounts logged); worst: the"
                " venue nearest liquidation (lowest headroom %; collateral is not shared between venues)",
            ),
            (
                "risk: VaR / ES / stress",
                "historical 1-day VaR, expected shortfall and worst 1-day loss of the current book over hourly"
                " scenarios of the marks and funding folded so far; stress: the worst day of the history kept (the"
                " last N d shown), not of the whole session; n/a (needs N h): fewer hours of marks than the"
                " scenarios a VaR needs",
            ),
            (
                "equity / margin ratio",
                "a venue account's equity; maintenance margin / equity (liquidates at 100 %); EQUITY ≤ 0 (red):"
                " nothing left to cover the maintenance margin",
            ),
            ("imbalance", "equity of the long leg's venue − the short leg's, USD"),
            (
                "NEAR LIQ / PAST LIQ",
                "a leg within 2× the liquidation threshold / at or past its liquidation price",
            ),
            ("REBALANCE", "collateral moved between the position's venues, or a rebalance pending"),
            ("… N more / ↑ N above", "rows a pane has no room for (more below) or paged past (above)"),
        ],
    ),
    (
        "strategies (a session of two or more strategy instances)",
        [
            ("Strategy", "the strategy instance a position belongs to; (none): an event of no strategy"),
            ("Type / Stage", "the strategy's code and its own last stage banner"),
            ("Pos open/max", "its positions open / its max_positions"),
            ("Expo USD used/lim", "Σ filled exposure of its open positions / its max_total_exposure_usd"),
            ("rPnL uPnL Fund Fees Net", "as the portfolio's, over its positions only (they add up to it)"),
            (
                "Net by hour",
                "its net PnL at the end of each market hour (last 48), then now: ▁ lowest … █ highest",
            ),
            ("s key / --strategy", "focus on one strategy: its positions, accruals and timeline only"),
        ],
    ),
    (
        "colours",
        [
            ("green / red", "a figure > 0 / < 0 by its own sign (a leg's uPnL by the leg's, Σ by the sum's)"),
            ("uncoloured", "zero, and placeholders (— not known (yet), n/a, none)"),
            (
                "Eros % yellow / red",
                "over 50 % / over the session's exit threshold (profit_erosion_threshold)",
            ),
            ("Div % yellow / red", "over half / over max_entry_price_divergence_pct"),
            ("hold code yellow", "an exit rule may fire but the minimum hold keeps the position"),
            (
                "Liq dist yellow / red",
                "signed: (mark − liq) / mark · 100 for a long, (liq − mark) / mark · 100 for a short; below 2× /"
                " below min_liquidation_distance_pct (plain text: NEAR / AT RISK); ≤ 0 red: at or past the"
                " liquidation price (plain text: PAST LIQ)",
            ),
            ("vs min green", "the pair clears min_profit_rate: an entry is due"),
            ("Next in yellow", "a settlement within 10 minutes"),
            ("dim rows", "closed or rolled-back positions; dim text: secondary figures"),
        ],
    ),
]


def legend_text() -> str:
    """The legend as plain text (the ``?`` key's page in a plain view)."""
    out = ["legend (every header and colour):"]
    for section, rows in LEGEND:
        out.append(f"{section}:")
        w = max(len(h) for h, _ in rows)
        out += [f"  {h:<{w}}  {meaning}" for h, meaning in rows]
    return "\n".join(out)


def plain_summary(snap: DashboardSnapshot, *, events: int = 8, closed: int = 5) -> str:
    """The whole dashboard as compact plain text (deterministic for a snapshot, no wall clock but the events'),
    in priority order: session health and stage, clocks, open positions, net PnL, the entry threshold against
    the best spread per symbol, funding, the last ``events`` timeline rows, the last ``closed`` closed positions,
    then venues, limits, ingest and notes. Lists cut short say how much they leave out."""
    s = snap.session
    head = session_lines(s)
    multi = multi_strategy(snap)
    out = [f"== arbdash {fmt_ts(snap.generated_at, date=True)} UTC =="]
    out += head[:2]
    if focus := focus_line(snap):
        out.append(focus)
    out.append(clock_line(snap))
    live = [p for p in snap.positions if p.lifecycle in ("opening", "open", "closing")]
    out.append(f"positions ({focus_counts(snap)[0]} open):")
    out += [f"  {position_line(p, multi)}" for p in live] or ["  (none)"]
    out.append(f"portfolio net {fmt_usd(snap.portfolio.net_pnl, signed=True)} USD · {portfolio_line(snap)}")
    if multi:
        out.append("strategies (net PnL by market hour ▁…█):")
        out += [f"  {strategy_line(v)}" for v in snap.strategies]
    out.append(risk_line(snap))
    if accounts := accounts_lines(snap):
        out.append("venues/accounts:")
        out += [f"  {line}" for line in accounts]
    f = snap.funding
    if f.best or f.min_profit_rate is not None:
        out.append(f"{entry_rule(snap)} · best now: " + (" · ".join(best_line(b) for b in f.best) or DASH))
    if f.rates:
        out.append("funding (last settled rate bp/interval, APR %, next in):")
        out += [
            f"  {safe_text(r.venue)} {safe_text(r.symbol)} last {fmt_bp(r.rate)} bp/{fmt_duration(r.interval_s)}"
            f" APR {fmt_apr(r.apr)} % next {fmt_duration(r.countdown_s)}"
            for r in f.rates
        ]
    out.append(
        f"funding accrued {fmt_usd(f.total_actual, signed=True)} USD"
        f" vs expected {fmt_usd(f.total_expected, signed=True)} USD"
    )
    if snap.recent_events:
        out.append("recent:")
        shown = snap.recent_events[-events:] if events > 0 else []
        whose = multi and snap.focus is None  # whose event it is (focused: all the same one)
        for e in reversed(shown):
            t = fmt_ts(e.market_ts or e.ts, short=True)
            who = f"[{safe_text(e.strategy, 12)}] " if whose and e.strategy else ""
            out.append(f"  {t} {e.category:<9} {who}{safe_text(e.message, 160)}")
        if more := hidden_line("events", len(snap.recent_events) - len(shown)):
            out.append(f"  {more}")
    done = [p for p in snap.positions if p.lifecycle in ("closed", "rolled_back")]
    if done or snap.portfolio.positions_closed:
        out.append("closed positions (newest first):")
        out += [f"  {closed_line(p, multi)}" for p in done[:closed]]
        if more := hidden_closed_line(snap, min(closed, len(done))):
            out.append(f"  {more}")
    out += head[2:]
    return "\n".join(out)
