"""The feeder: JSONL lines in, folded state out — ``Reducer`` decodes each line and calls its event's fold.

Input is exactly what the JSONL holds: one schema-v1 line per event. A line is decoded in C into its event's
typed line (``dashboard.folds.LINE_DECODER``: envelope checked — ``v`` 1, aware ``ts`` /
``market_ts``, ``seq`` ≥ 0 — fields typed, money as decimal text); the feeder then checks ``seq`` against the
session's last one, calls the event's fold (``dashboard.folds``), moves the clocks and adds the timeline row.
There is one fold per event and one path per line, whichever way the line arrives (a live tee, a replay, a
follow, PostgreSQL): a live run, a JSONL replay and a DB replay fold to the same state and draw the same frame.
A field no fold reads is skipped unread, as a newer writer's extra keys are (a mark whose ``message`` is
damaged still moves the mark). A replay reading a file feeds whole blocks (``feed_block``): each 64 KiB piece
is decoded in one ``decode_lines`` call when that provably reads as line by line would, else line by line.

A line the typed decoder refuses is read again as plain JSON (``orjson``) to say why, by reason: not JSON
(``not_json`` / ``invalid_utf8`` / ``empty_line``), not an object, a bad envelope (``missing_envelope``,
``naive_timestamp``, ``bad_timestamp``), ``seq`` not increasing (``duplicate_seq`` / ``out_of_order_seq``:
skipped), an event this reader does not know or a newer schema (``unknown_event`` / ``newer_version``: an info
row, not folded), else a field of a known event (``bad_field``: rejected). A fold that refuses an event leaves
the state as it was. A line holding runs of NUL bytes (never in JSON text: the hole ``copytruncate`` leaves
when the writer keeps its offset) costs one ``nul_bytes`` skip, and the text between the runs is read as lines
of its own when a record may be among it (a part starting with ``{``), so the record after the hole folds.
Nothing raises out of ``feed*``; everything is counted in ``IngestStats``, which also counts the bytes fed
(``fed_bytes``: where in its log text the state stands).

One state folds one session (``DashboardState.fold_session``): the one the reader chose (``Reducer(session=)``,
a full id), else the session of the first event it sees. A log may hold several (``cat a.jsonl b.jsonl``, two
writers on one file); positions are keyed by their id alone, so folding two sessions would add one session's
figures to the other's under the later one's header. An event of another session — any line whose envelope is
whole — is counted by session (``other_session:<id>``, ``other_session_key``) and not folded, without moving the
clocks or the ``seq`` check; the frame names those sessions. In the block path the check costs one test of a
local per event: the session is looked up only where it changes.

Time comes only from events — ``market_ts`` for market figures, ``ts`` for wall uptime — never the wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from arbdash.dashboard.focus import focus_snapshot
from arbdash.dashboard.folds import BOOKED_TOLERANCE_USD, LINE_DECODER, MAX_CLOSED_KEPT, PLAN, Rejected
from arbdash.dashboard.folds.strategies import admit, sample_pnl
from arbdash.dashboard.folds.timeline import add_row, unknown_row
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.snapshot import build_snapshot
from arbdash.dashboard.state import OTHER_SESSION, DashboardState, IngestStats, state_from_dict
from arbdash.dashboard.timeaxis import Clock, event_time
from arbdash.logging_pipeline.catalogue import CATALOGUE, LINE_ERRORS, Line
from arbdash.logging_pipeline.events import SCHEMA_VERSION

__all__ = [
    "Reducer",
    "apply",
    "build_snapshot",
    "between_nul_runs",
    "envelope_problem",
    "NOISE_EVENTS",
    "other_session_key",
    "BOOKED_TOLERANCE_USD",
    "MAX_CLOSED_KEPT",
]

#: Events folded but not shown in the timeline (the catalogue's ``TIMELINE = False``).
NOISE_EVENTS = CATALOGUE.not_in_timeline
_DEFAULT_MAX_LINE = 64 * 1024 * 1024
_decode = LINE_DECODER.decode
_decode_lines = LINE_DECODER.decode_lines
_loads = orjson.loads


def _bump(d: dict[str, int], reason: str) -> None:
    d[reason] = d.get(reason, 0) + 1


def _skip(state: DashboardState, reason: str, detail: str) -> None:
    _bump(state.stats.skipped, reason)
    state.stats.last_problem = f"{reason}: {detail}"[:200]


def _reject(state: DashboardState, reason: str, detail: str) -> None:
    _bump(state.stats.rejected, reason)
    state.stats.last_problem = detail[:200]


#: How many other sessions are counted by name; the events of any further ones are counted together.
MAX_OTHER_SESSIONS = 8
_OTHER_PREFIX = OTHER_SESSION + ":"
_MORE_OTHERS = _OTHER_PREFIX + "*"
_ID_UNSAFE = re.compile(r"[^0-9A-Za-z._-]")


def other_session_key(session_id: str) -> str:
    """The skip reason an event of another session ``session_id`` is counted under: ``other_session:<id>``, the
    id cut to 64 characters, anything but letters, digits, ``.``, ``_``, ``-`` replaced by ``?`` (log text:
    shown as it is by every reader of the counters)."""
    return _OTHER_PREFIX + _ID_UNSAFE.sub("?", session_id[:64])


def _other_key(skipped: dict[str, int], session_id: str) -> str:
    """``other_session_key``, or ``other_session:*`` once ``MAX_OTHER_SESSIONS`` sessions are counted by name
    (a hostile log may name a new session on every line)."""
    key = other_session_key(session_id)
    if key in skipped or sum(1 for k in skipped if k.startswith(_OTHER_PREFIX)) < MAX_OTHER_SESSIONS:
        return key
    return _MORE_OTHERS


def _fold_session(state: DashboardState, session_id: str) -> bool:
    """Whether an event of ``session_id`` is folded into ``state``: it is the state's session (the first event
    seen decides when no session was chosen). Else it is counted as another session's."""
    only = state.fold_session
    if only is None:
        state.fold_session = session_id
        return True
    if session_id == only:
        return True
    _bump(state.stats.skipped, _other_key(state.stats.skipped, session_id))
    return False


