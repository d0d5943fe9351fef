"""Rich renderer: panes as functions ``snapshot -> renderable``, composed into a ``Layout`` (live) or a stack
(text frames).

Panes: ``session_pane``, ``positions_pane``, ``funding_pane``, ``timeline_pane``, ``portfolio_pane``.
Every log-derived string goes through ``dashboard.text.safe_text`` and into ``rich.text.Text`` — never into a
markup string — so ``[bold red]`` in a log message is shown literally and control characters are escaped.
Tables are ``Grid``s: pre-formatted row strings, one style per cell, laid out into a single ``Text`` at the
width they are rendered at (speed: 50 positions well under 10 ms per frame; ``rich.table.Table`` took ~90 ms).

Colours by threshold: PnL green ≥ 0 / red < 0; profit erosion yellow > 50 %, red > the session's exit threshold
(``erosion_threshold_pct``, 100 % if not announced); divergence yellow > half the limit, red > the limit
(``divergence_limit_pct``, 0.5 % if not announced).
"""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.measure import Measurement
from rich.panel import Panel
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from dashboard.models import DashboardSnapshot, PositionSnapshot
from dashboard.render_plain import (
    hidden_closed_line,
    ingest_line,
    limits_line,
    other_sessions_line,
    portfolio_line,
    short_id,
)
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
    fmt_usd_whole,
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


def session_pane(snap: DashboardSnapshot, *, wrap_note: bool = True) -> RenderableType:
    """Strategy, config, health, stage banner, uptimes, venues, limits and ingest counters. ``wrap_note`` False
    keeps the data note on one line (the live layout gives the pane a fixed height)."""
    s = snap.session
    head = Text()
    if s.dry_run:  # first: the one thing an operator must not misread (and it never splits across lines here)
        head.append("DRY RUN", "bold cyan")
        head.append("  ")
    head.append(safe_text(s.strategy or DASH), "bold")
    if s.strategy_version:
        head.append(f" v{safe_text(s.strategy_version)}")
    head.append(f"  session {short_id(s.session_id or DASH)}  health ")
    head.append(safe_text(s.health).upper(), HEALTH_STYLES.get(s.health, "yellow"))
    if s.health_reason:
        head.append(f" ({safe_text(s.health_reason, 60)})", "yellow")
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
    limits = _t(f"limits {limits_line(s)}  config {safe_text(s.config_path or DASH)}")
    g = s.ingest
    others = other_sessions_line(s)
    bad = g.skipped_total  # another session's events are not bad lines (``SessionState.other_sessions``)
    ingest = _t(ingest_line(s), "yellow" if (bad or g.rejected_total or g.unknown_total) else "dim")
    lines: list[RenderableType] = [head, stage, times, venues, limits, ingest]
    if others:  # the log holds other sessions: say so, they are not in these figures
        notice = Text(others, style="bold yellow")
        if not wrap_note:
            notice.no_wrap = True
            notice.overflow = "ellipsis"
        lines.append(notice)
    if s.data_note:
        note = Text(f"note: {safe_text(s.data_note, 400)}", style="dim italic")
        if not wrap_note:
            note.no_wrap = True
            note.overflow = "ellipsis"
        lines.append(note)
    return Panel(Group(*lines), title="session", title_align="left", box=box.ROUNDED, padding=(0, 1))


class Col:
    """A grid column: ``header`` (lines split on ``\n``), ``right`` justify, ``keep`` priority (lower = kept
    longer when the width is short), ``flex`` = takes the remaining width and truncates its cells with ``…``."""

    __slots__ = ("header", "right", "keep", "flex")

    def __init__(self, header: str, *, right: bool = False, keep: int = 0, flex: bool = False) -> None:
        self.header = header.split("\n")
        self.right = right
        self.keep = keep
        self.flex = flex


#: A grid cell: (text, style). ``text`` is already safe and may hold ``\n`` (one line each).
Cell = tuple[str, str]


