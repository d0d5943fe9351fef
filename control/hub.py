"""Server-Sent Events: one bounded queue per stream client, fed by the ring on the event loop.

``StreamHub`` listens to ``ring.RingSink`` (``listener``): each contiguous run of new events becomes one
``Batch`` shared by every client (its SSE bytes are built once, on first use). A client's queue holds batches up
to ``max_queued`` events. A client whose queue would overflow — it reads slower than the bot writes, or not at
all (a stuck socket: uvicorn's flow control holds our ``send`` and the queue stops draining) — has its queue
dropped at once and is marked for a resync: it gets nothing more until it catches up with a ``resync`` event
and a fresh snapshot. So a client costs at most ``max_queued`` references to events the ring holds anyway; it
never holds up the loop, the pipeline or another client.

**The stream of one client** (``StreamHub.stream``, an async generator that ``StreamingResponse`` sends):

1. it registers first, so every event from now on reaches its queue;
2. a fresh connection gets ``event: snapshot`` (``id:`` = the snapshot's ``seq``); a resumed one (``Last-Event-ID``,
   else ``?after_seq=``) starts from that ``seq`` instead;
3. from its cursor (the last ``seq`` sent) it sends events in order: from its queue when the queue continues the
   cursor, else — events before it subscribed, or a resume point in the past — read back from the ring, or from
   the JSONL when the ring no longer reaches back that far. Each event is sent once: anything at or before the
   cursor is passed over, so the overlap of the read-back and the queue costs nothing;
4. when the record itself has a hole (the JSONL lost lines) or the JSONL lags too long, or the queue overflowed,
   it sends ``event: resync`` with the reason and a fresh snapshot and goes on from the snapshot's ``seq``.

So a client sees, in ``id`` order, either every event after its resume point, or an explicit resync; never a gap
and never a duplicate. Frames: ``id: <seq>`` + ``data: <the JSONL line>`` (the event as JSON: log-derived text
is a JSON string, never markup); ``event: snapshot`` / ``event: resync`` carry JSON objects; a ``: keepalive``
comment every ``keepalive_s`` while idle keeps proxies from closing the connection.

**Starlette's ``StreamingResponse``, not sse-starlette.** The framing here is not per event: a batch's SSE bytes
are built once and handed to every client, a catch-up from the JSONL is one write, and ``resync`` is ours;
what sse-starlette adds — formatting each event per client from a dict, a ping task per connection, a send
timeout — is either work we avoid or done already (the keepalive comment; a client whose sends stall is handled
by the bounded queue, not by a timeout that would also cut off a briefly slow one). ``StreamingResponse``
already watches for the client's disconnect, and ``control.app`` makes sure a client is unregistered however its
response ends. One dependency fewer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from arbdash.control.ring import Item, RingSink, read_jsonl_after
from arbdash.control.snapshots import Snapshot

#: Events a client may have waiting; beyond, its queue is dropped and it is resynced with a snapshot.
MAX_QUEUED = 4096
#: Stream clients at once; beyond, ``/api/stream`` answers 503.
MAX_CLIENTS = 32
#: Events read back (ring or JSONL) per step of a catch-up.
CATCH_UP_CHUNK = 1000
#: Bytes handed to the server per write, at most (about: whole batches): a stuck client's socket holds at
#: most this much beyond the kernel's buffer, and one client's catch-up yields the loop between writes.
MAX_WRITE_BYTES = 256 * 1024
#: While the JSONL writer has not flushed the lines a catch-up needs, retry this often, this many times, then
#: resync (the writer flushes every 0.2 s; a stalled disk must not hold a client forever).
JSONL_RETRY_S = 0.05
JSONL_RETRIES = 60
KEEPALIVE_S = 15.0
RETRY_MS = 2000  # the reconnect delay the stream suggests to EventSource clients


def event_frame(seq: int, line: bytes) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (seq, line)


def frames(items: list[Item]) -> bytes:
    return b"".join([b"id: %d\ndata: %s\n\n" % it for it in items])


def snapshot_frame(snap: Snapshot) -> bytes:
    return b"event: snapshot\nid: %d\ndata: %s\n\n" % (snap.seq, snap.body)


def resync_frame(reason: str, **fields: object) -> bytes:
    return b"event: resync\ndata: %s\n\n" % orjson.dumps({"reason": reason, **fields})


class Batch:
    """A contiguous run of events shared by every client's queue; ``data`` (its SSE frames) is built once."""

    __slots__ = ("items", "first", "last", "_data")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.first = items[0][0]
        self.last = items[-1][0]
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = frames(self.items)
        return self._data

    def __len__(self) -> int:
        return len(self.items)