# --- the typed path ------------------------------------------------------------------------------------------


def _fold_events(
    state: DashboardState, events: list[Line], until: datetime | None = None, by_market: bool = False
) -> tuple[int, bool]:
    """Fold decoded lines in order: ``seq`` against the session's last one, the event's fold, the clocks, the
    timeline row. With ``until``, stop before the first event later than it (on the market clock if
    ``by_market``, else the wall clock). Returns ``(events read, stopped)``.

    This loop is the replay's hot path, so its bookkeeping lives in locals — the running session's last ``seq``,
    the applied count, the last ``ts`` and the market clock — written back to ``state`` at the end (``finally``:
    also if a fold bug escaped, so the state stays coherent). Folds never read those four. An event of another
    session than ``state.fold_session`` is counted and passed over (``other``, decided where the session
    changes). An event naming a strategy (its envelope's ``strategy``) not known yet makes it known before its
    fold runs (``folds.strategies.admit``; taken back if the fold refuses the event); while strategies are
    known, the market clock entering a new hour samples their net PnL (``folds.strategies.sample_pnl``)."""
    stopped = False
    if until is not None:
        for cut, ev in enumerate(events):
            t = ev.market_ts if by_market else ev.ts
            if t is not None and t > until:
                events, stopped = events[:cut], True
                break
    plan = PLAN
    kind = type
    last_seq = state.last_seq
    applied = 0
    last_ts = state.last_ts
    market_now = state.market_now
    cur_sid: str | None = None  # the session of the events being read
    cur_last = -1  # the folded session's last seq (written back on a switch and at the end)
    other = False  # cur_sid is another session than the folded one: its events are counted, not folded
    skipped = state.stats.skipped
    other_key = ""
    strategies = state.strategies
    sample_due = state.pnl_sample_due
    try:
        for ev in events:
            sid = ev.session_id
            if sid != cur_sid:
                if cur_sid is not None and not other:
                    last_seq[cur_sid] = cur_last
                cur_sid = sid
                only = state.fold_session
                if only is None:
                    state.fold_session = only = sid
                other = sid != only
                if other:
                    other_key = _other_key(skipped, sid)
                else:
                    cur_last = last_seq.get(sid, -1)
            if other:
                skipped[other_key] = skipped.get(other_key, 0) + 1
                continue
            seq = ev.seq
            if seq <= cur_last:
                _skip(
                    state,
                    "duplicate_seq" if seq == cur_last else "out_of_order_seq",
                    f"seq {seq} after {cur_last}",
                )
                continue
            cur_last = seq
            handler, shown = plan[kind(ev)]
            mts = ev.market_ts
            if (
                strategies
                and mts is not None
                and (sample_due is None or mts >= sample_due)
                and (market_now is None or mts > market_now)
            ):  # the clock enters a new hour: the strategies' net PnL before this event is the hour's sample
                sample_due = sample_pnl(state, market_now, mts)
            strategy = ev.strategy
            added = False
            if strategy is not None and strategy not in strategies:
                try:
                    added = admit(state, ev)
                except Rejected as e:
                    _refused(state, ev, e)
                    continue
            extra = None
            if handler is not None:
                try:
                    extra = handler(state, ev)
                except Exception as e:  # noqa: BLE001 - a refused event is counted, never raised
                    if added:
                        del strategies[strategy]
                    _refused(state, ev, e)
                    continue
            applied += 1
            last_ts = ev.ts
            if mts is not None and (market_now is None or mts > market_now):
                market_now = mts
            if shown:
                add_row(state, ev, ev.NAME, extra)
        return len(events), stopped
    finally:
        if cur_sid is not None and not other:
            last_seq[cur_sid] = cur_last
        state.stats.applied += applied
        state.last_ts, state.market_now = last_ts, market_now
        state.pnl_sample_due = sample_due


