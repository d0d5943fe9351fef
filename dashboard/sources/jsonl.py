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

A rotated set reads as one stream: a record a rotation cut in two (the older member ends without its newline,
the next starts with the rest) is joined back and folded once (``LineSplitter.end_member``), ``.gz`` members
too.

A log may hold several sessions (``cat a.jsonl b.jsonl``, two writers on one file). The reducer folds one
(``dashboard.reducer``): ``load`` folds the one its ``session`` names (a full id or a unique prefix,
``resolve_session``), else the reducer's own choice, else the session of the log's *last* event
(``last_session``: the newest member read backwards, cheap); the others' events are counted by session and
named in the frame. A checkpoint is only started from if it is the chosen session's. ``list_sessions`` lists
every session of a log (id, first and last ``ts``, events).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from arbdash.dashboard.sources.lines import BLOCK_BYTES, BOM, MAX_LINE_BYTES, LineSplitter, joins, strip_bom
from arbdash.dashboard.sources.rotated import SourceError, check_readable, members, open_member, raw_position
from arbdash.dashboard.sources.seek import (
    Checkpoint,
    checkpoint_fed_bytes,
    checkpoint_usable,
    iter_checkpoints,
    iter_lines_backwards,
    last_line_end,
)
from arbdash.dashboard.timeaxis import Clock, checkpoint_time

__all__ = [
    "SourceError",
    "LoadResult",
    "SessionSpan",
    "check_readable",
    "iter_batches",
    "last_session",
    "list_sessions",
    "load",
    "read_file",
    "resolve_session",
]

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
    session: str | None

    def feed_lines_until(
        self, lines: list[bytes], until: datetime, clock: Clock = "wall"
    ) -> tuple[int, bool]: ...
    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool: ...


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What ``load`` did: ``offset`` in the newest member just past the last complete line read (where a
    follower continues), ``checkpoint_seq`` of the checkpoint started from (``None`` = full replay),
    ``bytes_read`` of log text folded, ``stopped_at_time`` when ``until`` cut the replay short, ``session``
    folded (``None``: the log holds no event yet), and ``carry``: the partial last line of the member before
    the newest when the newest one does not yet hold the rest of that record (rare: a follower passes it to
    ``follow_file(carry=)``, which joins it with the rest when it comes)."""

    offset: int
    checkpoint_seq: int | None
    bytes_read: int
    stopped_at_time: bool
    session: str | None = None
    carry: bytes = b""


def read_file(path: Path, sink: LineSink, *, progress: ProgressFn | None = None) -> int:
    """Feed every complete line of ``path`` (and its rotated predecessors) to ``sink``; a torn last line is
    counted, not fed. Returns the byte offset in ``path`` just past its last complete line. Raises
    ``SourceError`` if the file is unreadable."""
    return load(path, sink, seek=False, progress=progress).offset  # type: ignore[arg-type]


def load(
    path: Path,
    reducer: ReducerLike,
    *,
    session: str | None = None,
    until: datetime | None = None,
    clock: Clock = "wall",
    seek: bool = True,
    seek_min_bytes: int = SEEK_MIN_BYTES,
    progress: ProgressFn | None = None,
) -> LoadResult:
    """Fold the log at ``path`` into ``reducer``: to its end, or — with ``until`` (aware) — up to the first event
    whose time on ``clock`` is later (``dashboard.timeaxis``: ``market_ts`` or the envelope ``ts``). One session
    is folded: ``session`` (a full id or a unique prefix), else the one the reducer was given, else the session
    of the log's last event (see the module doc); it is set on the reducer. With ``seek`` and a log of at least
    ``seek_min_bytes``, start from the last usable checkpoint of that session (one covering no time later than
    ``until``, and none of the file's bytes its state did not fold: see the module doc), so the state —
    skipped-line counts included — is a full replay's. ``progress`` is called after each block. Raises
    ``SourceError`` when ``path`` (or a rotated member) cannot be read, or ``session`` names no session of the
    log (or several); bad content is counted in the reducer, never raised."""
    check_readable(path)
    paths = members(path)
    chosen = _choose_session(path, reducer, session)
    sizes = [_size(p) for p in paths]
    total = sum(sizes)
    cp = (
        _find_checkpoint(paths, reducer, until, clock, chosen)
        if seek and total >= seek_min_bytes and chosen is not None
        else None
    )
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
        return LoadResult(cp.offset, cp.event["seq"], 0, True, chosen)  # type: ignore[union-attr]
    splitter = LineSplitter(reducer.note_skip)
    done, offset, carry = skipped, 0, b""
    newest = len(paths) - 1
    for k, p in enumerate(paths):
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
            if k < newest:  # the next member continues the stream (a record cut in two is joined)
                splitter.end_member(str(p))
                continue
            offset = read - splitter.pending
            carry = splitter.carried
            splitter.finish(str(p))
    if progress is not None:
        progress(total, total)
    return LoadResult(offset, cp.event["seq"] if cp else None, done - skipped, stopped, chosen, carry)


def _choose_session(path: Path, reducer: Any, session: str | None) -> str | None:
    """The session ``load`` folds (see there), set on ``reducer`` (a bare line sink without a ``session``
    chooses nothing)."""
    if not hasattr(reducer, "session"):
        return None
    chosen = resolve_session(path, session) if session is not None else reducer.session
    if chosen is None:
        chosen = last_session(path)
    if chosen is not None:
        reducer.session = chosen
    return chosen


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
    paths: list[Path], reducer: ReducerLike, until: datetime | None, clock: Clock, session: str
) -> Checkpoint | None:
    """The newest usable checkpoint of ``session`` in the newest member no later than ``until`` whose
    ``fed_bytes`` is its place in the log's text (the older members' text and its offset): a later one whose
    count differs has bytes before it that its state did not fold, which an older one may precede (see the
    module doc). Another session's checkpoints are passed over."""
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
        for cp in iter_checkpoints(fh, end, session=session):
            if until is not None:
                ts = checkpoint_time(cp.event, clock)
                if ts is None or ts > until:
                    continue
            if not checkpoint_usable(cp, first_sid, reducer.timeline_size, session=session):
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
    for k, p in enumerate(paths):
        with open_member(p) as fh:
            at_start = True
            while chunk := fh.read(BLOCK_BYTES):
                if at_start:
                    chunk, at_start = strip_bom(chunk), False
                yield splitter.feed(chunk)
                if progress is not None:
                    progress(done + raw_position(fh), total)
            if k < len(paths) - 1:  # the next member continues the stream (a record cut in two is joined)
                splitter.end_member(str(p))
            else:
                splitter.finish(str(p))
            done += raw_position(fh)


