"""The feeder: JSONL lines in, folded state out — ``Reducer`` decodes each line and calls its event's fold.

Input is exactly what the JSONL holds: one schema-v1 line per event. A line is decoded in C into its event's
typed line (``logging_pipeline.catalogue.LINE_DECODER``: envelope checked — ``v`` 1, aware ``ts`` /
``market_ts``, ``seq`` ≥ 0 — fields typed, money as decimal text); the feeder then checks ``seq`` against the
session's last one, calls the event's fold (``dashboard.folds``), moves the clocks and adds the timeline row.
There is one fold per event and one path per line, whichever way the line arrives (a live tee, a replay, a
follow, PostgreSQL): a live run, a JSONL replay and a DB replay fold to the same state and draw the same frame.

A line the typed decoder refuses is read again as plain JSON (``orjson``) to say why, by reason: not JSON
(``not_json`` / ``invalid_utf8`` / ``empty_line``), not an object, a bad envelope (``missing_envelope``,
``naive_timestamp``, ``bad_timestamp``), ``seq`` not increasing (``duplicate_seq`` / ``out_of_order_seq``:
skipped), an event this reader does not know or a newer schema (``unknown_event`` / ``newer_version``: an info
row, not folded), else a field of a known event (``bad_field``: rejected). A fold that refuses an event leaves
the state as it was. Nothing raises out of ``feed*``; everything is counted in ``IngestStats``.

Time comes only from events — ``market_ts`` for market figures, ``ts`` for wall uptime — never the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from dashboard.folds import BOOKED_TOLERANCE_USD, FOLDS, MAX_CLOSED_KEPT, Rejected
from dashboard.folds.timeline import add_row, unknown_row
from dashboard.models import DashboardSnapshot
from dashboard.snapshot import build_snapshot
from dashboard.state import DashboardState, IngestStats, state_from_dict
from dashboard.timeaxis import Clock, event_time
from logging_pipeline.catalogue import CATALOGUE, LINE_DECODER, LINE_ERRORS, Line
from logging_pipeline.events import SCHEMA_VERSION

__all__ = ["Reducer", "apply", "build_snapshot", "NOISE_EVENTS", "BOOKED_TOLERANCE_USD", "MAX_CLOSED_KEPT"]

#: Events folded but not shown in the timeline (the catalogue's ``TIMELINE = False``).
NOISE_EVENTS = CATALOGUE.not_in_timeline
_DEFAULT_MAX_LINE = 64 * 1024 * 1024
_decode = LINE_DECODER.decode
_loads = orjson.loads


def _bump(d: dict[str, int], reason: str) -> None:
    d[reason] = d.get(reason, 0) + 1


def _skip(state: DashboardState, reason: str, detail: str) -> None:
    _bump(state.stats.skipped, reason)
    state.stats.last_problem = f"{reason}: {detail}"[:200]


def _reject(state: DashboardState, reason: str, detail: str) -> None:
    _bump(state.stats.rejected, reason)
    state.stats.last_problem = detail[:200]


# --- the typed path ------------------------------------------------------------------------------------------


def _fold(state: DashboardState, ev: Line) -> None:
    """Fold one decoded line: ``seq`` order, the event's fold, the clocks, the timeline row."""
    sid = ev.session_id
    seq = ev.seq
    last_seq = state.last_seq
    last = last_seq.get(sid)
    if last is not None and seq <= last:
        _skip(state, "duplicate_seq" if seq == last else "out_of_order_seq", f"seq {seq} after {last}")
        return
    last_seq[sid] = seq
    handler = FOLDS.get(type(ev))
    extra = None
    if handler is not None:
        try:
            extra = handler(state, ev)
        except Rejected as b:
            _reject(state, b.reason, f"{ev.NAME} seq {seq}: {b.detail}")
            return
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError) as e:
            _reject(state, "bad_field", f"{ev.NAME} seq {seq}: {type(e).__name__}: {e}")
            return
        except Exception as e:  # never raise out of the fold  # noqa: BLE001
            _reject(state, "internal_error", f"{ev.NAME} seq {seq}: {type(e).__name__}: {e}")
            return
    state.stats.applied += 1
    state.last_ts = ev.ts
    mts = ev.market_ts
    if mts is not None:
        now = state.market_now
        if now is None or mts > now:
            state.market_now = mts
    if ev.TIMELINE:
        add_row(state, ev, ev.NAME, extra)


