"""``Pipeline``: configures structlog with the event processor chain and owns the sinks for one session.

The chain is data (a list), as structlog intends::

    format_exception → [CallsiteParameterAdder → callsite_to_src] → Tee(sinks)      (the caller's thread)
                                     Tee's dispatcher: Redactor → AddEnvelope → seq → dumps → every sink

Only what must see the caller runs on its thread: the traceback of its exception, its frames (``src``) and the
stamps (wall clock, market clock); the tee queues the call. The tee's dispatcher thread (started and stopped
with the pipeline; ``flush`` dispatches on the calling thread) redacts, builds the envelope, numbers,
serialises and writes to the sinks — so a call costs the bot a few microseconds whatever the sinks do. The
redactor runs before the envelope is added: it sees the call's own fields, its message and the formatted
traceback (everything that can carry a secret) and not the dozen envelope keys the pipeline itself writes.

``async with Pipeline(...)`` starts every sink, routes stdlib logging into the chain and, on exit (normal,
Ctrl-C or crash), flushes and closes every sink and restores structlog's and logging's previous configuration.
A sink that raises is skipped from then on; a task checks every sink about twice a second (``Sink.check``:
a writer thread's disk-full error, a stalled write), and each change of a sink's health is one
``session.health`` event with the sink as ``component`` (``degraded``, or ``running`` when it recovered);
events the dispatcher dropped or could not build are reported the same way (component ``log-dispatcher``).
The bot goes on in every case. Every event logged inside the ``async with`` reaches every sink before the
sinks are closed. An owner that ends the record with its own last event (``session.stopped``) calls
``check_sinks(final=True)`` just before logging it, so no health event comes after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import structlog
from structlog.contextvars import merge_contextvars
from structlog.processors import CallsiteParameter, CallsiteParameterAdder

from arbdash.logging_pipeline import stdlib_bridge
from arbdash.logging_pipeline.processors import AddEnvelope, callsite_to_src, format_exception
from arbdash.logging_pipeline.redact import Redactor
from arbdash.logging_pipeline.sinks.base import Sink
from arbdash.logging_pipeline.tee import Tee

_LEVEL_NAMES = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


class _NamedReturnLogger:
    """The "logger" at the end of structlog's chain: it has a name (the ``logger`` field) and does nothing (the
    tee has queued the event); a logger call returns ``None``, as stdlib logging's do."""

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def _return(self, *args: Any, **kwargs: Any) -> None:
        return None

    msg = debug = info = warning = warn = error = exception = critical = fatal = log = _return


def _logger_factory(*args: Any) -> _NamedReturnLogger:
    return _NamedReturnLogger(str(args[0]) if args else "")


