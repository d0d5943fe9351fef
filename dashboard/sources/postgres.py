"""A session stored in PostgreSQL as a ``ReplaySource`` (``dashboard.sources.protocol``): loaded once (optionally
as of a moment), played back, or followed live — every viewer feature works on it as on a JSONL file.

Replay starts from the newest stored snapshot at or before the target (``Reducer.load_checkpoint``), then
feeds the events after it in ``seq`` order, so seeking a long session costs one snapshot plus a tail of events.
Events are fed as the original JSON lines (``feed_line``), exactly as the JSONL source does, so the frame is
the same as from the file. Following waits on ``LISTEN arbdash_events`` (the sink NOTIFYs on each commit) and
also polls every ``poll_s`` seconds on the ``(session_id, seq)`` primary key, so an update shows within
``poll_s`` even without notifications (e.g. after a backfill through a pooler).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any, Self

import asyncpg
import orjson

from arbdash.dashboard.sources.protocol import NoticeFn, ProgressFn, ReducerLike, SkipFn, SourceError
from arbdash.dashboard.timeaxis import Clock, event_time
from arbdash.logging_pipeline.postgres.dsn import redact, redact_dsn
from arbdash.logging_pipeline.postgres.rows import RAW_KEY, payload_to_line, unwrap_jsonb
from arbdash.logging_pipeline.postgres.store import CHANNEL


class PostgresSourceError(SourceError):
    """The database cannot be read or the session does not exist. The message is operator-readable and never
    contains the DSN's password."""


async def resolve_session(conn: asyncpg.Connection, text: str) -> uuid.UUID:
    """The session id matching ``text``: a full UUID, a unique prefix (like git), or ``latest`` (newest
    started). Raises ``PostgresSourceError`` if none or several match."""
    text = text.strip().lower()
    if text == "latest":
        rows = await conn.fetch("SELECT session_id FROM dashboard_sessions ORDER BY started_at DESC LIMIT 1")
    else:
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
        rows = await conn.fetch(
            "SELECT session_id FROM dashboard_sessions WHERE session_id::text LIKE $1 LIMIT 2", text + "%"
        )
    if not rows:
        raise PostgresSourceError(f"no session matches {text!r}")
    if len(rows) > 1:
        raise PostgresSourceError(f"session prefix {text!r} is ambiguous; give more characters")
    return rows[0][0]


