"""Reading a session's JSONL log (one file or a rotated set) into a reducer, once, up to its end or a moment.

Lines are read in binary blocks (``dashboard.sources.lines``), so memory stays flat in the file's size and
invalid UTF-8 reaches the reducer (which counts it) instead of breaking the reader. A last line without its
newline is *torn* and counted (``torn_line``), never parsed; following a growing file holds it back instead
(``dashboard.sources.follow``).

A file's first bytes may be a UTF-8 byte-order mark (an editor adds one): each member read from its start is
read without it (``dashboard.sources.lines.strip_bom``), so its first line folds.

``load`` starts from the last usable ``dashboard.checkpoint`` when the log is big (``seek_min_bytes``): it
reads the newest member backwards to find it (``dashboard.sources.seek``), loads it with
``Reducer.load_checkpoint`` and folds only what follows — the same state a full replay gives, counters
included. A checkpoint carries the count of log bytes the bot's reducer had been fed (``fed_bytes``), which is
the checkpoint's place in the log when the file holds exactly those lines. When it does not — the file has
bytes there the bot's reducer never folded: a line too long to read, garbage, NULs, a torn line, a blank line —
only a replay that reads them can count them, so the reader starts from an older checkpoint that precedes
them, or replays the whole log: the frame's skipped-line counts are always those of a full replay (and of
``arbtail stats``), never the checkpoint's alone. The bytes before the checkpoint started from are not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from dashboard.sources.lines import BLOCK_BYTES, BOM, LineSplitter, strip_bom
from dashboard.sources.rotated import SourceError, check_readable, members, open_member, raw_position
from dashboard.sources.seek import (
    Checkpoint,
    checkpoint_fed_bytes,
    checkpoint_usable,
    iter_checkpoints,
    last_line_end,
)
from dashboard.timeaxis import Clock, checkpoint_time

__all__ = ["SourceError", "LoadResult", "check_readable", "iter_batches", "load", "read_file"]

#: Logs smaller than this (bytes, all members) are always replayed in full: it takes well under 0.1 s.
SEEK_MIN_BYTES = 32 * 1024 * 1024

#: ``progress(done_bytes, total_bytes)``
ProgressFn = Callable[[int, int], None]


class LineSink(Protocol):
    def feed_line(self, raw: bytes) -> None: ...
    def feed_lines(self, lines: list[bytes]) -> int: ...
    def feed_block(self, block: bytes) -> int: ...
    def note_skip(self, reason: str, detail: str = "") -> None: ...


class ReducerLike(LineSink, Protocol):
    timeline_size: int

    def feed_lines_until(
        self, lines: list[bytes], until: datetime, clock: Clock = "wall"
    ) -> tuple[int, bool]: ...
    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool: ...


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What ``load`` did: ``offset`` in the newest member just past the last complete line read (where a
    follower continues), ``checkpoint_seq`` of the checkpoint started from (``None`` = full replay),
    ``bytes_read`` of log text folded, ``stopped_at_time`` when ``until`` cut the replay short."""

    offset: int
    checkpoint_seq: int | None
    bytes_read: int
    stopped_at_time: bool


def read_file(path: Path, sink: LineSink, *, progress: ProgressFn | None = None) -> int:
    """Feed every complete line of ``path`` (and its rotated predecessors) to ``sink``; a torn last line is
    counted, not fed. Returns the byte offset in ``path`` just past its last complete line. Raises
    ``SourceError`` if the file is unreadable."""
    return load(path, sink, seek=False, progress=progress).offset  # type: ignore[arg-type]


