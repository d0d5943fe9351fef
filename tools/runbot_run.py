"""One ``runbot`` session: builds the sinks for the chosen mode, enters ``Pipeline`` and ``DashboardService``
(handing the dashboard its logging callables: warnings and checkpoints, so ``dashboard/`` never imports the
logger), runs ``bot.runner.run_bot`` and closes the session (``session.stopped`` with its final health) on every
exit path: normal end, Ctrl-C / SIGTERM / SIGHUP (cancellation) and crashes. With ``dashboard.server`` enabled
(``--serve``) it also binds the read-only control server's socket before anything starts, tees the pipeline to
its ring, starts it on this loop before the bot and stops it (bounded) right after ``session.stopped``
(``control``). ``tools.runbot_cli`` is the command line that calls ``run_session``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import typer

from arbdash.bot.config import BotConfig, SessionConfig
from arbdash.bot.metrics import METRIC_INTERVAL_S
from arbdash.bot.runner import make_clock, run_bot
from arbdash.control.commands import Command, CommandDesk
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService
from arbdash.dashboard.terminal_writer import TerminalWriter
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline, Sink
from arbdash.logging_pipeline.events import DashboardCheckpoint, Event, SessionHealth, SessionStopped
from arbdash.logging_pipeline.postgres.dsn import dsn_target, passwords_in, redact_dsn
from arbdash.logging_pipeline.postgres.spool import SPOOL_SUFFIX, claim_orphan, read_target, release_orphan
from arbdash.logging_pipeline.postgres.wiring import build_postgres_sink
from arbdash.logging_pipeline.sinks.console import ConsoleSink, TextLogSink
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee
from arbdash.tools.pg_admin import import_jsonl_isolated, prune
from arbdash.tools.runbot_cli import DashboardMode

log = get_logger("runbot")
dashboard_log = get_logger("dashboard.service")  # the dashboard's warnings (renderer faults), injected
checkpoint_log = get_logger("dashboard.checkpoints")
commands_log = get_logger("control.commands")
alerts_log = get_logger("alerts")
metrics_log = get_logger(
    "runbot.metrics"
)  # the pipeline's own figures (``_pipeline_metrics``)  # its checkpoints, injected as ``emit_checkpoint_event``


@dataclass(frozen=True)
class RunOptions:
    """Resolved options of one run (CLI over config over defaults). ``config``: the paper bot's ``BotConfig``
    for ``run_session``; any ``SessionConfig`` for ``open_session`` (``arbdash.session``)."""

    config: SessionConfig
    config_path: Path | None
    mode: DashboardMode
    speed: Decimal | None
    log_dir: Path
    level: str
    width: int | None
    final_frame: Path | None
    db: str | None = None  # PostgreSQL DSN from --db (overrides dashboard.persistence.dsn and enables it)
    theme: str = "dark"  # the live view's colours (--theme over dashboard.theme; NO_COLOR wins)


def _sinks(opts: RunOptions, session_id: str, tee: ReducerTee) -> tuple[list[Sink], JsonlSink]:
    jsonl = JsonlSink(
        opts.log_dir / f"{session_id}.jsonl",
        rotate_bytes=opts.config.logging.rotate_bytes,
        keep_files=opts.config.logging.keep_files,
        keep_days=opts.config.logging.keep_days,
    )
    sinks: list[Sink] = [jsonl, tee]
    if opts.mode == DashboardMode.off:
        sinks.append(ConsoleSink(sys.stdout, min_level="debug" if opts.level == "DEBUG" else "info"))
    elif opts.mode == DashboardMode.plain:
        sinks.append(ConsoleSink(sys.stderr, min_level="warning"))
    if opts.config.logging.text_log:
        stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
        sinks.append(TextLogSink(opts.log_dir / f"session_{stamp}.log"))
    return sinks, jsonl


async def _start_control(
    opts: RunOptions,
    ring: Any,
    sock: Any,
    reducer: Reducer,
    jsonl: JsonlSink,
    pipeline: Pipeline,
    tee: ReducerTee,
    service: DashboardService,
    desk: CommandDesk,
    watcher: Any = None,
) -> Any:
    """Start the read-only control server (``control.server``) on ``sock``, on this loop; ``None`` (with a
    warning, the socket closed) if it does not come up: the bot goes on without it. Its ``/metrics`` read the
    pipeline's and the dashboard's counters through a probe built here."""
    from arbdash.control.metrics import AlertStats, RuntimeStats
    from arbdash.control.server import ControlServer

    def alert_stats() -> AlertStats | None:
        if watcher is None:
            return None
        notifier = watcher.notifier
        return AlertStats(
            fired=watcher.fired,
            resolved=watcher.resolved,
            suppressed=tuple(sorted(watcher.engine.suppressed.items())),
            sent=notifier.sent if notifier is not None else 0,
            failed=notifier.failed if notifier is not None else 0,
            dropped=notifier.dropped if notifier is not None else 0,
        )

    def runtime() -> RuntimeStats:
        return RuntimeStats(
            dispatch_queue=pipeline.tee.backlog,
            dispatch_dropped=pipeline.tee.dropped,
            dispatch_errors=pipeline.tee.errors,
            reducer_queue=tee.pending,
            frames_dropped=service.frames_dropped,
            sinks=tuple((sink.name, sink.health) for sink in pipeline.sinks),
            alerts=alert_stats(),
        )

    token = opts.config.dashboard.server.token
    server = ControlServer(
        reducer=reducer,
        jsonl=jsonl.path,
        token=token.get_secret_value() if token is not None else None,
        runtime=runtime,
        upstream_pending=dispatcher_pending(pipeline),
        ring=ring,
        sock=sock,
        commands=desk if token is not None else None,  # no token: every command is refused
    )
    try:
        url = await server.start()
    except Exception as exc:  # noqa: BLE001 - the API is an extra: the bot runs without it
        await server.stop()
        log.warning(f"control server did not start ({type(exc).__name__}: {exc}); the bot goes on without it")
        return None
    except BaseException:
        await server.stop()
        raise
    auth = "token required; commands on" if token is not None else "open to this machine only; no commands"
    log.info(
        f"control server listening on {url} ({auth}): the page at /, /api/snapshot, /api/events, /api/stream, "
        "/api/commands, /metrics",
        url=url,
    )
    return server


def _announce_server(sock: Any, *, token: bool) -> None:
    """Say where the control server serves, on stderr, as soon as its socket is bound (``--serve
    127.0.0.1:0``: the port chosen) — before the live view takes the alternate screen, so the line stays on the
    terminal's main screen, above the final frame once the run ends. The session's record has it too (the
    ``control server listening on …`` log line); a server that then fails to start says so in the log."""
    from arbdash.control.address import url_host

    host, port = sock.getsockname()[:2]
    auth = "token required" if token else "this machine only"
    print(
        f"runbot: control server on http://{url_host(host)}:{port}/ ({auth}): the web page at /, the API at /api/",
        file=sys.stderr,
        flush=True,
    )


def _frame_width(opts: RunOptions) -> int:
    """Width of the final text frame: ``--width``/config, else the terminal's, else 120 columns."""
    if opts.width:
        return opts.width
    if sys.stdout.isatty():
        return shutil.get_terminal_size((120, 40)).columns
    return 120


