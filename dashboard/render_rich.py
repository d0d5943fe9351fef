"""Rich renderer: panes as functions ``snapshot -> renderable``, composed into a ``Layout`` (live) or a stack
(text frames).

Panes: ``session_pane``, ``positions_pane``, ``funding_pane``, ``timeline_pane``, ``portfolio_pane``.
Every log-derived string goes through ``dashboard.text.safe_text`` and into ``rich.text.Text`` — never into a
markup string — so ``[bold red]`` in a log message is shown literally and control characters are escaped.
Row strings are pre-formatted; a cell carries at most one style (speed: ~50 positions per frame).

Colours by threshold: PnL green ≥ 0 / red < 0; profit erosion yellow > 50 %, red > the session's exit threshold
(``erosion_threshold_pct``, 100 % if not announced); divergence yellow > half the limit, red > the limit
(``divergence_limit_pct``, 0.5 % if not announced).
"""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dashboard.models import DashboardSnapshot, PositionSnapshot
from dashboard.render_plain import ingest_line, limits_line, portfolio_line, short_id
from dashboard.text import (
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
    "build_layout",
    "build_frame",
    "frame_text",
    "session_pane",
    "positions_pane",
    "funding_pane",
    "timeline_pane",
    "portfolio_pane",
]

CATEGORY_STYLES = {
    "stage": "bold magenta",
    "execution": "cyan",
    "funding": "blue",
    "market": "white",
    "warning": "yellow",
    "error": "bold red",
    "info": "default",
    "metric": "dim",
    "checkpoint": "dim",
}
HEALTH_STYLES = {
    "running": "green",
    "idle": "green",
    "starting": "yellow",
    "degraded": "yellow",
    "stopping": "yellow",
    "stopped": "dim",
    "error": "bold red",
}
_FIFTY = Decimal(50)
_HUNDRED = Decimal(100)
_DEFAULT_DIV_LIMIT = Decimal("0.5")
_WIDE = 140  # inner width at or above which the positions table shows every column


def _t(s: str, style: str = "") -> Text:
    """Already-safe text (our own formatting) as a Text with one style."""
    return Text(s, style=style)


def _pnl_style(d: Decimal | None) -> str:
    if d is None:
        return "dim"
    return "green" if d >= 0 else "red"


def _erosion_style(d: Decimal | None, threshold: Decimal | None) -> str:
    if d is None:
        return "dim"
    if d > (threshold if threshold is not None else _HUNDRED):
        return "bold red"
    return "yellow" if d > _FIFTY else ""


def _div_style(d: Decimal | None, limit: Decimal | None) -> str:
    if d is None:
        return "dim"
    lim = limit if limit is not None else _DEFAULT_DIV_LIMIT
    a = abs(d)
    return "bold red" if a > lim else "yellow" if a * 2 > lim else ""


# --- panes ----------------------------------------------------------------------------------------------


