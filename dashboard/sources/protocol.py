"""What every replay source gives a viewer: one protocol for a JSONL file, a rotated set and a PostgreSQL session.

A viewer (``tools.arbtail_view``: one frame, ``--at``, ``--follow``, ``--speed`` playback with keys, ``export``)
holds a ``ReplaySource`` and never asks what is behind it, as toolong's viewer holds a swappable watcher. A source
is an async context manager (a file needs nothing opened, a PostgreSQL session one connection) with five verbs:

* ``time_axis(clock)`` — the clock a session can be travelled by: ``market`` falls back to ``wall`` (with a notice
  to show) when the session has no market time at all;
* ``load(reducer, until=, clock=, seek=, progress=)`` — fold the session, to its end or up to the first event later
  than ``until`` on ``clock``, starting from the newest usable checkpoint when ``seek``; returns whether ``until``
  cut it short;
* ``batches(on_skip)`` — every event line from the session's start, in order, a batch at a time (playback paces
  them itself);
* ``follow(reducer, on_notice)`` — after ``load``: fold new events as they arrive, yielding after each batch so the
  viewer redraws; notices (rotation, truncation, a gap) go to ``on_notice``;
* ``first_time(clock)`` / ``last_time(clock)`` — the session's span on a clock, for messages.

Lines are the bytes of one JSON event each (``dashboard.reducer.Reducer.feed_line``), so whatever the source, the
same reducer folds the same lines into the same frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol, Self

from arbdash.dashboard.timeaxis import Clock

__all__ = ["SourceError", "ReplaySource", "ReducerLike", "NoticeFn", "ProgressFn", "SkipFn"]

#: ``on_notice(text)``: something the operator should read (a rotation, a truncation, a wall-clock fallback).
NoticeFn = Callable[[str], None]
#: ``progress(done, total)`` in source units (bytes of a file); called after each block.
ProgressFn = Callable[[int, int], None]
#: ``on_skip(reason, detail)``: a line that could not be split out (torn, too long), counted by the reducer.
SkipFn = Callable[[str, str], None]


class SourceError(Exception):
    """The source cannot be read at all (a missing or unreadable file, an unreachable database, an unknown
    session, nothing at or before a moment). The message is operator-readable and never holds a password."""


class ReducerLike(Protocol):
    """What a source folds into (``dashboard.reducer.Reducer``): ``session`` is the one session it folds."""

    timeline_size: int
    session: str | None

    def feed_line(self, raw: bytes) -> None: ...
    def feed_lines(self, lines: list[bytes]) -> int: ...
    def feed_block(self, block: bytes) -> int: ...
    def feed_lines_until(
        self, lines: list[bytes], until: datetime, clock: Clock = "wall"
    ) -> tuple[int, bool]: ...
    def note_skip(self, reason: str, detail: str = "") -> None: ...
    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool: ...


class ReplaySource(Protocol):
    """One session's events, wherever they are kept. ``label`` names it for status bars and messages (a file
    name, ``session <uuid>``); ``session`` is the id of the session it serves, known once entered (``None``: not
    yet — a followed log that does not exist yet); a viewer folds with ``Reducer(session=source.session)``, so
    another session's events in the same log are counted, never mixed in. Every method raises ``SourceError``
    when the source cannot be read; bad content is counted by the reducer, never raised."""

    label: str
    session: str | None

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...

    async def exists(self) -> bool:
        """Whether there is anything to read yet (a followed log file may not exist yet)."""
        ...

    async def time_axis(self, clock: Clock) -> tuple[Clock, str | None]:
        """``clock``, or ``wall`` and a notice when ``clock`` is ``market`` and the session has no market time."""
        ...

    async def load(
        self,
        reducer: ReducerLike,
        *,
        until: datetime | None = None,
        clock: Clock = "wall",
        seek: bool = True,
        progress: ProgressFn | None = None,
    ) -> bool:
        """Fold the session into ``reducer`` (to its end, or up to the first event later than ``until`` on
        ``clock``); ``True`` when ``until`` stopped it before the end. ``follow`` continues where it ended."""
        ...

    def batches(self, on_skip: SkipFn) -> AsyncIterator[list[bytes]]:
        """Every event line of the session from its start, in order, in batches."""
        ...

    def follow(self, reducer: ReducerLike, on_notice: NoticeFn) -> AsyncIterator[int]:
        """After ``load``: fold new events as they arrive; yields the number folded after each wake-up that found
        some. Runs until cancelled."""
        ...

    async def first_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the session's first event that has one (``None``: none has)."""
        ...

    async def last_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the session's last event that has one (``None``: none has)."""
        ...