class _Signals:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (SSH dropped) cancel the run once, so every exit path closes the
    session; each signal's name is appended to ``received`` (the first goes into the stop reason). Once the run
    was cancelled or ``shutting_down()`` was called (the bot returned), further signals are only noted: a second
    Ctrl-C or SIGTERM must not interrupt the close sequence (flushing the sinks, spooling PostgreSQL's backlog,
    the final frame)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.received: list[str] = []
        self._stopping = False
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)

    def shutting_down(self) -> None:
        """The close sequence has begun: from now on a signal is only noted."""
        self._stopping = True

    def _on_signal(self, sig: signal.Signals) -> None:
        self.received.append(sig.name)
        if self._stopping:
            return
        self._stopping = True
        self.task.cancel()


def emit_checkpoint_event(state: dict[str, object]) -> None:
    """The dashboard's ``emit_checkpoint``: one ``dashboard.checkpoint`` event carrying the reducer's state."""
    seqs = state.get("last_seq")
    last = max(seqs.values()) if isinstance(seqs, dict) and seqs else None  # type: ignore[type-var]
    checkpoint_log.emit(DashboardCheckpoint(state=state), message=f"dashboard checkpoint after seq {last}")


def dispatcher_pending(pipeline: Pipeline) -> Callable[[], int]:
    """The dashboard's ``upstream_pending``: events logged that the pipeline's dispatcher thread has not yet
    handed to every sink — those queued, plus one while a dispatch is in progress. It only reads the
    dispatcher: the dashboard waits for it instead of dispatching on the event loop (``dashboard.checkpoints``)."""
    tee = pipeline.tee
    return lambda: tee.backlog + (tee.stalled_s > 0.0)


