"""The PostgreSQL sink: every event of a session into ``dashboard_events``, in batches, without ever blocking.

``write`` (the bot's thread) turns the event into a row and appends it to a deque — nothing else. One asyncio
task (started by ``start``) drains the deque at most every ``flush_interval_s`` or as soon as ``batch_size``
rows wait, with one ``COPY`` per batch inside a transaction that also updates the session row and NOTIFYs
followers. The same task keeps the session row (``starting`` → ``running`` → final health + ``ended_at``).

Snapshots come down the stream like everything else: the dashboard writes its reducer's state as a
``dashboard.checkpoint`` event, and the sink stores that state in ``dashboard_snapshots`` — under the ``seq`` of
the last event it folded (``rows.checkpoint_snapshot``), in the transaction that writes the checkpoint's row —
at most one per ``snapshot_interval_s`` of the checkpoints' own time, and the newest one at close. The
checkpoint stays an event row too: the JSONL has it, every reader folds it, and a replay from the snapshot
folds it first, as a JSONL reader does from the checkpoint line. The sink calls nothing of the dashboard (it
imports none of it); a session's net PnL is computed by whoever reads the session (``tools.pg_admin``).

Health: once the first events are stored the sink reports ``ok`` ("storing events"), so a healthy PostgreSQL is
shown as such. Outage: a failed connect/COPY makes the sink ``degraded`` (``on_health_change("degraded", reason)``), rows wait
in memory up to ``buffer_max_events`` and beyond that go to a JSONL spool file. On reconnect the spool, then the
unacknowledged batch, then memory are written in seq order with an idempotent ``INSERT … ON CONFLICT DO
NOTHING`` — so a batch whose commit was lost in flight is neither lost nor duplicated — and health goes back to
``ok`` once the backlog is gone. If PostgreSQL is still away at close, whatever is left stays in the spool
(loadable with ``arbtail --db DSN import SPOOL``). The DSN's password never appears in a reason or log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg

from arbdash.logging_pipeline.postgres import store
from arbdash.logging_pipeline.postgres.dsn import dsn_target, redact, redact_dsn
from arbdash.logging_pipeline.postgres.migrations import SchemaTooNewError, upgrade
from arbdash.logging_pipeline.postgres.rows import (
    CHECKPOINT_EVENT,
    BadEvent,
    Row,
    checkpoint_snapshot,
    original_line,
    row_from_event,
    row_from_line,
    utc_now,
)
from arbdash.logging_pipeline.postgres.spool import Spool
from arbdash.logging_pipeline.sinks.base import Sink, SinkHealth

_log = logging.getLogger("logging_pipeline.postgres")

HealthCallback = Callable[[SinkHealth, "str | None"], None]

# Errors that mean "this data cannot be stored" rather than "the server/connection is gone".
_DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)

#: A snapshot to store: (seq of the checkpoint event carrying it, seq it is filed under, state, checkpoint ts).
_Snapshot = tuple[int, int, dict[str, Any], datetime]


async def _finish(aw: Any) -> BaseException | None:
    """Await ``aw`` to its end even if the calling task is cancelled meanwhile (for the few bounded steps of a
    close that must not be cut short: stopping the writer task, spilling the backlog). Returns the
    ``CancelledError`` met on the way (for the caller to re-raise once done), else ``None``."""
    fut = asyncio.ensure_future(aw)
    cancelled: BaseException | None = None
    while True:
        try:
            await asyncio.shield(fut)
            return cancelled
        except asyncio.CancelledError as exc:
            if fut.done():  # the step itself was cancelled: nothing left to wait for
                return cancelled
            cancelled = cancelled or exc  # we were: let the step finish, re-raise later
        except Exception:  # noqa: BLE001 - the step records its own problems
            return cancelled


class _ConnectionLost(Exception):
    """Internal: the write failed for a reason other than the data; reconnect and retry idempotently."""


class PostgresSink(Sink):
    """Batching, outage-proof PostgreSQL sink; an async context manager (``start``/``aclose``).

    Arguments (units in the names): ``dsn`` (libpq URL or keywords; shown only redacted); ``session_id`` (UUID;
    default: the first event's); ``batch_size`` rows per COPY; ``flush_interval_s`` max delay before a partial
    batch is written; ``buffer_max_events`` rows kept in memory while PostgreSQL is away before spilling to the
    spool; ``max_backlog_events`` hard cap of rows in memory (beyond it ``write`` drops and counts — only if the
    spool cannot be written either); ``spool_dir`` where ``<session_id>.pgspool.jsonl`` goes;
    ``snapshot_interval_s`` the least time (the checkpoint events' ``ts``) between two stored snapshots — a
    checkpoint closer to the last one stored is skipped, unless it is the newest at close (see the module doc);
    ``on_health_change(health, reason)`` called on the event loop at each health transition (must not raise,
    may log); ``auto_migrate`` runs ``migrations.upgrade`` on first connect; ``write_mode`` ``"copy"`` (default)
    or ``"insert"`` (single-row INSERTs, for benchmarks); ``connect_timeout_s``/``op_timeout_s`` per connect /
    per statement; ``retry_max_s`` cap of the reconnect backoff; ``close_timeout_s`` how long ``aclose`` may
    wait for the backlog before leaving it in the spool; ``notify`` NOTIFY followers after each batch.

    Attributes: ``health``/``health_reason`` (base ``Sink``), ``stats`` (a dict of counters, see ``stats``).
    """

    name = "postgres"
    reports_own_health = True  # health changes come through on_health_change as session.health events

    def __init__(
        self,
        dsn: str,
        *,
        session_id: uuid.UUID | str | None = None,
        batch_size: int = 1000,
        flush_interval_s: float = 0.5,
        buffer_max_events: int = 50_000,
        max_backlog_events: int = 2_000_000,
        spool_dir: Path | str = Path("logs") / "pg_spool",
        snapshot_interval_s: float = 30.0,
        on_health_change: HealthCallback | None = None,
        auto_migrate: bool = True,
        write_mode: Literal["copy", "insert"] = "copy",
        connect_timeout_s: float = 3.0,
        op_timeout_s: float = 15.0,
        retry_max_s: float = 5.0,
        close_timeout_s: float = 15.0,
        notify: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1 or flush_interval_s <= 0:
            raise ValueError("batch_size must be >= 1 and flush_interval_s > 0")
        self._dsn = dsn
        self.session_id = uuid.UUID(str(session_id)) if session_id is not None else None
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.buffer_max_events = buffer_max_events
        self.max_backlog_events = max_backlog_events
        self.spool_dir = Path(spool_dir)
        self.snapshot_interval_s = snapshot_interval_s
        self.on_health_change = on_health_change
        self.auto_migrate = auto_migrate
        self.write_mode = write_mode
        self.connect_timeout_s = connect_timeout_s
        self.op_timeout_s = op_timeout_s
        self.retry_max_s = retry_max_s
        self.close_timeout_s = close_timeout_s
        self.notify = notify
        #: Final session health written at close when no ``session.stopped`` event was seen (settable).
        self.final_health: str | None = None

        self._buf: deque[Row] = deque()
        self._inflight: list[Row] = []
        self._spool: Spool | None = None
        self._conn: asyncpg.Connection | None = None
        self._migrated = False
        self._failed = False
        self._announced = False  # a health (``on_health_change``) has been reported at least once
        self._session: store.SessionInfo | None = None
        self._session_dirty = False
        self._last_session_update = 0.0
        #: seconds between session-row updates (``last_seq``/``last_event_at``) when nothing else changed
        self.session_update_s = 1.0
        #: rows per COPY when a backlog has built up (catch-up after an outage, bursts)
        self.max_copy_rows = 50_000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake: asyncio.Event | None = None
        self._wake_requested = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._last_snapshot_ts: datetime | None = None  # checkpoint ts of the last snapshot stored
        self._unstored: _Snapshot | None = None  # the newest checkpoint skipped so far (stored at close)
        self._counts = dict.fromkeys(
            (
                "accepted",
                "written",
                "batches",
                "spooled",
                "dropped",
                "lost",
                "bad",
                "rejected",
                "reconnects",
                "snapshots",
            ),
            0,
        )
        self.last_problem = ""

    @property
    def dsn(self) -> str:
        """The DSN as given (for ``Pipeline(secrets=passwords_in(sink.dsn))``); display only ``redact_dsn(...)``."""
        return self._dsn

    @property
    def spool_path(self) -> Path | None:
        """The spool file this sink writes when PostgreSQL is away (``None`` until the first spill); after
        ``aclose`` it holds ``stats["spool_pending"]`` events for a later import."""
        return self._spool.path if self._spool is not None else None

    def __repr__(self) -> str:
        return f"PostgresSink({redact_dsn(self._dsn)}, session_id={self.session_id}, health={self.health})"

    # --- the bot's side: non-blocking ------------------------------------------------------------------------

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        """Queue one event (see ``Sink.write``). O(1), never blocks, never raises: an event without a usable
        envelope is counted in ``stats["bad"]``; above ``max_backlog_events`` events are counted as dropped."""
        try:
            if self._closed or len(self._buf) >= self.max_backlog_events:
                self._counts["dropped"] += 1
                return
            row = row_from_event(line, record)
            self._buf.append(row)
            self._counts["accepted"] += 1
            if len(self._buf) >= self.batch_size and not self._wake_requested:
                self._request_wake()
        except BadEvent as exc:
            self._counts["bad"] += 1
            self.last_problem = f"bad event skipped: {exc}"
        except Exception as exc:  # never into the bot
            self._counts["bad"] += 1
            self.last_problem = f"bad event skipped: {type(exc).__name__}: {exc}"

    def _request_wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        self._wake_requested = True
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: ``accepted`` (rows queued), ``written`` (rows committed), ``batches``, ``spooled`` (rows
        ever sent to the spool), ``dropped`` (backlog cap), ``lost`` (spooled but gone from the spool file before
        they were written: someone deleted or truncated it), ``bad`` (no usable envelope), ``rejected`` (refused
        by PostgreSQL as data), ``reconnects``, ``snapshots`` (stored from ``dashboard.checkpoint`` events);
        plus ``backlog`` (rows not yet committed) and ``spool_pending``."""
        spool_pending = self._spool.pending if self._spool else 0
        return {
            **self._counts,
            "backlog": len(self._buf) + len(self._inflight) + spool_pending,
            "spool_pending": spool_pending,
        }

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task (it connects, migrates and opens the session row in the background, so an
        unreachable server delays nothing). Never raises for an unreachable server."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._started_at = utc_now()
        if self.session_id is not None:
            self._ensure_session(self.session_id)
        self._task = asyncio.create_task(self._run(), name="postgres-sink")

    async def __aenter__(self) -> PostgresSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Write everything accepted so far (waiting up to ``close_timeout_s``), close the session row
        (``ended_at``, final health, positions summary; the newest checkpoint's snapshot if it was skipped) and
        the connection. What cannot be written stays in the spool file, reported with its path. Never raises for
        an unreachable server.

        Cancelled while waiting (the caller's task was cancelled): the writer task is stopped, the backlog is
        still spilled to the spool (that step finishes even if cancelled again), the connection is dropped and
        the ``CancelledError`` is re-raised."""
        if self._closed:
            return
        self._closed = True
        if self._task is None:
            return
        self._closing = True
        self._request_wake()
        cancelled: BaseException | None = None
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.close_timeout_s)
        except TimeoutError:
            self._task.cancel()
            cancelled = await _finish(asyncio.gather(self._task, return_exceptions=True))
            self._drop_connection()
        except asyncio.CancelledError as exc:
            cancelled = exc
            self._task.cancel()
            await _finish(asyncio.gather(self._task, return_exceptions=True))
            self._drop_connection()
        except Exception as exc:  # the task itself must not fail, but never raise into shutdown
            self.last_problem = redact(f"writer task failed: {exc!r}", self._dsn)
        if self._buf or self._inflight:
            cancelled = await _finish(self._spill()) or cancelled
        if cancelled is None and self._conn is not None and not self.stats["backlog"]:
            try:
                await self._finish_session()
            except asyncio.CancelledError as exc:
                cancelled = exc
                self._drop_connection()
            except Exception as exc:
                self.last_problem = redact(f"closing the session row failed: {exc}", self._dsn)
        if cancelled is None:
            try:
                await self._close_connection()
            except asyncio.CancelledError as exc:
                cancelled = exc
        self._drop_connection()
        if self._spool is not None and self._spool.pending:
            _log.warning(
                "PostgreSQL sink: %d events not written to %s; they are in %s "
                "(the next runbot start with this database and log directory loads them, "
                "or: arbtail --db DSN import %s)",
                self._spool.pending,
                redact_dsn(self._dsn),
                self._spool.path,
                self._spool.path,
            )
        if self._spool is not None:
            self._spool.close()
        if cancelled is not None:
            raise cancelled

    # --- the writer task ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if self._conn is None:
                if not self._failed and await self._connect():
                    backoff = 0.1
                else:
                    if self._backlog_memory() > self.buffer_max_events:
                        await self._spill()
                    if self._closing:
                        return
                    await self._wait(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
            try:
                await self._drain()
            except _ConnectionLost as exc:
                self._lost(exc.__cause__ or exc)
                continue
            if self.health == "degraded" and self._caught_up():
                self._set_health("ok", None)
            elif not self._announced and self.health == "ok" and self._counts["written"] > 0:
                # once, when the first events are stored: a healthy PostgreSQL says so (the dashboard's
                # "postgres OK"), not only a troubled one
                self._set_health("ok", "storing events")
            if self._closing and not self._buf:
                return
            await self._wait(self.flush_interval_s)

    async def _wait(self, timeout: float) -> None:
        assert self._wake is not None
        if not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
        self._wake.clear()
        self._wake_requested = False

    def _caught_up(self) -> bool:
        """Spool and retried batch written and less than one batch waiting: the outage is over."""
        return (
            not self._inflight
            and not (self._spool and self._spool.pending)
            and len(self._buf) < self.batch_size
        )

    def _backlog_memory(self) -> int:
        return len(self._buf) + len(self._inflight)

    async def _connect(self) -> bool:
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self.connect_timeout_s)
        except Exception as exc:
            self._degrade(f"cannot connect to {redact_dsn(self._dsn)}: {type(exc).__name__}: {exc}")
            return False
        try:
            if self.auto_migrate and not self._migrated:
                await upgrade(conn)
                self._migrated = True
            if self._session is not None:
                await store.upsert_session(conn, self._session, timeout=self.op_timeout_s)
                self._session_dirty = False
        except SchemaTooNewError as exc:
            await conn.close()
            self._failed = True
            self._set_health("failed", str(exc))
            return False
        except Exception as exc:
            conn.terminate()
            self._degrade(f"PostgreSQL setup failed: {type(exc).__name__}: {exc}")
            return False
        if self._counts["batches"] or self.health != "ok":
            self._counts["reconnects"] += 1
        self._conn = conn
        return True

    def _lost(self, exc: BaseException) -> None:
        self._drop_connection()
        self._degrade(f"PostgreSQL write failed: {type(exc).__name__}: {exc}")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # immediate, safe on a live or a dead socket

    async def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()

    def _degrade(self, reason: str) -> None:
        reason = redact(reason, self._dsn)
        self.last_problem = reason
        if self.health == "ok":
            self._set_health("degraded", reason)

    def _set_health(self, health: SinkHealth, reason: str | None) -> None:
        self._announced = True
        self.health, self.health_reason = health, reason
        if health == "failed":
            _log.error("PostgreSQL sink failed: %s", reason)
        cb = self.on_health_change
        if cb is not None:
            try:
                cb(health, reason)
            except Exception as exc:
                self.last_problem = f"on_health_change raised {exc!r}"

    def _ensure_session(self, session_id: uuid.UUID) -> store.SessionInfo:
        if self._session is None:
            self.session_id = session_id
            self._session = store.SessionInfo(session_id=session_id, started_at=self._started_at)
            self._session_dirty = True
        return self._session

    # --- draining -------------------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Write spool (oldest), then the unacknowledged batch, then memory, in seq order."""
        spool = self._spool
        while spool is not None and spool.pending:
            lines, end = await asyncio.to_thread(spool.read_chunk, self.batch_size)
            if (
                not lines
            ):  # pending lines that are not in the file: it was deleted or truncated behind our back
                self._spool_vanished(spool)
                break
            rows = []
            for line in lines:
                try:
                    rows.append(row_from_line(line))
                except BadEvent as exc:
                    self._counts["bad"] += 1
                    self.last_problem = f"bad spool line skipped: {exc}"
            await self._write(rows, idempotent=True)
            spool.commit(end, len(lines))
        if self._inflight:
            await self._write(self._inflight, idempotent=True)
            self._inflight = []
        buf = self._buf
        while buf:
            # a backlog (burst, catch-up) goes in bigger COPYs: fewer round trips, same order
            n = min(len(buf), max(self.batch_size, self.max_copy_rows))
            self._inflight = [buf.popleft() for _ in range(n)]
            await self._write(self._inflight, idempotent=False)
            self._inflight = []

    def _spool_vanished(self, spool: Spool) -> None:
        """The spool's unacknowledged lines are not in its file (deleted or cut short by someone else): count
        them as ``lost``, say so (``last_problem``, a warning) and start afresh (a later spill makes a new
        spool). Never raises."""
        lost = spool.pending
        self._counts["lost"] += lost
        self.last_problem = (
            f"spool {spool.path} was deleted or truncated by someone else: "
            f"{lost} events that were not yet in PostgreSQL are lost"
        )
        _log.warning("PostgreSQL sink: %s", self.last_problem)
        try:
            spool.discard()
        except OSError as exc:
            _log.warning("PostgreSQL sink: cannot delete what is left of the spool %s: %s", spool.path, exc)

    async def _write(self, rows: list[Row], *, idempotent: bool) -> None:
        """Commit ``rows`` (plus session row update, the snapshots their checkpoints carry, and NOTIFY) in one
        transaction. Raises ``_ConnectionLost`` for anything but a data error; data errors fall back to
        row-by-row so one bad row cannot block the stream (it is counted in ``rejected``)."""
        if not rows:
            return
        if self.session_id is None:
            self._ensure_session(rows[0][0])
        session = self._session
        assert session is not None
        if session.track(rows):
            self._session_dirty = True
        if session.health == "starting":
            session.health = "running"
            self._session_dirty = True
        snapshots, skipped = self._snapshots_in(rows)
        try:
            await self._commit(rows, idempotent=idempotent, snapshots=snapshots)
        except asyncpg.UniqueViolationError:
            await self._guard(self._commit(rows, idempotent=True, snapshots=snapshots))
        except _DATA_ERRORS as exc:
            rejected = await self._row_by_row(rows, exc, snapshots)
            self._counts["written"] -= rejected
        except _ConnectionLost:
            raise
        except Exception as exc:
            raise _ConnectionLost() from exc
        if skipped is not None and (not snapshots or skipped[0] > snapshots[-1][0]):
            self._unstored = skipped  # the newest checkpoint so far was skipped: stored at close
        elif snapshots:
            self._unstored = None
        self._counts["written"] += len(rows)
        self._counts["batches"] += 1

    def _snapshots_in(self, rows: list[Row]) -> tuple[list[_Snapshot], _Snapshot | None]:
        """The snapshots the ``dashboard.checkpoint`` rows of this session among ``rows`` carry
        (``rows.checkpoint_snapshot``), split into those to store with the batch — the first, then each at
        least ``snapshot_interval_s`` (checkpoint ``ts``) after the previous one stored — and the newest one
        skipped (or ``None``). Decided from the rows and what was stored before only, so a batch written again
        (a retry, the spool after an outage) stores the same ones."""
        session = self._session
        if session is None:
            return [], None
        sid = session.session_id
        gap = self.snapshot_interval_s
        last = self._last_snapshot_ts
        chosen: list[_Snapshot] = []
        skipped: _Snapshot | None = None
        for row in rows:
            if row[6] != CHECKPOINT_EVENT or row[0] != sid:
                continue
            got = checkpoint_snapshot(row)
            if got is None:
                self.last_problem = f"checkpoint seq={row[1]} carries no snapshot of this session: not stored"
                continue
            snap = (row[1], got[0], got[1], row[2])
            if last is None or (row[2] - last).total_seconds() >= gap:
                chosen.append(snap)
                last = row[2]
            else:
                skipped = snap
        return chosen, skipped

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except _DATA_ERRORS:
            raise
        except Exception as exc:
            raise _ConnectionLost() from exc

    async def _commit(self, rows: list[Row], *, idempotent: bool, snapshots: list[_Snapshot]) -> None:
        """One batch. The plain COPY runs alone (autocommit, one round trip); the session row is updated in the
        same transaction only when its facts changed or every ``session_update_s`` (for ``last_seq``), and
        ``snapshots`` (those of the batch's checkpoints, ``_snapshots_in``) are stored in it too."""
        conn = self._conn
        if conn is None:
            raise _ConnectionLost()
        session = self._session
        assert session is not None
        t = self.op_timeout_s
        now = time.monotonic()
        update_session = self._session_dirty or now - self._last_session_update >= self.session_update_s
        if idempotent or update_session or snapshots or self.write_mode == "insert":
            async with conn.transaction():
                if idempotent:
                    await store.insert_events_idempotent(conn, rows, timeout=t)
                elif self.write_mode == "insert":
                    await store.insert_events_single(conn, rows, timeout=t)
                else:
                    await store.copy_events(conn, rows, timeout=t)
                await store.upsert_session(conn, session, timeout=t)
                stored = await self._insert_snapshots(conn, snapshots)
            self._session_dirty = False
            self._last_session_update = now
            self._stored_snapshots(snapshots, stored)
        else:
            await store.copy_events(conn, rows, timeout=t)
        if self.notify:
            await store.notify(conn, rows[-1][0], rows[-1][1])

    async def _row_by_row(self, rows: list[Row], first: BaseException, snapshots: list[_Snapshot]) -> int:
        rejected = 0
        for row in rows:
            try:
                await self._commit([row], idempotent=True, snapshots=[x for x in snapshots if x[0] == row[1]])
            except _DATA_ERRORS as exc:
                rejected += 1
                self._counts["rejected"] += 1
                self.last_problem = redact(f"event seq={row[1]} rejected by PostgreSQL: {exc}", self._dsn)
            except _ConnectionLost:
                raise
            except Exception as exc:
                raise _ConnectionLost() from exc
        _log.warning(
            "PostgreSQL sink: a batch was refused (%s); wrote it row by row, %d event(s) rejected",
            redact(first, self._dsn),
            rejected,
        )
        return rejected

    async def _spill(self) -> None:
        """Move the unacknowledged batch and all of memory to the spool file (oldest first)."""
        if self._spool is None:
            name = f"{self.session_id or 'unknown-session'}.pgspool.jsonl"
            # the database the spool is for, beside it: a later start loads it only into that database
            target = await asyncio.to_thread(dsn_target, self._dsn)
            self._spool = Spool(self.spool_dir / name, target=target)
        rows = self._inflight + [self._buf.popleft() for _ in range(len(self._buf))]
        self._inflight = []
        if not rows:
            return
        lines = [original_line(r[8]).encode("utf-8") for r in rows]
        try:
            await asyncio.to_thread(self._spool.append, lines)
            self._counts["spooled"] += len(lines)
        except OSError as exc:
            # keep them in memory (bounded by max_backlog_events) and say why
            self._inflight = rows
            self.last_problem = f"cannot write spool {self._spool.path}: {exc}"
            if self.health != "failed":
                self._set_health("degraded", self.last_problem)

    # --- snapshots and the end of the session ---------------------------------------------------------------

    async def _insert_snapshots(self, conn: asyncpg.Connection, snapshots: list[_Snapshot]) -> int:
        """Store ``snapshots`` inside the caller's transaction, each in a savepoint: one PostgreSQL refuses as
        data is reported (``last_problem``) and leaves the events' transaction whole. Returns how many were
        stored. Any other error propagates (the caller's transaction is void)."""
        assert self._session is not None
        stored = 0
        for _checkpoint_seq, seq, state, ts in snapshots:
            try:
                async with conn.transaction():  # a savepoint
                    await store.insert_snapshot(
                        conn, self._session.session_id, seq, state, ts, timeout=self.op_timeout_s
                    )
            except _DATA_ERRORS as exc:
                self.last_problem = redact(f"snapshot at seq {seq} rejected by PostgreSQL: {exc}", self._dsn)
                continue
            stored += 1
        return stored

    def _stored_snapshots(self, snapshots: list[_Snapshot], stored: int) -> None:
        """Account for ``snapshots`` just committed (``stored`` of them written)."""
        if snapshots:
            self._last_snapshot_ts = snapshots[-1][3]
            self._counts["snapshots"] += stored

    async def _finish_session(self) -> None:
        conn, session = self._conn, self._session
        if conn is None or session is None:
            return
        if not session.stopped_seen:
            session.health = self.final_health or "stopped"
            session.metadata.setdefault("stop_reason", "sink closed without a session.stopped event")
        if session.ended_at is None:
            session.ended_at = utc_now()
        last = [self._unstored] if self._unstored is not None else []
        async with conn.transaction():
            await store.upsert_session(conn, session, timeout=self.op_timeout_s)
            await store.refresh_summary(conn, session.session_id, timeout=self.op_timeout_s)
            stored = await self._insert_snapshots(conn, last)
            if self.notify and session.last_seq is not None:
                await store.notify(conn, session.session_id, session.last_seq)
        self._unstored = None
        self._stored_snapshots(last, stored)
