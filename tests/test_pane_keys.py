"""The keys every full-screen view shares (``dashboard.pane_keys``): Tab chooses the pane, PgDn/PgUp page it
within its items, ? shows the keys and the legend instead of the frame."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console

from arbdash.dashboard.pane_keys import PaneKeys
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import PAGED, build_layout, frame_text
from arbdash.dashboard.snapshot import LIVE_CLOSED_ROWS
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.tools.arbtail_view import view


def _render(renderable: object, width: int = 120, height: int = 40) -> str:
    console = Console(file=io.StringIO(), width=width, height=height, record=True)
    console.print(renderable)
    return console.export_text()


def _end(real_log: Path) -> Reducer:
    async def load() -> Reducer:
        reducer = Reducer()
        async with JsonlSource(real_log) as src:
            await src.load(reducer)
        return reducer

    return asyncio.run(load())


def test_tab_chooses_the_pane_and_pages_stay_within_its_items(real_log: Path) -> None:
    snap = _end(real_log).snapshot()
    keys = PaneKeys()
    assert keys.focus == PAGED[0] and keys.status() == []
    assert keys.press("tab", snap) and keys.focus == "closed"
    assert keys.press("pgdn", snap) and keys.pages == {"closed": 3} and keys.status() == ["paging closed +3"]
    for _ in range(100):
        keys.press("pgdn", snap)
    closed = sum(p.lifecycle in ("closed", "rolled_back") for p in snap.positions)
    assert keys.pages["closed"] == closed - 1  # never past its last item
    for _ in range(100):
        keys.press("<", snap)
    assert keys.pages["closed"] == 0
    for _ in PAGED:
        keys.press("tab", snap)
    assert keys.focus == "closed"  # Tab goes round
    assert not keys.press("x", snap)


def test_help_page_lists_the_views_keys_and_the_legend(real_log: Path) -> None:
    snap = _end(real_log).snapshot()
    keys = PaneKeys((("space", "pause / resume"),))
    frame = _render(keys.body(snap))
    assert frame == _render(build_layout(snap))
    assert keys.press("?", snap)
    page = _render(keys.body(snap))
    assert "space" in page and "pause / resume" in page and "PgDn" in page and "legend" in page
    assert keys.press("?", snap) and _render(keys.body(snap)) == frame


def test_the_viewer_pages_with_its_keys(real_log: Path) -> None:
    """In the viewer the page keys move the pane and the time keys still move time."""

    async def run() -> tuple[str, Reducer]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        console = Console(file=io.StringIO(), width=120, height=40, force_terminal=True, record=True)
        async with JsonlSource(real_log) as src:
            end = Reducer()
            await src.load(end)
            for key in ("tab", "tab", "tab", "pgdn", "q"):  # the timeline, five rows back
                queue.put_nowait(key)
            shown = await view(src, end, console, clock="market", keys=queue)
        return console.export_text(), shown

    text, shown = asyncio.run(run())
    assert "paging timeline +5" in text
    snap = shown.snapshot(closed_rows=LIVE_CLOSED_ROWS)  # what a live view draws
    above = [ln for ln in frame_text(snap, 120, 39, {"timeline": 5}).splitlines() if " above" in ln]
    assert above and above[0].strip() in text  # the frame drawn is the timeline paged back
