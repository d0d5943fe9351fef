"""The control server's read side over a replay source (``arbtail serve``, issue 12 part 3): no bot, the same app.

``arbtail serve`` (``tools.arbtail_serve``) hands ``control.app`` a ``ControlState(mode="replay",
replay=ReplayProvider(...))``. The provider answers what only a replay can:

* **one session, followed** (``ReplaySession``): the session is folded once into a ``Reducer`` (the
  ``ReplaySource.load`` of ``arbtail FILE --once``, checkpoint seek included), then the source is followed
  (``ReplaySource.follow``) for as long as the server runs, so a running bot's session updates live. Every line
  the follower folds is also pushed into the session's ``control.ring.RingSink`` (``RingSink.push``, on the
  loop: the reducer, the ring and the hub all belong to the loop) and fanned out by its ``StreamHub`` — so
  ``/api/snapshot``, ``/api/events`` and ``/api/stream`` behave as in the bot. At start the ring is filled with
  the session's last ``ring_capacity`` events from the history; older events are read back from the history on
  demand: the log file (its rotated members too) or the database;
* **time travel** (``ReplaySession.snapshot_at``): ``?at=T`` is a fresh ``Reducer`` folded up to ``T`` — the
  ``fold_at`` callable given by the command (``tools.arbtail_view.load_for_show`` on a fresh source: exactly
  ``arbtail FILE --at T --once``'s state), in a worker thread with its own event loop, so a long fold never
  holds the server's loop. The last ``AT_CACHE`` answers are kept (LRU); an answer that reached the session's
  end is reused only while the session has not grown;
* **the fleet** (``ReplayProvider`` with ``fleet=True``, ``arbtail serve --db DSN`` without ``--session``):
  ``sessions()`` lists every session of the database (the ``list_sessions`` callable:
  ``tools.pg_admin.list_sessions``, cached ``FLEET_TTL_S``), and ``?session=ID`` selects one: it is opened and
  followed on first use and kept in an LRU of at most ``MAX_FOLLOWED`` sessions (each with its own reducer,
  ring, hub and database connections); the least recently used one beyond that is closed (its follow
  stopped, its streams ended). An unknown session is a 404.

``control.app`` imports nothing from here at run time (it reads ``ControlState.replay``); this module imports no
``tools`` module: the command wires the folding and listing functions in.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from arbdash.control.app import ApiError
from arbdash.control.hub import StreamHub
from arbdash.control.ring import RING_CAPACITY, Item, RingSink, line_seq, read_jsonl_after
from arbdash.control.snapshots import Snapshot, SnapshotSource, folded_seq, snapshot_body
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.sources.protocol import ReplaySource, SourceError
from arbdash.dashboard.timeaxis import Clock

#: ``?at=`` answers kept per session (least recently used dropped first).
AT_CACHE = 16
#: Sessions followed at once in fleet mode (least recently used closed first).
MAX_FOLLOWED = 8
#: ``/api/sessions`` is recomputed at most this often (seconds): each listing folds every session's net PnL.
FLEET_TTL_S = 2.0
#: ``?at=`` folds running at once (each a worker thread folding a session: CPU-bound).
MAX_AT_FOLDS = 2
#: The timeline rows a snapshot keeps: ``arbtail``'s ``--timeline`` default, so frames compare equal.
TIMELINE = 20

#: ``fold_at(make_source, at, clock, timeline)`` → ``(reducer, stopped)``: a fresh reducer folded up to ``at``
#: (blocking; run in a worker thread). Raises ``SourceError``.
FoldAt = Callable[[Callable[[], ReplaySource], datetime, Clock, int], tuple[Reducer, bool]]
#: ``history(after_seq, limit)`` → up to ``limit`` of the session's events with ``seq > after_seq``, in order.
History = Callable[[int, int], Awaitable[list[Item]]]

_SESSION_ID = re.compile(rb'"session_id":\s*"([^"]{1,64})"')


def parse_at(text: str) -> datetime:
    """``?at=`` → an aware datetime. Raises ``ApiError`` 400 for text that is not ISO 8601 or has no offset."""
    raw = text.strip()
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError(
            400, "bad_time", f"at={text[:40]!r}: use ISO 8601, e.g. 2026-03-01T08:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise ApiError(400, "bad_time", f"at={text[:40]!r} has no UTC offset: add Z or +00:00")
    return at


def line_session(line: bytes) -> str | None:
    """The ``session_id`` of an event line (from the envelope's prefix, else by parsing it); ``None``: none."""
    m = _SESSION_ID.search(line, 0, 256)
    if m is not None:
        return m.group(1).decode("ascii", "replace")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    sid = obj.get("session_id") if isinstance(obj, dict) else None
    return sid if isinstance(sid, str) else None


def session_items(lines: list[bytes], session: str | None) -> list[Item]:
    """``(seq, line)`` of the lines of ``session`` (all sessions when ``None``) that carry a ``seq``."""
    out: list[Item] = []
    for line in lines:
        line = line.rstrip(b"\r\n")
        if session is not None and line_session(line) != session:
            continue
        seq = line_seq(line)
        if seq is not None:
            out.append((seq, line))
    return out


class RingTee:
    """A ``ReducerLike`` for ``ReplaySource.follow``: every line goes to ``reducer`` and, when it is one of the
    session's events, to ``ring`` (``RingSink.push``: the stream clients get it at once)."""

    def __init__(self, reducer: Reducer, ring: RingSink) -> None:
        self.reducer, self.ring = reducer, ring

    @property
    def session(self) -> str | None:
        return self.reducer.session

    @session.setter
    def session(self, value: str | None) -> None:
        self.reducer.session = value

    @property
    def timeline_size(self) -> int:
        return self.reducer.timeline_size

    def feed_lines(self, lines: list[bytes]) -> int:
        n = self.reducer.feed_lines(lines)
        self.ring.push(session_items(lines, self.reducer.session))
        return n

    def feed_line(self, raw: bytes) -> None:
        self.feed_lines([raw])

    def feed_block(self, block: bytes) -> int:
        return self.feed_lines(block.split(b"\n"))

    def feed_lines_until(
        self, lines: list[bytes], until: datetime, clock: Clock = "wall"
    ) -> tuple[int, bool]:
        raise NotImplementedError("following never stops at a time")

    def note_skip(self, reason: str, detail: str = "") -> None:
        self.reducer.note_skip(reason, detail)

    def load_checkpoint(self, data: dict[str, Any], *, count_bad: bool = True) -> bool:
        return self.reducer.load_checkpoint(data, count_bad=count_bad)


class _ReplayHub(StreamHub):
    """A ``StreamHub`` whose events beyond the ring come from ``history`` (the log or the database)."""

    def __init__(self, ring: RingSink, snapshot: Callable[[], Snapshot], history: History) -> None:
        super().__init__(ring, snapshot, None)
        self._history = history

    async def read_after(self, after_seq: int, limit: int) -> tuple[list[Item], str]:
        ring = self.ring
        ring.pump()
        if ring.covers(after_seq):
            return ring.after(after_seq, limit), "ring"
        self.jsonl_reads += 1
        return await self._history(after_seq, limit), "history"


def jsonl_history(path: Path, session: str | None) -> History:
    """``History`` over the log at ``path`` and its rotated members, only ``session``'s events (all when
    ``None``), read in a worker thread. Raises ``OSError`` when the log cannot be read."""

    def keep(line: bytes) -> bool:
        return line_session(line) == session

    async def read(after_seq: int, limit: int) -> list[Item]:
        return await asyncio.to_thread(
            read_jsonl_after, path, after_seq, limit, keep=None if session is None else keep
        )

    return read


class ReplaySession:
    """One session served from a replay source: its live reducer (followed), ring, hub and ``?at=`` cache.

    ``source``: the source to load and follow (entered by ``start``, exited by ``aclose``); ``make_source``: a
    fresh, unentered source of the same session (``?at=`` folds use one each); ``history``: where events beyond
    the ring come from (``None``: the ring only); ``fold_at``: see ``FoldAt``."""

    def __init__(
        self,
        source: ReplaySource,
        make_source: Callable[[], ReplaySource],
        *,
        fold_at: FoldAt,
        history: Callable[[str | None], History] | None = None,
        ring_capacity: int = RING_CAPACITY,
        timeline: int = TIMELINE,
        at_folds: asyncio.Semaphore | None = None,
    ) -> None:
        self.source = source
        self.make_source = make_source
        self.fold_at = fold_at
        self.timeline = timeline
        self.reducer = Reducer(timeline_size=timeline)
        self.ring = RingSink(ring_capacity)
        self.snapshots = SnapshotSource(self.reducer)
        self._history_factory = history
        self.hub: StreamHub = StreamHub(self.ring, self.snapshots.current, None)
        self.clock: Clock = "market"
        self.clock_notice: str | None = None
        self.first_time: datetime | None = None
        self.notices: list[str] = []
        self._at_cache: OrderedDict[datetime, tuple[Snapshot, bool, int]] = OrderedDict()
        self._at_folds = at_folds or asyncio.Semaphore(MAX_AT_FOLDS)
        self._follow: asyncio.Task[None] | None = None
        self._entered = False

    @property
    def session_id(self) -> str | None:
        return self.reducer.session

    async def start(self) -> None:
        """Enter the source, fold the whole session, fill the ring with its last events and start following.
        Raises ``SourceError`` (nothing readable, no event at all)."""
        source = self.source
        await source.__aenter__()
        self._entered = True
        self.reducer.session = source.session
        self.clock, self.clock_notice = await source.time_axis("market")
        self.first_time = await source.first_time(self.clock)
        await source.load(self.reducer, seek=True)
        stats = self.reducer.state.stats
        if not stats.applied:
            raise SourceError(f"{source.label}: no event of the session in it")
        if self._history_factory is not None:
            history = self._history_factory(source.session)
            self.hub = _ReplayHub(self.ring, self.snapshots.current, history)
            seq = folded_seq(self.reducer)
            items = await history(max(0, seq - self.ring.capacity), self.ring.capacity)
            self.ring.push([it for it in items if it[0] <= seq])
        self._follow = asyncio.create_task(self._run_follow(), name=f"follow {source.label}")

    async def _run_follow(self) -> None:
        tee = RingTee(self.reducer, self.ring)
        try:
            async for _ in self.source.follow(tee, self._notice):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a follower that dies leaves the folded state served
            self._notice(f"following stopped: {type(exc).__name__}: {exc}")

    def _notice(self, text: str) -> None:
        self.notices = [*self.notices[-9:], text]

    def history(self) -> dict[str, Any]:
        """``{"first", "last", "clock"}``: the session's span on its time axis (ISO 8601; ``last`` is the newest
        time folded so far: it moves while the session is followed)."""
        state = self.reducer.state
        last: datetime | None
        if self.clock == "market":
            last = state.market_now
        else:
            from arbdash.dashboard.timeaxis import event_time

            last = event_time({"ts": state.last_ts}, "wall") if state.last_ts else None
        return {
            "first": self.first_time.isoformat() if self.first_time else None,
            "last": last.isoformat() if last else None,
            "clock": self.clock,
        }

    async def snapshot_at(self, at: datetime) -> bytes:
        """The session folded up to ``at`` (on ``self.clock``), as the ``/api/snapshot`` JSON plus ``"at"``,
        ``"clock"`` and ``"end"`` (true: ``at`` is at or past the last event, so this is the session's state at
        its end so far). Raises ``ApiError`` 404 when no event is at or before ``at``, 503 when the source
        cannot be read."""
        live_seq = folded_seq(self.reducer)
        hit = self._at_cache.get(at)
        if hit is not None and (hit[1] or hit[2] == live_seq):
            self._at_cache.move_to_end(at)
            return hit[0].body
        async with self._at_folds:
            try:
                reducer, stopped = await asyncio.to_thread(
                    self.fold_at, self.make_source, at, self.clock, self.timeline
                )
            except SourceError as exc:
                raise ApiError(503, "history_unavailable", str(exc)) from None
        if not reducer.state.stats.applied:
            first = self.first_time.isoformat() if self.first_time else "none"
            raise ApiError(
                404,
                "no_event_at",
                f"{self.source.label}: no event at or before {at.isoformat()} on the {self.clock} clock"
                f" (the session starts at {first})",
            )
        model = reducer.snapshot()
        seq = folded_seq(reducer)
        head = snapshot_body(reducer.session, seq, reducer.version, model)
        extra = orjson.dumps({"at": at.isoformat(), "clock": self.clock, "end": not stopped})
        body = head[:-1] + b"," + extra[1:]
        snap = Snapshot(reducer.session, seq, reducer.version, model, body)
        self._at_cache[at] = (snap, stopped, live_seq)
        while len(self._at_cache) > AT_CACHE:
            self._at_cache.popitem(last=False)
        return body

    def close_streams(self) -> None:
        """End this session's streams (each sends what it holds)."""
        self.ring.pump()
        self.hub.close()

    async def aclose(self) -> None:
        """Stop following, end the streams, exit the source. Idempotent; raises nothing."""
        task, self._follow = self._follow, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self.close_streams()
        if self._entered:
            self._entered = False
            with contextlib.suppress(Exception):
                await self.source.__aexit__(None, None, None)


class FleetLister:
    """``/api/sessions`` over ``list_sessions(dsn)`` (``tools.pg_admin.list_sessions``), cached for ``ttl_s``
    seconds; concurrent requests share one listing."""

    def __init__(
        self, list_sessions: Callable[[], Awaitable[list[Any]]], *, ttl_s: float = FLEET_TTL_S
    ) -> None:
        self._list = list_sessions
        self.ttl_s = ttl_s
        self._cached: tuple[float, list[Any]] | None = None
        self._lock = asyncio.Lock()

    async def summaries(self) -> list[Any]:
        """The sessions as ``list_sessions`` returned them (``tools.pg_admin.SessionSummary``), newest first.
        Raises ``ApiError`` 503 when the database fails."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.ttl_s:
                return self._cached[1]
            try:
                rows = await self._list()
            except Exception as exc:  # noqa: BLE001 - asyncpg / PgAdminError: one redacted-by-caller line
                raise ApiError(
                    503, "database_unavailable", f"cannot list sessions: {type(exc).__name__}"
                ) from None
            self._cached = (now, rows)
            return rows

    async def body(self) -> bytes:
        """``{"sessions": [...]}`` (see ``session_row``; ages as of now). Raises ``ApiError`` 503 when the
        database fails."""
        return orjson.dumps({"sessions": [session_row(s) for s in await self.summaries()]})


def session_row(s: Any) -> dict[str, Any]:
    """One ``tools.pg_admin.SessionSummary`` as JSON: ``session_id``, ``strategy``, ``host`` (``null`` unless the
    session's metadata names one), ``health``, ``stop_reason``, ``positions_opened``, ``open_positions``,
    ``net_pnl`` (USD, a decimal string), ``started_ts`` / ``ended_ts`` / ``last_event_ts`` (ISO 8601),
    ``last_event_age_s`` (seconds since the last event, now) and ``events`` (its last seq)."""
    last = s.last_event_at
    return {
        "session_id": str(s.session_id),
        "strategy": s.strategy,
        "host": getattr(s, "host", None),
        "health": s.health,
        "stop_reason": s.stop_reason,
        "positions_opened": s.positions_opened,
        "open_positions": (s.positions_opened or 0) - (s.positions_closed or 0),
        "net_pnl": str(s.net_pnl),
        "started_ts": s.started_at.isoformat() if s.started_at else None,
        "ended_ts": s.ended_at.isoformat() if s.ended_at else None,
        "last_event_ts": last.isoformat() if last else None,
        "last_event_age_s": round(time.time() - last.timestamp(), 3) if last else None,
        "events": s.last_seq or 0,
    }


class ReplayProvider:
    """What ``control.app`` reads in replay mode (``ControlState.replay``).

    Single-session mode: ``default`` is the served session and ``?session=`` may only name it. Fleet mode
    (``fleet=True``): no default; ``?session=ID`` opens a session with ``open_session(text)`` (a coroutine
    returning a started ``ReplaySession``; raises ``SourceError`` for an unknown session) and keeps at most
    ``max_followed`` of them (LRU); ``sessions_body()`` lists the database (``lister``)."""

    def __init__(
        self,
        *,
        default: ReplaySession | None = None,
        open_session: Callable[[str], Awaitable[ReplaySession]] | None = None,
        lister: FleetLister | None = None,
        max_followed: int = MAX_FOLLOWED,
    ) -> None:
        self.default = default
        self.fleet = default is None
        self._open = open_session
        self.lister = lister
        self.max_followed = max_followed
        self._sessions: OrderedDict[str, ReplaySession] = OrderedDict()
        self._opening: dict[str, asyncio.Future[ReplaySession]] = {}

    @property
    def followed(self) -> list[str]:
        """The ids of the sessions followed now (fleet mode), least recently used first."""
        return list(self._sessions)

    async def session(self, text: str | None) -> ReplaySession:
        """The session ``?session=`` names (``None``: the default one). Raises ``ApiError`` 400 (fleet mode
        without ``session``), 404 (an unknown session, or another one than served)."""
        if self.default is not None:
            sid = self.default.session_id
            if text is None or (
                sid is not None and text.strip().lower() and sid.startswith(text.strip().lower())
            ):
                return self.default
            raise ApiError(404, "unknown_session", f"this server serves session {sid} only")
        if text is None or not text.strip():
            raise ApiError(400, "session_required", "fleet mode: add ?session=ID (see /api/sessions)")
        key = text.strip().lower()
        if len(key) > 64:
            raise ApiError(400, "bad_query", "session must be a session id or a unique prefix")
        for sid, sess in self._sessions.items():
            if sid == key or (len(key) >= 8 and sid.startswith(key)):
                self._sessions.move_to_end(sid)
                return sess
        pending = self._opening.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._start(key))
            self._opening[key] = pending
            pending.add_done_callback(lambda _f: self._opening.pop(key, None))
        return await asyncio.shield(pending)

    async def _start(self, key: str) -> ReplaySession:
        assert self._open is not None
        try:
            sess = await self._open(key)
        except SourceError as exc:
            raise ApiError(404, "unknown_session", str(exc)) from None
        sid = sess.session_id or key
        if sid in self._sessions:  # two prefixes of one session opened at once: keep the first
            await sess.aclose()
            self._sessions.move_to_end(sid)
            return self._sessions[sid]
        self._sessions[sid] = sess
        while len(self._sessions) > self.max_followed:
            _, old = self._sessions.popitem(last=False)
            await old.aclose()
        return sess

    async def sessions_body(self) -> bytes:
        """``/api/sessions``. Raises ``ApiError`` 404 when there is no database (a file is served)."""
        if self.lister is None:
            raise ApiError(404, "no_fleet", "/api/sessions needs arbtail serve --db DSN")
        return await self.lister.body()

    def info(self) -> dict[str, Any]:
        """The replay part of ``/api/info``: ``{"fleet": bool, "history": {...} | None}``."""
        return {"fleet": self.fleet, "history": self.default.history() if self.default is not None else None}

    def close_streams(self) -> None:
        """End every open stream (the server is stopping)."""
        for sess in [self.default, *self._sessions.values()]:
            if sess is not None:
                sess.close_streams()

    async def aclose(self) -> None:
        """Stop following every session and exit their sources. Raises nothing."""
        for fut in list(self._opening.values()):
            fut.cancel()
        sessions = [self.default, *self._sessions.values()]
        self._sessions.clear()
        for sess in sessions:
            if sess is not None:
                await sess.aclose()
