"""``arbtail PATH``: drawing a JSONL log — one frame, the state at a moment, following it, or playing it back.

* one frame   — ``--once`` or not an interactive terminal (pipe, ``TERM=dumb``, ``NO_COLOR``): plain text, no
  cursor control; on a terminal the frame is printed once in colour;
* ``--at T``  — the state after the last event with ``ts`` ≤ T (checkpoint seek + fold, like a full replay);
* ``--follow``— keep folding as the file grows, like ``tail -F`` (``dashboard.sources.follow``); rotation,
  truncation and deletion are said on a notice line (stderr in a pipe);
* ``--speed N`` — play the events between ``--from`` and ``--to`` at N× the pace they were logged.

A replay that reads many MB shows a ``rich.progress`` bar on stderr, on a terminal only. Time filters compare
the envelope ``ts`` (wall clock, UTC), as the PostgreSQL source does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orjson
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from dashboard.reducer import Reducer
from dashboard.render_rich import build_frame, build_layout, frame_text
from dashboard.sources.follow import follow_file
from dashboard.sources.jsonl import SourceError, iter_batches, load
from dashboard.text import safe_text

#: Replays reading fewer bytes than this draw no progress bar (they finish in a blink).
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def interactive(console: Console) -> bool:
    """A terminal that may receive colour and cursor control (not a pipe, not ``TERM=dumb``, no ``NO_COLOR``)."""
    return console.is_terminal and not console.is_dumb_terminal and "NO_COLOR" not in os.environ


class _ProgressBar:
    """A transient ``rich.progress`` bar on stderr, started lazily once the replay proves long enough."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < PROGRESS_MIN_BYTES:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("replaying"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("replay", total=total)
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def load_for_show(path: Path, reducer: Reducer, *, until: datetime | None, seek: bool, bar: bool) -> int:
    """Fold ``path`` into ``reducer`` (checkpoint seek when possible). Returns the offset to follow from.
    Raises ``SourceError``."""
    progress = _ProgressBar(bar)
    try:
        return load(path, reducer, until=until, seek=seek, progress=progress).offset
    finally:
        progress.close()


def print_frame(reducer: Reducer, console: Console, width: int | None, *, plain: bool) -> None:
    """One frame: plain text (no control codes) or, on an interactive terminal, in colour."""
    if plain:
        sys.stdout.write(frame_text(reducer.snapshot(), width or 120))
        sys.stdout.flush()
    else:
        console.print(build_frame(reducer.snapshot()))


def _with_notice(body: RenderableType, notice: str) -> RenderableType:
    if not notice:
        return body
    return Group(Text(safe_text(notice, 200), style="bold yellow"), body)


async def follow(path: Path, reducer: Reducer, offset: int, console: Console, width: int | None,
                 *, poll_s: float = 0.5) -> None:
    """Keep folding appended lines. Interactive: redraw in place (``Live``, alternate screen, restored on every
    exit); otherwise print a plain frame per change and notices to stderr."""
    live_view = interactive(console)
    notice = ""

    def on_notice(text: str) -> None:
        nonlocal notice
        notice = text
        if not live_view:
            print(f"arbtail: {safe_text(text)}", file=sys.stderr, flush=True)

    drawn = reducer.version
    if not live_view:
        async for _ in follow_file(path, reducer, start_offset=offset, poll_s=poll_s, on_notice=on_notice):
            if reducer.version != drawn:
                sys.stdout.write(frame_text(reducer.snapshot(), width or 120) + "\n")
                sys.stdout.flush()
                drawn = reducer.version
        return
    shown = notice
    with Live(build_layout(reducer.snapshot()), console=console, screen=True, auto_refresh=False) as live:
        async for _ in follow_file(path, reducer, start_offset=offset, poll_s=poll_s, on_notice=on_notice):
            if reducer.version != drawn or notice != shown:
                live.update(_with_notice(build_layout(reducer.snapshot()), notice), refresh=True)
                drawn, shown = reducer.version, notice