class Grid:
    """A fast fixed-width table: cells are pre-formatted strings with one style each; the columns that fit the
    width it is rendered at are chosen by priority (terminal resize re-lays out). One ``Text`` per grid, spans
    instead of per-cell renderables — a small fraction of ``rich.table.Table``'s cost for 50 rows."""

    def __init__(
        self, cols: list[Col], rows: list[list[Cell]], *, empty: str = DASH, gap: int = 2, margin: int = 1
    ) -> None:
        self.cols = cols
        self.rows = rows
        self.empty = empty
        self.gap = gap
        self.margin = margin

    def lines(self, max_width: int) -> list[list[tuple[str, str]]]:
        """Lay the grid out at ``max_width`` cells: a list of lines, each a list of (text, style) runs whose
        cell widths sum to exactly ``max_width``."""
        cols, gap = self.cols, self.gap
        split = [[(c[0].split("\n") if "\n" in c[0] else [c[0]], c[1]) for c in row] for row in self.rows]
        widths = []
        for i, col in enumerate(cols):
            w = max(cell_len(h) for h in col.header)
            for row in split:
                for line in row[i][0]:
                    n = cell_len(line)
                    if n > w:
                        w = n
            widths.append(w)
        # choose columns by priority while they fit; a flex column asks for at most 12 cells up front
        order = sorted(range(len(cols)), key=lambda i: (cols[i].keep, i))
        chosen: set[int] = set()
        used = 0
        for i in order:
            need = (min(widths[i], 12) if cols[i].flex else widths[i]) + (gap if chosen else 0)
            if used + need <= max_width or not chosen:
                chosen.add(i)
                used += need
        shown = [i for i in range(len(cols)) if i in chosen]
        for i in shown:
            if cols[i].flex:
                widths[i] = max(1, min(widths[i], max_width - (used - min(widths[i], 12))))
        total = sum(widths[i] for i in shown) + gap * (len(shown) - 1)
        tail = " " * max(0, max_width - total)
        sep = " " * gap
        out: list[list[tuple[str, str]]] = []

        def emit(cells: list[tuple[list[str], str]], height: int) -> None:
            for k in range(height):
                runs: list[tuple[str, str]] = []
                plain: list[str] = []
                for j, i in enumerate(shown):
                    if j:
                        plain.append(sep)
                    lines, style = cells[i]
                    text = lines[k] if k < len(lines) else ""
                    w = widths[i]
                    n = cell_len(text)
                    if n > w:
                        text = _crop(text, w)
                        n = cell_len(text)
                    pad = " " * (w - n)
                    if not style or not n:
                        plain.append(pad + text if cols[i].right else text + pad)
                        continue
                    if cols[i].right:
                        plain.append(pad)
                    if plain:
                        runs.append(("".join(plain), ""))
                        plain = []
                    runs.append((text, style))
                    if not cols[i].right:
                        plain.append(pad)
                plain.append(tail)
                runs.append(("".join(plain), ""))
                out.append(runs)

        hh = max(len(col.header) for col in cols)
        emit([([""] * (hh - len(col.header)) + col.header, "bold") for col in cols], hh)
        out.append([("─" * total, "dim"), (tail, "")])
        for row in split:
            emit(row, max(len(c[0]) for c in row))
        if not self.rows:
            out.append(
                [
                    (_crop(self.empty, max_width) if len(self.empty) > max_width else self.empty, "dim"),
                    (" " * max(0, max_width - cell_len(self.empty)), ""),
                ]
            )
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # our own 1-cell side margins: a Panel's Padding would re-split every line (half the frame time)
        width = max(1, options.max_width - 2 * self.margin)
        get_style = console.get_style
        styles: dict[str, Style] = {}
        new_line = Segment.line()
        margin = Segment(" " * self.margin) if self.margin else None
        for runs in self.lines(width):
            if margin:
                yield margin
            for text, style in runs:
                if style:
                    st = styles.get(style)
                    if st is None:
                        st = styles[style] = get_style(style)
                    yield Segment(text, st)
                elif text:
                    yield Segment(text)
            if margin:
                yield margin
            yield new_line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)


def _crop(text: str, width: int) -> str:
    """Crop to ``width`` cells with a trailing ``…``."""
    if width <= 1:
        return "…"[:width]
    out = []
    n = 0
    for ch in text:
        c = cell_len(ch)
        if n + c > width - 1:
            break
        out.append(ch)
        n += c
    return "".join(out) + "…"


def _legs_cells(p: PositionSnapshot) -> tuple[str, str, str, str, str, str]:
    """Per-leg columns, one leg per line: venue+side, qty, entry, mark, uPnL, leverage×/margin."""
    names, qtys, entries, marks, upnl, lev = [], [], [], [], [], []
    for venue, leg in p.legs.items():
        names.append(f"{safe_text(venue, 14)} {'L' if leg.side == 'long' else 'S'}")
        qtys.append(fmt_qty(leg.qty))
        entries.append(fmt_price(leg.entry_price))
        marks.append(fmt_price(leg.mark_price))
        upnl.append(fmt_usd(leg.unrealized_pnl, signed=True))
        if leg.leverage is None:
            lev.append(DASH)
        else:
            lev.append(
                f"{fmt_qty(leg.leverage)}× {fmt_usd(leg.margin)}"
                if leg.margin is not None
                else f"{fmt_qty(leg.leverage)}×"
            )
    return (
        "\n".join(names),
        "\n".join(qtys),
        "\n".join(entries),
        "\n".join(marks),
        "\n".join(upnl),
        "\n".join(lev),
    )


