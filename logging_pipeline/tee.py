"""The last processor of the chain and its dispatcher thread: the caller only queues, the dispatcher does the rest.

On the **calling thread** (``Tee.__call__``, structlog's final processor) a call costs one ``deque.append``: the
call's fields, a ``time.time_ns()`` stamp and the market clock's value at the call. A field holding a mutable
object (a list, a dict, a model) is copied to plain data first, so a caller that changes it afterwards cannot
change the event.

The queue and the dispatcher thread are a ``background.BackgroundWriter`` (``Tee.background``): bounded
(``max_pending``, drop-newest, counted in ``dropped``), its stall measured (``stalled_s``), its close bounded.
On the **dispatcher** (that thread, waking at least every ``interval_s`` and as soon as ``wake_at`` calls wait;
or any thread calling ``flush``), per event and in queue order: redaction, the envelope (``AddEnvelope.build``,
with the ISO timestamp made from the stamp), ``seq``, serialisation once (``encoding.dumps``) and
``write(line, record)`` on every sink. The writer's lock is held while events are taken from the queue and
written, so ``seq`` order is line order in every sink, whichever thread dispatches. Redaction always runs
before any sink (or renderer, which reads a sink) sees an event.

A sink that raises is marked ``failed``, reported once through ``on_sink_failure`` and skipped from then on;
an event the dispatcher cannot build is counted in ``errors`` (``last_error``) and skipped. Neither reaches the
bot. When more than ``help_at`` events wait (the dispatcher starved for CPU by a busy producer, or not
running), the calling thread dispatches one chunk itself before queuing — memory stays bounded and nothing is
dropped. ``tools/bench.py`` (section 5) measures why: at ``--speed 0`` the bot's loop holds the GIL and the
dispatcher thread alone falls behind by most of a run (24–29k of a run's 31k events queued at once), so a longer
replay would reach ``max_pending`` and lose events; with the callers' help the queue stays at ``help_at``. That
is safe only because every sink's ``write`` is non-blocking by contract (``sinks.base.Sink``): the caller only
*tries* the lock and then spends CPU time, never waits on a terminal, a disk or a network. Only when a sink is
stuck inside ``write`` anyway (a broken contract: nobody can dispatch) and ``max_pending`` events wait are new
ones counted in ``dropped`` rather than queued: the caller never blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from arbdash.logging_pipeline.background import BackgroundWriter
from arbdash.logging_pipeline.encoding import dumps
from arbdash.logging_pipeline.processors import AddEnvelope
from arbdash.logging_pipeline.redact import Redactor, plain
from arbdash.logging_pipeline.sinks.base import Sink

#: What structlog's final processor hands its logger: no arguments (the logger's methods return ``None``).
_NOTHING: tuple[tuple[()], dict[str, Any]] = ((), {})
#: Field value types that cannot change after the call (anything else is copied to plain data at the call).
_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, UUID})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 256  # events dispatched per hold of the lock (then other threads get the GIL and the lock)
_NO_LIMIT_S = 86_400.0  # ``stop(None)``: the wait for the dispatcher thread, in seconds (a day)

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
        self.help_at = min(help_at, max_pending)
        #: The queue and the dispatcher thread; its ``lock`` is held while events are dispatched.
        self.background: BackgroundWriter[Pending] = BackgroundWriter(
            self._dispatch_all,
            name="log-dispatcher",
            max_pending=max_pending,
            overflow="drop-newest",
            batch=_CHUNK,
            interval_s=interval_s,
            wake_at=wake_at,
            stall_s=stall_s,
        )
        self._put, self._backlog = self.background.put, self.background.size  # bound once: the hot path
        self._last = first_seq - 1
        # Counters. ``dispatched``, ``errors`` and ``last_error`` change only inside ``_dispatch`` (the writer's
        # lock held); ``helped`` on the calling threads (a statistic: threads racing may lose an increment).
        self.dispatched = 0
        self.errors = 0
        self.last_error: str | None = None
        self.helped = 0  # chunks dispatched by a calling thread (``help_at``)

    @property
    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first event)."""
        return self._last

    @property
    def stalled_s(self) -> float:
        """Seconds the event in progress has been dispatching (0 when idle): large only when a sink's ``write``
        blocks, which holds up the other sinks (never the bot)."""
        return self.background.stalled_s

    @property
    def stall_s(self) -> float:
        """Seconds of a stuck dispatch after which ``flush`` and ``stop`` give up at once."""
        return self.background.stall_s

    @property
    def backlog(self) -> int:
        """Events queued and not yet dispatched."""
        return self.background.backlog

    @property
    def max_pending(self) -> int:
        """The bound of the queue (events); beyond it new events are counted in ``dropped``."""
        return self.background.max_pending

    @max_pending.setter
    def max_pending(self, value: int) -> None:
        self.background.max_pending = value

    @property
    def dropped(self) -> int:
        """Events refused because ``max_pending`` were waiting (only while a sink is stuck in ``write``)."""
        return self.background.dropped

    @property
    def died(self) -> str | None:
        """Why the dispatcher thread ended without being stopped (``None`` while it runs or after ``stop``).
        Events then still reach the sinks through ``flush`` and the callers' help, but later."""
        return self.background.died

    @property
    def _thread(self) -> Any:
        """The dispatcher thread (kept for callers that watch it; ``background.thread``)."""
        return self.background.thread

    # --- the calling thread -------------------------------------------------------------------------------

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if self._backlog() >= self.help_at:
            # The dispatcher thread is starved for CPU (a producer such as ``--speed 0`` holding the GIL), or
            # not running: the caller dispatches one chunk itself, so the queue — and memory — stay bounded
            # without dropping. It never waits: the lock is only tried — if another thread holds it, that thread
            # is already making progress — and every sink's ``write`` is non-blocking by contract (``Sink``), so
            # the chunk costs CPU time only, never a wait on I/O. Nothing is tried while a dispatch is stuck.
            if self.background.help_once():
                self.helped += 1
        for value in event_dict.values():
            if type(value) not in _IMMUTABLE:
                event_dict = {k: plain(v) for k, v in event_dict.items()}
                break
        clock = self.envelope.market_clock
        # Refused (counted in ``dropped``) only while a sink is stuck in ``write`` and ``max_pending`` wait.
        self._put(
            (logger.name, method_name, event_dict, time.time_ns(), clock() if clock is not None else None)
        )
        return _NOTHING

    # --- the dispatcher -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher thread (idempotent)."""
        self.background.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Dispatch everything queued, then stop the thread. ``False`` if that did not finish within
        ``timeout`` seconds (a sink blocking in ``write``: the thread is left running, a daemon)."""
        background = self.background
        if background.stalled:
            wait = 0.0  # no waiting on a known stall
        else:
            wait = _NO_LIMIT_S if timeout is None else timeout
        if not background.close(wait):
            return False
        return self.flush(timeout)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Dispatch, on this thread, every event queued before the call (waiting for the dispatcher thread's
        batch in progress). When it returns ``True`` every sink has had ``write`` called for those events;
        ``False`` if the lock was not free within ``timeout`` seconds (a sink blocking in ``write``), or at once
        when the dispatch in progress has been stuck for more than ``stall_s`` (no waiting on a known stall).
        Events queued after the call are left to the dispatcher: a thread that keeps logging cannot keep this
        call (often on the event loop) going."""
        return self.background.flush(timeout)

    def _dispatch_all(self, items: Iterator[Pending]) -> None:
        """The writer's consumer: dispatch each event taken off the queue (its lock is held)."""
        dispatch = self._dispatch
        for item in items:
            dispatch(item)

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
