"""The recent events, in memory: ``RingSink`` (a pipeline sink) and the JSONL fallback for older ones.

**Across the thread boundary.** The pipeline's tee calls ``RingSink.write`` on its dispatcher thread (or on any
thread that dispatches: ``sinks.base.Sink``). ``write`` appends ``(seq, line)`` to an inbox — a
``collections.deque`` with ``maxlen``, so it is bounded and never blocks (a full inbox drops its oldest entry)
— and, when no wake-up is pending, schedules one ``loop.call_soon_threadsafe(self.pump)``: one wake-up per batch
of events, not per event. Nothing else crosses threads: the ring itself, the listeners and every reader live on
the event loop. ``write`` keeps no reference to the ``record`` dict, only to the serialised bytes the JSONL sink
also gets.

**On the loop.** ``pump`` moves the inbox into the ring (a ``deque`` of the last ``capacity`` events, contiguous
in ``seq``) and hands each contiguous run to the listener (``control.hub.StreamHub``). A run that does not
follow the ring's last ``seq`` (the inbox overflowed while the loop was busy) restarts the ring there and is
counted in ``gaps``; the events in between are still in the JSONL.

**Older events.** An event that has left the ring is read back from the session's JSONL and, once the bot
has rotated it, its older members (``read_jsonl_after``, in a worker thread: the loop never touches the file). The tee gives every sink the same
lines in the same order, so ``write`` also knows where each line starts in that file: every ``index_every``-th
event's byte offset is kept (``offsets``) and a read seeks to the nearest one at or before it — checked against
the ``seq`` found there, else the read starts at the top of the file. Lines the JSONL writer has not flushed yet
are simply not returned (a later read finds them); a torn last line is ignored.
"""

from __future__ import annotations

import asyncio
import bisect
import gzip
import itertools
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from arbdash.dashboard.sources.rotated import members
from arbdash.logging_pipeline.sinks.base import Sink

#: Events kept in memory (~0.4 kB each: ~3.5 MB). At 2,000 events/s that is ~4 s of history; at ``--speed 0``
#: (~20k events/s) half a second, more than the JSONL writer's flush interval (0.2 s).
RING_CAPACITY = 8192
#: One JSONL byte offset is remembered every this many events ...
INDEX_EVERY = 1024
#: ... and at most this many (~5 MB): beyond, every other one is forgotten and the step doubles.
MAX_OFFSETS = 65_536

Item = tuple[int, bytes]  # (seq, the event's JSON line without the newline)
#: ``listener(run)``: a contiguous run of new events, in ``seq`` order (on the loop).
Listener = Callable[[list[Item]], None]

_SEQ = re.compile(rb'"seq":(\d+)[,}]')


def line_seq(line: bytes) -> int | None:
    """The ``seq`` of a JSONL line: read from the envelope's prefix (``"seq":N`` comes fourth), else by parsing
    the line; ``None`` if it has none."""
    m = _SEQ.search(line, 0, 256)
    if m is not None:
        return int(m.group(1))
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    return seq if type(seq) is int else None


