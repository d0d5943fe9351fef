"""Rich renderer: the dashboard's panes, laid out by priority at any terminal size (live, ``arbtail``) or stacked
at their natural height (text frames, exports).

Panes: ``session``, ``strategies`` (one row per strategy instance, only in a session of two or more: then the
positions tables also get a ``Strategy`` column), ``positions`` (open positions, every leg), ``closed`` (closed and rolled-back positions, one
line each, newest first), ``funding`` (the entry threshold against the best spread per symbol, the rates, the
funding accrued per position) beside ``timeline`` (the last events, newest first), and ``portfolio`` (net PnL
first). ``legend()`` explains every header and colour (``render_plain.LEGEND``).

Layout by priority (``build_layout``, and ``frame_text`` given a height). Each pane states the rows its content
needs as chunks ``(priority, rows)`` at the width it gets (``allocate``); rows are handed out level by level, a
pane's chunks in order and whole; funding and timeline share one row of panes and grow together; rows nobody
needs go to that row. The levels:

0. session health and stage, every open position with all its legs, net PnL (the portfolio's first line);
1. the clocks (market, wall), the best spread per symbol against the entry threshold, the funding rates;
2. five timeline rows, the notice of other sessions in the log, wins / losses and the rest of the portfolio, the
   strategies (their header and first row are at level 1);
3. three closed positions, the session's limits;
4. the rest of the timeline;
5. the rest of the closed positions, venues, ingest counters;
6. funding accrued per position;
7. the data note's first line (8: the rest of it).

A pane cut short says in its bottom border how much it hides (``… 3 more closed positions``, ``↑ 2 above``), and
``pages`` (pane name → first row shown) pages it: ``positions``, ``closed``, ``funding`` (its rates) and
``timeline`` (offset = newer rows skipped). Columns are chosen by priority to fit the width; each column's width
covers the plausible range of its unit (``Col.width``), so it does not jump between frames as values change;
wider terminals show more columns, rows and message text.

Every log-derived string goes through ``dashboard.text.safe_text`` and into ``rich.text.Text`` — never into a
markup string — so ``[bold red]`` in a log message is shown literally and control characters are escaped.
Tables are ``Grid``s: pre-formatted row strings, one style per cell line, laid out into a single ``Text`` at the
width they are rendered at (speed: 50 positions well under 10 ms per frame; ``rich.table.Table`` took ~90 ms).

Colours: each figure by its own sign (green > 0, red < 0, zero uncoloured) — a leg's uPnL by the leg's, the Σ
line by the position's sum; placeholders (``—``, ``n/a``) uncoloured (dim). Profit erosion yellow > 50 %, red >
the session's exit threshold (``erosion_threshold_pct``, 100 % if not announced); divergence yellow > half the
limit, red > the limit (``divergence_limit_pct``, 0.5 % if not announced); a hold code yellow; ``vs min`` green
when a pair clears the entry threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from rich.table import Table
from rich.text import Text

from arbdash.dashboard.focus import focus_counts
from arbdash.dashboard.models import BestSpread, DashboardSnapshot, PositionSnapshot, StrategyView
from arbdash.dashboard.render_plain import (
    DANGER_WORDS,
    LEGEND,
    NO_ENTRY_RULE,
    NO_LIQUIDATION,
    accounts_lines,
    clock_line,
    entry_rule,
    focus_line,
    has_liquidation_figure,
    hidden_closed_line,
    hidden_line,
    hold_text,
    ingest_line,
    limits_line,
    metrics_line,
    multi_strategy,
    other_sessions_line,
    past_liquidation,
    postgres_text,
    risk_line,
    short_id,
    sparkline,
    strategy_label,
    venues_line,
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
    fmt_usd_whole,
    safe_text,
)

__all__ = [
    "PAGED",
    "ACCRUAL_COLUMNS",
    "BEST_COLUMNS",
    "CLOSED_COLUMNS",
    "POSITION_COLUMNS",
    "RATE_COLUMNS",
    "STRATEGY_COLUMNS",
    "TIMELINE_COLUMNS",
    "cockpit_layout",
    "build_layout",
    "build_frame",
    "frame_text",
    "legend",
    "session_pane",
    "positions_pane",
    "closed_pane",
    "funding_pane",
    "timeline_pane",
    "portfolio_pane",
    "strategies_pane",
]

#: The panes ``build_layout(snap, pages)`` pages: name → the first row shown (positions, closed positions,
#: funding rates, timeline rows back from the newest).
PAGED = ("positions", "closed", "funding", "timeline")

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
    "command": "bold cyan",
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
LIFECYCLE_STYLES = {"open": "green", "closing": "yellow", "opening": "cyan"}
LIVE = ("opening", "open", "closing")
_FIFTY = Decimal(50)
_HUNDRED = Decimal(100)
_DEFAULT_DIV_LIMIT = Decimal("0.5")
#: Cell lines that say "no value": never coloured.
PLACEHOLDERS = frozenset({DASH, "n/a"})


def _t(s: str, style: str = "") -> Text:
    """Already-safe text (our own formatting) as a Text with one style."""
    return Text(s, style=style)


def _pnl_style(d: Decimal | None) -> str:
    """A figure coloured by its own sign: green > 0, red < 0, zero uncoloured, no value dim."""
    if d is None:
        return "dim"
    return "green" if d > 0 else "red" if d < 0 else ""


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


# --- the grid ---------------------------------------------------------------------------------------------


class Col:
    """A grid column: ``header`` (lines split on ``\\n``), ``right`` justify, ``keep`` priority (lower = kept
    longer when the width is short), ``flex`` = takes the remaining width and truncates its cells with ``…``;
    ``width`` = the least width (the plausible range of the column's unit, so the column does not jump between
    frames), ``max`` = the most (longer cells are cropped with ``…``; 0 = no limit)."""

    __slots__ = ("header", "right", "keep", "flex", "width", "max")

    def __init__(
        self,
        header: str,
        *,
        right: bool = False,
        keep: int = 0,
        flex: bool = False,
        width: int = 0,
        max: int = 0,  # noqa: A002 - the column's maximum width
    ) -> None:
        self.header = header.split("\n")
        self.right = right
        self.keep = keep
        self.flex = flex
        self.width = width
        self.max = max


#: A cell's style: one for all its lines, or one per line (the last repeats).
CellStyle = str | tuple[str, ...]
#: A grid cell: (text, style). ``text`` is already safe and may hold ``\n`` (one line each).
Cell = tuple[str, CellStyle]


class Grid:
    """A fast fixed-width table: cells are pre-formatted strings with a style per line; the columns that fit the
    width it is rendered at are chosen by priority (terminal resize re-lays out). One ``Text`` per grid, spans
    instead of per-cell renderables — a small fraction of ``rich.table.Table``'s cost for 50 rows.

    Column widths come from every row (``window`` only picks the rows drawn), so paging does not move them.
    ``spread``: up to that many extra cells per gap when the width leaves room (a wide terminal)."""

    def __init__(
        self,
        cols: list[Col],
        rows: list[list[Cell]],
        *,
        empty: str = DASH,
        gap: int = 2,
        margin: int = 1,
        window: tuple[int, int] | None = None,
        spread: int = 0,
        flex_min: int = 12,
    ) -> None:
        self.cols = cols
        self.flex_min = flex_min
        self.rule = True  # the rule under the header (a pane short of rows leaves it out)
        self.rows = rows
        self.empty = empty
        self.gap = gap
        self.margin = margin
        self.window = window
        self.spread = spread
        self._split: list[list[tuple[list[str], CellStyle]]] | None = None
        self._widths: list[int] | None = None

    def _cells(self) -> list[list[tuple[list[str], CellStyle]]]:
        if self._split is None:
            self._split = [
                [(c[0].split("\n") if "\n" in c[0] else [c[0]], c[1]) for c in row] for row in self.rows
            ]
        return self._split

    def heights(self) -> list[int]:
        """The lines each row takes."""
        return [max(len(c[0]) for c in row) for row in self._cells()]

    def header_height(self) -> int:
        """Header lines plus the rule under them (if drawn)."""
        return max(len(col.header) for col in self.cols) + (1 if self.rule else 0)

    def _natural(self) -> list[int]:
        if self._widths is None:
            widths = []
            cells = self._cells()
            for i, col in enumerate(self.cols):
                floor = max(col.width, max(cell_len(h) for h in col.header))
                w = floor
                for row in cells:
                    for line in row[i][0]:
                        n = cell_len(line)
                        if n > w:
                            w = n
                widths.append(min(w, max(col.max, floor)) if col.max else w)
            self._widths = widths
        return self._widths

    def natural_width(self) -> int:
        """The width every column needs, margins included."""
        widths = self._natural()
        return sum(widths) + self.gap * (len(widths) - 1) + 2 * self.margin

    def _choose(self, max_width: int) -> tuple[list[int], list[int], int]:
        """The columns shown at ``max_width`` (by ``keep``, while they fit; the first always), their widths and
        the total. A flex column is always shown: it keeps ``flex_min`` cells for itself while the others are
        chosen, then takes all the width they leave."""
        cols, gap = self.cols, self.gap
        widths = list(self._natural())
        flex = [i for i, c in enumerate(cols) if c.flex]
        reserve = sum(min(widths[i], self.flex_min) + gap for i in flex)
        order = sorted((i for i in range(len(cols)) if not cols[i].flex), key=lambda i: (cols[i].keep, i))
        chosen: set[int] = set()
        used = 0
        for i in order:
            need = widths[i] + (gap if chosen else 0)
            if used + need + reserve <= max_width or not chosen:
                chosen.add(i)
                used += need
        for i in flex:
            widths[i] = max(1, max_width - used - (gap if chosen else 0))
            used += widths[i] + (gap if chosen else 0)
            chosen.add(i)
        shown = [i for i in range(len(cols)) if i in chosen]
        return shown, widths, sum(widths[i] for i in shown) + gap * (len(shown) - 1)

    def lines(self, max_width: int) -> list[list[tuple[str, str]]]:
        """Lay the grid out at ``max_width`` cells: a list of lines, each a list of (text, style) runs whose
        cell widths sum to exactly ``max_width``."""
        cols = self.cols
        shown, widths, total = self._choose(max_width)
        gap = self.gap
        if self.spread and len(shown) > 1 and total < max_width:
            extra = min(self.spread, (max_width - total) // (len(shown) - 1))
            gap += extra
            total += extra * (len(shown) - 1)
        tail = " " * max(0, max_width - total)
        sep = " " * gap
        out: list[list[tuple[str, str]]] = []

        def emit(cells: list[tuple[list[str], CellStyle]], height: int) -> None:
            for k in range(height):
                runs: list[tuple[str, str]] = []
                plain: list[str] = []
                for j, i in enumerate(shown):
                    if j:
                        plain.append(sep)
                    lines, styles = cells[i]
                    text = lines[k] if k < len(lines) else ""
                    if type(styles) is str:
                        style = styles
                    else:
                        style = styles[k] if k < len(styles) else styles[-1] if styles else ""
                    if text in PLACEHOLDERS:
                        style = "dim"  # no value: never coloured
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
        if self.rule:
            out.append([("─" * total, "dim"), (tail, "")])
        split = self._cells()
        start, stop = self.window if self.window is not None else (0, len(split))
        for row in split[start:stop]:
            emit(row, max(len(c[0]) for c in row))
        if not self.rows:
            out.append(
                [
                    (_crop(self.empty, max_width) if cell_len(self.empty) > max_width else self.empty, "dim"),
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


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap at ``width`` cells (a word longer than the width is cut)."""
    width = max(1, width)
    lines: list[str] = []
    cur = ""
    for word in text.split(" "):
        cand = f"{cur} {word}" if cur else word
        if cell_len(cand) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        while cell_len(word) > width:
            lines.append(_crop(word, width)[:-1])
            word = word[len(lines[-1]) :]
        cur = word
    if cur:
        lines.append(cur)
    return lines or [""]