POSITION_COLUMNS = [
    Col("ID", keep=0),
    Col("Sym", keep=0),
    Col("State", keep=1),
    Col("Legs\nvenue L/S", keep=0),
    Col("Qty", right=True, keep=7),
    Col("Entry\npx", right=True, keep=6),
    Col("Mark\npx", right=True, keep=2),
    Col("Exposure\nUSD tgt/fill", right=True, keep=7),
    Col("Div\n%", right=True, keep=3),
    Col("Eros\n%", right=True, keep=3),
    Col("uPnL\nUSD", right=True, keep=2),
    Col("rPnL\nUSD", right=True, keep=5),
    Col("Fees\nUSD", right=True, keep=5),
    Col("Funding\nUSD", right=True, keep=5),
    Col("Net\nUSD", right=True, keep=1),
    Col("Lev ×\nMargin USD", right=True, keep=8),
    Col("Age", right=True, keep=4),
]


def _position_row(
    p: PositionSnapshot, div_limit: Decimal | None, erosion_threshold: Decimal | None
) -> list[Cell]:
    names, qtys, entries, marks, upnl, lev = _legs_cells(p)
    live = p.lifecycle in ("opening", "open", "closing")
    dim = "" if live else "dim"
    state = p.lifecycle
    if p.exit_reason:
        state += f"\n{safe_text(p.exit_reason, 18)}"
    if p.rebalance_pending:
        state += "\nREBAL"
    if len(p.legs) > 1 and live:
        upnl += f"\nΣ {fmt_usd(p.unrealized_pnl, signed=True)}"
    return [
        (short_id(p.position_id), dim),
        (safe_text(p.symbol, 12), "bold" if live else "dim"),
        (state, {"open": "green", "closing": "yellow", "opening": "cyan"}.get(p.lifecycle, "dim")),
        (names, dim),
        (qtys, dim),
        (entries, dim),
        (marks, dim),
        (f"{fmt_usd_whole(p.target_exposure_usd)}/{fmt_usd_whole(p.filled_exposure_usd)}", dim),
        (fmt_pct(p.divergence_pct, 3, signed=True), _div_style(p.divergence_pct, div_limit)),
        (fmt_pct(p.profit_erosion_pct, 1), _erosion_style(p.profit_erosion_pct, erosion_threshold)),
        (upnl, _pnl_style(p.unrealized_pnl)),
        (fmt_usd(p.realized_pnl, signed=True), _pnl_style(p.realized_pnl)),
        (fmt_usd(p.fees), dim),
        (
            f"{fmt_usd(p.funding_accrued, signed=True)}\nexp {fmt_usd(p.funding_expected, signed=True)}",
            _pnl_style(p.funding_accrued),
        ),
        (fmt_usd(p.net_pnl, signed=True), "bold " + _pnl_style(p.net_pnl)),
        (lev, dim),
        (fmt_duration(p.age_s), dim),
    ]


def positions_pane(snap: DashboardSnapshot) -> RenderableType:
    """Open positions first, then the last few closed ones (dimmed); columns chosen by width. When the session
    closed more positions than the snapshot carries, the bottom border says how many are not shown
    (``render_plain.hidden_closed_line``) — in the border, so a live pane too short for its rows still shows it."""
    s = snap.session
    rows = [_position_row(p, s.divergence_limit_pct, s.erosion_threshold_pct) for p in snap.positions]
    p = snap.portfolio
    title = f"positions  open {p.positions_open}  opened {p.positions_opened}  closed {p.positions_closed}"
    grid = Grid(POSITION_COLUMNS, rows, empty="no positions yet")
    hidden = hidden_closed_line(snap)
    return Panel(
        grid,
        title=title,
        title_align="left",
        box=box.ROUNDED,
        padding=0,
        subtitle=Text(hidden, style="dim") if hidden else None,
        subtitle_align="left",
    )


RATE_COLUMNS = [
    Col("Venue", keep=0),
    Col("Sym", keep=0),
    Col("Rate\nbp", right=True, keep=0),
    Col("Int", right=True, keep=2),
    Col("APR\n%", right=True, keep=1),
    Col("Next\nin", right=True, keep=1),
]
ACCRUAL_COLUMNS = [
    Col("Pos", keep=0),
    Col("Sym", keep=0),
    Col("Actual\nUSD", right=True, keep=0),
    Col("Expected\nUSD", right=True, keep=1),
    Col("Diff\nUSD", right=True, keep=2),
]