def _fold_lines(
    state: DashboardState,
    lines: Iterable[bytes],
    limit: int,
    until: datetime | None = None,
    clock: Clock = "wall",
) -> tuple[int, bool]:
    """Fold each of ``lines`` (no newline); see the module docstring. Runs of lines the decoder takes are folded
    together by ``_fold_events``; a line it refuses is explained by ``_fold_untyped`` where it stands. With
    ``until``, stop before the first event whose time on ``clock`` is later. Returns ``(lines read, stopped)``."""
    decode = _decode
    errors = LINE_ERRORS
    by_market = clock == "market"
    run: list[Line] = []
    n = 0  # lines read before ``run``
    for raw in lines:
        error: BaseException | None = None  # None with a line too long to decode
        if len(raw) <= limit:
            try:
                run.append(decode(raw))
                continue
            except errors as e:
                error = e
        if run:  # fold the run before this line, then this line where it stands
            k, stopped = _fold_events(state, run, until, by_market)
            n += k
            if stopped:
                return n, True
            run = []
        if b"\x00" in raw and (parts := between_nul_runs(raw)) is not None:  # e.g. what copytruncate leaves
            n += 1
            if _fold_nul_line(state, raw, parts, limit, until, clock):
                return n, True
            continue
        if error is None:
            n += 1
            _skip(state, "too_long", f"{len(raw)} bytes")
            continue
        if until is not None:
            t = _line_time(raw, clock)
            if t is not None and t > until:
                return n, True
        n += 1
        _fold_untyped(state, raw, error)
    if run:
        k, stopped = _fold_events(state, run, until, by_market)
        return n + k, stopped
    return n, False


#: A run of NUL bytes: never in a JSON text (a string holds U+0000 as ``\\u0000``), so a line holding one is
#: not what a writer wrote there — typically the hole ``copytruncate`` leaves when the writer keeps its offset.
_NUL_RUN = re.compile(rb"\x00+")


def between_nul_runs(raw: bytes) -> list[bytes] | None:
    """The parts of a line holding NUL bytes that are read as lines of their own: the text between its runs of
    NULs when a record may be among it (a part starting with ``{``) — none for a line of nothing but NULs — else
    ``None``: the line is binary garbage, one bad line."""
    parts = [x for x in _NUL_RUN.split(raw) if x]
    if parts and not any(x.lstrip()[:1] == b"{" for x in parts):
        return None
    return parts


def _fold_nul_line(
    state: DashboardState, raw: bytes, parts: list[bytes], limit: int, until: datetime | None, clock: Clock
) -> bool:
    """A line holding NUL bytes and maybe records (``between_nul_runs``): the NULs cost one skip
    (``nul_bytes``, their count in the detail) and ``parts`` are folded as lines of their own (``_fold_lines``)
    — the good record after a ``copytruncate`` hole folds, a torn one before it is counted on its own. Returns
    whether ``until`` stopped the fold."""
    _skip(state, "nul_bytes", f"{raw.count(0)} NUL bytes in a line of {len(raw)} bytes")
    return _fold_lines(state, parts, limit, until, clock)[1]


