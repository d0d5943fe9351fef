"""Drawing the dashboard from PostgreSQL: ``arbtail --db DSN --session ID [--at TIME] [--follow|--once]`` and
``runbot --dashboard-replay ID``. Same reducer and renderers as the JSONL path, so the frames are the same.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live

from dashboard.reducer import Reducer
from dashboard.render_rich import build_frame, build_layout, frame_text
from dashboard.sources.postgres import PostgresSource
from dashboard.timeaxis import Clock


def parse_at(text: str | None) -> datetime | None:
    """``--at``: ISO 8601; a time without offset is taken as UTC. Raises ``ValueError`` with the form."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use ISO 8601, e.g. 2026-03-01T08:00:00Z") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def frame_from_db(dsn: str, session: str, *, at: datetime | None = None, width: int = 120,
                        timeline: int = 20, clock: Clock = "wall") -> str:
    """The plain-text frame of ``session`` at its end (or at ``at`` on ``clock``). Raises
    ``PostgresSourceError``."""
    reducer = Reducer(timeline_size=timeline)
    async with PostgresSource(dsn, session) as src:
        await _load(src, reducer, at, clock)
    return frame_text(reducer.snapshot(), width)


async def _load(src: PostgresSource, reducer: Reducer, at: datetime | None, clock: Clock) -> None:
    """The whole session, or the state at ``at`` (a notice on stderr when the wall clock stands in)."""
    if at is None:
        await src.load(reducer)
        return
    notice = await src.load_at(reducer, at, clock)
    if notice:
        print(f"arbtail: {notice}", file=sys.stderr, flush=True)


async def show_db(dsn: str, session: str, *, at: datetime | None = None, follow: bool = False,
                  once: bool = False, width: int | None = None, timeline: int = 20, clock: Clock = "wall") -> None:
    """Print/draw the session: one frame (``once`` or not a terminal), or follow it live (redraw on each
    committed batch; a non-terminal gets one plain frame per change). ``at`` is on ``clock``
    (``dashboard.timeaxis``). Raises ``PostgresSourceError``."""
    reducer = Reducer(timeline_size=timeline)
    async with PostgresSource(dsn, session) as src:
        await _load(src, reducer, at, clock)
        console = Console(width=width)
        if once or not follow or not console.is_terminal:
            if console.is_terminal and not once:
                console.print(build_frame(reducer.snapshot()))
            else:
                sys.stdout.write(frame_text(reducer.snapshot(), width or 120))
                sys.stdout.flush()
            if once or not follow:
                return
        if at is not None:
            return  # a moment in the past does not move
        if not console.is_terminal:
            async for _ in src.follow(reducer):
                sys.stdout.write(frame_text(reducer.snapshot(), width or 120) + "\n")
                sys.stdout.flush()
            return
        with Live(build_layout(reducer.snapshot()), console=console, screen=True, auto_refresh=False) as live:
            async for _ in src.follow(reducer):
                live.update(build_layout(reducer.snapshot()), refresh=True)


def run_show_db(dsn: str, session: str, **kw: object) -> None:
    """Synchronous wrapper for CLIs; Ctrl-C ends following quietly."""
    try:
        asyncio.run(show_db(dsn, session, **kw))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