def emit_command_event(event: Event, message: str, level: str) -> None:
    """The command desk's audit trail (``command.*`` events), logged as ``control.commands``."""
    commands_log.emit(event, message=message, level=level)


def _start_alerts(opts: RunOptions, reducer: Reducer) -> tuple[Any, asyncio.Task[None] | None]:
    """The alert watcher (``alerts.watch``) when the config has rules: evaluating the live reducer every second,
    notifying through apprise from a worker thread (``alerts.notify``) when ``alerts.notify`` lists URLs."""
    cfg = opts.config.alerts
    if not cfg.rules:
        return None, None
    from arbdash.alerts.watch import AlertWatcher

    notifier = None
    if cfg.notify:
        from arbdash.alerts.notify import Notifier

        loop = asyncio.get_running_loop()

        def degraded(reason: str) -> None:  # called on the notifier's thread: log from the loop
            loop.call_soon_threadsafe(emit_terminal_health, "alerts", "degraded", reason)

        def recovered() -> None:
            loop.call_soon_threadsafe(
                emit_terminal_health, "alerts", "running", "notifications delivered again"
            )

        notifier = Notifier(
            [u.get_secret_value() for u in cfg.notify],
            queue_size=cfg.queue_size,
            retries=cfg.retries,
            on_failure=degraded,
            on_recovery=recovered,
        )
    watcher = AlertWatcher(cfg, reducer, emit_alert_event, notifier)
    return watcher, asyncio.create_task(watcher.run(), name="alerts")


async def _finish_alerts(watcher: Any, task: asyncio.Task[None] | None, health: str) -> None:
    """Stop the watcher, evaluate once more with the final ``health`` (before ``session.stopped``), and give the
    notifier a bounded moment to deliver (from a worker thread: the loop never waits on a receiver)."""
    if watcher is None or task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    try:
        watcher.final(health)
    except Exception as exc:  # noqa: BLE001 - alerts never fail the close sequence
        log.warning(f"alerts: last evaluation failed ({type(exc).__name__}: {exc})")
    if watcher.notifier is not None:
        await asyncio.to_thread(watcher.notifier.close, 2.0)


def emit_alert_event(event: Event, message: str, level: str) -> None:
    """The alert watcher's ``alert.fired`` / ``alert.resolved`` events, logged as ``alerts``."""
    alerts_log.emit(event, message=message, level=level)


def terminal_commands(desk: CommandDesk) -> Callable[[dict[str, str]], Awaitable[str]]:
    """How the live view's keys reach the bot (``dashboard.operator_keys``): each request gets an id
    (``term-<uuid>``), is checked like a ``POST /api/commands`` body and submitted with source ``terminal``; the
    answer is the outcome's message (``pending`` after 10 s: the command stays queued)."""

    async def send(request: dict[str, str]) -> str:
        command = msgspec.convert({"id": f"term-{uuid.uuid4().hex[:12]}", **request}, Command)
        answer = await desk.submit(command, source="terminal").wait(10.0)
        o = answer.outcome
        return (
            o.message
            if o.status == "executed"
            else f"{o.status}{f' ({o.reason})' if o.reason else ''}: {o.message}"
        )

    return send


def emit_terminal_health(component: str, health: str, reason: str) -> None:
    """The dashboard's ``on_health``: a ``session.health`` event (warning when degraded, info when recovered)."""
    event = SessionHealth(health=health, reason=reason, component=component)  # type: ignore[arg-type]
    if health == "degraded":
        dashboard_log.emit(event, message=f"{component}: {reason}", level="warning")
    else:
        dashboard_log.emit(event, message=f"{component}: {reason}")