def _line(text: Text, cockpit: bool) -> Text:
    """A pane line: one terminal row cut with ``…`` in the cockpit, wrapped in a natural-height frame."""
    if cockpit:
        text.no_wrap = True
        text.overflow = "ellipsis"
    return text


def _panel(
    body: Sequence[RenderableType],
    title: str,
    rows: int | None,
    hidden: str | None = None,
    *,
    padding: tuple[int, int] = (0, 0),
) -> Panel:
    return Panel(
        Group(*body),
        title=title,
        title_align="left",
        box=box.ROUNDED,
        padding=padding,
        height=rows,
        subtitle=Text(hidden, style="dim") if hidden else None,
        subtitle_align="left",
    )


def _window(heights: list[int], avail: int, offset: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` shown in ``avail`` lines from ``offset`` (clamped so the last page is full)."""
    n = len(heights)
    last = n
    room = avail
    while last > 0 and heights[last - 1] <= room:  # the first row of the last full page
        room -= heights[last - 1]
        last -= 1
    start = max(0, min(offset, last, n))
    stop = start
    room = avail
    while stop < n and heights[stop] <= room:
        room -= heights[stop]
        stop += 1
    return start, stop


#: A pane's row requests at a width: ``(priority, rows)`` chunks in display order, the first with its borders.
Chunks = list[tuple[int, int]]


# --- session ----------------------------------------------------------------------------------------------


class _SessionPane:
    """Head (dry run, health, PostgreSQL, strategy, session), stage, clocks; then other sessions of the log,
    limits, venues, ingest counters and the data note — in that order of priority."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        s = snap.session
        self.snap = snap
        head = Text()
        if s.dry_run:  # first: the one thing an operator must not misread (and it never splits across lines)
            head.append("DRY RUN", "bold cyan")
            head.append("  ")
        if s.entries_paused:  # an operator paused entries: nothing new opens until resumed
            head.append("ENTRIES PAUSED", "bold yellow")
            head.append("  ")
        head.append("health ")
        head.append(safe_text(s.health).upper(), HEALTH_STYLES.get(s.health, "yellow"))
        if s.health_reason:
            head.append(f" ({safe_text(s.health_reason, 60)})", "yellow")
        if pg := postgres_text(s):
            head.append("  ")
            ok = s.postgres_health in ("running", "idle")
            head.append(pg, "green" if ok else HEALTH_STYLES.get(s.postgres_health or "", "yellow"))
        head.append("  ")
        head.append(safe_text(s.strategy or DASH), "bold")
        if s.strategy_version:
            head.append(f" v{safe_text(s.strategy_version)}")
        head.append(f"  session {short_id(s.session_id or DASH)}")
        stage = Text("stage ")
        stage.append(safe_text(s.stage_banner or DASH), "bold magenta")
        if s.lifecycle:
            stage.append(f"  [{safe_text(s.lifecycle)}]", "magenta")
        if s.stop_reason:
            stage.append(f"  stopped: {safe_text(s.stop_reason, 80)}", "dim")
        lines: list[tuple[int, Text]] = [(0, head), (0, stage), (1, _t(clock_line(snap)))]
        if focus := focus_line(snap):  # a view focused on one strategy says so under the stage
            lines.insert(2, (0, Text(focus, style="bold cyan")))
        if others := other_sessions_line(s):  # not in these figures: say so
            lines.append((2, Text(others, style="bold yellow")))
        lines.append((3, _t(f"limits {limits_line(s)}  config {safe_text(s.config_path or DASH)}")))
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
            venues.append(venues_line(s))
        lines.append((5, venues))
        g = s.ingest
        bad = g.skipped_total or g.rejected_total or g.unknown_total
        lines.append((5, _t(ingest_line(s), "yellow" if bad else "dim")))
        if measured := metrics_line(s):
            lines.append((5, _t(measured, "dim")))
        self.lines = lines
        self.note = f"note: {safe_text(s.data_note, 400)}" if s.data_note else None

    def chunks(self, width: int) -> Chunks:
        out = [(p, 1) for p, _ in self.lines]
        out[0] = (0, 3)
        if self.note:
            n = len(_wrap(self.note, width - 4))
            out += [(7, 1)] + [(8, 1)] * (n - 1)
        return out

    def panel(self, width: int, rows: int | None) -> Panel:
        if rows is None:
            body: list[RenderableType] = [t.copy() for _, t in self.lines]
            if self.note:
                body.append(Text(self.note, style="dim italic"))
            return _panel(body, "session", None, padding=(0, 1))
        room = max(0, rows - 2)
        body = [_line(t.copy(), True) for _, t in self.lines[:room]]
        room -= len(body)
        if self.note and room > 0:
            wrapped = _wrap(self.note, width - 4)
            if len(wrapped) > room:
                wrapped = wrapped[: room - 1] + [_crop(" ".join(wrapped[room - 1 :]), width - 4)]
            body += [_line(Text(w, style="dim italic"), True) for w in wrapped]
        return _panel(body, "session", rows, padding=(0, 1))


def session_pane(snap: DashboardSnapshot) -> RenderableType:
    """The session pane at its natural height: every line, wrapped."""
    return _SessionPane(snap).panel(0, None)


# --- positions --------------------------------------------------------------------------------------------


def _legs_cells(p: PositionSnapshot) -> dict[str, Cell]:
    """Per-leg columns, one leg per line: venue+side, qty, entry, mark, uPnL (each by its own sign, then Σ),
    leverage×/margin."""
    names, qtys, entries, marks, upnl, lev = [], [], [], [], [], []
    up_styles: list[str] = []
    for venue, leg in p.legs.items():
        names.append(f"{safe_text(venue, 14)} {'L' if leg.side == 'long' else 'S'}")
        qtys.append(fmt_qty(leg.qty))
        entries.append(fmt_price(leg.entry_price))
        marks.append(fmt_price(leg.mark_price))
        upnl.append(fmt_usd(leg.unrealized_pnl, signed=True))
        up_styles.append(_pnl_style(leg.unrealized_pnl))
        if leg.leverage is None:
            lev.append(DASH)
        else:
            lev.append(
                f"{fmt_qty(leg.leverage)}× {fmt_usd(leg.margin)}"
                if leg.margin is not None
                else f"{fmt_qty(leg.leverage)}×"
            )
    if len(p.legs) > 1 and p.lifecycle in LIVE:
        upnl.append(f"Σ {fmt_usd(p.unrealized_pnl, signed=True)}")
        up_styles.append("bold " + _pnl_style(p.unrealized_pnl) if p.unrealized_pnl else "bold")
    return {
        "legs": ("\n".join(names), ""),
        "qty": ("\n".join(qtys), ""),
        "entry": ("\n".join(entries), ""),
        "mark": ("\n".join(marks), ""),
        "upnl": ("\n".join(upnl), tuple(up_styles) or ""),
        "lev": ("\n".join(lev), "dim"),
    }


POSITION_COLUMNS = [
    Col("ID", keep=0, width=9, max=12),
    Col("Sym", keep=4, width=3, max=12),
    Col("State", keep=1, width=15, max=18),
    Col("Legs\nvenue L/S", keep=0, width=13, max=16),
    Col("Qty", right=True, keep=11, width=6),
    Col("Entry\npx", right=True, keep=9, width=9),
    Col("Mark\npx", right=True, keep=6, width=9),
    Col("Expo USD\ntgt/fill", right=True, keep=10, width=11),
    Col("Div\n%", right=True, keep=4, width=6),
    Col("APR %\nnow/ent", right=True, keep=2, width=7),
    Col("Eros\n%", right=True, keep=4, width=6),
    Col("uPnL\nUSD", right=True, keep=0, width=9),
    Col("rPnL\nUSD", right=True, keep=8, width=7),
    Col("Fees\nUSD", right=True, keep=8, width=6),
    Col("Funding\nUSD", right=True, keep=5, width=9),
    Col("Net\nUSD", right=True, keep=0, width=8),
    Col("ROI\n%", right=True, keep=3, width=6),
    Col("Lev ×\nMargin USD", right=True, keep=12, width=10),
    Col("Held\nopened", right=True, keep=3, width=11),
]


#: The liquidation columns, shown (after ``Mark px``) only when a leg has a liquidation price: per leg the price
#: and the distance to it from the mark (yellow below 2× the session's threshold, red below it).
LIQ_COLUMNS = [
    Col("Liq\npx", right=True, keep=7, width=9),
    Col("Liq\ndist %", right=True, keep=1, width=6),
]
_LIQ_AT = 7  # the index in POSITION_COLUMNS the liquidation columns go in at
#: The ``Strategy`` column of the positions and closed tables (after ``ID``), in a session of two or more
#: strategies only.
STRATEGY_COL = Col("Strategy", keep=2, width=8, max=16)


def _with_strategy(
    cols: list[Col], rows: list[list[Cell]], positions: list[PositionSnapshot], style: str = ""
) -> tuple[list[Col], list[list[Cell]]]:
    """``cols`` and ``rows`` with the ``Strategy`` column after the first (the position's strategy)."""
    cells = [(strategy_label(p.strategy, 16), style) for p in positions]
    return cols[:1] + [STRATEGY_COL] + cols[1:], [
        row[:1] + [cell] + row[1:] for row, cell in zip(rows, cells, strict=True)
    ]


LIQ_STYLES = {"warn": "yellow", "danger": "bold red"}
#: A leg at or past its liquidation price (signed distance ≤ 0, shown negative): red, reversed so that it reads
#: even without colour (the ``none`` theme).
PAST_LIQ_STYLE = "bold reverse red"


def _liq_cells(p: PositionSnapshot) -> list[Cell]:
    """Per leg (one line each): the liquidation price and the signed distance % (``n/a`` without a mark;
    ≤ 0, at or past the price, in ``PAST_LIQ_STYLE``; ``none`` / ``none`` when no price can liquidate the leg,
    ``—`` when its price is not known)."""
    prices, dists, styles = [], [], []
    for leg in p.legs.values():
        if leg.no_liquidation_price:  # the account covers any move: no price at all, not one unknown
            prices.append(NO_LIQUIDATION)
            dists.append(NO_LIQUIDATION)
            styles.append("")
            continue
        prices.append(fmt_price(leg.liquidation_price))
        if leg.liquidation_price is None:
            dists.append(DASH)
        elif leg.liquidation_distance_pct is None:
            dists.append("n/a")
        else:
            dists.append(fmt_pct(leg.liquidation_distance_pct, 2))
        styles.append(
            PAST_LIQ_STYLE if past_liquidation(leg) else LIQ_STYLES.get(leg.liquidation_level or "", "")
        )
    return [("\n".join(prices), ""), ("\n".join(dists), tuple(styles) or "")]


#: The strategies' own figures (``PositionSnapshot.figures``), one per line, after ``Eros %``: shown only when a
#: position has some (a funding-arbitrage pair has none).
FIGURES_COL = Col("Figures", keep=6, width=14, max=26)


def _figures_cell(p: PositionSnapshot) -> Cell:
    lines = [f"{safe_text(name, 14)} {fmt_qty(value)}" for name, value in p.figures.items()]
    return ("\n".join(lines) or DASH, "")


def _has_liq(live: list[PositionSnapshot]) -> bool:
    return any(has_liquidation_figure(leg) for p in live for leg in p.legs.values())


def _position_row(
    p: PositionSnapshot, div_limit: Decimal | None, erosion_threshold: Decimal | None
) -> list[Cell]:
    """An open (opening, closing) position: one line per leg, the Σ of their uPnL, the hold code and when the
    exits apply (``MIN_HOLD_ACTIVE`` / ``ends in 13h00m``)."""
    legs = _legs_cells(p)
    state = [p.lifecycle]
    styles = [LIFECYCLE_STYLES.get(p.lifecycle, "dim")]
    if p.exit_reason:
        state.append(safe_text(p.exit_reason, 30))
        styles.append("yellow")
    elif p.hold_code:
        state.append(safe_text(p.hold_code, 30))
        styles.append("yellow")
        if hold := hold_text(p):
            state.append(hold)
            styles.append("dim")
    if p.rebalance_pending:
        state.append("REBAL")
        styles.append("bold yellow")
    cur = p.current_spread_apr
    return [
        (short_id(p.position_id), ""),
        (safe_text(p.symbol, 12), "bold"),
        ("\n".join(state), tuple(styles)),
        legs["legs"],
        legs["qty"],
        legs["entry"],
        legs["mark"],
        (f"{fmt_usd_whole(p.target_exposure_usd)}/{fmt_usd_whole(p.filled_exposure_usd)}", ""),
        (fmt_pct(p.divergence_pct, 3, signed=True), _div_style(p.divergence_pct, div_limit)),
        (
            f"{fmt_apr(cur)}\n{fmt_apr(p.entry_spread_apr)}",
            ("red" if cur is not None and cur < 0 else "", "dim"),
        ),
        (fmt_pct(p.profit_erosion_pct, 1), _erosion_style(p.profit_erosion_pct, erosion_threshold)),
        legs["upnl"],
        (fmt_usd(p.realized_pnl, signed=True), _pnl_style(p.realized_pnl)),
        (fmt_usd(p.fees), ""),
        (
            f"{fmt_usd(p.funding_accrued, signed=True)}\nexp {fmt_usd(p.funding_expected, signed=True)}",
            (_pnl_style(p.funding_accrued), "dim"),
        ),
        (fmt_usd(p.net_pnl, signed=True), "bold " + _pnl_style(p.net_pnl)),
        (fmt_pct(p.roi_pct, 2, signed=True), _pnl_style(p.roi_pct)),
        legs["lev"],
        (f"{fmt_duration(p.age_s)}\n{fmt_ts(p.entry_ts, short=True)}", ("", "dim")),
    ]


class _PositionsPane:
    """Every open (opening, closing) position with its legs; paged when they do not all fit."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        s = snap.session
        self.live = [p for p in snap.positions if p.lifecycle in LIVE]
        rows = [_position_row(p, s.divergence_limit_pct, s.erosion_threshold_pct) for p in self.live]
        cols = POSITION_COLUMNS
        if _has_liq(self.live):  # a log with liquidation prices: their columns (an older log: none)
            cols = POSITION_COLUMNS[:_LIQ_AT] + LIQ_COLUMNS + POSITION_COLUMNS[_LIQ_AT:]
            rows = [
                row[:_LIQ_AT] + _liq_cells(p) + row[_LIQ_AT:] for row, p in zip(rows, self.live, strict=True)
            ]
        if any(p.figures for p in self.live):  # a strategy's own figures: their column after Eros %
            at_ = next(i for i, c in enumerate(cols) if c.header[0] == "Eros") + 1
            cols = cols[:at_] + [FIGURES_COL] + cols[at_:]
            rows = [
                row[:at_] + [_figures_cell(p)] + row[at_:] for row, p in zip(rows, self.live, strict=True)
            ]
        if multi_strategy(snap):
            cols, rows = _with_strategy(cols, rows, self.live)
        self.grid = Grid(cols, rows)
        self.heights = self.grid.heights()
        n_open, n_opened, n_closed = focus_counts(snap)  # the focused strategy's, else the session's
        self.title = f"positions  open {n_open}  opened {n_opened}  closed {n_closed}"
        self.empty = "no positions yet" if not snap.positions and not n_opened else "no open positions"

    def chunks(self, width: int) -> Chunks:
        if not self.live:
            return [(1, 3)]
        return [(0, 2 + self.grid.header_height() + self.heights[0])] + [(0, h) for h in self.heights[1:]]

    def panel(self, width: int, rows: int | None, offset: int = 0) -> Panel:
        if not self.live:
            return _panel([_line(_t(" " + self.empty, "dim"), rows is not None)], self.title, rows)
        if rows is None:
            return _panel([self.grid], self.title, None)
        start, stop = _window(self.heights, max(0, rows - 2 - self.grid.header_height()), offset)
        self.grid.window = (start, stop)
        hidden = hidden_line("open positions", len(self.live) - stop, start)
        return _panel([self.grid], self.title, rows, hidden)


def positions_pane(snap: DashboardSnapshot) -> RenderableType:
    """The open positions at their natural height, every leg on its own line."""
    return _PositionsPane(snap).panel(0, None)


CLOSED_COLUMNS = [
    Col("ID", keep=0, width=9, max=12),
    Col("Sym", keep=4, width=3, max=12),
    Col("Exit", keep=1, width=18, max=20),
    Col("Long/Short", keep=5, width=17, max=29),
    Col("Opened", right=True, keep=9, width=11),
    Col("Closed", right=True, keep=8, width=11),
    Col("Held", right=True, keep=2, width=6),
    Col("APR ent %", right=True, keep=10, width=9),
    Col("rPnL USD", right=True, keep=7, width=8),
    Col("Fees USD", right=True, keep=7, width=8),
    Col("Funding", right=True, keep=6, width=8),
    Col("exp", right=True, keep=11, width=8),
    Col("Net USD", right=True, keep=0, width=8),
    Col("ROI %", right=True, keep=3, width=6),
]


def _closed_row(p: PositionSnapshot) -> list[Cell]:
    """A closed or rolled-back position on one line (text dim, money by its own sign)."""
    long_v = p.long_venue or next((v for v, leg in p.legs.items() if leg.side == "long"), None)
    short_v = p.short_venue or next((v for v, leg in p.legs.items() if leg.side == "short"), None)
    pair = f"{safe_text(long_v or DASH, 14)}/{safe_text(short_v or DASH, 14)}"
    return [
        (short_id(p.position_id), "dim"),
        (safe_text(p.symbol, 12), "dim"),
        (safe_text(p.exit_reason or p.lifecycle, 30), "yellow" if p.lifecycle == "rolled_back" else "dim"),
        (pair, "dim"),
        (fmt_ts(p.entry_ts, short=True), "dim"),
        (fmt_ts(p.closed_ts, short=True), "dim"),
        (fmt_duration(p.age_s) if p.entry_ts is not None else DASH, "dim"),
        (fmt_apr(p.entry_spread_apr), "dim"),
        (fmt_usd(p.realized_pnl, signed=True), _pnl_style(p.realized_pnl)),
        (fmt_usd(p.fees), "dim"),
        (fmt_usd(p.funding_accrued, signed=True), _pnl_style(p.funding_accrued)),
        (fmt_usd(p.funding_expected, signed=True), "dim"),
        (fmt_usd(p.net_pnl, signed=True), "bold " + _pnl_style(p.net_pnl)),
        (fmt_pct(p.roi_pct, 2, signed=True), _pnl_style(p.roi_pct)),
    ]


class _ClosedPane:
    """Closed and rolled-back positions, newest first, one line each; the session's closed positions beyond
    the few the snapshot carries are counted in the bottom border (``arbtail stats`` lists them)."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        self.snap = snap
        self.done = [p for p in snap.positions if p.lifecycle in ("closed", "rolled_back")]
        cols, rows = CLOSED_COLUMNS, [_closed_row(p) for p in self.done]
        if multi_strategy(snap):
            cols, rows = _with_strategy(cols, rows, self.done, "dim")
        self.grid = Grid(cols, rows, spread=2)
        self.title = "closed  newest first"

    def chunks(self, width: int) -> Chunks:
        n = len(self.done)
        if not n:
            return []
        return [(3, 2 + self.grid.header_height() + 1)] + [(3 if i < 3 else 5, 1) for i in range(1, n)]

    def panel(self, width: int, rows: int | None, offset: int = 0) -> Panel:
        if rows is None:
            return _panel([self.grid], self.title, None, hidden_closed_line(self.snap))
        start, stop = _window([1] * len(self.done), max(0, rows - 2 - self.grid.header_height()), offset)
        self.grid.window = (start, stop)
        return _panel([self.grid], self.title, rows, hidden_closed_line(self.snap, stop - start, start))


def closed_pane(snap: DashboardSnapshot) -> RenderableType | None:
    """The closed positions at their natural height (``None`` when there are none)."""
    pane = _ClosedPane(snap)
    return pane.panel(0, None) if pane.done else None


# --- strategies -------------------------------------------------------------------------------------------

STRATEGY_COLUMNS = [
    Col("Strategy", keep=0, width=8, max=20),
    Col("Type", keep=6, width=8, max=20),
    Col("Stage", keep=3, width=12, max=30),
    Col("Pos\nopen/max", right=True, keep=2, width=8),
    Col("Expo USD\nused/lim", right=True, keep=4, width=11),
    Col("rPnL\nUSD", right=True, keep=5, width=7),
    Col("uPnL\nUSD", right=True, keep=1, width=8),
    Col("Fund\nUSD", right=True, keep=5, width=7),
    Col("Fees\nUSD", right=True, keep=5, width=6),
    Col("Net\nUSD", right=True, keep=0, width=8),
    Col("Net by hour\n▁…█", keep=1, width=11, max=48),
]


def _strategy_row(v: StrategyView) -> list[Cell]:
    """A strategy on one line: its stage, limits use, PnL figures (each by its own sign) and sparkline."""
    mp = v.max_positions if v.max_positions is not None else DASH
    return [
        (strategy_label(v.name), "bold" if v.name is not None else "dim"),
        (safe_text(v.type or DASH, 20), ""),
        (safe_text(v.stage_banner or DASH, 30), "magenta"),
        (f"{v.positions_open}/{mp}", ""),
        (f"{fmt_usd_whole(v.exposure_used_usd)}/{fmt_usd_whole(v.max_total_exposure_usd)}", ""),
        (fmt_usd(v.realized_pnl, signed=True), _pnl_style(v.realized_pnl)),
        (fmt_usd(v.unrealized_pnl, signed=True), _pnl_style(v.unrealized_pnl)),
        (fmt_usd(v.funding, signed=True), _pnl_style(v.funding)),
        (fmt_usd(v.fees), ""),
        (fmt_usd(v.net_pnl, signed=True), "bold " + _pnl_style(v.net_pnl)),
        (sparkline(v.pnl_history) or DASH, _pnl_style(v.net_pnl)),
    ]


class _StrategiesPane:
    """One row per strategy instance (then the positions of no strategy), in a session of two or more; nothing
    otherwise (``shown`` false: no rows asked for, every frame of a one-strategy session unchanged)."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        self.shown = multi_strategy(snap)
        self.views = snap.strategies if self.shown else []
        self.grid = Grid(STRATEGY_COLUMNS, [_strategy_row(v) for v in self.views])
        self.title = f"strategies  {sum(1 for v in self.views if v.name is not None)}"

    def chunks(self, width: int) -> Chunks:
        if not self.views:
            return []
        return [(1, 2 + self.grid.header_height() + 1)] + [(2, 1)] * (len(self.views) - 1)

    def panel(self, width: int, rows: int | None) -> Panel:
        if rows is None:
            return _panel([self.grid], self.title, None)
        start, stop = _window([1] * len(self.views), max(0, rows - 2 - self.grid.header_height()), 0)
        self.grid.window = (start, stop)
        return _panel([self.grid], self.title, rows, hidden_line("strategies", len(self.views) - stop))


def strategies_pane(snap: DashboardSnapshot) -> RenderableType | None:
    """The strategies at their natural height (``None`` in a session of fewer than two)."""
    pane = _StrategiesPane(snap)
    return pane.panel(0, None) if pane.views else None


# --- funding ----------------------------------------------------------------------------------------------

BEST_COLUMNS = [
    Col("Sym", keep=0, width=3, max=12),
    Col("Long/Short", keep=2, width=17, max=29),
    Col("Spread %", right=True, keep=3, width=8),
    Col("Net %", right=True, keep=1, width=7),
    Col("vs min", right=True, keep=0, width=7),
]
RATE_COLUMNS = [
    Col("Venue", keep=0, width=11, max=14),
    Col("Sym", keep=0, width=3, max=10),
    Col("Last bp", right=True, keep=0, width=7),
    Col("Int", right=True, keep=2, width=5),
    Col("APR %", right=True, keep=1, width=7),
    Col("Next in", right=True, keep=1, width=7),
]
ACCRUAL_COLUMNS = [
    Col("Pos", keep=0, width=9, max=12),
    Col("Sym", keep=1, width=3, max=10),
    Col("Actual", right=True, keep=0, width=7),
    Col("Expected", right=True, keep=1, width=8),
    Col("Diff USD", right=True, keep=2, width=8),
]


def _best_row(b: BestSpread) -> list[Cell]:
    if b.long_venue is None:
        return [
            (safe_text(b.symbol, 12), "bold"),
            ("no positive spread", "dim"),
            (DASH, ""),
            (DASH, ""),
            (NO_ENTRY_RULE, "dim") if b.no_entry_rule else (DASH, ""),
        ]
    if b.position_open:
        vs: Cell = ("open", "dim")  # a position in this symbol is open: the bot does not open another
    elif b.no_entry_rule:  # its strategy enters on no APR (settlement_timing): nothing to measure against
        vs = (NO_ENTRY_RULE, "dim")
    else:
        vs = (fmt_apr(b.vs_min), "bold green" if b.vs_min is not None and b.vs_min >= 0 else "")
    return [
        (safe_text(b.symbol, 12), "bold"),
        (f"{safe_text(b.long_venue, 14)}/{safe_text(b.short_venue or DASH, 14)}", ""),
        (fmt_apr(b.spread_apr), ""),
        (fmt_apr(b.net_apr), _pnl_style(b.net_apr)),
        vs,
    ]


class _FundingPane:
    """The entry threshold against the best spread per symbol (is the bot about to trade?), the latest rate per
    venue × symbol (paged), and funding accrued actual vs expected per position with the session's totals."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        f = snap.funding
        self.best = Grid(BEST_COLUMNS, [_best_row(b) for b in f.best])
        self.n_best = len(f.best)
        self.rates = Grid(
            RATE_COLUMNS,
            [
                [
                    (safe_text(r.venue, 14), ""),
                    (safe_text(r.symbol, 10), ""),
                    (fmt_bp(r.rate), _pnl_style(r.rate)),
                    (fmt_duration(r.interval_s), "dim"),
                    (fmt_apr(r.apr), _pnl_style(r.apr)),
                    (
                        fmt_duration(r.countdown_s),
                        ""
                        if r.countdown_s is None
                        else "dim"
                        if r.countdown_s < 0
                        else "yellow"
                        if r.countdown_s < 600
                        else "",
                    ),
                ]
                for r in f.rates
            ],
            empty="no funding rates yet",
        )
        self.n_rates = len(f.rates)
        self.acc = Grid(
            ACCRUAL_COLUMNS,
            [
                [
                    (short_id(a.position_id), ""),
                    (safe_text(a.symbol, 10), ""),
                    (fmt_usd(a.actual, signed=True), _pnl_style(a.actual)),
                    (fmt_usd(a.expected, signed=True), ""),
                    (fmt_usd(a.difference, signed=True), _pnl_style(a.difference)),
                ]
                for a in f.accruals
            ],
            empty="no funding accrued yet",
        )
        self.n_acc = len(f.accruals)
        self.total = Text(" accrued ")
        self.total.append(f"{fmt_usd(f.total_actual, signed=True)} USD", _pnl_style(f.total_actual))
        self.total.append(f" vs expected {fmt_usd(f.total_expected, signed=True)} USD")
        self.title = f"funding  {entry_rule(snap)}"

    def natural_width(self) -> int:
        """Border and margins included."""
        return 2 + max(self.best.natural_width(), self.rates.natural_width(), self.acc.natural_width())

    def chunks(self, width: int) -> Chunks:
        out: Chunks = []
        if self.n_best:
            out += [(1, 3)] + [(1, 1)] * (self.n_best - 1)
        out += [(1, 3)] + [(1, 1)] * (self.n_rates - 1)
        out += [(6, 3)] + [(6, 1)] * (self.n_acc - 1) + [(6, 1)]
        p, n = out[0]
        out[0] = (p, n + 2)
        return out

    def panel(self, width: int, rows: int | None, offset: int = 0) -> Panel:
        if rows is None:
            body: list[RenderableType] = [self.rates, self.acc, self.total]
            if self.n_best:
                body.insert(0, self.best)
            return _panel(body, self.title, None)
        room = max(0, rows - 2)
        body = []
        below: list[tuple[int, str]] = []  # (rows not shown, what) per section
        above: list[str] = []

        def section(grid: Grid, n: int, what: str, off: int = 0) -> None:
            nonlocal room
            head = grid.header_height()
            if room == head and n:  # one row short: the header without its rule, and a row
                grid.rule = False
                head -= 1
            if room < head + 1:
                grid.window = (0, 0)
                below.append((n, what))
                return
            start, stop = _window([1] * n, room - head, off)
            grid.window = (start, stop)
            body.append(grid)
            room -= head + max(1, stop - start)
            below.append((n - stop, what))
            if start:
                above.append(f"↑ {start} {what} above")

        if self.n_best:
            section(self.best, self.n_best, "symbols")
        section(self.rates, self.n_rates, "rates", offset)
        section(self.acc, self.n_acc, "accruals")
        if room > 0 and body and body[-1] is self.acc:
            body.append(_line(self.total.copy(), True))
        # "… 2 more symbols, 9 rates, 5 accruals" (one row of border for all sections)
        more = [f"{n} {what if n != 1 else what[:-1]}" for n, what in below if n > 0]
        if more:
            more[0] = "… " + more[0].replace(" ", " more ", 1)
            above.append(", ".join(more))
        return _panel(body, self.title, rows, " · ".join(above) or None)


def funding_pane(snap: DashboardSnapshot) -> RenderableType:
    """The funding pane at its natural height."""
    return _FundingPane(snap).panel(0, None)


# --- timeline ---------------------------------------------------------------------------------------------

TIMELINE_COLUMNS = [
    Col("Time", keep=0, width=11),
    Col("Category", keep=2, width=9, max=10),
    Col("Message", keep=1, flex=True),
]


#: The timeline's ``Strategy`` column (after ``Time``): in a session of two or more strategies, not focused.
TIMELINE_STRATEGY_COL = Col("Strategy", keep=3, width=6, max=12)


class _TimelinePane:
    """The last events, newest first: market time (wall time if none), category (coloured), message."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        rows = []
        multi = multi_strategy(snap) and snap.focus is None  # whose event it is (focused: all the same one)
        for e in reversed(snap.recent_events):
            style = CATEGORY_STYLES.get(e.category, "")
            rows.append(
                [
                    (fmt_ts(e.market_ts or e.ts, short=True), "dim"),
                    *([(safe_text(e.strategy, 12) if e.strategy else "", "dim")] if multi else []),
                    (safe_text(e.category, 10), style),
                    (safe_text(e.message, 300), style if e.category in ("stage", "warning", "error") else ""),
                ]
            )
        self.n = len(rows)
        cols = (
            TIMELINE_COLUMNS[:1] + [TIMELINE_STRATEGY_COL] + TIMELINE_COLUMNS[1:]
            if multi
            else TIMELINE_COLUMNS
        )
        self.grid = Grid(cols, rows, empty="no events yet", flex_min=24)

    def chunks(self, width: int) -> Chunks:
        head = 2 + self.grid.header_height() + 1
        return [(2, head)] + [(2 if i < 5 else 4, 1) for i in range(1, self.n)]

    def panel(self, width: int, rows: int | None, offset: int = 0) -> Panel:
        if rows is None:
            return _panel([self.grid], "timeline", None)
        start, stop = _window([1] * self.n, max(0, rows - 2 - self.grid.header_height()), offset)
        self.grid.window = (start, stop)
        return _panel([self.grid], "timeline", rows, hidden_line("events", self.n - stop, start))


def timeline_pane(snap: DashboardSnapshot) -> RenderableType:
    """The timeline at its natural height."""
    return _TimelinePane(snap).panel(0, None)


# --- portfolio --------------------------------------------------------------------------------------------


def _figure(
    text: Text, label: str, value: Decimal | None, *, signed: bool = True, colour: bool = True
) -> None:
    text.append(f" · {label} " if text.plain else f"{label} ")
    text.append(fmt_usd(value, signed=signed), _pnl_style(value) if colour else "")


class _PortfolioPane:
    """Net PnL first, then what it is made of (each figure by its own sign); then wins / losses and average
    hold, notional, margin, limit headroom and position counts."""

    def __init__(self, snap: DashboardSnapshot) -> None:
        p = snap.portfolio
        first = Text()
        first.append("net ", "bold")
        first.append(f"{fmt_usd(p.net_pnl, signed=True)} USD", "bold " + _pnl_style(p.net_pnl))
        _figure(first, "realized", p.realized_pnl)
        _figure(first, "unrealized", p.unrealized_pnl)
        _figure(first, "funding", p.funding)
        first.append(f" (exp {fmt_usd(p.funding_expected, signed=True)})", "dim")
        _figure(first, "fees", p.fees, signed=False, colour=False)
        second = Text(f"closed {p.positions_closed}: wins ")
        second.append(str(p.wins), "green" if p.wins else "")
        second.append(" · losses ")
        second.append(str(p.losses), "red" if p.losses else "")
        second.append(f" · avg hold {fmt_duration(p.avg_hold_s)}")
        head = (
            f"{fmt_usd(p.exposure_headroom_usd)} USD ({fmt_pct(p.exposure_headroom_pct, 1)}%)"
            if p.exposure_headroom_usd is not None
            else DASH
        )
        second.append(
            f" · notional {fmt_usd(p.total_notional)} · margin used {fmt_usd(p.margin_used)} USD"
            f" · limit headroom {head} · positions open {p.positions_open} opened {p.positions_opened}"
        )
        self.first, self.second = first, second
        # the maintenance-margin headroom and the book's 1-day VaR / ES / stress; then the venues' accounts and
        # each open position's collateral imbalance (an older log has no accounts: no such lines)
        # (an account with equity ≤ 0 or a leg past its liquidation price in bold red, wherever it is named)
        self.risk = Text(risk_line(snap))
        self.risk.highlight_words(DANGER_WORDS, "bold red")
        self.accounts = [
            Text("  " + line, style="bold yellow" if "REBALANCE" in line or "NEAR LIQ" in line else "")
            for line in accounts_lines(snap)
        ]
        for t in self.accounts:
            t.highlight_words(DANGER_WORDS, "bold red")
        if self.accounts:
            self.accounts.insert(0, Text("venues/accounts:", style="bold"))

    def chunks(self, width: int) -> Chunks:
        return [(0, 3), (2, 1), (2, 1)] + [(3, 1)] * len(self.accounts)

    def panel(self, width: int, rows: int | None) -> Panel:
        if rows is None:
            both = self.first.copy()
            both.append(" · ")
            both.append_text(self.second)
            return _panel(
                [both, self.risk.copy(), *(t.copy() for t in self.accounts)],
                "portfolio",
                None,
                padding=(0, 1),
            )
        lines = (self.first, self.second, self.risk, *self.accounts)
        body = [_line(t.copy(), True) for t in lines[: max(0, rows - 2)]]
        return _panel(body, "portfolio", rows, padding=(0, 1))


def portfolio_pane(snap: DashboardSnapshot) -> RenderableType:
    """Totals (USD) at the natural height: net first, each figure by its own sign; wins / losses, average
    hold, notional, margin used, limit headroom."""
    return _PortfolioPane(snap).panel(0, None)


# --- composition ----------------------------------------------------------------------------------------

#: Panes in the order rows are handed out within one priority level.
_ORDER = ("session", "portfolio", "positions", "strategies", "lower", "closed")
_MAX_LEVEL = 8
_NEVER = 1 << 30


def _per_row(chunks: Chunks) -> list[int]:
    out: list[int] = []
    for p, n in chunks:
        out += [p] * n
    return out


def allocate(height: int, singles: Mapping[str, Chunks], lower: Chunks, lower2: Chunks) -> dict[str, int]:
    """Rows per pane at ``height``: level by level (priority 0 first), in ``_ORDER`` within a level, each single
    pane's chunks in order and whole; the funding | timeline row (``lower``, ``lower2``: the two panes' chunks)
    grows a row at a time while either pane wants that row at this level. Rows left over go to that row."""
    a, b = _per_row(lower), _per_row(lower2)
    row_pri = [
        min(a[k] if k < len(a) else _NEVER, b[k] if k < len(b) else _NEVER)
        for k in range(max(len(a), len(b)))
    ]
    got = {name: 0 for name in _ORDER}
    idx = dict.fromkeys(_ORDER, 0)
    left = height
    for level in range(_MAX_LEVEL + 1):
        for name in _ORDER:
            if name == "lower":
                while got["lower"] < len(row_pri) and row_pri[got["lower"]] <= level and left > 0:
                    got["lower"] += 1
                    left -= 1
                continue
            chunks = singles.get(name, [])
            while idx[name] < len(chunks) and chunks[idx[name]][0] <= level:
                n = chunks[idx[name]][1]
                if n > left:
                    break
                got[name] += n
                left -= n
                idx[name] += 1
    got["lower"] += left
    return got


class _Cockpit:
    """``build_layout``'s renderable: laid out by priority for the size it is drawn at (a terminal resize lays
    it out again)."""

    def __init__(self, snap: DashboardSnapshot, pages: Mapping[str, int] | None) -> None:
        self.snap = snap
        self.pages = dict(pages or {})

    def layout(self, width: int, height: int) -> Layout:
        return cockpit_layout(self.snap, width, height, self.pages)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or console.height
        yield self.layout(options.max_width, height)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(options.max_width, options.max_width)


def cockpit_layout(
    snap: DashboardSnapshot, width: int, height: int, pages: Mapping[str, int] | None = None
) -> Layout:
    """The dashboard as a ``Layout`` of exactly ``width`` × ``height``, rows given by priority (module doc)."""
    pages = pages or {}
    session, positions, closed = _SessionPane(snap), _PositionsPane(snap), _ClosedPane(snap)
    strategies = _StrategiesPane(snap)
    funding, timeline, portfolio = _FundingPane(snap), _TimelinePane(snap), _PortfolioPane(snap)
    # funding takes the width its columns need, at most half the terminal (two fifths from 110 columns on: the
    # timeline's messages get the rest)
    fw = max(1, min(funding.natural_width(), width // 2 if width < 110 else max(48, width * 2 // 5)))
    tw = max(1, width - fw)
    got = allocate(
        height,
        {
            "session": session.chunks(width),
            "portfolio": portfolio.chunks(width),
            "positions": positions.chunks(width),
            "strategies": strategies.chunks(width),
            "closed": closed.chunks(width),
        },
        funding.chunks(fw),
        timeline.chunks(tw),
    )
    parts = []
    if got["session"]:
        parts.append(Layout(session.panel(width, got["session"]), name="session", size=got["session"]))
    if got["positions"]:
        n = got["positions"]
        parts.append(Layout(positions.panel(width, n, pages.get("positions", 0)), name="positions", size=n))
    if got["strategies"]:
        n = got["strategies"]
        parts.append(Layout(strategies.panel(width, n), name="strategies", size=n))
    if got["closed"]:
        n = got["closed"]
        parts.append(Layout(closed.panel(width, n, pages.get("closed", 0)), name="closed", size=n))
    if got["lower"]:
        n = got["lower"]
        lower = Layout(name="lower", size=n)
        lower.split_row(
            Layout(funding.panel(fw, n, pages.get("funding", 0)), name="funding", size=fw),
            Layout(timeline.panel(tw, n, pages.get("timeline", 0)), name="timeline", ratio=1),
        )
        parts.append(lower)
    if got["portfolio"]:
        parts.append(
            Layout(portfolio.panel(width, got["portfolio"]), name="portfolio", size=got["portfolio"])
        )
    root = Layout(name="root")
    root.split_column(*parts)
    return root


def build_layout(snap: DashboardSnapshot, pages: Mapping[str, int] | None = None) -> RenderableType:
    """The full-terminal dashboard for ``rich.live.Live``: laid out by priority at the size it is drawn at (module
    doc). ``pages``: pane name (``PAGED``) → first row shown, for paging a pane that does not fit."""
    return _Cockpit(snap, pages)


def build_frame(snap: DashboardSnapshot) -> RenderableType:
    """Every pane stacked at its natural height, nothing cut (text frames, exports and tests)."""
    parts = [session_pane(snap), positions_pane(snap)]
    if (strategies := strategies_pane(snap)) is not None:
        parts.append(strategies)
    if (closed := closed_pane(snap)) is not None:
        parts.append(closed)
    parts += [funding_pane(snap), timeline_pane(snap), portfolio_pane(snap)]
    return Group(*parts)


def _text_console(width: int, height: int | None = None) -> tuple[Console, StringIO]:
    buf = StringIO()
    console = Console(
        file=buf,
        width=width,
        height=height or 25,
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
    return console, buf


def frame_text(
    snap: DashboardSnapshot, width: int, height: int | None = None, pages: Mapping[str, int] | None = None
) -> str:
    """The dashboard as plain text at ``width`` columns: no colour, no control codes, deterministic. Without
    ``height``, every pane at its natural height (``build_frame``); with it, exactly the ``width`` × ``height``
    frame the live view draws (``build_layout``, paged by ``pages``)."""
    console, buf = _text_console(width, height)
    console.print(build_frame(snap) if height is None else build_layout(snap, pages))
    return buf.getvalue()


def legend() -> RenderableType:
    """Every column header and colour of the dashboard explained (``render_plain.LEGEND``), for a help key."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("header", style="bold", no_wrap=True, max_width=24)
    table.add_column("meaning", ratio=1)
    for i, (section, rows) in enumerate(LEGEND):
        if i:
            table.add_row("", "")
        table.add_row(Text(section, style="bold magenta"), "")
        for header, meaning in rows:
            table.add_row(Text(header, style=_LEGEND_STYLES.get(header, "bold")), Text(meaning))
    return Panel(table, title="legend  (every header and colour)", title_align="left", box=box.ROUNDED)


_LEGEND_STYLES = {
    "green / red": "bold green",
    "uncoloured": "dim",
    "Eros % yellow / red": "bold yellow",
    "Div % yellow / red": "bold yellow",
    "hold code yellow": "bold yellow",
    "vs min green": "bold green",
    "Next in yellow": "bold yellow",
    "dim rows": "dim",
}
