"""The last processor of the chain and its dispatcher thread: the caller only queues, the dispatcher does the rest.

On the **calling thread** (``Tee.__call__``, structlog's final processor) a call costs one ``deque.append``: the
call's fields, a ``time.time_ns()`` stamp and the market clock's value at the call. A field holding a mutable
object (a list, a dict, a model) is copied to plain data first, so a caller that changes it afterwards cannot
change the event.

On the **dispatcher** (a daemon thread started by ``start``, waking at least every ``interval_s`` and as soon
as ``wake_at`` calls wait; or any thread calling ``flush``), per event and in queue order: redaction, the
envelope (``AddEnvelope.build``, with the ISO timestamp made from the stamp), ``seq``, serialisation once
(``encoding.dumps``) and ``write(line, record)`` on every sink. One lock is held while events are taken from
the queue and written, so ``seq`` order is line order in every sink, whichever thread dispatches. Redaction
always runs before any sink (or renderer, which reads a sink) sees an event.

A sink that raises is marked ``failed``, reported once through ``on_sink_failure`` and skipped from then on;
an event the dispatcher cannot build is counted in ``errors`` (``last_error``) and skipped. Neither reaches the
bot. When more than ``help_at`` events wait (the dispatcher starved for CPU by a busy producer), the calling
thread dispatches one chunk itself before queuing — memory stays bounded and nothing is dropped. That is safe
only because every sink's ``write`` is non-blocking by contract (``sinks.base.Sink``): the caller only *tries*
the lock and then spends CPU time, never waits on a terminal, a disk or a network. Only when a sink is stuck
inside ``write`` anyway (a broken contract: nobody can dispatch) and ``max_pending`` events wait are new ones
counted in ``dropped`` rather than queued: the caller never blocks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from logging_pipeline.encoding import dumps
from logging_pipeline.processors import AddEnvelope
from logging_pipeline.redact import Redactor, plain
from logging_pipeline.sinks.base import Sink

#: What structlog's final processor hands its logger: no arguments (the logger's methods return ``None``).
_NOTHING: tuple[tuple[()], dict[str, Any]] = ((), {})
#: Field value types that cannot change after the call (anything else is copied to plain data at the call).
_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, UUID})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 256  # events dispatched per hold of the lock (then other threads get the GIL and the lock)

Pending = tuple[str, str, dict[str, Any], int, Any]  # logger name, method, fields, time_ns, market_ts


def _utc(ts_ns: int) -> datetime:
    """The aware UTC datetime of a ``time.time_ns()`` stamp (exact to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1000)