def load(
    path: Path,
    reducer: ReducerLike,
    *,
    until: datetime | None = None,
    clock: Clock = "wall",
    seek: bool = True,
    seek_min_bytes: int = SEEK_MIN_BYTES,
    progress: ProgressFn | None = None,
) -> LoadResult:
    """Fold the log at ``path`` into ``reducer``: to its end, or — with ``until`` (aware) — up to the first event
    whose time on ``clock`` is later (``dashboard.timeaxis``: ``market_ts`` or the envelope ``ts``). With
    ``seek`` and a log of at least ``seek_min_bytes``, start from the last usable checkpoint (one covering no
    time later than ``until``, and none of the file's bytes its state did not fold: see the module doc), so the
    state — skipped-line counts included — is a full replay's. ``progress`` is called after each block. Raises
    ``SourceError`` when ``path`` (or a rotated member) cannot be read; bad content is counted in the reducer,
    never raised."""
    check_readable(path)
    paths = members(path)
    sizes = [_size(p) for p in paths]
    total = sum(sizes)
    cp = _find_checkpoint(paths, reducer, until, clock) if seek and total >= seek_min_bytes else None
    if cp is not None and not reducer.load_checkpoint(cp.state, count_bad=False):
        cp = None  # another version's state form (or a damaged one): a full replay instead
    skipped = 0
    stopped = False
    if cp is not None:
        if until is None:
            reducer.feed_line(cp.line)
        else:  # the checkpoint line itself may be later than ``until`` (stamped after its state was taken)
            stopped = reducer.feed_lines_until([cp.line], until, clock)[1]
        skipped = total - sizes[-1] + cp.end
        paths, start = paths[-1:], cp.end
    else:
        start = 0
    if stopped:
        return LoadResult(cp.offset, cp.event["seq"], 0, True)  # type: ignore[union-attr]
    splitter = LineSplitter(reducer.note_skip)
    done, offset = skipped, 0
    for p in paths:
        with open_member(p) as fh:
            if start:
                fh.seek(start)
            at_start = not start  # read from its start: a byte-order mark is not its first line's
            base = done - raw_position(fh)
            read = start
            start = 0
            while chunk := fh.read(BLOCK_BYTES):
                read += len(chunk)
                if at_start:
                    chunk, at_start = strip_bom(chunk), False
                if until is None:
                    reducer.feed_block(splitter.feed_block(chunk))
                else:
                    stopped = reducer.feed_lines_until(splitter.feed(chunk), until, clock)[1]
                    if stopped:
                        break
                if progress is not None:
                    progress(base + raw_position(fh), total)
            done = base + raw_position(fh)
            if stopped:
                break
            offset = read - splitter.pending
            splitter.finish(str(p))
    if progress is not None:
        progress(total, total)
    return LoadResult(offset, cp.event["seq"] if cp else None, done - skipped, stopped)


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _first_session_id(path: Path) -> str | None:
    """``session_id`` of the first line of the oldest member (``None`` if it is not an event)."""
    try:
        with open_member(path) as fh:
            line = strip_bom(fh.readline(1 << 20))
        ev = orjson.loads(line)
    except (SourceError, OSError, orjson.JSONDecodeError):
        return None
    sid = ev.get("session_id") if type(ev) is dict else None
    return sid if type(sid) is str else None


def _bom_bytes(path: Path) -> int:
    """Length of the byte-order mark a member starts with (0 without one, or if it cannot be read)."""
    try:
        with open_member(path) as fh:
            return len(BOM) if fh.read(len(BOM)) == BOM else 0
    except (SourceError, OSError, EOFError):
        return 0


def _text_bytes(path: Path) -> int | None:
    """Bytes of log text in a whole member: its size (a ``.gz`` member's from its gzip trailer, modulo 2³² — a
    wrong figure only costs a full replay) without a byte-order mark. ``None`` if it cannot be told."""
    try:
        if path.suffix == ".gz":
            with open(path, "rb") as fh:
                fh.seek(-4, 2)
                size = int.from_bytes(fh.read(4), "little")
        else:
            size = path.stat().st_size
    except OSError:
        return None
    return size - _bom_bytes(path)


def _find_checkpoint(
    paths: list[Path], reducer: ReducerLike, until: datetime | None, clock: Clock
) -> Checkpoint | None:
    """The newest usable checkpoint of the newest member no later than ``until`` whose ``fed_bytes`` is its
    place in the log's text (the older members' text and its offset): a later one whose count differs has bytes
    before it that its state did not fold, which an older one may precede (see the module doc)."""
    newest = paths[-1]
    if newest.suffix == ".gz":
        return None
    first_sid = _first_session_id(paths[0])
    before = 0  # log text before the newest member's first byte
    for p in paths[:-1]:
        if (size := _text_bytes(p)) is None:
            return None
        before += size
    before -= _bom_bytes(newest)
    with open(newest, "rb") as fh:
        end = last_line_end(fh)
        for cp in iter_checkpoints(fh, end):
            if until is not None:
                ts = checkpoint_time(cp.event, clock)
                if ts is None or ts > until:
                    continue
            if not checkpoint_usable(cp, first_sid, reducer.timeline_size):
                return None
            fed = checkpoint_fed_bytes(cp)
            if fed is None:
                return None  # another version's state form: ``load_checkpoint`` would refuse it too
            if fed == before + cp.offset:
                return cp
    return None


def iter_batches(
    path: Path, on_skip: Callable[[str, str], None], *, progress: ProgressFn | None = None
) -> Iterator[list[bytes]]:
    """The complete lines of the log at ``path`` (all rotated members, oldest first) in batches of about one
    block; a torn last line of a member is reported through ``on_skip``. Raises ``SourceError`` up front if
    ``path`` cannot be read."""
    check_readable(path)
    paths = members(path)
    total = sum(_size(p) for p in paths)
    splitter = LineSplitter(on_skip)
    done = 0
    for p in paths:
        with open_member(p) as fh:
            at_start = True
            while chunk := fh.read(BLOCK_BYTES):
                if at_start:
                    chunk, at_start = strip_bom(chunk), False
                yield splitter.feed(chunk)
                if progress is not None:
                    progress(done + raw_position(fh), total)
            splitter.finish(str(p))
            done += raw_position(fh)
