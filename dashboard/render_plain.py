"""Plain-text renderer: a compact multi-line summary, no cursor control, no colour, no box drawing.

For non-TTY output, CI and ``--dashboard-mode=plain``. The line builders here (``session_lines``,
``ingest_line``, ``portfolio_line`` …) are pure ``snapshot -> str`` and are reused by ``render_rich`` so the
two renderers say the same thing. Every log-derived string goes through ``dashboard.text.safe_text``.
"""

from __future__ import annotations

from dashboard.models import DashboardSnapshot, PositionSnapshot, SessionState
from dashboard.text import (
    DASH,
    fmt_apr,
    fmt_bp,
    fmt_duration,
    fmt_pct,
    fmt_ts,
    fmt_usd,
    safe_text,
)

__all__ = [
    "plain_summary",
    "session_lines",
    "ingest_line",
    "other_sessions_line",
    "portfolio_line",
    "position_line",
    "hidden_closed_line",
    "short_id",
    "venues_line",
    "limits_line",
]


def short_id(position_id: str, n: int = 8) -> str:
    """A position/session id for a narrow column, made safe: whole if ≤ 12 characters (``P0009-SOL``), else its
    first ``n`` characters (a UUID is unique enough there)."""
    return safe_text(position_id if len(position_id) <= 12 else position_id[:n])


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{safe_text(k)} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


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


def session_lines(s: SessionState) -> list[str]:
    """The session pane as lines (also the header of the plain summary)."""
    ver = f" v{safe_text(s.strategy_version)}" if s.strategy_version else ""
    dry = " · DRY RUN" if s.dry_run else ""
    lines = [
        f"{safe_text(s.strategy) if s.strategy else DASH}{ver} · config {safe_text(s.config_path or DASH)}"
        f" · session {short_id(s.session_id or DASH)} · health {safe_text(s.health).upper()}{dry}"
        + (f" ({safe_text(s.health_reason, 60)})" if s.health_reason else ""),
        f"stage {safe_text(s.stage_banner or DASH)}"
        + (f" [{safe_text(s.lifecycle)}]" if s.lifecycle else ""),
        f"uptime wall {fmt_duration(s.wall_uptime_s)} · market {fmt_duration(s.market_uptime_s)}"
        f" · market now {fmt_ts(s.market_now, date=True)} UTC",
        f"venues {venues_line(s)}",
        f"limits {limits_line(s)}",
        ingest_line(s),
    ]
    if others := other_sessions_line(s):
        lines.append(others)
    if s.stop_reason:
        lines.append(f"stopped: {safe_text(s.stop_reason, 120)}")
    if s.data_note:
        lines.append(f"note: {safe_text(s.data_note, 200)}")
    return lines


def position_line(p: PositionSnapshot) -> str:
    """One position on one line (USD unless marked)."""
    legs = "/".join(f"{safe_text(v)} {leg.side}" for v, leg in p.legs.items()) or DASH
    state = p.lifecycle + (f" {safe_text(p.exit_reason, 40)}" if p.exit_reason else "")
    flags = " REBALANCE" if p.rebalance_pending else ""
    return (
        f"{short_id(p.position_id)} {safe_text(p.symbol)} {state}{flags} · {legs} · age {fmt_duration(p.age_s)}"
        f" · div {fmt_pct(p.divergence_pct, 3)} % · erosion {fmt_pct(p.profit_erosion_pct, 1)} %"
        f" · uPnL {fmt_usd(p.unrealized_pnl, signed=True)} · rPnL {fmt_usd(p.realized_pnl, signed=True)}"
        f" · fees {fmt_usd(p.fees)} · funding {fmt_usd(p.funding_accrued, signed=True)}"
        f" (exp {fmt_usd(p.funding_expected, signed=True)}) · net {fmt_usd(p.net_pnl, signed=True)} USD"
    )


def hidden_closed_line(snap: DashboardSnapshot) -> str | None:
    """``… 16 earlier closed positions (see arbtail stats)`` when the snapshot carries fewer closed positions
    than the session closed (it keeps only the most recent few), else ``None``. The count is the session's
    ``positions_closed`` total minus the closed rows the snapshot holds (rolled-back attempts are not closed
    positions and are not counted)."""
    shown = sum(1 for p in snap.positions if p.lifecycle == "closed")
    hidden = snap.portfolio.positions_closed - shown
    if hidden <= 0:
        return None
    return f"… {hidden} earlier closed position{'s' if hidden != 1 else ''} (see arbtail stats)"


def portfolio_line(snap: DashboardSnapshot) -> str:
    """Portfolio totals on one line (USD), without the net PnL (each renderer leads with it)."""
    p = snap.portfolio
    head = (
        f"{fmt_usd(p.exposure_headroom_usd)} USD ({fmt_pct(p.exposure_headroom_pct, 1)}%)"
        if p.exposure_headroom_usd is not None
        else DASH
    )
    return (
        f"notional {fmt_usd(p.total_notional)} · realized {fmt_usd(p.realized_pnl, signed=True)}"
        f" · unrealized {fmt_usd(p.unrealized_pnl, signed=True)} · funding {fmt_usd(p.funding, signed=True)}"
        f" · fees {fmt_usd(p.fees)} · margin used"
        f" {fmt_usd(p.margin_used)} USD · limit headroom {head} · positions open {p.positions_open}"
        f" opened {p.positions_opened} closed {p.positions_closed}"
    )


def plain_summary(snap: DashboardSnapshot) -> str:
    """The whole dashboard as compact plain text (deterministic for a snapshot, no wall clock)."""
    out = [f"== arbdash {fmt_ts(snap.generated_at, date=True)} UTC =="]
    out += session_lines(snap.session)
    out.append(f"positions ({snap.portfolio.positions_open} open):")
    out += [f"  {position_line(p)}" for p in snap.positions] or ["  (none)"]
    hidden = hidden_closed_line(snap)
    if hidden:
        out.append(f"  {hidden}")
    if snap.funding.rates:
        out.append("funding (rate bp/interval, APR %, next in):")
        out += [
            f"  {safe_text(r.venue)} {safe_text(r.symbol)} {fmt_bp(r.rate)} bp/{fmt_duration(r.interval_s)}"
            f" APR {fmt_apr(r.apr)} % next {fmt_duration(r.countdown_s)}"
            for r in snap.funding.rates
        ]
    out.append(
        f"funding accrued {fmt_usd(snap.funding.total_actual, signed=True)} USD"
        f" vs expected {fmt_usd(snap.funding.total_expected, signed=True)} USD"
    )
    out.append(f"portfolio net {fmt_usd(snap.portfolio.net_pnl, signed=True)} USD · {portfolio_line(snap)}")
    if snap.recent_events:
        out.append("recent:")
        for e in reversed(snap.recent_events[-8:]):
            t = fmt_ts(e.market_ts or e.ts, short=True)
            out.append(f"  {t} {e.category:<9} {safe_text(e.message, 160)}")
    return "\n".join(out)