class Tee:
    """structlog processor ``(logger, method, event_dict)``: queues the call; the dispatcher numbers, serialises
    and fans it out. ``redactor`` and ``envelope`` run on the dispatcher, in that order.

    ``interval_s``: the dispatcher's longest sleep (an event reaches the sinks at most this long after the call
    when the process is not starved); ``wake_at``: queued events that wake it early; ``help_at``: queued events
    above which the caller dispatches a chunk itself; ``max_pending``: the bound of the queue (soft: callers
    racing at the edge may each add one; see the module docstring); ``stall_s``: a dispatch stuck this long makes
    ``flush`` give up at once.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        envelope: AddEnvelope,
        redactor: Redactor | None = None,
        on_sink_failure: Callable[[Sink, BaseException], None] | None = None,
        first_seq: int = 1,
        interval_s: float = 0.05,
        wake_at: int = 512,
        max_pending: int = 200_000,
        help_at: int = 5_000,
        stall_s: float = 0.5,
    ) -> None:
        self.sinks = list(sinks)
        self.envelope = envelope
        self.redactor = redactor
        self.on_sink_failure = on_sink_failure
        self.interval_s = interval_s
        self.wake_at = wake_at
        self.max_pending = max_pending
        self.help_at = min(help_at, max_pending)
        self.stall_s = stall_s
        self._pending: deque[Pending] = deque()
        self._last = first_seq - 1
        self._lock = threading.Lock()  # held while events are dispatched (``_drain``)
        self._count_lock = threading.Lock()  # ``dropped``: held for one increment only, never around a call
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None  # monotonic start of the event being dispatched
        self._taken = 0  # events taken off the queue so far (changes only with ``_lock`` held)
        self._died: str | None = None  # set when the dispatcher thread ended by an exception
        # Counters. ``dispatched``, ``errors`` and ``last_error`` change only inside ``_dispatch`` (``_lock``
        # held); ``dropped`` changes on any calling thread, under ``_count_lock``.
        self.dispatched = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first event)."""
        return self._last

    @property
    def stalled_s(self) -> float:
        """Seconds the event in progress has been dispatching (0 when idle): large only when a sink's ``write``
        blocks, which holds up the other sinks (never the bot)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def backlog(self) -> int:
        """Events queued and not yet dispatched."""
        return len(self._pending)

    # --- the calling thread -------------------------------------------------------------------------------

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        pending = self._pending
        n = len(pending)
        if n >= self.help_at:
            # The dispatcher thread is starved for CPU (a producer such as ``--speed 0`` holding the GIL): the
            # caller dispatches one chunk itself, so the queue — and memory — stay bounded without dropping.
            # It never waits: the lock is only tried (``timeout=0``: a non-blocking acquire) — if another thread
            # holds it, that thread is already making progress — and every sink's ``write`` is non-blocking by
            # contract (``Sink``), so the chunk costs CPU time only, never a wait on I/O.
            if self.stalled_s <= self.stall_s:
                self._drain(0, yield_between=False, chunks=1)
            n = len(pending)
            if n >= self.max_pending:  # only while a sink is stuck in ``write``: counted and reported
                with self._count_lock:  # callers on several threads: ``+=`` alone would lose counts
                    self.dropped += 1
                return _NOTHING
        for value in event_dict.values():
            if type(value) not in _IMMUTABLE:
                event_dict = {k: plain(v) for k, v in event_dict.items()}
                break
        clock = self.envelope.market_clock
        pending.append(
            (logger.name, method_name, event_dict, time.time_ns(), clock() if clock is not None else None)
        )
        if n == self.wake_at:
            self._wake.set()
        return _NOTHING

    # --- the dispatcher -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher thread (idempotent)."""
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="log-dispatcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Dispatch everything queued, then stop the thread. ``False`` if that did not finish within
        ``timeout`` seconds (a sink blocking in ``write``: the thread is left running, a daemon)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop = True
            self._wake.set()
            thread.join(0 if self.stalled_s > self.stall_s else timeout)  # no waiting on a known stall
            if thread.is_alive():
                return False
        return self.flush(timeout)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Dispatch, on this thread, every event queued before the call (waiting for the dispatcher thread's
        batch in progress). When it returns ``True`` every sink has had ``write`` called for those events;
        ``False`` if the lock was not free within ``timeout`` seconds (a sink blocking in ``write``), or at once
        when the dispatch in progress has been stuck for more than ``stall_s`` (no waiting on a known stall)."""
        if self.stalled_s > self.stall_s:
            return False
        # The queue's end now, as a count of events ever taken: ``len`` is read before ``_taken``, so events
        # taken meanwhile by the dispatcher only move the mark later, never earlier than an event queued before
        # this call. Events queued after it are left to the dispatcher: a thread that keeps logging cannot keep
        # this call (often on the event loop) going.
        queued = len(self._pending)
        until = self._taken + queued
        lock_timeout = -1 if timeout is None else timeout
        if not self._drain(lock_timeout, yield_between=False, until=until):
            return False
        # The dispatcher may still be writing the last events it took: wait for its chunk to end (sinks' writes
        # are non-blocking, so microseconds — unless one is stuck, which ends the wait as above).
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._lock.acquire(timeout=0.01):
            if self.stalled_s > self.stall_s or (deadline is not None and time.monotonic() > deadline):
                return False
        self._lock.release()
        return True

    def _drain(
        self, timeout: float, *, yield_between: bool, chunks: int = -1, until: int | None = None
    ) -> bool:
        """Dispatch queued events, ``_CHUNK`` per hold of the lock, at most ``chunks`` holds (-1: until empty)
        and only while fewer than ``until`` events have been taken off the queue (``None``: no such bound).
        ``timeout``: seconds to wait for the lock (-1: no limit; 0: only try it, never wait)."""
        pending, lock = self._pending, self._lock
        while pending and chunks != 0 and (until is None or self._taken < until):
            chunks -= 1
            acquired = lock.acquire(blocking=False) if timeout == 0 else lock.acquire(timeout=timeout)
            if not acquired:
                return False
            try:
                n = _CHUNK if until is None else min(_CHUNK, until - self._taken)
                for _ in range(n):
                    try:
                        item = pending.popleft()
                    except IndexError:
                        break
                    self._taken += 1
                    self._busy_since = time.monotonic()
                    self._dispatch(item)
            finally:
                self._busy_since = None
                lock.release()
            if yield_between:
                time.sleep(0)  # let the bot's thread have the GIL between chunks
        return True

    @property
    def died(self) -> str | None:
        """Why the dispatcher thread ended without being stopped (``None`` while it runs or after ``stop``).
        Events then still reach the sinks through ``flush`` and the callers' help, but later."""
        return self._died

    def _run(self) -> None:
        try:
            while not self._stop:
                self._wake.wait(self.interval_s)
                self._wake.clear()
                self._drain(-1, yield_between=True)
            self._drain(-1, yield_between=True)
        except BaseException as exc:  # noqa: BLE001 - recorded, reported by the pipeline's health check
            self._died = f"{type(exc).__name__}: {exc}"

    def _dispatch(self, item: Pending) -> None:
        """Redact, envelope, number, serialise and fan out one event (the lock is held)."""
        name, method_name, event_dict, ts_ns, market_ts = item
        try:
            if self.redactor is not None:
                event_dict = self.redactor(None, method_name, event_dict)
            record = self.envelope.build(name, method_name, event_dict, _utc(ts_ns), market_ts)
            record["seq"] = seq = self._last + 1
            line = dumps(record)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the stream
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        self._last = seq
        self.dispatched += 1
        for sink in self.sinks:
            if sink.health == "failed":
                continue
            try:
                sink.write(line, record)
            except Exception as exc:  # noqa: BLE001 - a sink must never take the bot down
                sink.health = "failed"
                sink.health_reason = f"{type(exc).__name__}: {exc}"
                if self.on_sink_failure is not None:
                    try:
                        self.on_sink_failure(sink, exc)
                    except Exception:  # noqa: BLE001 - the report must not stop the dispatch either
                        pass
