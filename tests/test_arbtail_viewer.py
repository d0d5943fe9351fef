"""``arbtail FILE`` on a terminal is a viewer (issue 14 item 4): it opens at the session's end and moves through
time with keys, each frame being exactly ``arbtail FILE --at T``'s; ``q`` leaves the frame on the normal screen.
``--once`` stays the one-shot print."""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support_terminal import assert_terminal_usable

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.tools.arbtail_view import view

ARBTAIL = Path(sys.executable).with_name("arbtail")


def _at(path: Path, until: Any) -> str:
    async def load() -> Reducer:
        reducer = Reducer()
        async with JsonlSource(path) as src:
            await src.load(reducer, until=until, clock="market")
        return reducer

    return frame_text(asyncio.run(load()).snapshot(), 120)


def test_keys_move_through_time_and_each_frame_is_the_state_at_that_moment(real_log: Path) -> None:
    async def run(pressed: list[str]) -> Reducer:
        keys: asyncio.Queue[str] = asyncio.Queue()
        for key in [*pressed, "q"]:
            keys.put_nowait(key)
        console = Console(file=io.StringIO(), width=120, height=40, force_terminal=True)
        async with JsonlSource(real_log) as src:
            end = Reducer()
            await src.load(end)
            last = await src.last_time("market")
            first = await src.first_time("market")
            shown = await view(src, end, console, clock="market", keys=keys)
        assert last is not None and first is not None
        run.bounds = (first, last)  # type: ignore[attr-defined]
        return shown

    shown = asyncio.run(run(["left", "left", "["]))
    first, last = run.bounds  # type: ignore[attr-defined]
    moment = last - timedelta(hours=2, days=1)
    assert frame_text(shown.snapshot(), 120) == _at(real_log, moment)
    assert frame_text(asyncio.run(run(["home"])).snapshot(), 120) == _at(real_log, first)
    back_to_end = asyncio.run(run(["left", "end", "x", "right"]))  # x moves nothing; → at the end stays there
    assert frame_text(back_to_end.snapshot(), 120) == _at(real_log, None)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_viewer_in_a_terminal(real_log: Path, pane_factory: Callable[..., Any]) -> None:
    pane = pane_factory(width=120, height=40)
    pane.keys(f"{ARBTAIL} {real_log}", "Enter")
    status = pane.wait(
        lambda: next((ln for ln in pane.text().splitlines() if " viewing " in ln), None), "viewer"
    )
    assert "(end)" in status and pane.flags() == "0 1"
    pane.keys("Left")
    moved = pane.wait(
        lambda: next(
            (ln for ln in pane.text().splitlines() if " viewing " in ln and "(end)" not in ln), None
        ),
        "a move an hour back",
    )
    assert "q quit" in moved
    pane.keys("q")
    pane.wait(lambda: pane.flags() == "1 0", "arbtail to give the terminal back")
    assert_terminal_usable(pane, expect_rc=0)
    assert "portfolio" in pane.text()  # the frame where the viewer stopped stays on the normal screen