#: Bytes decoded per ``decode_lines`` call: small enough that the block and its events stay in the CPU cache
#: while they are folded (measured: 64 KiB pieces decode ~20 % faster than 1 MiB ones).
PIECE_BYTES = 64 * 1024


def _fold_block(state: DashboardState, block: bytes, limit: int) -> int:
    """Fold a block of complete lines (each ending in ``\\n``), piece by piece (``PIECE_BYTES``, cut at line
    ends). Returns the number of lines read."""
    n = 0
    start, end = 0, len(block)
    while start < end:
        stop = end
        if end - start > PIECE_BYTES:
            stop = block.rfind(b"\n", start, start + PIECE_BYTES) + 1
            if stop <= start:  # one line longer than a piece
                stop = block.find(b"\n", start + PIECE_BYTES) + 1 or end
        n += _fold_piece(state, block[start:stop], limit)
        start = stop
    return n


#: A line end not followed by the start of a schema-v1 line (``{"v":``, how every writer of ours starts one).
_ODD_LINE_START = re.compile(rb'\n(?!\{"v":)')


def _fold_piece(state: DashboardState, piece: bytes, limit: int) -> int:
    """Fold complete lines, decoding them in one ``decode_lines`` call where that reads exactly as line by line
    does: every line starts with ``{"v":`` (so none is blank or whitespace, which ``decode_lines`` would pass
    over), the decoder takes every line, and it finds one event per line (a line holding two JSON values would
    give more). Otherwise, or when any line is refused, the piece is folded line by line (``_fold_lines``)."""
    try:
        events = _decode_lines(piece)
    except LINE_ERRORS:
        events = None
    if (
        events is not None
        and piece.startswith(b'{"v":')
        and len(events) == piece.count(b"\n")
        and _ODD_LINE_START.search(piece, 0, len(piece) - 1) is None
    ):
        state.stats.fed_bytes += len(piece)
        return _fold_events(state, events)[0]
    lines = [x for x in piece.split(b"\n") if x]
    state.stats.fed_bytes += sum(map(len, lines)) + len(lines)
    return _fold_lines(state, lines, limit)[0]


def _refused(state: DashboardState, ev: Line, e: Exception) -> None:
    """Count a fold's refusal: its own ``Rejected`` reason, ``bad_field`` for a value error, else
    ``internal_error`` (a fold bug must not stop the feed)."""
    where = f"{ev.NAME} seq {ev.seq}"
    if isinstance(e, Rejected):
        _reject(state, e.reason, f"{where}: {e.detail}")
    elif isinstance(e, (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError)):
        _reject(state, "bad_field", f"{where}: {type(e).__name__}: {e}")
    else:
        _reject(state, "internal_error", f"{where}: {type(e).__name__}: {e}")


def _line_time(raw: bytes, clock: Clock) -> datetime | None:
    """The time on ``clock`` of a line the typed decoder refused (``None`` if it has none)."""
    try:
        return event_time(_loads(raw), clock)
    except orjson.JSONDecodeError:
        return None


# --- lines the typed decoder refused -------------------------------------------------------------------------


def _classify_bad_line(raw: bytes | str) -> str:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        b = bytes(raw)
        if not b.strip():
            return "empty_line"
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
    elif not raw.strip():
        return "empty_line"
    return "not_json"


def _aware(raw: Any) -> datetime | str:
    """An envelope time string as an aware datetime, or the skip reason."""
    if type(raw) is not str:
        return "bad_timestamp"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return "bad_timestamp"
    return dt if dt.utcoffset() is not None else "naive_timestamp"