class StreamClient:
    """One connected stream: its queue of batches, the events in it (``queued``), a wake-up, and counters."""

    __slots__ = ("batches", "queued", "overflowed", "wake", "high_water", "resyncs", "sent")

    def __init__(self) -> None:
        self.batches: deque[Batch] = deque()
        self.queued = 0
        self.overflowed = False
        self.wake = asyncio.Event()
        self.high_water = 0  # most events this client ever had waiting
        self.resyncs = 0
        self.sent = 0


@dataclass(frozen=True)
class HubStats:
    clients: int
    queued_total: int
    queued_max: int
    high_water: int
    max_queued: int
    resyncs: int
    overflows: int
    events_sent: int
    jsonl_reads: int
    connections: int


def contiguous(items: list[Item]) -> list[Item]:
    """The leading run of ``items`` whose ``seq`` follow each other (a hole inside a read is sent up to the hole;
    the next read starts there, and a hole that is really in the record then resyncs the client)."""
    for i in range(1, len(items)):
        if items[i][0] != items[i - 1][0] + 1:
            return items[:i]
    return items


class StreamHub:
    """Fans the ring's events out to stream clients; see the module docstring. Lives on the event loop.

    ``snapshot()``: the current ``Snapshot`` (``control.snapshots.SnapshotSource.current``); ``jsonl``: the
    session's JSONL (the fallback for events no longer in the ring)."""

    def __init__(
        self,
        ring: RingSink,
        snapshot: Callable[[], Snapshot],
        jsonl: Path | None,
        *,
        max_queued: int = MAX_QUEUED,
        max_clients: int = MAX_CLIENTS,
        keepalive_s: float = KEEPALIVE_S,
        jsonl_retry_s: float = JSONL_RETRY_S,
        jsonl_retries: int = JSONL_RETRIES,
    ) -> None:
        self.ring = ring
        self.snapshot = snapshot
        self.jsonl = jsonl
        self.max_queued = max_queued
        self.max_clients = max_clients
        self.keepalive_s = keepalive_s
        self.jsonl_retry_s = jsonl_retry_s
        self.jsonl_retries = jsonl_retries
        self.clients: set[StreamClient] = set()
        self.closed = False
        self.overflows = 0  # queues dropped (each followed by a resync once the client reads again)
        self.resyncs = 0  # resync events sent (overflow, a hole in the record, a lagging JSONL)
        self.events_sent = 0
        self.jsonl_reads = 0
        self.connections = 0  # streams opened so far
        self.high_water = 0  # most events any client ever had waiting
        ring.listener = self.publish

    # --- fan-out (called by the ring's pump, on the loop) -----------------------------------------------------

    def publish(self, run: list[Item]) -> None:
        if not self.clients:
            return
        batch = Batch(run)
        n = len(batch)
        limit = self.max_queued
        for c in self.clients:
            if c.overflowed:
                continue  # dropped: nothing more until it resyncs
            queued = c.queued + n
            if queued > limit:
                c.batches.clear()
                c.queued = 0
                c.overflowed = True
                self.overflows += 1
            else:
                c.batches.append(batch)
                c.queued = queued
                if queued > c.high_water:
                    c.high_water = queued
                    if queued > self.high_water:
                        self.high_water = queued
            c.wake.set()

    def stats(self) -> HubStats:
        queued = [c.queued for c in self.clients]
        return HubStats(
            clients=len(self.clients),
            queued_total=sum(queued),
            queued_max=max(queued, default=0),
            high_water=self.high_water,
            max_queued=self.max_queued,
            resyncs=self.resyncs,
            overflows=self.overflows,
            events_sent=self.events_sent,
            jsonl_reads=self.jsonl_reads,
            connections=self.connections,
        )

    def close(self) -> None:
        """No new streams; every open stream sends what it has queued and ends."""
        self.closed = True
        for c in self.clients:
            c.wake.set()

    # --- reading back -------------------------------------------------------------------------------------

    async def read_after(self, after_seq: int, limit: int) -> tuple[list[Item], str]:
        """Up to ``limit`` events after ``after_seq``, in order, and where they came from (``ring``, ``jsonl``
        or ``none``): the ring when it reaches back that far, else the JSONL (in a worker thread). The result
        starts at ``after_seq + 1`` unless the record has a hole there; it may be short (the JSONL writer has
        not flushed the rest yet) or empty."""
        ring = self.ring
        ring.pump()
        if ring.covers(after_seq):
            return ring.after(after_seq, limit), "ring"
        if self.jsonl is None:
            return [], "none"
        self.jsonl_reads += 1
        items = await asyncio.to_thread(
            read_jsonl_after, self.jsonl, after_seq, limit, ring.offset_before(after_seq + 1)
        )
        return items, "jsonl"

    # --- one client ---------------------------------------------------------------------------------------

    def try_open(self) -> StreamClient | None:
        """Register a client now (so it misses nothing from here on), or ``None`` when the hub is closed or
        full."""
        if self.closed or len(self.clients) >= self.max_clients:
            return None
        client = StreamClient()
        self.clients.add(client)
        self.connections += 1
        return client

    def _resync(self, client: StreamClient, reason: str, **fields: object) -> tuple[int, bytes]:
        client.batches.clear()
        client.queued = 0
        client.overflowed = False
        client.resyncs += 1
        self.resyncs += 1
        self.ring.pump()
        snap = self.snapshot()
        return snap.seq, resync_frame(reason, seq=snap.seq, **fields) + snapshot_frame(snap)

    async def stream(self, client: StreamClient, after_seq: int | None) -> AsyncIterator[bytes]:
        """The SSE body of ``client`` (from ``try_open``), from ``after_seq`` (``None``: a snapshot first)."""
        try:
            head = b"retry: %d\n\n" % RETRY_MS
            if after_seq is None:
                self.ring.pump()
                snap = self.snapshot()
                cursor = snap.seq
                yield head + snapshot_frame(snap)
            else:
                cursor = after_seq
                head_seq = self.snapshot().seq
                last = self.ring.last_seq
                newest = max(head_seq, last if last is not None else 0)
                if cursor > newest:  # a resume point this session never reached (another session's id)
                    cursor, out = self._resync(client, "unknown_seq", requested=after_seq)
                    yield head + out
                else:
                    yield head
            lagging = 0  # JSONL reads that found nothing new in a row
            while True:
                if client.overflowed:
                    cursor, out = self._resync(client, "overflow", max_queued=self.max_queued)
                    yield out
                    continue
                out_parts, cursor = self._take(client, cursor)
                if out_parts:
                    lagging = 0
                    yield b"".join(out_parts)
                    continue
                # nothing in the queue continues the cursor: read back what is missing, if anything is
                self.ring.pump()
                known = self.ring.last_seq
                first_queued = client.batches[0].first if client.batches else None
                if (known is not None and known > cursor) or (
                    first_queued is not None and first_queued > cursor + 1
                ):
                    try:
                        items, _ = await self.read_after(cursor, CATCH_UP_CHUNK)
                    except OSError as exc:  # the log cannot be read back (damaged, gone): from now on
                        cursor, out = self._resync(
                            client, "history_unreadable", missing_from=cursor + 1, error=type(exc).__name__
                        )
                        yield out
                        continue
                    items = contiguous(items)
                    if items and items[0][0] != cursor + 1:
                        cursor, out = self._resync(
                            client, "gap_in_record", missing_from=cursor + 1, resumes_at=items[0][0]
                        )
                        yield out
                        continue
                    if items:
                        lagging = 0
                        cursor = items[-1][0]
                        client.sent += len(items)
                        self.events_sent += len(items)
                        yield frames(items)
                        continue
                    # no longer in the ring, not in the file yet: the JSONL writer lags behind the ring
                    lagging += 1
                    if self.closed:
                        return
                    if lagging > self.jsonl_retries:
                        lagging = 0
                        cursor, out = self._resync(client, "history_unavailable", missing_from=cursor + 1)
                        yield out
                        continue
                    await asyncio.sleep(self.jsonl_retry_s)
                    continue
                if self.closed:
                    return
                client.wake.clear()
                if client.batches or client.overflowed:
                    continue
                try:
                    await asyncio.wait_for(client.wake.wait(), self.keepalive_s)
                except TimeoutError:
                    yield b": keepalive\n\n"
        finally:
            self.clients.discard(client)

    def _take(self, client: StreamClient, cursor: int) -> tuple[list[bytes], int]:
        """Take from the queue every batch that continues ``cursor``; returns the frames and the new cursor."""
        out: list[bytes] = []
        batches = client.batches
        sent = size = 0
        while batches and size < MAX_WRITE_BYTES:
            batch = batches[0]
            if batch.last <= cursor:  # already sent (read back before the queue caught up)
                batches.popleft()
                client.queued -= len(batch)
                continue
            if batch.first > cursor + 1:
                break  # a gap before it: read back first
            batches.popleft()
            client.queued -= len(batch)
            if batch.first == cursor + 1:
                data = batch.data
                sent += len(batch)
            else:
                rest = [it for it in batch.items if it[0] > cursor]
                data = frames(rest)
                sent += len(rest)
            out.append(data)
            size += len(data)
            cursor = batch.last
        if sent:
            client.sent += sent
            self.events_sent += sent
        return out, cursor