def funding_pane(snap: DashboardSnapshot) -> RenderableType:
    """Latest rate per venue × symbol (bp per interval, APR %), countdown to the next settlement, and funding
    accrued actual vs expected per position (USD)."""
    f = snap.funding
    rates = Grid(
        RATE_COLUMNS,
        [
            [
                (safe_text(r.venue, 14), ""),
                (safe_text(r.symbol, 10), ""),
                (fmt_bp(r.rate), _pnl_style(r.rate)),
                (fmt_duration(r.interval_s), "dim"),
                (fmt_apr(r.apr), ""),
                (
                    fmt_duration(r.countdown_s),
                    "yellow" if r.countdown_s is not None and r.countdown_s < 600 else "",
                ),
            ]
            for r in f.rates
        ],
        empty="no funding rates yet",
    )
    acc = Grid(
        ACCRUAL_COLUMNS,
        [
            [
                (short_id(a.position_id), ""),
                (safe_text(a.symbol, 10), ""),
                (fmt_usd(a.actual, signed=True), _pnl_style(a.actual)),
                (fmt_usd(a.expected, signed=True), ""),
                (fmt_usd(a.difference, signed=True), _pnl_style(a.difference)),
            ]
            for a in f.accruals[:12]
        ],
        empty="no funding accrued yet",
    )
    total = _t(
        f"accrued {fmt_usd(f.total_actual, signed=True)} USD vs expected {fmt_usd(f.total_expected, signed=True)} USD",
        _pnl_style(f.total_actual),
    )
    return Panel(
        Group(rates, _t(""), acc, total), title="funding", title_align="left", box=box.ROUNDED, padding=(0, 1)
    )


TIMELINE_COLUMNS = [Col("Time", keep=0), Col("Category", keep=0), Col("Message", keep=1, flex=True)]


def timeline_pane(snap: DashboardSnapshot) -> RenderableType:
    """The last events, newest first: market time (wall time if none), category (coloured), message."""
    rows = []
    for e in reversed(snap.recent_events):
        style = CATEGORY_STYLES.get(e.category, "")
        rows.append(
            [
                (fmt_ts(e.market_ts or e.ts, short=True), "dim"),
                (safe_text(e.category, 10), style),
                (safe_text(e.message, 300), style if e.category in ("stage", "warning", "error") else ""),
            ]
        )
    return Panel(
        Grid(TIMELINE_COLUMNS, rows, empty="no events yet"),
        title="timeline",
        title_align="left",
        box=box.ROUNDED,
        padding=0,
    )


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


def _positions_size(snap: DashboardSnapshot) -> dict[str, int]:
    """Height of the positions pane: just what its rows need when they are few (borders 2, header 3, one line
    per leg plus the Σ line of an open position), else an equal share with the funding/timeline row."""
    needed = 5 + sum(
        len(p.legs) + (1 if p.lifecycle in ("opening", "open", "closing") else 0) or 1 for p in snap.positions
    )
    if not snap.positions:
        needed = 6
    return {"size": needed} if needed <= 16 else {"ratio": 1}


def build_layout(snap: DashboardSnapshot) -> Layout:
    """The full-terminal layout for ``rich.live.Live``: session header, positions, funding | timeline,
    portfolio footer."""
    s = snap.session
    header_lines = 6 + (1 if s.data_note else 0) + (1 if other_sessions_line(s) else 0) + 2
    root = Layout(name="root")
    body = Layout(name="body", ratio=1)
    root.split_column(
        Layout(session_pane(snap, wrap_note=False), name="session", size=header_lines),
        body,
        Layout(portfolio_pane(snap), name="portfolio", size=4),
    )
    lower = Layout(name="lower", ratio=1)
    body.split_column(Layout(positions_pane(snap), name="positions", **_positions_size(snap)), lower)
    lower.split_row(
        Layout(funding_pane(snap), name="funding", ratio=1),
        Layout(timeline_pane(snap), name="timeline", ratio=1),
    )
    return root


def build_frame(snap: DashboardSnapshot) -> RenderableType:
    """The same panes stacked at natural height (for text frames, exports and tests)."""
    return Group(
        session_pane(snap),
        positions_pane(snap),
        funding_pane(snap),
        timeline_pane(snap),
        portfolio_pane(snap),
    )


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