class RingSink(Sink):
    """The pipeline sink behind ``/api/events`` and ``/api/stream``; see the module docstring.

    Counters: ``received`` (events ``write`` saw, dispatcher side), ``gaps`` (times the ring restarted because
    events were lost between the dispatcher and the loop), ``wakeups`` (loop wake-ups scheduled)."""

    name = "control-ring"

    def __init__(self, capacity: int = RING_CAPACITY, *, index_every: int = INDEX_EVERY) -> None:
        super().__init__()
        if capacity < 1 or index_every < 1:
            raise ValueError("capacity and index_every must be ≥ 1")
        self.capacity = capacity
        self.index_every = index_every
        self._inbox: deque[Item] = deque(maxlen=capacity)
        self._ring: deque[Item] = deque(maxlen=capacity)
        self._armed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.listener: Listener | None = None
        self.received = 0
        self.gaps = 0
        self.wakeups = 0
        self._offset = 0  # bytes of JSONL before the next line (dispatcher side)
        #: ``(seq, byte offset in the JSONL)`` of every ``index_every``-th event (appended by ``write``)
        self.offsets: list[tuple[int, int]] = []

    # --- the dispatcher side --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver to ``loop`` (``start`` does this when the pipeline starts the sink)."""
        self._loop = loop

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        seq = record["seq"]
        self._inbox.append((seq, line))
        if self.received % self.index_every == 0:
            offsets = self.offsets
            if len(offsets) >= MAX_OFFSETS:  # thin out: a new list, so a reader's list never changes under it
                self.offsets = offsets = offsets[::2]
                self.index_every *= 2
            offsets.append((seq, self._offset))
        self.received += 1
        self._offset += len(line) + 1
        if not self._armed:
            loop = self._loop
            if loop is None:
                return
            self._armed = True  # before the call: a pump running meanwhile clears it and takes this event too
            self.wakeups += 1
            try:
                loop.call_soon_threadsafe(self.pump)
            except RuntimeError:  # the loop is closed: nobody is left to read
                pass

    # --- the loop side --------------------------------------------------------------------------------------

    def push(self, items: list[Item]) -> int:
        """Add ``(seq, line)`` events from the loop itself (``arbtail serve`` folds a replay source on the loop:
        no thread to cross) and pump them into the ring at once. Returns how many were moved."""
        self._inbox.extend(items)
        self.received += len(items)
        return self.pump()

    def pump(self) -> int:
        """Move the events written so far into the ring and hand them to the listener (on the loop). Returns how
        many were moved. Also called directly by readers that want the newest events now."""
        self._armed = False  # first: an event written from here on schedules another pump
        inbox = self._inbox
        if not inbox:
            return 0
        items: list[Item] = []
        pop = inbox.popleft
        try:
            while True:
                items.append(pop())
        except IndexError:
            pass
        ring = self._ring
        start = 0
        for i in range(1, len(items) + 1):  # split into contiguous runs (a gap only after an inbox overflow)
            if i == len(items) or items[i][0] != items[i - 1][0] + 1:
                run = items[start:i]
                if ring and run[0][0] != ring[-1][0] + 1:
                    if run[0][0] <= ring[-1][0]:  # never expected: the tee numbers events once, in order
                        run = [it for it in run if it[0] > ring[-1][0]]
                        if not run:
                            start = i
                            continue
                    else:
                        self.gaps += 1
                        ring.clear()
                ring.extend(run)
                if self.listener is not None:
                    self.listener(run)
                start = i
        return len(items)

    @property
    def first_seq(self) -> int | None:
        """The oldest ``seq`` in the ring (``None`` while it is empty)."""
        return self._ring[0][0] if self._ring else None

    @property
    def last_seq(self) -> int | None:
        """The newest ``seq`` in the ring (``None`` while it is empty)."""
        return self._ring[-1][0] if self._ring else None

    def __len__(self) -> int:
        return len(self._ring)

    def covers(self, after_seq: int) -> bool:
        """Whether the ring holds every event after ``after_seq`` (that exists yet)."""
        first = self.first_seq
        return first is not None and after_seq >= first - 1

    def after(self, after_seq: int, limit: int) -> list[Item]:
        """Up to ``limit`` events with ``seq > after_seq`` from the ring, in order (empty if the ring does not
        reach back to ``after_seq + 1``: see ``covers``)."""
        ring = self._ring
        if not ring or limit <= 0:
            return []
        first = ring[0][0]
        if after_seq < first - 1:
            return []
        skip = after_seq + 1 - first
        if skip >= len(ring):
            return []
        if skip <= len(ring) // 2:
            return list(itertools.islice(ring, skip, skip + limit))
        # near the newest end: walk from the right (deque indexing is cheap at both ends)
        take = min(limit, len(ring) - skip)
        out = list(itertools.islice(reversed(ring), len(ring) - skip - take, len(ring) - skip))
        out.reverse()
        return out

    def offset_before(self, seq: int) -> tuple[int, int]:
        """``(seq0, offset)`` of the remembered JSONL line nearest at or before ``seq`` (``(0, 0)``: the top)."""
        offsets = self.offsets  # appended by the dispatcher (a list append is atomic), replaced when thinned
        i = bisect.bisect_right(offsets, (seq, float("inf")), 0, len(offsets)) - 1
        return offsets[i] if i >= 0 else (0, 0)


#: How many times a read is tried again while a rotation renames the log's members under it (a worker thread
#: sleeps a few milliseconds between tries: a rotation is two renames and an open).
_ATTEMPTS = 20