def envelope_problem(event: Any) -> tuple[str, str] | None:
    """Why a parsed line (as ``orjson.loads`` gives it) is not an event: the skip ``(reason, detail)`` the
    reducer counts it under (``not_object``, ``missing_envelope``, ``naive_timestamp``, ``bad_timestamp``), or
    ``None`` when its envelope is whole — ``v`` ≥ 1, ``session_id`` and ``event`` strings, ``seq`` ≥ 0, an aware
    ``ts`` (and ``market_ts``, if any). ``seq`` order is not judged here."""
    if type(event) is not dict:
        return "not_object", type(event).__name__
    try:
        v, ts, sid, seq, name = event["v"], event["ts"], event["session_id"], event["seq"], event["event"]
    except KeyError as e:
        return "missing_envelope", f"missing {e.args[0]!r}"
    if type(seq) is not int or type(sid) is not str or seq < 0 or type(name) is not str:
        return "missing_envelope", "seq must be a non-negative int, session_id and event strings"
    if type(v) is not int or v < 1:
        return "missing_envelope", f"bad schema version {str(v)[:20]!r}"
    tsdt = _aware(ts)
    if type(tsdt) is str:
        return tsdt, f"seq {seq}: ts {str(ts)[:40]!r}"
    mraw = event.get("market_ts")
    if mraw is not None and type(mts := _aware(mraw)) is str:
        return mts, f"seq {seq}: market_ts {str(mraw)[:40]!r}"
    return None


def _fold_untyped(state: DashboardState, raw: bytes, error: BaseException) -> None:
    """Say why the typed decoder refused ``raw`` (``error``): a skip, an unknown event's row, or a rejection."""
    try:
        event = _loads(raw)
    except orjson.JSONDecodeError as e:
        _skip(state, _classify_bad_line(raw), str(e)[:120])
        return
    problem = envelope_problem(event)
    if problem is not None:
        _skip(state, *problem)
        return
    v, sid, seq, name = event["v"], event["session_id"], event["seq"], event["event"]
    if not _fold_session(state, sid):
        return
    tsdt = _aware(event["ts"])
    mraw = event.get("market_ts")
    mts = None if mraw is None else _aware(mraw)
    last = state.last_seq.get(sid)
    if last is not None and seq <= last:
        _skip(state, "duplicate_seq" if seq == last else "out_of_order_seq", f"seq {seq} after {last}")
        return
    state.last_seq[sid] = seq
    if v == SCHEMA_VERSION and name in CATALOGUE:
        _reject(state, "bad_field", f"{name} seq {seq}: {str(error)[:160]}")
        return
    _bump(state.stats.unknown, "newer_version" if v > SCHEMA_VERSION else "unknown_event")
    state.last_ts = tsdt  # type: ignore[assignment]
    if mts is not None and (state.market_now is None or mts > state.market_now):  # type: ignore[operator]
        state.market_now = mts  # type: ignore[assignment]
    unknown_row(state, tsdt, mts, seq, name, v, event.get("message"))  # type: ignore[union-attr,arg-type]


def apply(state: DashboardState, event: Any) -> DashboardState:
    """Fold one event given as the dict ``orjson.loads`` makes of its line (mutates ``state``, returns it).
    Exactly as if its JSON line were fed; a value JSON cannot hold is counted as ``not_json``."""
    try:
        raw = orjson.dumps(event)
    except TypeError as e:
        _skip(state, "not_json", str(e)[:120])
        return state
    state.stats.fed_bytes += len(raw) + 1
    _fold_lines(state, (raw,), _DEFAULT_MAX_LINE)
    return state


# --- the feeding object ---------------------------------------------------------------------------------------