def _fold_lines(state: DashboardState, lines: Iterable[bytes], limit: int) -> int:
    """Fold each of ``lines`` (returns how many were read); see the module docstring."""
    decode = _decode
    errors = LINE_ERRORS
    fold_one = _fold
    n = 0
    for raw in lines:
        n += 1
        if len(raw) > limit:
            _skip(state, "too_long", f"{len(raw)} bytes")
            continue
        try:
            ev = decode(raw)
        except errors as e:
            _fold_untyped(state, raw, e)
            continue
        fold_one(state, ev)
    return n


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


def _fold_untyped(state: DashboardState, raw: bytes, error: BaseException) -> None:
    """Say why the typed decoder refused ``raw`` (``error``): a skip, an unknown event's row, or a rejection."""
    try:
        event = _loads(raw)
    except orjson.JSONDecodeError as e:
        _skip(state, _classify_bad_line(raw), str(e)[:120])
        return
    if type(event) is not dict:
        _skip(state, "not_object", type(event).__name__)
        return
    try:
        v, ts, sid, seq, name = event["v"], event["ts"], event["session_id"], event["seq"], event["event"]
    except KeyError as e:
        _skip(state, "missing_envelope", f"missing {e.args[0]!r}")
        return
    if type(seq) is not int or type(sid) is not str or seq < 0 or type(name) is not str:
        _skip(state, "missing_envelope", "seq must be a non-negative int, session_id and event strings")
        return
    if type(v) is not int or v < 1:
        _skip(state, "missing_envelope", f"bad schema version {str(v)[:20]!r}")
        return
    tsdt = _aware(ts)
    if type(tsdt) is str:
        _skip(state, tsdt, f"seq {seq}: ts {str(ts)[:40]!r}")
        return
    mraw = event.get("market_ts")
    mts = None if mraw is None else _aware(mraw)
    if type(mts) is str:
        _skip(state, mts, f"seq {seq}: market_ts {str(mraw)[:40]!r}")
        return
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
    _fold_lines(state, (raw,), _DEFAULT_MAX_LINE)
    return state


# --- the feeding object ---------------------------------------------------------------------------------------


class Reducer:
    """Feeds lines/events into the folds and builds snapshots. Not thread-safe (one owner).

    ``version`` increments on every call that changed the state (including skip counters, which are on screen).
    """

    __slots__ = ("state", "version", "max_line_bytes", "timeline_size")

    def __init__(self, *, timeline_size: int = 20, max_line_bytes: int = _DEFAULT_MAX_LINE) -> None:
        self.timeline_size = timeline_size
        self.state = DashboardState(timeline_size=timeline_size)
        self.version = 0
        self.max_line_bytes = max_line_bytes

    @property
    def stats(self) -> IngestStats:
        """The ingest counters (they live in the state, so checkpoints carry them)."""
        return self.state.stats

    def feed_line(self, raw: bytes) -> None:
        """One JSONL line (no trailing newline). Bad input is counted by reason, never raised."""
        self.version += 1
        _fold_lines(self.state, (raw,), self.max_line_bytes)

    def feed_lines(self, lines: Iterable[bytes]) -> int:
        """Feed many JSONL lines (a replay), as ``feed_line`` does each. Returns how many lines were read."""
        n = _fold_lines(self.state, lines, self.max_line_bytes)
        self.version += n
        return n

    def feed_lines_until(self, lines: Iterable[bytes], until: datetime, clock: Clock = "wall") -> tuple[int, bool]:
        """Like ``feed_lines`` but stops at the first event whose time on ``clock`` (``dashboard.timeaxis``:
        envelope ``ts`` or ``market_ts``) is later than ``until`` (aware): that line is not fed. Returns
        ``(lines fed, stopped)``; ``stopped`` says a later event was found, so the caller reads no further.
        Lines without a time on that clock are fed (and bad ones counted there)."""
        n = 0
        state = self.state
        limit = self.max_line_bytes
        market = clock == "market"
        for raw in lines:
            if len(raw) <= limit:
                try:
                    ev = _decode(raw)
                except LINE_ERRORS:
                    ev = None
                if ev is not None:
                    t = ev.market_ts if market else ev.ts
                    if t is not None and t > until:
                        return n, True
                    self.version += 1
                    _fold(state, ev)
                    n += 1
                    continue
                try:
                    t = event_time(_loads(raw), clock)
                except orjson.JSONDecodeError:
                    t = None
                if t is not None and t > until:
                    return n, True
            self.feed_line(raw)
            n += 1
        return n, False

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
        self.state = state
        self.version += 1
        return True

    def snapshot(self, *, closed_rows: int = 5) -> DashboardSnapshot:
        """Build the pydantic snapshot: every derived figure computed here (see ``dashboard.snapshot``)."""
        return build_snapshot(self.state, closed_rows=closed_rows)