class PostgresSource:
    """One session in one database, as an async context manager owning one connection.

    ``dsn``: libpq URL/keywords (shown redacted only). ``session``: UUID, unique prefix or ``latest``.
    ``poll_s``: follow-mode poll period in seconds. ``fetch_rows``: rows per round trip.
    Raises ``PostgresSourceError`` on enter when the server is unreachable or the session is unknown.
    """

    def __init__(
        self, dsn: str, session: str | uuid.UUID, *, poll_s: float = 1.0, fetch_rows: int = 5000
    ) -> None:
        self._dsn = dsn
        self._session_text = str(session)
        self.session_id: uuid.UUID | None = None
        self.poll_s = poll_s
        self.fetch_rows = fetch_rows
        self.last_seq = -1
        self._conn: asyncpg.Connection | None = None
        self._notified = asyncio.Event()

    async def __aenter__(self) -> Self:
        try:
            self._conn = await asyncpg.connect(self._dsn, timeout=10)
        except Exception as exc:
            raise PostgresSourceError(
                redact(f"cannot connect to {redact_dsn(self._dsn)}: {type(exc).__name__}: {exc}", self._dsn)
            ) from None
        try:
            self.session_id = await resolve_session(self._conn, self._session_text)
        except asyncpg.UndefinedTableError:
            await self._conn.close()
            raise PostgresSourceError("no arbdash tables in this database (nothing recorded yet?)") from None
        except BaseException:
            await self._conn.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise PostgresSourceError("source is not open (use 'async with PostgresSource(...)')")
        return self._conn

    async def session_row(self) -> dict[str, Any] | None:
        """The ``dashboard_sessions`` row as a dict (``None`` if the session has events but no row)."""
        row = await self.conn.fetchrow(
            "SELECT * FROM dashboard_sessions WHERE session_id = $1", self.session_id
        )
        return dict(row) if row else None

    @property
    def session(self) -> str | None:
        """The session's id as text once open (``None`` before)."""
        return None if self.session_id is None else str(self.session_id)

    @property
    def label(self) -> str:
        """``session <uuid>`` once open (the text asked for before)."""
        return f"session {self.session_id or self._session_text}"

    async def exists(self) -> bool:
        """Always true: an unknown session is a ``PostgresSourceError`` on enter."""
        return True

    async def time_axis(self, clock: Clock) -> tuple[Clock, str | None]:
        """``clock``, or the wall clock and a notice when ``clock`` is ``market`` and no event of the session has
        a ``market_ts`` (a session travelled by the wall clock)."""
        if clock == "market" and not await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM dashboard_events WHERE session_id = $1 AND (payload ? 'market_ts'"
            ' OR (payload ? $2 AND payload->>$2 LIKE \'%"market_ts":"%\')))',
            self.session_id,
            RAW_KEY,
        ):
            return (
                "wall",
                "no market times (market_ts) in this session: --at/--from/--to/--speed use the wall clock (ts)",
            )
        return clock, None

    async def load(
        self,
        reducer: ReducerLike,
        *,
        until: datetime | None = None,
        clock: Clock = "wall",
        seek: bool = True,
        progress: ProgressFn | None = None,
    ) -> bool:
        """Fold the session into ``reducer``: up to its end, or — with ``until`` (aware datetime) — up to the first
        event later than ``until`` on ``clock`` (``dashboard.timeaxis``: envelope ``ts`` or ``market_ts``), as a
        JSONL replay does. With ``seek`` it starts from the newest stored snapshot before that point. Returns
        ``True`` when ``until`` stopped it before the session's end; ``self.last_seq`` is the last seq covered
        (-1 if none), where ``follow`` continues. ``progress(events_fed, -1)`` is called after each round trip.
        Raises ``ValueError`` for a naive ``until``."""
        if until is not None and until.tzinfo is None:
            raise ValueError("until must be timezone-aware (UTC)")
        conn = self.conn
        until_seq: int | None = None
        if until is not None:
            later = await self._first_seq_later(until, clock)
            if later is not None:
                until_seq = later - 1
                if (
                    await conn.fetchval(
                        "SELECT min(seq) FROM dashboard_events WHERE session_id = $1", self.session_id
                    )
                    == later
                ):
                    self.last_seq = -1
                    return True
        after = -1
        if seek:
            snap = await conn.fetchrow(
                "SELECT seq, payload::text AS payload FROM dashboard_snapshots WHERE session_id = $1"
                " AND ($2::bigint IS NULL OR seq <= $2) ORDER BY seq DESC LIMIT 1",
                self.session_id,
                until_seq,
            )
            state = unwrap_jsonb(snap["payload"]) if snap is not None else None
            if snap is not None and reducer.load_checkpoint(state, count_bad=False):
                after = snap["seq"]  # else (another version's state form, damaged): replay from the start
        self.last_seq = after
        await self._feed_after(reducer, until_seq, progress)
        return until_seq is not None

    async def batches(self, on_skip: SkipFn) -> AsyncIterator[list[bytes]]:
        """Every event of the session from its start in ``seq`` order, ``fetch_rows`` lines a batch (rows are
        whole events: nothing to skip, ``on_skip`` is never called)."""
        after = -1
        while True:
            rows = await self._rows_after(after, None)
            if rows:
                yield [payload_to_line(row["payload"]) for row in rows]
                after = rows[-1]["seq"]
            if len(rows) < self.fetch_rows:
                return

    async def first_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the session's first event that has one."""
        return await self._edge_time(clock, "ASC")

    async def last_time(self, clock: Clock) -> datetime | None:
        """The time on ``clock`` of the session's last event that has one."""
        return await self._edge_time(clock, "DESC")

    async def _edge_time(self, clock: Clock, order: str) -> datetime | None:
        if clock == "wall":
            agg = "min" if order == "ASC" else "max"
            return await self.conn.fetchval(
                f"SELECT {agg}(ts) FROM dashboard_events WHERE session_id = $1", self.session_id
            )
        async with aclosing(self._market_times(order)) as times:
            async for _seq, t in times:
                return t
        return None

    async def _market_times(self, order: str) -> AsyncIterator[tuple[int, datetime]]:
        """``(seq, market time)`` of the session's events that have one, in ``seq`` order (``ASC``/``DESC``),
        parsed here row by row through a cursor, so a malformed value is passed over as in a JSONL replay."""
        async with self.conn.transaction():
            rows = self.conn.cursor(
                "SELECT seq, payload->>'market_ts' AS market_ts, payload->>$2 AS raw FROM dashboard_events"
                f" WHERE session_id = $1 AND (payload ? 'market_ts' OR payload ? $2) ORDER BY seq {order}",
                self.session_id,
                RAW_KEY,
                prefetch=self.fetch_rows,
            )
            async for row in rows:
                raw = row["raw"]  # an event stored verbatim (it held a NUL escape): read its own market_ts
                event = {"market_ts": row["market_ts"]} if raw is None else _loads_or_none(raw)
                t = event_time(event, "market")
                if t is not None:
                    yield row["seq"], t

    async def _first_seq_later(self, at: datetime, clock: Clock) -> int | None:
        """The seq of the session's first event later than ``at`` on ``clock`` (``None``: none is). The wall
        clock is the indexed ``ts`` column; ``market_ts`` lives in the payload (``_market_times``)."""
        if clock == "wall":
            return await self.conn.fetchval(
                "SELECT min(seq) FROM dashboard_events WHERE session_id = $1 AND ts > $2", self.session_id, at
            )
        async with aclosing(self._market_times("ASC")) as times:
            async for seq, t in times:
                if t > at:
                    return seq
        return None

    async def _rows_after(self, after: int, until_seq: int | None) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            "SELECT seq, payload::text AS payload FROM dashboard_events WHERE session_id = $1 AND seq > $2"
            " AND ($3::bigint IS NULL OR seq <= $3) ORDER BY seq LIMIT $4",
            self.session_id,
            after,
            until_seq,
            self.fetch_rows,
        )

    async def _feed_after(
        self, reducer: ReducerLike, until_seq: int | None = None, progress: ProgressFn | None = None
    ) -> int:
        fed = 0
        while True:
            rows = await self._rows_after(self.last_seq, until_seq)
            for row in rows:
                reducer.feed_line(payload_to_line(row["payload"]))
            fed += len(rows)
            if rows:
                self.last_seq = rows[-1]["seq"]
            if progress is not None:
                progress(fed, -1)
            if len(rows) < self.fetch_rows:
                return fed

    async def follow(
        self, reducer: ReducerLike, on_notice: NoticeFn | None = None, *, stop_when_ended: bool = False
    ) -> AsyncIterator[int]:
        """After ``load``: feed new events as they commit; yields the number fed after each wake-up that found
        some (so the caller redraws). With ``stop_when_ended`` it returns once the session row has ``ended_at``
        and everything up to its last seq was fed. ``on_notice`` is accepted for the protocol; a database has
        no rotation or truncation to report."""
        conn = self.conn
        me = str(self.session_id)

        def _on_notify(_c: object, _pid: int, _channel: str, payload: str) -> None:
            if payload.startswith(me):
                self._notified.set()

        await conn.add_listener(CHANNEL, _on_notify)
        try:
            while True:
                fed = await self._feed_after(reducer)
                if fed:
                    yield fed
                if stop_when_ended:
                    row = await conn.fetchrow(
                        "SELECT ended_at, last_seq FROM dashboard_sessions WHERE session_id = $1",
                        self.session_id,
                    )
                    if row and row["ended_at"] is not None and (row["last_seq"] or -1) <= self.last_seq:
                        return
                try:
                    await asyncio.wait_for(self._notified.wait(), self.poll_s)
                except TimeoutError:
                    pass
                self._notified.clear()
        finally:
            if not conn.is_closed():
                await conn.remove_listener(CHANNEL, _on_notify)


def _loads_or_none(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