def read_jsonl_after(
    path: Path,
    after_seq: int,
    limit: int,
    hint: tuple[int, int] = (0, 0),
    *,
    keep: Callable[[bytes], bool] | None = None,
) -> list[Item]:
    """Up to ``limit`` complete lines of the log at ``path`` whose ``seq`` is greater than ``after_seq``, in
    file order, across its rotated members (``x.jsonl.2``, ``x.jsonl.1``, then ``x.jsonl``: the read starts in
    the newest member whose first event is at or before ``after_seq + 1``). ``keep``: only lines it accepts
    count, and are compared by ``seq`` (one session of a log holding several, whose ``seq`` restart).

    Blocking: run it in a worker thread. **Rotation-safe**: the members needed are opened first and then checked
    to be still the files their names denote (same names, same inodes); a rotation in between (the bot renames
    ``x.jsonl`` → ``.1`` → ``.2`` …) makes the read start again, and once opened, a rename no longer matters —
    an open file keeps its content — so a read never skips or repeats a member. ``hint`` ``(seq0, offset)``: a
    line known to start at ``offset`` of the live file with ``seq0`` ≤ ``after_seq + 1``
    (``RingSink.offset_before``); it is checked, and when it does not hold (lines lost by the JSONL writer, a
    rotation since) the read bisects the live file by ``seq`` (one session per file, ``keep`` not given) or
    starts at its top: slower, never wrong. Lines without a ``seq`` (damage) are passed over; a last line without
    its newline (being written) is left out. Raises ``OSError`` when the log cannot be read (a damaged gzip
    member included)."""
    if limit <= 0:
        return []
    for attempt in range(_ATTEMPTS):
        try:
            handles = _open_members(path, after_seq, keep)
        except (FileNotFoundError, _Moved):
            if attempt == _ATTEMPTS - 1:
                raise OSError(f"{path}: the log kept moving (rotation) while it was read") from None
            time.sleep(0.002 * (attempt + 1))
            continue
        try:
            return _read_handles(handles, after_seq, limit, hint, keep)
        except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz member
            raise OSError(f"{path}: a rotated member cannot be read ({type(exc).__name__}: {exc})") from exc
        finally:
            for _, f in handles:
                f.close()
    raise AssertionError("unreachable")


class _Moved(Exception):
    """A rotation renamed the log's members while they were being opened."""


def _open(member: Path) -> Any:
    """``member`` opened for binary reading (``.gz``: decompressed). Raises ``OSError``."""
    return gzip.open(member, "rb") if member.suffix == ".gz" else open(member, "rb")  # noqa: SIM115


def _first_seq(f: Any, keep: Callable[[bytes], bool] | None) -> int | None:
    """The ``seq`` of the first line of the open member ``f`` that has one (``None``: none, or not ``keep``'s)."""
    for raw in f:
        line = raw.rstrip(b"\n")
        seq = line_seq(line)
        if seq is not None:
            return seq if keep is None or keep(line) else None
    return None


def _open_members(path: Path, after_seq: int, keep: Callable[[bytes], bool] | None) -> list[tuple[bool, Any]]:
    """The members a read after ``after_seq`` needs, opened, oldest first, each as ``(is the live file,
    handle)``. Raises ``FileNotFoundError`` or ``_Moved`` when a rotation moved them meanwhile (try again)."""
    files = members(path)
    opened: list[tuple[int, Any]] = []  # newest first
    try:
        for i in range(len(files) - 1, -1, -1):
            f = _open(files[i])
            opened.append((i, f))
            if i == 0:
                break
            first = _first_seq(f, keep)
            if first is not None and first <= after_seq + 1:
                break
        if members(path) != files or any(
            os.stat(files[i]).st_ino != os.fstat(f.fileno()).st_ino for i, f in opened
        ):
            raise _Moved
    except BaseException:
        for _, f in opened:
            f.close()
        raise
    live = len(files) - 1
    return [(i == live, f) for i, f in reversed(opened)]


def _bisect(f: Any, after_seq: int) -> int:
    """An offset of a line start in the plain file ``f`` at or before the first line whose ``seq`` is greater
    than ``after_seq`` (its lines in ``seq`` order: one session). A line without a ``seq`` narrows nothing."""
    lo, hi = 0, os.fstat(f.fileno()).st_size
    while hi - lo > 65_536:
        mid = (lo + hi) // 2
        f.seek(mid)
        f.readline()  # to the next line start
        at = f.tell()
        raw = f.readline()
        seq = line_seq(raw[:-1]) if raw.endswith(b"\n") else None
        if seq is not None and seq <= after_seq:
            lo = at
        else:
            hi = mid
    return lo


def _read_handles(
    handles: list[tuple[bool, Any]],
    after_seq: int,
    limit: int,
    hint: tuple[int, int],
    keep: Callable[[bytes], bool] | None,
) -> list[Item]:
    out: list[Item] = []
    for live, f in handles:
        offset = 0
        if live and not isinstance(f, gzip.GzipFile):
            seq0, offset = hint
            if offset:
                f.seek(offset)
                if line_seq(f.readline().rstrip(b"\n")) != seq0:
                    offset = 0
            if not offset and keep is None:
                offset = _bisect(f, after_seq)
        f.seek(offset)
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # the writer is mid-line: the next read gets it whole
            line = raw[:-1]
            seq = line_seq(line)
            if seq is not None and seq > after_seq and (keep is None or keep(line)):
                out.append((seq, line))
                if len(out) >= limit:
                    return out
    return out