class Pipeline:
    """The event pipeline of one session.

    ``session_id``: the session's id (uuid string). ``sinks``: where every event goes, in order.
    ``level``: minimum level (``DEBUG``/``INFO``/``WARNING``/``ERROR``); below it a call costs about a
    function call. ``market_clock``: returns the simulated market time for ``market_ts``. ``callsite``: add the
    ``src`` field (``module:function:line``) for the human console (costs a frame walk per event).
    ``secrets``: exact values (API keys, DSN passwords from the config) to redact wherever they appear.
    """

    def __init__(
        self,
        *,
        session_id: str,
        sinks: Sequence[Sink],
        level: str = "INFO",
        market_clock: Callable[[], datetime] | None = None,
        callsite: bool = False,
        capture_stdlib: bool = True,
        secrets: Iterable[str] = (),
    ) -> None:
        if level.upper() not in _LEVEL_NAMES:
            raise ValueError(f"unknown log level {level!r} (expected one of {', '.join(_LEVEL_NAMES)})")
        self.session_id = session_id
        self.sinks = list(sinks)
        self.level = level.upper()
        self.capture_stdlib = capture_stdlib
        self.envelope = AddEnvelope(session_id, market_clock)
        self.redactor = Redactor(secrets)
        self.tee = Tee(
            self.sinks, envelope=self.envelope, redactor=self.redactor, on_sink_failure=self._sink_failed
        )
        # structlog's context variables (``structlog.contextvars.bind_contextvars``: per asyncio task, per thread)
        # are merged first, in the caller's context, so a field bound in a task reaches every event it logs
        processors: list[Any] = [merge_contextvars, format_exception]
        if callsite:
            processors += [
                CallsiteParameterAdder(
                    [CallsiteParameter.MODULE, CallsiteParameter.FUNC_NAME, CallsiteParameter.LINENO],
                    additional_ignores=["arbdash.helpers.unified_logger", "arbdash.logging_pipeline"],
                ),
                callsite_to_src,
            ]
        processors.append(self.tee)
        self.processors = processors
        self._bridge_state: Any = None
        self._saved_config: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reported: dict[str, str] = {}  # sink name -> last health reported
        self._reported_losses = (0, 0)  # (dropped, errors) of the dispatcher last reported
        self._reported_stall = False
        self._reported_died = False
        self.dispatch_stall_s = 2.0  # a dispatch blocked this long by a sink's write is reported
        self._watch: asyncio.Task[None] | None = None
        self._health_final = False  # set by ``check_sinks(final=True)``: no more session.health events
        self._own_health: list[tuple[Sink, Any]] = []  # (sink, its own on_health_change) while guarded
        self.health_interval_s = 0.5

    def set_market_clock(self, market_clock: Callable[[], datetime] | None) -> None:
        """Point ``market_ts`` at another clock (or none)."""
        self.envelope.market_clock = market_clock

    def configure(self) -> None:
        """Install the chain as structlog's global configuration (kept until ``restore``)."""
        self._saved_config = structlog.get_config()
        structlog.configure(
            processors=self.processors,
            wrapper_class=structlog.make_filtering_bound_logger(_LEVEL_NAMES[self.level]),
            logger_factory=_logger_factory,
            cache_logger_on_first_use=False,
        )
        if self.capture_stdlib:
            self._bridge_state = stdlib_bridge.install(_LEVEL_NAMES[self.level])

    def restore(self) -> None:
        """Undo ``configure``."""
        if self._bridge_state is not None:
            stdlib_bridge.uninstall(self._bridge_state)
            self._bridge_state = None
        if self._saved_config is not None:
            structlog.configure(**self._saved_config)
            self._saved_config = None

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Hand every event logged so far to every sink now, on this thread (see ``Tee.flush``). ``False`` if a
        sink blocked it for longer than ``timeout`` seconds."""
        return self.tee.flush(timeout)

    async def settle(self, timeout: float = 5.0) -> bool:
        """``flush`` off the event loop (a worker thread does the dispatching, the loop only awaits it): every
        event logged so far has reached every sink when it returns ``True``; ``False`` if a sink blocked it for
        longer than ``timeout`` seconds. The close sequences use it, so even at the end no sink's ``write`` runs
        on the loop."""
        return await asyncio.to_thread(self.flush, timeout)

    async def __aenter__(self) -> Pipeline:
        """Start every sink, the dispatcher and the structlog chain. If a sink's start fails or the task is
        cancelled meanwhile (Ctrl-C, SIGTERM during start), the sinks already started are closed before the
        exception goes on, so none is left half open (a PostgreSQL session row without its end, a writer
        thread)."""
        self._loop = asyncio.get_running_loop()
        started: list[Sink] = []
        try:
            for sink in self.sinks:
                callback = getattr(sink, "on_health_change", None)
                if callback is not None:
                    self._own_health.append((sink, callback))
                    sink.on_health_change = self._guard_health(callback)  # type: ignore[attr-defined]
                started.append(sink)
                await sink.start()
                sink.flush_upstream = self.flush
        except BaseException:
            for sink in reversed(started):
                sink.flush_upstream = None
                try:
                    await sink.aclose()
                except BaseException as exc:  # noqa: BLE001 - the start's own exception is the one to raise
                    logging.getLogger("logging_pipeline").warning(
                        "closing sink %s after a failed start: %s: %s", sink.name, type(exc).__name__, exc
                    )
            for sink, callback in self._own_health:
                sink.on_health_change = callback  # type: ignore[attr-defined]
            self._own_health.clear()
            raise
        self.tee.start()
        self.configure()
        self._watch = asyncio.create_task(self._watch_sinks(), name="sink-health")
        return self

    async def _watch_sinks(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            self.check_sinks()

    async def __aexit__(self, *exc_info: object) -> None:
        """The close sequence: stop the watch, flush, restore logging, stop the dispatcher, close every sink.
        Nothing in it can skip the rest: a sink whose ``aclose`` raises — even ``CancelledError`` (the task was
        cancelled again) — is marked ``failed`` and the next one is closed; a cancellation (or other
        ``BaseException``) met on the way is re-raised once everything is closed."""
        pending: BaseException | None = None
        if self._watch is not None:
            watch, self._watch = self._watch, None
            watch.cancel()
            try:
                await asyncio.wait({watch})
            except BaseException as exc:  # noqa: BLE001 - re-raised after the sinks are closed
                pending = exc
        try:
            await self.settle()
            self.check_sinks()
        except Exception:  # noqa: BLE001 - never stops the close (check_sinks does not raise; flush may)
            pass
        except asyncio.CancelledError as exc:
            pending = pending or exc  # cancelled again while settling: close everything, then re-raise
        finally:
            self.restore()
            if not self.tee.stop(timeout=5.0):
                logging.getLogger("logging_pipeline").warning(
                    "log dispatcher blocked by a sink; %d events not dispatched", self.tee.backlog
                )
            for sink in self.sinks:
                sink.flush_upstream = None
                try:
                    await sink.aclose()
                except BaseException as exc:  # noqa: BLE001 - closing one sink must not stop the others
                    sink.health = "failed"
                    sink.health_reason = f"close failed: {type(exc).__name__}: {exc}"
                    if not isinstance(exc, Exception) and pending is None:
                        pending = exc
                    logging.getLogger("logging_pipeline").warning(
                        "closing sink %s failed: %s: %s", sink.name, type(exc).__name__, exc
                    )
        for sink, callback in self._own_health:
            sink.on_health_change = callback  # type: ignore[attr-defined]
        self._own_health.clear()
        if pending is not None:
            raise pending

    def _guard_health(self, callback: Callable[..., None]) -> Callable[..., None]:
        """A sink's own health callback (``on_health_change``, e.g. ``emit_session_health``) as the pipeline
        lets it run: only while the chain is installed and before ``check_sinks(final=True)`` — so no
        ``session.health`` follows ``session.stopped`` in the record and, once ``restore`` has run, nothing is
        printed by structlog's default configuration. The sink's ``health`` attribute still changes."""

        def guarded(*args: Any, **kwargs: Any) -> None:
            if self._health_final or self._saved_config is None:
                return
            callback(*args, **kwargs)

        guarded.__wrapped__ = callback  # type: ignore[attr-defined]
        return guarded

    # --- sink health ------------------------------------------------------------------------------------

    def _sink_failed(self, sink: Sink, exc: BaseException) -> None:
        # Called inside the tee's lock: report later, from the loop, to avoid logging re-entrantly. Never
        # raises into the dispatcher or the caller: a loop closing meanwhile refuses the call (RuntimeError),
        # and then there is nobody left to report to anyway (the sink is marked failed all the same).
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.check_sinks)
        except RuntimeError:
            pass

    def check_sinks(self, *, final: bool = False) -> None:
        """Refresh each sink's health (``Sink.check``) and emit one ``session.health`` event per change since the
        last check: ``degraded`` when a sink went bad, ``running`` when it recovered. Sinks that report their own
        health (``reports_own_health``, e.g. PostgreSQL) are left alone. Never raises.

        ``final=True``: the owner is about to close the session (log ``session.stopped``): this is the last
        check that may log; later ones (the watch task, the exit) do nothing, so no ``session.health`` event
        follows ``session.stopped`` in the record. Counters on the sinks still count."""
        if self._health_final:
            return
        self._health_final = final
        log = structlog.get_logger("logging_pipeline")
        for sink in self.sinks:
            if sink.reports_own_health or getattr(sink, "on_health_change", None) is not None:
                continue
            try:
                sink.check()
            except Exception as exc:  # noqa: BLE001 - a broken check is itself a degraded sink
                sink.health, sink.health_reason = (
                    "degraded",
                    f"health check raised {type(exc).__name__}: {exc}",
                )
            health = sink.health
            if health == self._reported.get(sink.name, "ok"):
                continue
            self._reported[sink.name] = health
            if health == "ok":
                log.info(
                    "session.health",
                    message=f"sink {sink.name} recovered",
                    health="running",
                    reason=f"{sink.name} recovered",
                    component=sink.name,
                )
            else:
                log.warning(
                    "session.health",
                    message=f"sink {sink.name} {health}: {sink.health_reason}",
                    health="degraded",
                    reason=sink.health_reason,
                    component=sink.name,
                )
        stalled = self.tee.stalled_s > self.dispatch_stall_s
        if stalled != self._reported_stall:
            self._reported_stall = stalled
            if stalled:
                reason = (
                    f"a sink's write has blocked dispatch for {self.tee.stalled_s:.0f} s, "
                    f"{self.tee.backlog} events waiting"
                )
                log.warning(
                    "session.health",
                    message=f"log dispatcher stalled: {reason}",
                    health="degraded",
                    reason=reason,
                    component="log-dispatcher",
                )
            else:
                log.info(
                    "session.health",
                    message="log dispatcher recovered",
                    health="running",
                    reason="log dispatcher recovered",
                    component="log-dispatcher",
                )
        died = self.tee.died
        if died is not None and not self._reported_died:
            self._reported_died = True
            reason = (
                f"dispatcher thread died ({died}); events now reach the sinks only when flushed or "
                f"when {self.tee.help_at} wait"
            )
            log.error(
                "session.health",
                message=f"log dispatcher died: {reason}",
                health="degraded",
                reason=reason,
                component="log-dispatcher",
            )
        losses = (self.tee.dropped, self.tee.errors)
        if losses != self._reported_losses:
            self._reported_losses = losses
            reason = f"{losses[0]} events dropped (queue full), {losses[1]} failed to dispatch"
            if self.tee.last_error:
                reason += f"; last: {self.tee.last_error}"
            log.warning(
                "session.health",
                message=f"log dispatcher lost events: {reason}",
                health="degraded",
                reason=reason,
                component="log-dispatcher",
            )