def _start_housekeeping(opts: RunOptions, pg_sink: Any, session_id: str) -> asyncio.Task[None] | None:
    """Background database housekeeping at start (never stops the bot; failures are warnings):

    1. load the PostgreSQL spools earlier runs left in ``<log_dir>/pg_spool`` (the database was away when they
       ended, or they crashed) — only those no live process owns (``spool.claim_orphan``) and that were written
       for this run's database (their ``.target``; any other spool stays, with a warning naming it and the manual
       ``arbtail --db DSN import``) — and delete each once its events are in the database (idempotent: events
       already there are not doubled). Each import runs in a child process: the bot's loop never waits on it;
    2. prune old sessions when ``dashboard.persistence.retention_days`` / ``_keep_last`` is set (never the
       running session: it is the newest and active now)."""
    if pg_sink is None:
        return None
    persistence = opts.config.dashboard.persistence
    days, keep = persistence.retention_days, persistence.retention_keep_last

    async def backfill() -> None:
        spool_dir = pg_sink.spool_dir
        here = await asyncio.to_thread(dsn_target, pg_sink.dsn)
        for path in sorted(spool_dir.glob(f"*{SPOOL_SUFFIX}")) if spool_dir.is_dir() else []:
            if path.name.startswith(session_id):
                continue
            fd = await asyncio.to_thread(claim_orphan, path)
            if fd is None:
                continue  # a running bot owns it, or it is gone
            loaded = False
            try:
                target = read_target(path)
                if target is None or target != here:
                    written_for = (
                        f"is for {target}"
                        if target
                        else "does not say which database it is for (an older version wrote it)"
                    )
                    log.warning(
                        f"left the PostgreSQL spool {path}: it {written_for}, this run writes to "
                        f"{here or 'an unknown database'} (`arbtail --db DSN import {path}` loads it)"
                    )
                    continue
                result = await import_jsonl_isolated(pg_sink.dsn, path)
                loaded = True
                log.info(
                    f"loaded an earlier run's PostgreSQL spool {path.name}: {result.lines} lines, "
                    f"{result.inserted} new events, {result.duplicates} already stored, "
                    f"{sum(result.skipped.values())} unreadable lines skipped"
                )
            except Exception as exc:  # noqa: BLE001 - the file stays for the next start or a manual import
                log.warning(
                    f"could not load the PostgreSQL spool {path}: {type(exc).__name__}: {exc} "
                    f"(it stays; `arbtail --db DSN import {path}` loads it)"
                )
            finally:
                try:
                    release_orphan(path, fd, loaded=loaded)
                except OSError as exc:  # loaded, but the file stays: a later start finds its events stored
                    log.warning(f"could not delete the loaded PostgreSQL spool {path}: {exc}")

    async def retention() -> None:
        try:
            result = await prune(
                pg_sink.dsn,
                older_than=timedelta(days=days) if days else None,
                keep_last=keep - 1 if keep else None,  # the running session is one of the ``keep`` newest
                exclude=[uuid.UUID(session_id)],
            )
        except Exception as exc:  # noqa: BLE001 - retention must never stop the bot
            log.warning(f"retention prune failed: {type(exc).__name__}: {exc}")
            return
        log.info(
            f"retention: pruned {len(result.sessions)} sessions ({result.events} events) older than "
            f"{days or '∞'} days beyond the newest {keep or 0}"
        )

    async def run() -> None:
        await backfill()
        if days is not None or keep is not None:
            await retention()

    return asyncio.create_task(run(), name="pg-housekeeping")


async def _finish_housekeeping(task: asyncio.Task[None] | None, *, interrupted: bool) -> None:
    """Let a short run's housekeeping finish (at most 10 s: a hung database must not hold the exit); cancel it
    when the run was interrupted."""
    if task is None or task.done():
        return
    if interrupted:
        task.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)


def jsonl_shortfall(jsonl: JsonlSink) -> str | None:
    """What the closed JSONL sink failed to write, as a phrase (``None`` when the record is complete): lines
    dropped (a full disk beyond the writer's hold, or still held at exit), or a sink that failed at close."""
    lost = jsonl.dropped + jsonl.held
    if not lost and jsonl.health != "failed":
        return None
    reason = jsonl.health_reason or jsonl.error
    return f"only {jsonl.written} of {jsonl.written + lost} events written" + (
        f" ({reason})" if reason else ""
    )