class Reducer:
    """Feeds lines/events into the folds and builds snapshots. Not thread-safe (one owner).

    ``version`` increments on every call that changed the state (including skip counters, which are on screen).
    ``session``: the one session to fold (a full ``session_id``; ``None``: the session of the first event fed);
    the events of any other are counted, not folded (see the module doc). ``focus``: the strategy instance its
    snapshots focus on (``dashboard.focus``: ``arbtail --strategy``), ``None`` the whole session. A reader of a log file chooses it
    before feeding (``dashboard.sources.jsonl.load`` sets the log's last session when none is chosen).
    """

    __slots__ = ("state", "version", "max_line_bytes", "timeline_size", "focus")

    def __init__(
        self,
        *,
        timeline_size: int = 20,
        max_line_bytes: int = _DEFAULT_MAX_LINE,
        session: str | None = None,
        focus: str | None = None,
    ) -> None:
        self.timeline_size = timeline_size
        self.focus = focus
        self.state = DashboardState(timeline_size=timeline_size, fold_session=session)
        self.version = 0
        self.max_line_bytes = max_line_bytes

    @property
    def session(self) -> str | None:
        """The session folded: the one chosen, else the first event's (``None`` before any event)."""
        return self.state.fold_session

    @session.setter
    def session(self, session_id: str | None) -> None:
        """Choose the session to fold (before feeding: events already folded stay folded)."""
        if session_id != self.state.fold_session:
            self.state.fold_session = session_id
            self.version += 1

    @property
    def stats(self) -> IngestStats:
        """The ingest counters (they live in the state, so checkpoints carry them)."""
        return self.state.stats

    def feed_line(self, raw: bytes) -> None:
        """One JSONL line (no trailing newline). Bad input is counted by reason, never raised."""
        self.version += 1
        self.state.stats.fed_bytes += len(raw) + 1
        _fold_lines(self.state, (raw,), self.max_line_bytes)

    def feed_lines(self, lines: Iterable[bytes]) -> int:
        """Feed many JSONL lines (a replay), as ``feed_line`` does each. Returns how many lines were read."""
        if type(lines) is not list:
            lines = list(lines)
        n = _fold_lines(self.state, lines, self.max_line_bytes)[0]
        self.state.stats.fed_bytes += sum(map(len, lines)) + n
        self.version += n
        return n

    def feed_block(self, block: bytes) -> int:
        """Feed a block of complete JSONL lines, each ending in ``\\n`` (a replay reading a file in blocks), as
        ``feed_lines`` would feed its lines (blank lines dropped as ``LineSplitter`` drops them), decoded in one
        call when that is exact (see ``_fold_block``). Returns how many lines were read."""
        n = _fold_block(self.state, block, self.max_line_bytes)
        self.version += n
        return n

    def feed_lines_until(
        self, lines: Iterable[bytes], until: datetime, clock: Clock = "wall"
    ) -> tuple[int, bool]:
        """Like ``feed_lines`` but stops at the first event whose time on ``clock`` (``dashboard.timeaxis``:
        envelope ``ts`` or ``market_ts``) is later than ``until`` (aware): that line is not fed. Returns
        ``(lines fed, stopped)``; ``stopped`` says a later event was found, so the caller reads no further.
        Lines without a time on that clock are fed (and bad ones counted there)."""
        if type(lines) is not list:
            lines = list(lines)
        n, stopped = _fold_lines(self.state, lines, self.max_line_bytes, until, clock)
        self.state.stats.fed_bytes += sum(map(len, lines[:n] if stopped else lines)) + n
        self.version += n
        return n, stopped

    def feed(self, event: dict[str, Any]) -> None:
        """One parsed event dict (as ``orjson.loads`` gives it). Never raises."""
        self.version += 1
        apply(self.state, event)

    def note_skip(self, reason: str, detail: str = "") -> None:
        """Count a reader's own skip (e.g. ``torn_line``) so it shows with the others."""
        self.version += 1
        _skip(self.state, reason, detail or reason)

    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool:
        """Replace the state by a ``dashboard.checkpoint`` payload (``state_to_dict`` form), keeping this
        reducer's timeline size. A malformed payload (or another version's state form) leaves the state as it
        was and — unless ``count_bad`` is false, for a caller that then replays from the start instead — is
        counted (``bad_checkpoint``); returns whether it was loaded. Never raises."""
        try:
            state = state_from_dict(data)
        except Exception as e:  # noqa: BLE001 - any malformed payload is a counted skip
            if count_bad:
                self.note_skip("bad_checkpoint", f"{type(e).__name__}: {e}"[:200])
            return False
        if state.timeline_size != self.timeline_size:
            state.timeline_size = self.timeline_size
            del state.timeline[: max(0, len(state.timeline) - self.timeline_size)]
        if self.state.fold_session is not None:  # the session chosen stays chosen
            state.fold_session = self.state.fold_session
        self.state = state
        self.version += 1
        return True

    def snapshot(self, *, closed_rows: int = 5) -> DashboardSnapshot:
        """Build the snapshot: every derived figure computed here (see ``dashboard.snapshot``), focused on
        ``focus`` when one is set."""
        snap = build_snapshot(self.state, closed_rows=closed_rows)
        return focus_snapshot(snap, self.focus) if self.focus is not None else snap
