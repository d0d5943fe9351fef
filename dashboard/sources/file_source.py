"""A session's JSONL log — one file or a rotated set — as a ``ReplaySource`` (``dashboard.sources.protocol``).

Loading is ``dashboard.sources.jsonl.load`` (checkpoint seek, block folding), following is
``dashboard.sources.follow.follow_file`` (``tail -F``: rotation, truncation, deletion), playback reads
``dashboard.sources.jsonl.iter_batches``. The file work is synchronous and quick per block; the async methods let a
viewer hold this source and a PostgreSQL one alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Self

from arbdash.dashboard.sources.follow import follow_file
from arbdash.dashboard.sources.jsonl import check_readable, iter_batches, load, resolve_session
from arbdash.dashboard.sources.protocol import NoticeFn, ProgressFn, ReducerLike, SkipFn, SourceError
from arbdash.dashboard.sources.rotated import members, open_member
from arbdash.dashboard.sources.seek import iter_blocks_backwards, last_line_end
from arbdash.dashboard.timeaxis import Clock, line_time

__all__ = ["CLOCK_PROBE_LINES", "JsonlSource"]

#: How many lines ``time_axis`` reads looking for a market time before it falls back to the wall clock.
CLOCK_PROBE_LINES = 10_000


class JsonlSource:
    """The log at ``path`` (with its rotated predecessors ``path.1``, ``path.2.gz``…).

    ``session``: which session of the log to show (a full id or a unique prefix; ``None``: the session of the
    log's last event) — a log may hold several (``cat a.jsonl b.jsonl``), and one state folds one
    (``dashboard.reducer``); resolved on enter into ``self.session`` (``SourceError`` when it names none or
    several). ``poll_s``: how often ``follow`` re-checks the file when no change notification comes (seconds).
    ``follow`` continues from where ``load`` stopped (the byte offset past the last complete line of the newest
    member, with a record a rotation cut in two carried over); without a ``load`` (the file did not exist yet) it
    reads from the start.
    """

    def __init__(self, path: Path, *, session: str | None = None, poll_s: float = 0.5) -> None:
        self.path = path
        self.label = str(path)
        self.poll_s = poll_s
        self.offset = 0
        self.session: str | None = None
        self._wanted = session
        self._carry = b""

    async def __aenter__(self) -> Self:
        if self._wanted is not None or await self.exists():
            self.session = resolve_session(self.path, self._wanted)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def exists(self) -> bool:
        """Whether the log file is there (a followed path may be created later; a dangling symlink counts)."""
        return self.path.exists() or self.path.is_symlink()

    async def time_axis(self, clock: Clock) -> tuple[Clock, str | None]:
        """``clock``, except that a log whose first ``CLOCK_PROBE_LINES`` lines carry no ``market_ts`` (not written
        by a bot with a market clock) is travelled by the wall clock, with a notice saying so. Raises
        ``SourceError`` when the log cannot be read."""
        check_readable(self.path)
        if clock == "market" and self._first_time("market", CLOCK_PROBE_LINES) is None:
            return (
                "wall",
                "no market times (market_ts) in this log: --at/--from/--to/--speed use the wall clock (ts)",
            )
        return clock, None

    async def load(
        self,
        reducer: ReducerLike,
        *,
        until: datetime | None = None,
        clock: Clock = "wall",
        seek: bool = True,
        progress: ProgressFn | None = None,
    ) -> bool:
        """``dashboard.sources.jsonl.load``; remembers the offset ``follow`` continues from. Raises
        ``SourceError``."""
        if reducer.session is None:  # a reducer made without the source's session folds it all the same
            reducer.session = self.session
        result = load(self.path, reducer, until=until, clock=clock, seek=seek, progress=progress)
        self.offset, self._carry = result.offset, result.carry
        return result.stopped_at_time

    async def batches(self, on_skip: SkipFn) -> AsyncIterator[list[bytes]]:
        """``dashboard.sources.jsonl.iter_batches``: every complete line, oldest member first, a block at a time."""
        for batch in iter_batches(self.path, on_skip):
            yield batch

    async def follow(self, reducer: ReducerLike, on_notice: NoticeFn) -> AsyncIterator[int]:
        """``dashboard.sources.follow.follow_file`` from the offset ``load`` reached."""
        async for fed in follow_file(
            self.path,
            reducer,
            start_offset=self.offset,
            carry=self._carry,
            poll_s=self.poll_s,
            on_notice=on_notice,
        ):
            yield fed

    async def first_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the log's first event that has one (oldest member first); ``None`` when none
        has or the log cannot be read."""
        return self._first_time(clock)

    async def last_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the log's last event that has one: its newest member read backwards a block
        at a time (a ``.gz`` member is read forwards). ``None`` when none has or it cannot be read."""
        try:
            newest = members(self.path)[-1]
            if newest.suffix == ".gz":
                last = None
                with open_member(newest) as fh:
                    for raw in fh:
                        last = line_time(raw, clock) or last
                return last
            with open(newest, "rb") as fh:
                for _, body in iter_blocks_backwards(fh, last_line_end(fh)):
                    for raw in reversed(body.split(b"\n")):
                        t = line_time(raw, clock)
                        if t is not None:
                            return t
        except (SourceError, OSError, EOFError):
            return None
        return None

    def _first_time(self, clock: Clock, max_lines: int | None = None) -> datetime | None:
        try:
            check_readable(self.path)
            with open_member(members(self.path)[0]) as fh:
                for n, raw in enumerate(fh):
                    if max_lines is not None and n >= max_lines:
                        break
                    t = line_time(raw, clock)
                    if t is not None:
                        return t
        except (SourceError, OSError, EOFError):
            return None
        return None