def session_pane(snap: DashboardSnapshot) -> RenderableType:
    """Strategy, config, health, stage banner, uptimes, venues, limits and ingest counters."""
    s = snap.session
    head = Text()
    head.append(safe_text(s.strategy or DASH), "bold")
    if s.strategy_version:
        head.append(f" v{safe_text(s.strategy_version)}")
    head.append(f"  config {safe_text(s.config_path or DASH)}  session {short_id(s.session_id or DASH)}  health ")
    head.append(safe_text(s.health).upper(), HEALTH_STYLES.get(s.health, "yellow"))
    if s.health_reason:
        head.append(f" ({safe_text(s.health_reason, 60)})", "yellow")
    if s.dry_run:
        head.append("  DRY RUN", "cyan")
    stage = Text("stage ")
    stage.append(safe_text(s.stage_banner or DASH), "bold magenta")
    if s.lifecycle:
        stage.append(f"  [{safe_text(s.lifecycle)}]", "magenta")
    if s.stop_reason:
        stage.append(f"  stopped: {safe_text(s.stop_reason, 80)}", "dim")
    times = _t(
        f"uptime wall {fmt_duration(s.wall_uptime_s)}  market {fmt_duration(s.market_uptime_s)}"
        f"  market now {fmt_ts(s.market_now, date=True)} UTC  started {fmt_ts(s.started_ts, date=True)} UTC"
    )
    venues = Text("venues ")
    for i, v in enumerate(s.venues):
        if i:
            venues.append("  ")
        venues.append(safe_text(v.name) + " ")
        if v.connected is None:
            venues.append("pending", "yellow")
        elif not v.connected:
            venues.append("DOWN" + (f" ({safe_text(v.reason, 40)})" if v.reason else ""), "bold red")
        else:
            venues.append("up", "green")
            iv = fmt_duration(v.funding_interval_s) if v.funding_interval_s else DASH
            venues.append(f" {iv} taker {fmt_bp(v.taker_fee_rate).lstrip('+')}bp", "dim")
    if not s.venues:
        venues.append(DASH)
    limits = _t(f"limits {limits_line(s)}")
    g = s.ingest
    ingest = _t(ingest_line(s), "yellow" if (g.skipped_total or g.rejected_total or g.unknown_total) else "dim")
    lines: list[RenderableType] = [head, stage, times, venues, limits, ingest]
    if s.data_note:
        lines.append(_t(f"note: {safe_text(s.data_note, 300)}", "dim italic"))
    return Panel(Group(*lines), title="session", title_align="left", box=box.ROUNDED, padding=(0, 1))


def _legs_cells(p: PositionSnapshot) -> tuple[str, str, str, str, str, str]:
    """Per-leg columns, one leg per line: venue+side, qty, entry, mark, uPnL, leverage×/margin."""
    names, qtys, entries, marks, upnl, lev = [], [], [], [], [], []
    for venue, leg in p.legs.items():
        names.append(f"{safe_text(venue, 14)} {'L' if leg.side == 'long' else 'S'}")
        qtys.append(fmt_qty(leg.qty))
        entries.append(fmt_price(leg.entry_price))
        marks.append(fmt_price(leg.mark_price))
        upnl.append(fmt_usd(leg.unrealized_pnl, signed=True))
        lev.append(f"{fmt_qty(leg.leverage)}× {fmt_usd(leg.margin)}" if leg.leverage is not None else DASH)
    return ("\n".join(names), "\n".join(qtys), "\n".join(entries), "\n".join(marks), "\n".join(upnl), "\n".join(lev))