def _line_ts(raw: bytes) -> datetime | None:
    try:
        ev = orjson.loads(raw)
        ts = datetime.fromisoformat(ev["ts"])
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        return None
    return ts if ts.tzinfo is not None else None


async def playback(path: Path, reducer: Reducer, console: Console, width: int | None, *, speed: float,
                   start: datetime | None, end: datetime | None,
                   sleep: Callable[[float], object] = asyncio.sleep) -> None:
    """Fold events up to ``start`` at once, then the rest up to ``end`` at ``speed``× the pace of their ``ts``
    (gaps between events divided by ``speed``). Redraws at most 10 times a second (interactive) or prints a
    plain frame every second of wall time and at the end. Raises ``SourceError``."""
    live_view = interactive(console)
    live = Live(build_layout(reducer.snapshot()), console=console, screen=True, auto_refresh=False) \
        if live_view else None
    prev: datetime | None = None
    last_draw = 0.0

    def draw(final: bool = False) -> None:
        nonlocal last_draw
        now = time.monotonic()
        if live is not None and (final or now - last_draw >= 0.1):
            live.update(build_layout(reducer.snapshot()), refresh=True)
            last_draw = now
        elif live is None and (final or now - last_draw >= 1.0):
            sys.stdout.write(frame_text(reducer.snapshot(), width or 120) + ("" if final else "\n"))
            sys.stdout.flush()
            last_draw = now

    if live is not None:
        live.start()
    try:
        for batch in iter_batches(path, reducer.note_skip):
            for raw in batch:
                ts = _line_ts(raw)
                if ts is not None and end is not None and ts > end:
                    draw(final=True)
                    return
                if ts is not None and (start is None or ts >= start):
                    if prev is not None and ts > prev:
                        await sleep((ts - prev).total_seconds() / speed)
                    prev = ts
                    reducer.feed_line(raw)
                    draw()
                else:
                    reducer.feed_line(raw)
        draw(final=True)
    finally:
        if live is not None:
            live.stop()


def _first_ts(path: Path) -> str | None:
    """The ``ts`` of the first parseable event of ``path`` (for a helpful message), or ``None``."""
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("ts"), str):
                return event["ts"]
    return None


def run_show_file(path: Path, *, follow_: bool, once: bool, width: int | None, timeline: int,
                  at: datetime | None, start: datetime | None, end: datetime | None, speed: float | None,
                  seek: bool, poll_s: float) -> None:
    """The ``show`` command for a file. Raises ``SourceError`` (the CLI prints it and exits 2)."""
    reducer = Reducer(timeline_size=timeline)
    console = Console(width=width)
    plain = once or not interactive(console)
    if speed is not None and not once:
        try:
            asyncio.run(playback(path, reducer, console, width, speed=speed, start=start, end=end or at))
        except KeyboardInterrupt:
            pass
        return
    until = at or end
    offset = load_for_show(path, reducer, until=until, seek=seek, bar=not plain and console.is_terminal)
    if until is not None and reducer.state.stats.applied == 0:
        first = _first_ts(path)
        raise SourceError(
            f"{path}: no event at or before {until.isoformat()} (times compare the events' wall-clock `ts`"
            + (f"; this log starts at {first}" if first else "") + ")"
        )
    following = follow_ and not once and until is None
    live_follow = following and not plain
    if not live_follow:  # a live view draws its own first frame, and the last one when it ends
        print_frame(reducer, console, width, plain=plain)
    if following:
        try:
            asyncio.run(follow(path, reducer, offset, console, width, poll_s=poll_s))
        except KeyboardInterrupt:
            pass
        if live_follow:  # the alternate screen is gone: leave the state at exit on the normal screen
            print_frame(reducer, console, width, plain=False)


__all__ = ["SourceError", "interactive", "load_for_show", "run_show_file", "follow", "playback"]