def closing_line(
    session_id: str, jsonl_path: Path, pg_sink: Any | None, jsonl_short: str | None = None
) -> str:
    """The line ``runbot`` ends with: where the session's events are. ``jsonl_short`` (``jsonl_shortfall``): when
    the record is incomplete (a full disk) the line says how much of it was written instead of claiming it all
    was. With PostgreSQL it says what really happened there, from the closed sink's
    ``stats``: either ``... and PostgreSQL (DSN)`` (everything stored), or ``...; PostgreSQL (DSN): W of N events
    stored`` followed by the events spooled (with the spool file; the next ``runbot`` start with that database
    loads it), the events neither stored nor spooled (the JSONL has them), those dropped by the sink and those
    PostgreSQL refused. The DSN is shown redacted. Never raises."""
    head = (
        f"session {session_id}: events written to {jsonl_path}"
        if jsonl_short is None
        else f"session {session_id}: JSONL record INCOMPLETE, {jsonl_short} to {jsonl_path}"
    )
    if pg_sink is None:
        return head
    where = f"PostgreSQL ({redact_dsn(pg_sink.dsn)})"
    st = pg_sink.stats
    spooled, unspooled = st["spool_pending"], st["backlog"] - st["spool_pending"]
    missing: list[str] = []
    if spooled:
        missing.append(
            f"{spooled} spooled to {pg_sink.spool_path} — the next runbot start with this database "
            "and log directory loads them"
        )
    if unspooled:
        why = f" ({pg_sink.last_problem})" if pg_sink.last_problem else ""
        missing.append(f"{unspooled} not stored{why} — `arbtail --db DSN import {jsonl_path}` loads them")
    if st["dropped"]:
        missing.append(
            f"{st['dropped']} dropped by the sink — `arbtail --db DSN import {jsonl_path}` loads them"
        )
    if st["rejected"]:
        missing.append(f"{st['rejected']} refused by PostgreSQL as invalid")
    if not missing:
        return f"{head} and {where}"
    return f"{head}; {where}: {st['written']} of {st['accepted']} events stored, " + ", ".join(missing)


def _print_final(text: str, timeout_s: float = 5.0) -> None:
    """Write the closing output without letting a terminal that stopped reading (Ctrl-S, a stalled SSH client)
    hold the exit: through a ``TerminalWriter``, waiting at most ``timeout_s``. A dead terminal (SIGHUP) is
    ignored: the JSONL has everything."""
    out = TerminalWriter(sys.stdout)
    try:
        out.write(text)
        out.flush()
    except (OSError, ValueError):
        return
    out.close(timeout_s)


async def _pipeline_metrics(pipeline: Pipeline, interval_s: float = METRIC_INTERVAL_S) -> None:
    """Every ``interval_s`` wall seconds, the pipeline's own figures as ``metric`` events: events dispatched per
    second since the last reading and the dispatcher's queue depth (events waiting). Cancelled at close."""
    tee = pipeline.tee
    last, last_at = tee.dispatched, time.monotonic()
    while True:
        await asyncio.sleep(interval_s)
        now, count = time.monotonic(), tee.dispatched
        rate = Decimal(round((count - last) / max(now - last_at, 1e-9)))
        metrics_log.metric("events_per_s", rate, "events/s")
        metrics_log.metric("dispatch_queue_depth", tee.backlog, "events")
        last, last_at = count, now


class SessionSetupError(ValueError):
    """The session cannot start (one line for the operator): no DSN for enabled persistence, a server port
    that cannot be bound. Raised by ``open_session`` before anything runs."""