# --- the sessions of a log -----------------------------------------------------------------------------------


@functools.cache
def _envelope_decoder() -> tuple[Callable[[bytes], Any], type[Exception]]:
    """``(decode, error)``: a line's envelope as ``dashboard.reducer.envelope_problem`` judges it (``v``, an aware
    ``ts`` and ``market_ts``, ``session_id``, ``seq`` ≥ 0, ``event``; ``v`` ≥ 1 is checked after decoding), the
    rest skipped unread. Built on first use: a viewer that never asks about sessions does not import msgspec
    for it."""
    from typing import Annotated

    import msgspec

    aware = Annotated[datetime, msgspec.Meta(tz=True)]
    envelope = msgspec.defstruct(
        "Envelope",
        [
            ("v", int),
            ("ts", aware),
            ("session_id", str),
            ("seq", Annotated[int, msgspec.Meta(ge=0)]),
            ("event", str),
            ("market_ts", aware | None, None),
        ],
    )
    return msgspec.json.Decoder(envelope).decode, msgspec.DecodeError


def _event_session(line: bytes) -> str | None:
    """The ``session_id`` of ``line`` if it is an event (its envelope whole, ``_envelope_decoder``: the reducer
    folds it, or counts it, as that session's), else ``None``."""
    decode, error = _envelope_decoder()
    try:
        env = decode(line)
    except error:
        return None
    return env.session_id if env.v >= 1 else None


def _member_last_session(path: Path) -> tuple[str | None, bytes | None]:
    """``(session of the last event of member path, None)``; without an event, ``(None, its first line)`` (the
    rest of a record the rotation before it may have cut in two; ``None`` if it has no complete line)."""
    first: bytes | None = None
    if path.suffix == ".gz":  # no reading backwards: forwards, a block at a time
        last = None
        splitter = LineSplitter(lambda _reason, _detail: None)
        with open_member(path) as fh:
            at_start = True
            while chunk := fh.read(BLOCK_BYTES):
                if at_start:
                    chunk, at_start = strip_bom(chunk), False
                    nl = chunk.find(b"\n")
                    first = chunk[:nl] if nl >= 0 else None
                for line in splitter.feed(chunk):
                    last = _event_session(line) or last
        return last, None if last is not None else first
    with open(path, "rb") as fh:
        for offset, line in iter_lines_backwards(fh, last_line_end(fh)):
            if offset == 0:
                line = first = strip_bom(line)
            if (sid := _event_session(line)) is not None:
                return sid, None
    return None, first


def _torn_tail(path: Path) -> bytes:
    """The partial last line of member ``path`` (the bytes after its last newline; ``b""`` if it ends with one,
    or if that part is longer than a line may be)."""
    with open_member(path) as fh:
        if path.suffix == ".gz":
            tail = b""
            while chunk := fh.read(BLOCK_BYTES):
                nl = chunk.rfind(b"\n")
                tail = chunk[nl + 1 :] if nl >= 0 else tail + chunk
                if len(tail) > MAX_LINE_BYTES:
                    tail = tail[-MAX_LINE_BYTES - 1 :]
        else:
            end = last_line_end(fh)
            size = fh.seek(0, 2)
            fh.seek(end)
            tail = fh.read(min(size - end, MAX_LINE_BYTES + 1))
    return tail if len(tail) <= MAX_LINE_BYTES else b""


