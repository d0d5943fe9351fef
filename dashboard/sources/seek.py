"""Finding the last usable ``dashboard.checkpoint`` line of a JSONL file by reading it backwards in blocks.

Only bytes that contain the event name are parsed, so finding a checkpoint near the end of a 1 GB file reads a
few MB at most and memory stays bounded by one block plus one line. A checkpoint is *usable* when replaying
from it gives exactly the state a full replay gives (``checkpoint_usable``): its state was taken right after the
event just before it (``last_seq`` of its session = its own ``seq`` − 1), it covers one session only — the one
the log starts with — and its timeline is at least as long as the reader keeps. Its state must also decode in
this version's form: ``dashboard.sources.jsonl.load`` replays in full when ``Reducer.load_checkpoint`` refuses it.
Its state's count of log bytes fed (``checkpoint_fed_bytes``) must also be its place in the log: when the file
holds bytes there that the bot's reducer never folded, only a replay reading them counts them, so
``dashboard.sources.jsonl.load`` looks for an older checkpoint that precedes them.

A checkpoint belongs to a session (its envelope's ``session_id``): a reader folding one session of a log that
holds several (``dashboard.reducer``: sessions are never mixed) starts only from a checkpoint of that session
(``iter_checkpoints(..., session=)``, ``checkpoint_usable(..., session=)``). ``iter_lines_backwards`` gives the
lines themselves newest first (the session of a log's last event is found that way).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from arbdash.dashboard.sources.lines import BLOCK_BYTES, MAX_LINE_BYTES

_NEEDLE = b'"dashboard.checkpoint"'


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint line: byte ``offset`` of its first byte, ``end`` just past its newline, the parsed event."""

    offset: int
    end: int
    line: bytes
    event: dict[str, Any]

    @property
    def state(self) -> dict[str, Any]:
        return self.event["state"]


def last_line_end(fh: BinaryIO) -> int:
    """Offset just past the last ``\\n`` of the file (a torn last line is excluded); 0 for a file without one."""
    pos = fh.seek(0, 2)
    while pos > 0:
        n = min(BLOCK_BYTES, pos)
        fh.seek(pos - n)
        i = fh.read(n).rfind(b"\n")
        if i >= 0:
            return pos - n + i + 1
        pos -= n
    return 0


def iter_blocks_backwards(fh: BinaryIO, end: int, *, block: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """The whole lines of ``fh`` before byte ``end`` (a line boundary), about a block at a time, newest block
    first: ``(offset of its first byte, bytes)``, the bytes being complete lines each ending with ``\\n``. Memory
    stays at one block plus ``MAX_LINE_BYTES``: a longer line that spans blocks is left out instead of held."""
    lo = end
    carry = b""  # the end of a line whose start is further back (it ends with its newline)
    dropping = False  # inside a line over MAX_LINE_BYTES: read back to its start and leave it out
    while lo > 0:
        n = min(block, lo)
        lo -= n
        fh.seek(lo)
        chunk = fh.read(n)
        if dropping:
            nl = chunk.rfind(b"\n")
            if nl < 0 and lo > 0:
                continue  # still inside the over-long line
            chunk, carry, dropping = chunk[: nl + 1], b"", False
        buf = chunk + carry
        first_nl = buf.find(b"\n") if lo > 0 else -1
        if first_nl < 0 and lo > 0:
            carry = buf
        else:
            body = buf[first_nl + 1 :]
            if body:
                yield lo + first_nl + 1, body
            carry = buf[: first_nl + 1]
        if len(carry) > MAX_LINE_BYTES + 1:  # the line is over-long already: stop holding it
            carry, dropping = b"", True


def iter_lines_backwards(fh: BinaryIO, end: int, *, block: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """The lines of ``fh`` before byte ``end`` (a line boundary), newest first: ``(offset of the line's first
    byte, line without its newline)``; empty lines included, a line over ``MAX_LINE_BYTES`` left out (see
    ``iter_blocks_backwards``)."""
    for base, body in iter_blocks_backwards(fh, end, block=block):
        stop = len(body) - 1  # the body ends with a newline
        while stop >= 0:
            start = body.rfind(b"\n", 0, stop) + 1
            yield base + start, body[start:stop]
            stop = start - 1


def iter_checkpoints(
    fh: BinaryIO, end: int, *, block: int = BLOCK_BYTES, session: str | None = None
) -> Iterator[Checkpoint]:
    """Checkpoint events in ``fh`` before byte ``end`` (a line boundary), newest first — with ``session``, only
    that session's. Lines that mention the name but are not a well-formed checkpoint event are passed over.
    Only the lines holding the name are parsed (a block without it costs one search)."""
    for base, body in iter_blocks_backwards(fh, end, block=block):
        stop = len(body)
        while (i := body.rfind(_NEEDLE, 0, stop)) >= 0:
            start = body.rfind(b"\n", 0, i) + 1
            nl = body.find(b"\n", i)  # found: the body ends with a newline
            stop = start
            cp = _parse(body[start:nl], base + start, base + nl + 1)
            if cp is not None and (session is None or cp.event["session_id"] == session):
                yield cp


def _parse(line: bytes, offset: int, end: int) -> Checkpoint | None:
    try:
        ev = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(ev) is not dict or ev.get("event") != "dashboard.checkpoint" or type(ev.get("state")) is not dict:
        return None
    if (
        type(ev.get("seq")) is not int
        or type(ev.get("session_id")) is not str
        or type(ev.get("ts")) is not str
    ):
        return None
    return Checkpoint(offset, end, line, ev)


def checkpoint_fed_bytes(cp: Checkpoint) -> int | None:
    """Bytes of log text the state of ``cp`` had folded (``IngestStats.fed_bytes``), ``None`` if it does not say
    (a state form before the count)."""
    stats = cp.state.get("stats")
    fed = stats.get("fed_bytes") if type(stats) is dict else None
    return fed if type(fed) is int else None


def checkpoint_usable(
    cp: Checkpoint, first_session_id: str | None, timeline_size: int, *, session: str | None = None
) -> bool:
    """Whether loading ``cp`` and folding the lines after it equals a full replay (see the module doc) of
    ``session`` (default: the checkpoint's own)."""
    state = cp.state
    sid, seq = cp.event["session_id"], cp.event["seq"]
    if session is not None and sid != session:
        return False
    if state.get("last_seq") != {sid: seq - 1} or first_session_id != sid:
        return False
    timeline = state.get("timeline")
    size = state.get("timeline_size")
    if type(timeline) is not list or type(size) is not int:
        return False
    return not (size < timeline_size and len(timeline) >= size)
