"""The keys every full-screen view shares: page a pane that does not fit, and the help page.

``Tab`` chooses which pane the page keys move (``dashboard.render_rich.PAGED``: open positions, closed positions,
funding rates, timeline), ``PgDn``/``PgUp`` (or ``>``/``<``) move it on or back, ``?`` shows the help page — the
view's keys, then the legend of every header and colour — instead of the frame (``?`` again, ``Esc`` or a page
key brings the frame back), ``s`` focuses the frame on one strategy instance in a session of two or more (none →
each strategy → none: ``dashboard.focus``). The state is the view's own: ``body(snapshot)`` draws the frame as
the keys left it.
Status bars name only ``? help`` (a terminal line is too short for every key). Used by ``arbtail``'s viewer,
follower and playback, and by ``runbot``'s live view (``dashboard.service``).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.layout import Layout
from rich.text import Text

from arbdash.dashboard.focus import focus_snapshot, next_focus, strategy_names
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.render_rich import PAGED, build_layout, legend
from arbdash.dashboard.snapshot import LIVE_CLOSED_ROWS
from arbdash.dashboard.text import safe_text
from arbdash.dashboard.theme import Theme, themed

__all__ = ["LIVE_CLOSED_ROWS", "PANE_KEYS_HELP", "PANE_KEYS_LINES", "PaneKeys", "status_bar", "with_status"]

#: The keys, for a status bar.
PANE_KEYS_HELP = "? help"
#: The keys, for the help page.
PANE_KEYS_LINES = (
    ("Tab", "choose the pane the page keys move: open positions, closed positions, funding rates, timeline"),
    ("PgDn / PgUp  (> / <)", "page that pane on / back (a cut pane's border says how much it hides)"),
    (
        "s",
        "focus on one strategy (2+ strategies): none → each strategy → none; its positions and timeline only",
    ),
    ("?  (Esc)", "this page / back to the frame (Esc only closes it)"),
)
#: How far one page key moves each pane (its items: positions, closed positions, rates, timeline rows).
PAGE_STEP = {"positions": 1, "closed": 3, "funding": 3, "timeline": 5}
_DOWN = ("pgdn", ">")
_UP = ("pgup", "<")


def _items(snap: DashboardSnapshot, pane: str) -> int:
    """How many items ``pane`` has to page through."""
    if pane == "positions":
        return sum(p.lifecycle not in ("closed", "rolled_back") for p in snap.positions)
    if pane == "closed":
        return sum(p.lifecycle in ("closed", "rolled_back") for p in snap.positions)
    if pane == "funding":
        return len(snap.funding.rates)
    return len(snap.recent_events)


class PaneKeys:
    """Which pane is paged (``focus``), each pane's first item shown (``pages``), whether the legend is up, and the
    strategy the frame focuses on (``strategy``; ``None``: the whole session)."""

    def __init__(self, view_keys: tuple[tuple[str, str], ...] = (), theme: Theme = "dark") -> None:
        """``view_keys``: the view's own keys (key, what it does) for the help page; ``theme``: the colours the
        body is drawn in (``dashboard.theme``)."""
        self.view_keys = view_keys
        self.theme = theme
        self.focus = PAGED[0]
        self.pages: dict[str, int] = {}
        self.legend = False
        self.strategy: str | None = None

    def press(self, key: str, snap: DashboardSnapshot) -> bool:
        """Handle ``key`` if it is one of these keys (returns ``True``: redraw); offsets stay within the pane's
        items (the layout shows the last full page for an offset past it)."""
        if key == "?":
            self.legend = not self.legend
            return True
        if key == "esc":  # closes the help page; otherwise not this object's key (the view's: quit, cancel)
            if not self.legend:
                return False
            self.legend = False
            return True
        if key == "s":
            if snap.focus is not None:  # the view was started on one strategy (arbtail --strategy)
                return False
            self.strategy = next_focus(snap, self.strategy)
            self.pages.clear()  # the focused panes hold other rows
            self.legend = False
            return True
        if key == "tab":
            self.focus = PAGED[(PAGED.index(self.focus) + 1) % len(PAGED)]
            self.legend = False
            return True
        if key in _DOWN or key in _UP:
            snap = self._focused(snap)
            step = PAGE_STEP[self.focus] * (1 if key in _DOWN else -1)
            now = self.pages.get(self.focus, 0)
            self.pages[self.focus] = max(0, min(_items(snap, self.focus) - 1, now + step))
            self.legend = False
            return True
        return False

    def _focused(self, snap: DashboardSnapshot) -> DashboardSnapshot:
        """``snap`` focused on the chosen strategy (none chosen, or it is not in ``snap``: ``snap``)."""
        if self.strategy is None or snap.focus is not None or self.strategy not in strategy_names(snap):
            return snap
        return focus_snapshot(snap, self.strategy)

    def body(self, snap: DashboardSnapshot) -> RenderableType:
        """The help page (keys, then the legend), or the frame of ``snap`` (focused on the chosen strategy) paged
        as the keys left it."""
        if not self.legend:
            return themed(build_layout(self._focused(snap), self.pages), self.theme)
        rows = [*self.view_keys, *PANE_KEYS_LINES]
        width = max(len(k) for k, _ in rows)
        keys = Text("keys\n", style="bold")
        for key, what in rows:
            keys.append(f"  {key:<{width}}  ", style="bold cyan")
            keys.append(what + "\n")
        return themed(Group(keys, legend()), self.theme)

    def status(self) -> list[str]:
        """``["strategy alpha", "paging closed +3"]``: the strategy in focus, and the pane paged and its offset once
        the page keys were used; else nothing: for a status bar."""
        offset = self.pages.get(self.focus, 0)
        out = [f"strategy {safe_text(self.strategy, 30)}"] if self.strategy is not None else []
        if self.focus == PAGED[0] and not offset:
            return out
        return [*out, f"paging {self.focus}" + (f" +{offset}" if offset else "")]


def with_status(body: RenderableType, status: Text | None) -> RenderableType:
    """The full-screen ``body`` with a one-line status bar under it (the bar takes a row from the body, so the
    frame is never pushed off the screen), or ``body`` as it is."""
    if status is None:
        return body
    screen = Layout(name="screen")
    screen.split_column(Layout(body, name="frame", ratio=1), Layout(status, name="status", size=1))
    return screen


def status_bar(label: str, style: str, parts: list[str], keys_help: str) -> Text:
    """`` label  part  part   keys`` on one line (cut with an ellipsis when the terminal is narrower); ``parts``
    and ``keys_help`` are shown as text, never markup."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {label} ", style=style)
    for part in parts:
        text.append("  " + part)
    text.append("   " + keys_help, style="dim")
    return text
