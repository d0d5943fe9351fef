"""Drawing the dashboard from PostgreSQL: ``arbtail --db DSN --session ID [--at TIME] [--follow|--once]`` and
``runbot --dashboard-replay ID``. Same reducer and renderers as the JSONL path, so the frames are the same.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from rich.console import Console

from dashboard.reducer import Reducer
from dashboard.render_rich import frame_text
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


async def frame_from_db(
    dsn: str,
    session: str,
    *,
    at: datetime | None = None,
    width: int = 120,
    timeline: int = 20,
    clock: Clock = "wall",
) -> str:
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


async def show_db(
    dsn: str,
    session: str,
    *,
    at: datetime | None = None,
    follow: bool = False,
    once: bool = False,
    width: int | None = None,
    timeline: int = 20,
    clock: Clock = "wall",
    keys: bool = True,
) -> None:
    """Print/draw the session: one frame (plain text for ``once`` or a non-interactive output), or — ``follow``
    — keep drawing it as its events commit (``tools.arbtail_view.follow_updates``: in place on a terminal, with
    the ``space``/``q`` keys unless ``keys`` is false; a plain frame per change otherwise). After a live view
    (``q``, Ctrl-C) the last frame is left on the normal screen. ``at`` is on ``clock``
    (``dashboard.timeaxis``); a moment in the past does not move, so ``at`` prints one frame. Raises
    ``PostgresSourceError``."""
    from tools.arbtail_view import follow_updates, interactive, print_frame

    reducer = Reducer(timeline_size=timeline)
    async with PostgresSource(dsn, session) as src:
        await _load(src, reducer, at, clock)
        console = Console(width=width)
        plain = once or not interactive(console)
        following = follow and not once and at is None
        live_follow = following and not plain
        if not live_follow:
            print_frame(reducer, console, width, plain=plain)
        if not following:
            return
        try:
            await follow_updates(
                lambda on_notice: src.follow(reducer),
                reducer,
                console,
                width,
                label=f"session {src.session_id}",
                read_keys=keys,
            )
        finally:
            if (
                live_follow
            ):  # the alternate screen is gone (q, Ctrl-C): leave the last state on the normal screen
                print_frame(reducer, console, width, plain=False)


def run_show_db(dsn: str, session: str, **kw: object) -> None:
    """Synchronous wrapper for CLIs; Ctrl-C ends following quietly."""
    try:
        asyncio.run(show_db(dsn, session, **kw))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