def last_session(path: Path) -> str | None:
    """The session of the last event of the log at ``path`` — the one ``load`` folds by default: the newest
    member read backwards a block at a time (a ``.gz`` member forwards), then the older ones if it holds no
    event; a record a rotation cut in two counts as the one event it is. ``None`` if the log holds no event
    or cannot be read."""
    try:
        paths = members(path)
        for k in range(len(paths) - 1, -1, -1):
            if not paths[k].exists():
                continue
            sid, first = _member_last_session(paths[k])
            if sid is not None:
                return sid
            if first is not None and k > 0 and (tail := _torn_tail(paths[k - 1])) and joins(tail + first):
                if (sid := _event_session(tail + first)) is not None:
                    return sid
    except (SourceError, OSError, EOFError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """One session of a log: its id, the wall time (``ts``) of its first and last event, how many events."""

    session_id: str
    first_ts: datetime
    last_ts: datetime
    events: int


def list_sessions(path: Path) -> list[SessionSpan]:
    """Every session of the log at ``path`` (all members, a record cut by a rotation joined), in the order of
    their first event, with the wall time of their first and last events (earliest and latest ``ts``) and their
    count of events (lines whose envelope is whole). One pass, reading only the envelope of each line. Raises
    ``SourceError`` when the log cannot be read."""
    spans: dict[str, list[Any]] = {}
    decode, error = _envelope_decoder()
    for batch in iter_batches(path, lambda _reason, _detail: None):
        for raw in batch:
            try:
                env = decode(raw)
            except error:
                continue
            if env.v < 1:
                continue
            span = spans.get(env.session_id)
            ts = env.ts
            if span is None:
                spans[env.session_id] = [ts, ts, 1]
            else:
                if ts < span[0]:
                    span[0] = ts
                elif ts > span[1]:
                    span[1] = ts
                span[2] += 1
    return [SessionSpan(sid, first, last, n) for sid, (first, last, n) in spans.items()]


#: A ``session_id`` key and its plain string value (no escapes): how ``resolve_session`` finds a log's ids fast.
_SESSION_ID = re.compile(rb'"session_id"\s*:\s*"([^"\\]{1,200})"')


def _session_ids(path: Path) -> set[str]:
    """The ``session_id`` values in the log (a text search over whole lines, every member: a candidate set,
    fast; ids written with escapes are not found)."""
    ids: set[bytes] = set()
    splitter = LineSplitter(lambda _reason, _detail: None)
    paths = members(path)
    for k, p in enumerate(paths):
        with open_member(p) as fh:
            while chunk := fh.read(BLOCK_BYTES):
                ids.update(_SESSION_ID.findall(splitter.feed_block(chunk)))
        if k < len(paths) - 1:
            splitter.end_member(str(p))
    return {x.decode("utf-8", "replace") for x in ids}


def _match(ids: set[str] | list[str], wanted: str) -> list[str]:
    if wanted in ids:
        return [wanted]
    return sorted(i for i in ids if i.startswith(wanted))


def resolve_session(path: Path, wanted: str | None) -> str | None:
    """The full id of the session ``wanted`` names in the log at ``path``: a full ``session_id`` or a prefix of
    exactly one; ``None`` → the log's last session (``last_session``; ``None`` if it holds no event). Raises
    ``SourceError`` when ``wanted`` names no session of the log, or several (the message lists them), or the
    log cannot be read."""
    check_readable(path)
    last = last_session(path)
    if wanted is None or wanted == last:  # the usual case, without reading the whole log
        return last
    found = _match(_session_ids(path), wanted)
    spans: list[SessionSpan] | None = None
    if len(found) != 1:  # confirm by reading every envelope (an id written with escapes, a line cut short)
        spans = list_sessions(path)
        found = _match([s.session_id for s in spans], wanted)
    if len(found) == 1:
        return found[0]
    from arbdash.dashboard.text import safe_text  # only to say why, on this error path

    if spans is None:
        spans = list_sessions(path)
    listed = "; ".join(
        f"{safe_text(s.session_id, 64)} ({s.events} events, {s.first_ts.isoformat()} → {s.last_ts.isoformat()})"
        for s in spans
        if not found or s.session_id in found
    )
    if found:
        raise SourceError(f"{path}: session {safe_text(wanted, 64)!r} is a prefix of {len(found)}: {listed}")
    raise SourceError(
        f"{path}: no session {safe_text(wanted, 64)!r} in this log; "
        + (f"its sessions: {listed}" if listed else "it holds no event")
    )