class _PositionsTable:
    """Chooses the wide or the compact column set from the width it is given (terminal resize re-lays out)."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        self.snap = snap

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _positions_table(self.snap, wide=options.max_width >= _WIDE)


def _positions_table(snap: DashboardSnapshot, *, wide: bool) -> Table:
    s = snap.session
    t = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    t.add_column("ID", no_wrap=True)
    t.add_column("Sym", no_wrap=True)
    t.add_column("State", no_wrap=True)
    t.add_column("Legs", no_wrap=True)
    if wide:
        t.add_column("Qty", justify="right", no_wrap=True)
        t.add_column("Entry\npx", justify="right", no_wrap=True)
    t.add_column("Mark\npx", justify="right", no_wrap=True)
    if wide:
        t.add_column("Exp USD\ntgt/fill", justify="right", no_wrap=True)
    t.add_column("Div\n%", justify="right", no_wrap=True)
    t.add_column("Eros\n%", justify="right", no_wrap=True)
    t.add_column("uPnL\nUSD", justify="right", no_wrap=True)
    if wide:
        t.add_column("rPnL\nUSD", justify="right", no_wrap=True)
        t.add_column("Fees\nUSD", justify="right", no_wrap=True)
        t.add_column("Funding\nUSD", justify="right", no_wrap=True)
    t.add_column("Net\nUSD", justify="right", no_wrap=True)
    if wide:
        t.add_column("Lev ×\nMargin USD", justify="right", no_wrap=True)
    t.add_column("Age", justify="right", no_wrap=True)
    for p in snap.positions:
        names, qtys, entries, marks, upnl, lev = _legs_cells(p)
        live = p.lifecycle in ("opening", "open", "closing")
        dim = "" if live else "dim"
        state = p.lifecycle
        if p.exit_reason:
            state += f"\n{safe_text(p.exit_reason, 18)}"
        if p.rebalance_pending:
            state += "\nREBAL"
        state_style = {"open": "green", "closing": "yellow", "opening": "cyan"}.get(p.lifecycle, "dim")
        row: list[RenderableType] = [
            _t(short_id(p.position_id), dim),
            _t(safe_text(p.symbol, 12), "bold" if live else "dim"),
            _t(state, state_style),
            _t(names, dim),
        ]
        if wide:
            row += [_t(qtys, dim), _t(entries, dim)]
        row.append(_t(marks, dim))
        if wide:
            row.append(_t(f"{fmt_usd(p.target_exposure_usd)}\n{fmt_usd(p.filled_exposure_usd)}", dim))
        row += [
            _t(fmt_pct(p.divergence_pct, 3, signed=True), _div_style(p.divergence_pct, s.divergence_limit_pct)),
            _t(fmt_pct(p.profit_erosion_pct, 1), _erosion_style(p.profit_erosion_pct, s.erosion_threshold_pct)),
            _t(upnl + (f"\nΣ {fmt_usd(p.unrealized_pnl, signed=True)}" if wide and len(p.legs) > 1 else ""),
               _pnl_style(p.unrealized_pnl)),
        ]
        if wide:
            row += [
                _t(fmt_usd(p.realized_pnl, signed=True), _pnl_style(p.realized_pnl)),
                _t(fmt_usd(p.fees), dim),
                _t(f"{fmt_usd(p.funding_accrued, signed=True)}\nexp {fmt_usd(p.funding_expected, signed=True)}",
                   _pnl_style(p.funding_accrued)),
            ]
        row.append(_t(fmt_usd(p.net_pnl, signed=True), "bold " + _pnl_style(p.net_pnl)))
        if wide:
            row.append(_t(lev, dim))
        row.append(_t(fmt_duration(p.age_s), dim))
        t.add_row(*row)
    if not snap.positions:
        t.add_row(_t("no positions yet", "dim"), *[""] * (len(t.columns) - 1))
    return t


def positions_pane(snap: DashboardSnapshot) -> RenderableType:
    """Open positions first, then the last few closed ones (dimmed); wide or compact by width."""
    p = snap.portfolio
    title = f"positions  open {p.positions_open}  opened {p.positions_opened}  closed {p.positions_closed}"
    return Panel(_PositionsTable(snap), title=title, title_align="left", box=box.ROUNDED, padding=(0, 1))


def funding_pane(snap: DashboardSnapshot) -> RenderableType:
    """Latest rate per venue × symbol (bp per interval, APR %), countdown to the next settlement, and funding
    accrued actual vs expected per position (USD)."""
    f = snap.funding
    rates = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    for name, just in (("Venue", "left"), ("Sym", "left"), ("Rate bp", "right"), ("Int", "right"),
                       ("APR %", "right"), ("Next in", "right")):
        rates.add_column(name, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for r in f.rates:
        rates.add_row(
            _t(safe_text(r.venue, 14)),
            _t(safe_text(r.symbol, 10)),
            _t(fmt_bp(r.rate), _pnl_style(r.rate)),
            _t(fmt_duration(r.interval_s)),
            _t(fmt_apr(r.apr)),
            _t(fmt_duration(r.countdown_s), "yellow" if r.countdown_s is not None and r.countdown_s < 600 else ""),
        )
    acc = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False, padding=(0, 1))
    for name, just in (("Pos", "left"), ("Sym", "left"), ("Actual USD", "right"), ("Expected USD", "right"),
                       ("Diff USD", "right")):
        acc.add_column(name, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for a in f.accruals[:12]:
        acc.add_row(
            _t(short_id(a.position_id)),
            _t(safe_text(a.symbol, 10)),
            _t(fmt_usd(a.actual, signed=True), _pnl_style(a.actual)),
            _t(fmt_usd(a.expected, signed=True)),
            _t(fmt_usd(a.difference, signed=True), _pnl_style(a.difference)),
        )
    total = _t(
        f"accrued {fmt_usd(f.total_actual, signed=True)} USD vs expected {fmt_usd(f.total_expected, signed=True)} USD",
        _pnl_style(f.total_actual),
    )
    return Panel(Group(rates, acc, total), title="funding", title_align="left", box=box.ROUNDED, padding=(0, 1))


def timeline_pane(snap: DashboardSnapshot) -> RenderableType:
    """The last events, newest first: market time (wall time if none), category (coloured), message."""
    t = Table(box=None, expand=True, show_header=False, pad_edge=False, padding=(0, 1))
    t.add_column("time", no_wrap=True)
    t.add_column("cat", no_wrap=True)
    t.add_column("message", overflow="fold", ratio=1)
    for e in reversed(snap.recent_events):
        style = CATEGORY_STYLES.get(e.category, "")
        t.add_row(
            _t(fmt_ts(e.market_ts or e.ts), "dim"),
            _t(safe_text(e.category, 10), style),
            Text(safe_text(e.message, 300), style=style if e.category in ("stage", "warning", "error") else ""),
        )
    if not snap.recent_events:
        t.add_row(_t(DASH, "dim"), "", "")
    return Panel(t, title="timeline", title_align="left", box=box.ROUNDED, padding=(0, 1))


def portfolio_pane(snap: DashboardSnapshot) -> RenderableType:
    """Totals (USD): notional, realized, unrealized, funding, fees, net, margin used and limit headroom."""
    p = snap.portfolio
    line = Text()
    line.append("net ", "bold")
    line.append(f"{fmt_usd(p.net_pnl, signed=True)} USD", "bold " + _pnl_style(p.net_pnl))
    line.append("  ·  ")
    line.append(portfolio_line(snap))
    return Panel(line, title="portfolio", title_align="left", box=box.ROUNDED, padding=(0, 1))


# --- composition ----------------------------------------------------------------------------------------


def build_layout(snap: DashboardSnapshot) -> Layout:
    """The full-terminal layout for ``rich.live.Live``: session header, positions, funding | timeline,
    portfolio footer."""
    s = snap.session
    header_lines = 6 + (1 if s.data_note else 0) + 2
    root = Layout(name="root")
    body = Layout(name="body", ratio=1)
    root.split_column(
        Layout(session_pane(snap), name="session", size=header_lines),
        body,
        Layout(portfolio_pane(snap), name="portfolio", size=4),
    )
    lower = Layout(name="lower", ratio=1)
    body.split_column(Layout(positions_pane(snap), name="positions", ratio=1), lower)
    lower.split_row(Layout(funding_pane(snap), name="funding", ratio=1), Layout(timeline_pane(snap), name="timeline", ratio=1))
    return root


def build_frame(snap: DashboardSnapshot) -> RenderableType:
    """The same panes stacked at natural height (for text frames, exports and tests)."""
    return Group(session_pane(snap), positions_pane(snap), funding_pane(snap), timeline_pane(snap),
                 portfolio_pane(snap))


def frame_text(snap: DashboardSnapshot, width: int) -> str:
    """``build_frame`` rendered as plain text at ``width`` columns: no colour, no control codes, deterministic."""
    buf = StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        no_color=True,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
        soft_wrap=False,
        _environ={},
    )
    console.print(build_frame(snap))
    return buf.getvalue()