class SessionEndedEarly(Exception):
    """The session was closed before the program it wraps ran (Ctrl-C while the control server started):
    ``code`` (130 interrupted, 1 aborted) and ``reason`` as ``session.stopped`` recorded them. Raised by
    ``open_session`` after its close sequence, when it does not re-raise the cause."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"the session ended before the program ran: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class RunningSession:
    """What ``open_session`` hands to the program it wraps, and what it leaves after the close: ``code`` (0
    completed, 130 interrupted, 1 crashed or aborted), ``reason`` (``session.stopped``'s) and ``frame`` (the
    final text frame)."""

    session_id: str
    jsonl: Path
    reducer: Reducer
    desk: CommandDesk
    code: int = 0
    reason: str = "aborted"
    frame: str = ""


@contextlib.asynccontextmanager
async def open_session(
    opts: RunOptions,
    *,
    market_clock: Callable[[], datetime] | None = None,
    handle_signals: bool = True,
    reraise: bool = False,
) -> AsyncIterator[RunningSession]:
    """The session around a program: the sinks, ``Pipeline``, ``DashboardService`` (its warnings, checkpoints,
    health and keys wired to the logger and to ``desk``), the control server and the alerts when configured; the
    body runs the bot. On every exit path — the body returns, is cancelled (Ctrl-C / SIGTERM / SIGHUP when
    ``handle_signals``), raises — the close sequence runs: housekeeping, sink health, last alert evaluation,
    final checkpoint, ``session.health`` stopping, ``session.stopped``, the control server, then the final frame
    and the closing line on stdout. ``reraise``: the body's exception (or cancellation) propagates after the
    close, else it is recorded and only ``RunningSession.code`` says so (the CLI). ``market_clock``: the
    events' ``market_ts``. Raises ``SessionSetupError`` before anything runs."""
    session_id = str(uuid.uuid4())
    tee = ReducerTee()
    reducer = Reducer(timeline_size=opts.config.dashboard.max_event_rows)
    sinks, jsonl = _sinks(opts, session_id, tee)
    try:
        pg_sink = build_postgres_sink(
            opts.config.dashboard.persistence,
            session_id=session_id,
            spool_dir=opts.log_dir / "pg_spool",
            dsn=opts.db,
        )
    except ValueError as exc:
        raise SessionSetupError(str(exc)) from None
    if pg_sink is not None:
        sinks.append(pg_sink)
    ring, sock = None, None
    if opts.config.dashboard.server.enabled:  # bound now: a port in use is an error before anything runs
        from arbdash.control.ring import RingSink
        from arbdash.control.server import bind_socket

        where = opts.config.dashboard.server
        try:
            sock = bind_socket(where.host, where.port)
        except OSError as exc:
            raise SessionSetupError(
                f"cannot serve on {where.host}:{where.port}: {exc.strerror or exc}"
            ) from None
        ring = RingSink()
        sinks.append(ring)
        _announce_server(sock, token=where.token is not None)
    desk = CommandDesk(emit=emit_command_event)
    running = RunningSession(session_id, jsonl.path, reducer, desk)
    current = asyncio.current_task()
    signals: _Signals | None = None
    if current is not None and handle_signals:
        signals = _Signals(current)
        signals.install()
    received = signals.received if signals is not None else []
    code = 0
    frame = ""
    abort: BaseException | None = None
    async with Pipeline(
        session_id=session_id,
        sinks=sinks,
        level=opts.level,
        market_clock=market_clock,
        callsite=opts.mode == DashboardMode.off,
        secrets=[
            *opts.config.secret_values(),
            *passwords_in(opts.config.dashboard.persistence.dsn),
            *(passwords_in(pg_sink.dsn) if pg_sink is not None else ()),
        ],
    ) as pipeline:
        housekeeping = _start_housekeeping(opts, pg_sink, session_id)
        measuring = asyncio.create_task(_pipeline_metrics(pipeline), name="pipeline-metrics")
        service_mode = "silent" if opts.mode in (DashboardMode.off, DashboardMode.silent) else opts.mode.value
        async with DashboardService(
            tee,
            reducer,
            mode=service_mode,
            refresh_interval_s=float(opts.config.dashboard.refresh_interval_s),
            idle_refresh_interval_s=float(opts.config.dashboard.idle_refresh_interval_s),
            width=opts.width,
            on_warning=dashboard_log.warning,
            emit_checkpoint=emit_checkpoint_event,
            upstream_pending=dispatcher_pending(pipeline),
            on_health=emit_terminal_health,
            keys=service_mode == "live",  # space freeze, Tab/PgDn page, ? help (when stdin is the terminal)
            theme=opts.theme,
            commands=terminal_commands(desk),  # p pause/resume, c close, F flatten, +/- max_positions
        ) as service:
            reason, health = "aborted", "error"  # until the bot is known to have completed
            yielded = False  # whether the program ran (a failure before it must still end this generator)
            control = None
            watcher, watching = _start_alerts(opts, reducer)
            try:
                if ring is not None and sock is not None:
                    control = await _start_control(
                        opts, ring, sock, reducer, jsonl, pipeline, tee, service, desk, watcher
                    )
                yielded = True
                yield running
                reason, health = "completed", "stopped"
            except asyncio.CancelledError as exc:
                if signals is not None:
                    signals.shutting_down()
                if current is not None and not reraise:
                    current.uncancel()  # handled here: the caller must not see a pending cancel
                # Ctrl-C keeps the plain "interrupted" the terminal tests and the recorded sessions know
                by = f" by {received[0]}" if received and received[0] != "SIGINT" else ""
                reason, health, code = "interrupted" + by, "stopped", 130
                if reraise:
                    abort = exc
            except Exception as exc:  # noqa: BLE001 - record the crash as an event, then exit non-zero
                log.exception(f"bot crashed: {type(exc).__name__}: {exc}")
                reason, health, code = f"crashed: {type(exc).__name__}", "error", 1
                if reraise:
                    abort = exc
            except BaseException as exc:  # SystemExit (a library's sys.exit()), KeyboardInterrupt, ...
                log.error(f"bot aborted: {type(exc).__name__}: {exc}")
                reason, health, code = f"aborted: {type(exc).__name__}", "error", 1
                abort = exc  # re-raised once the session is closed and the final frame is out
            finally:
                if signals is not None:
                    signals.shutting_down()
                try:
                    await _finish_housekeeping(housekeeping, interrupted=code == 130)
                    measuring.cancel()
                    await asyncio.gather(measuring, return_exceptions=True)
                    await pipeline.settle(1.0)  # every event so far is in the sinks: their health is current
                    pipeline.check_sinks(final=True)  # the last session.health events before session.stopped
                    service.drain()  # the reducer folds them all, so the last alert check sees the final state
                    await _finish_alerts(watcher, watching, health)
                    await service.final_checkpoint()  # the record's last state, before session.health/stopped
                except Exception as exc:  # noqa: BLE001 - a failing step must not keep the session open
                    log.exception(f"closing the session: {type(exc).__name__}: {exc}")
                    code = code or 1
                log.emit(
                    SessionHealth(health="stopping", reason=reason), message=f"Session stopping ({reason})"
                )
                log.emit(SessionStopped(reason=reason, health=health), message=f"Session {reason}")
                if control is not None:  # after session.stopped, so the streams end with it; bounded
                    await control.stop()
                elif sock is not None:
                    sock.close()
        frame = service.final_frame(_frame_width(opts))
    if opts.final_frame is not None:
        try:
            opts.final_frame.write_text(frame)
        except OSError as exc:  # the frame is still printed below; the session's end stays what it was
            print(f"runbot: cannot write the final frame to {opts.final_frame}: {exc}", file=sys.stderr)
    running.code, running.reason, running.frame = code, reason, frame
    shown = frame if opts.mode in (DashboardMode.live, DashboardMode.plain) else ""
    short = jsonl_shortfall(jsonl)
    _print_final(f"{shown}{closing_line(session_id, jsonl.path, pg_sink, short)}\n")
    if short is not None:  # on stderr as well, whatever the mode: the durable record is not complete
        print(
            f"runbot: the session's JSONL record is incomplete: {short} to {jsonl.path}",
            file=sys.stderr,
            flush=True,
        )
    if abort is not None:
        raise abort
    if not yielded:  # a generator-based context manager must yield or raise
        raise SessionEndedEarly(code, reason)


async def run_session(opts: RunOptions) -> int:
    """One ``runbot`` session: the paper bot (``bot.runner.run_bot``) inside ``open_session``. Returns the exit
    code (2: the session could not start, with one line on stderr)."""
    config = opts.config
    if not isinstance(config, BotConfig):
        raise TypeError(f"run_session runs the paper bot: it needs a BotConfig, not {type(config).__name__}")
    clock = make_clock(config, opts.speed)
    try:
        async with open_session(opts, market_clock=clock.now) as running:
            await run_bot(
                config,
                config_path=str(opts.config_path),
                speed=opts.speed,
                clock=clock,
                commands=running.desk,
            )
    except SessionEndedEarly as exc:
        return exc.code
    except SessionSetupError as exc:
        typer.echo(f"runbot: {exc}", err=True)
        return 2
    return running.code
