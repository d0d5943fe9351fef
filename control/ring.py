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
import re
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

    Blocking: run it in a worker thread. ``hint`` ``(seq0, offset)``: a line known to start at ``offset`` of
    ``path`` with ``seq0`` ≤ ``after_seq + 1`` (``RingSink.offset_before``); it is checked, and the read starts
    at the top of the member when it does not hold (lines lost by the JSONL writer or a rotation shift the
    offsets: a slower read, never a wrong one). Lines without a ``seq`` (damage) are passed over; a last line
    without its newline (being written) is left out. A member renamed by a rotation while it is listed is
    listed again. Raises ``OSError`` when the log cannot be read."""
    if limit <= 0:
        return []
    for attempt in range(3):
        files = members(path)
        try:
            return _read_members(files, after_seq, limit, hint, keep)
        except FileNotFoundError:
            if attempt == 2 or not path.exists():
                raise
    raise AssertionError("unreachable")


def _open(member: Path) -> Any:
    """``member`` opened for binary reading (``.gz``: decompressed). Raises ``OSError``."""
    return gzip.open(member, "rb") if member.suffix == ".gz" else open(member, "rb")  # noqa: SIM115


def _first_seq(member: Path, keep: Callable[[bytes], bool] | None) -> int | None:
    """The ``seq`` of the first line of ``member`` that has one (``None``: none, or it is not ``keep``'s)."""
    with _open(member) as f:
        for raw in f:
            seq = line_seq(raw.rstrip(b"\n"))
            if seq is not None:
                return seq if keep is None or keep(raw.rstrip(b"\n")) else None
    return None


def _read_members(
    files: list[Path],
    after_seq: int,
    limit: int,
    hint: tuple[int, int],
    keep: Callable[[bytes], bool] | None,
) -> list[Item]:
    start = 0
    for i in range(len(files) - 1, 0, -1):  # newest first: most reads are recent
        first = _first_seq(files[i], keep) if files[i].exists() else None
        if first is not None and first <= after_seq + 1:
            start = i
            break
    out: list[Item] = []
    live = files[-1]
    for member in files[start:]:
        if member != live and not member.exists():
            continue  # pruned by retention meanwhile
        with _open(member) as f:
            seq0, offset = hint if member == live else (0, 0)
            if offset:
                f.seek(offset)
                if line_seq(f.readline()) != seq0:
                    offset = 0
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
