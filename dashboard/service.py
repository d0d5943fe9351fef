"""The dashboard's refresh loop inside the bot process (or ``arbtail``): folds new events, redraws when needed.

An asyncio task wakes every ``tick_s``, drains the reducer tee into the ``Reducer`` (in chunks, yielding to the
event loop between them) and redraws

* ``live``  — a Rich ``Live`` on the alternate screen, redrawn when something *visible* changed and
  ``refresh_interval_s`` has passed, or every ``idle_refresh_interval_s`` otherwise (seed §5: ~1 s active,
  5–10 s idle). What moves by itself — the wall clock's uptime and the count of events the heartbeats add — is
  not activity (``visible_key``): with the market clock standing still the frame is redrawn at the idle pace;
* ``plain`` — a plain-text summary (no cursor control) every ``plain_interval_s`` when something visible changed;
* ``silent`` — nothing on screen; the reducer still runs (final frame, snapshots).

The frame is a function of the events only, never of the wall clock, so the final frame here equals the frame
``arbtail --once`` draws from the session's JSONL.

Faults never reach the bot: if drawing raises, the service reports one warning and steps down (``live`` →
``plain`` → ``silent``); a dead terminal (``OSError`` on write, e.g. after SIGHUP) silences it with one warning.

The dashboard is fed by the event pipeline and never writes back into it by import: warnings go to the
``on_warning`` callable and checkpoints to the ``emit_checkpoint`` callable its composer passes in
(``tools/runbot_run.py`` builds both from ``helpers.unified_logger``). Without ``emit_checkpoint`` no
checkpoints are written; without ``on_warning`` warnings go to stdlib ``logging``.

Nor does it drive the pipeline: when it must have folded every event logged so far (a checkpoint, the final
frame, the exit) it waits, bounded, for the pipeline's dispatcher thread to hand them over (``upstream_pending``,
passed in by the composer; ``dashboard.checkpoints``) and then folds what the tee holds — the dispatcher's work
is never run on the event loop. Without ``upstream_pending`` the service folds what has reached the tee.

Keys in ``live`` mode (``keys=True`` and stdin is the same terminal; ``dashboard.keys``, cbreak mode, restored on
every exit path and around Ctrl-Z): ``space`` freezes the drawing (the bot, the record and the folding go on; a
status bar says so) and unfreezes it; ``Tab`` / ``PgDn`` / ``PgUp`` page a pane that does not fit and ``?``
shows the keys and the legend (``dashboard.pane_keys``; ``?`` again or ``Esc`` closes it); ``End`` goes back to the live frame. Ctrl-C still
stops the bot. With ``commands`` (a way to send operator commands, given by ``runbot``), ``p`` / ``c`` / ``F`` /
``+`` / ``-`` send them, closing positions only after a ``y`` (``dashboard.operator_keys``).

Terminal hygiene in ``live`` mode: the terminal is restored (cursor shown, alternate screen left) on every exit
path — normal, cancellation (Ctrl-C, SIGTERM, SIGHUP) or an exception inside the ``async with``. Ctrl-Z
(SIGTSTP) restores it before the process stops and takes it back (with a full redraw) after ``fg`` (SIGCONT);
a resize (SIGWINCH) redraws at the new size on the next tick. Both make the next frame a full repaint: otherwise
the terminal writer writes only the lines that changed since the frame it last wrote (``dashboard.line_diff``). Output of third-party code to stdout/stderr while
``Live`` runs is routed above the frame by Rich (``redirect_stdout``/``redirect_stderr``).

The event loop never writes to the terminal (DESIGN invariant 2): in ``live`` and ``plain`` mode everything
the dashboard draws goes through a ``TerminalWriter`` (``dashboard.terminal_writer``) — Rich's ``Console``
file and the plain summaries — whose ``flush`` hands the text to a writer thread. A terminal that stops
reading (Ctrl-S, a stalled SSH or ``tmux`` client) costs stale frames (dropped and counted,
``frames_dropped``), never the bot's progress; the spell is reported through ``on_health("terminal",
"degraded", reason)`` when frames start being dropped and ``on_health("terminal", "running", reason)`` once the
terminal has taken everything again (runbot makes these ``session.health`` events, so the record and a second
viewer — ``arbtail --follow`` — show it). On exit, and before stopping for Ctrl-Z, the service waits
at most ``close_timeout_s`` seconds for the terminal to take what is pending (the alternate-screen exit and
the cursor-show sequences included), and never hangs on a terminal that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Literal

import msgspec

from arbdash.dashboard.checkpoints import (
    CheckpointEmitter,
    EmitCheckpoint,
    OnWarning,
    UpstreamPending,
    stdlib_warning,
    wait_upstream,
)
from arbdash.dashboard.keys import KeyReader, keys_available
from arbdash.dashboard.line_diff import ScreenDiff
from arbdash.dashboard.models import DashboardSnapshot
from arbdash.dashboard.operator_keys import OPERATOR_KEY_LINES, OperatorKeys, SendCommand
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_plain import plain_summary
from arbdash.dashboard.snapshot import LIVE_CLOSED_ROWS
from arbdash.dashboard.terminal_writer import TerminalWriter
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee

if TYPE_CHECKING:  # Rich is imported when a live view starts: without it, runbot still runs (plain output)
    from rich.console import Console, RenderableType
    from rich.live import Live

    from arbdash.dashboard.pane_keys import PaneKeys

Mode = Literal["live", "plain", "silent"]
#: A stalled terminal counts as reading again once it has dropped no frame for this long (seconds) and has nothing
#: pending: a link that stalls every few seconds is one degraded spell, not a pair of events per stall.
TERMINAL_RECOVERED_AFTER_S = 5.0
#: ``on_health(component, health, reason)`` — ``health`` is ``"degraded"`` or ``"running"``.
OnHealth = Callable[[str, str, str], None]
_CHUNK = 2000
#: ``runbot``'s live keys, for its help page (``?``).
LIVE_KEY_LINES = (
    ("space", "freeze / unfreeze the drawing (the bot and its record go on)"),
    ("End", "back to the live frame (unfreeze, first page of every pane)"),
    ("Ctrl-C", "stop the bot (the session is closed and recorded)"),
)
LIVE_KEYS = "space freeze · End live · ? help"


def visible_key(snap: DashboardSnapshot) -> bytes:
    """``snap`` without what moves by itself between events — the wall-clock uptime, the last event's time, the
    count of events folded (heartbeats add one a second) and the metrics — as bytes to compare: two snapshots with equal keys
    draw frames that differ only in those figures, which is not activity worth a redraw (issue 15)."""
    session = snap.session
    quiet = msgspec.structs.replace(
        session,
        wall_uptime_s=None,
        events_applied=0,
        ingest=msgspec.structs.replace(session.ingest, applied=0),
        metrics=[],  # wall-clock measurements, logged every few seconds: not activity either
    )
    return msgspec.json.encode(msgspec.structs.replace(snap, session=quiet, generated_at=None))


class DashboardService:
    """Owns the refresh task and, in ``live`` mode, the terminal. Use as ``async with``; on exit (normal,
    cancellation or error) the terminal is restored and the remaining events are folded.

    ``on_warning(message, **fields)``: how a renderer fault is reported (one call per step down);
    ``emit_checkpoint(state)``: writes a ``dashboard.checkpoint`` event (``dashboard.checkpoints``);
    ``on_health(component, health, reason)``: how a terminal that stops reading (and reads again) is reported
    (see the module doc; without it, a warning when frames start being dropped); ``upstream_pending()``: how
    many events logged so far have not reached the tee yet (``dashboard.checkpoints.UpstreamPending``), waited
    for at most ``settle_timeout_s`` seconds by ``drain``."""

    def __init__(
        self,
        tee: ReducerTee,
        reducer: Reducer,
        *,
        mode: Mode,
        refresh_interval_s: float = 1.0,
        idle_refresh_interval_s: float = 5.0,
        plain_interval_s: float = 10.0,
        stream: IO[str] | None = None,
        width: int | None = None,
        force_terminal: bool | None = None,
        on_warning: OnWarning | None = None,
        emit_checkpoint: EmitCheckpoint | None = None,
        on_health: OnHealth | None = None,
        upstream_pending: UpstreamPending | None = None,
        settle_timeout_s: float = 1.0,
        close_timeout_s: float = 2.0,
        terminal_recovered_after_s: float = TERMINAL_RECOVERED_AFTER_S,
        keys: bool = False,
        theme: str = "dark",
        commands: SendCommand | None = None,
    ) -> None:
        self.tee = tee
        self.reducer = reducer
        self.mode: Mode = mode
        self.refresh_interval_s = refresh_interval_s
        self.idle_refresh_interval_s = idle_refresh_interval_s
        self.plain_interval_s = plain_interval_s
        self.stream = stream if stream is not None else sys.stdout
        self.width = width
        self.force_terminal = force_terminal  # tests: treat ``stream`` as a terminal (Rich's own option)
        self.close_timeout_s = close_timeout_s  # bound of the wait for the terminal on exit and on Ctrl-Z
        self.frames_drawn = 0
        self._writer: TerminalWriter | None = None
        self.render_failures = 0
        self._signals: list[int] = []
        self._redraw_now = False
        self._live: Live | None = None
        self._console: Console | None = None
        self._task: asyncio.Task[None] | None = None
        self._seen_version = -1  # the reducer's version ``_state_key`` was taken at
        self._drawn_key = b""  # ``visible_key`` of the frame on screen
        self._state_key = b""  # ``visible_key`` of the state now
        self._last_draw = 0.0
        self.on_warning = on_warning or stdlib_warning(__name__)
        # operator commands from the keys (``dashboard.operator_keys``), when the composer gives a way to send them
        self.operator = OperatorKeys(commands) if commands is not None else None
        if self.operator is not None:
            self.operator.on_note = self._note_changed
        self.on_health = on_health
        self._terminal_stalled = False
        self._dropped_seen = 0
        self._last_drop_at = 0.0
        self.terminal_recovered_after_s = terminal_recovered_after_s
        self.upstream_pending = upstream_pending
        self.settle_timeout_s = settle_timeout_s
        self.keys = keys
        self.theme = theme  # ``dashboard.theme``: dark | light | none (NO_COLOR wins)
        self.panes: PaneKeys | None = None  # the pane keys' state, once a live view is up
        self.frozen = False
        self._frozen_snap: DashboardSnapshot | None = None  # the frame held while frozen
        self._reader: KeyReader | None = None
        self._keys_task: asyncio.Task[None] | None = None
        # dashboard.checkpoint events for fast seek (JSONL) and snapshots (PostgreSQL)
        self.checkpoints = (
            CheckpointEmitter(
                tee,
                reducer,
                emit=emit_checkpoint,
                on_warning=self.on_warning,
                upstream_pending=upstream_pending,
            )
            if emit_checkpoint is not None
            else None
        )

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> DashboardService:
        if self.mode in ("live", "plain"):
            # live: frames reach the terminal as the lines that changed (``dashboard.line_diff``)
            diff = ScreenDiff(rows=self._terminal_rows) if self.mode == "live" else None
            self._writer = TerminalWriter(self.stream, diff=diff)
        if self.mode == "live":
            try:
                from rich.console import Console
                from rich.live import Live

                from arbdash.dashboard.pane_keys import PaneKeys
            except ImportError as exc:  # seed §6.5: no Rich, a plain-text dashboard (and one warning)
                self.mode = "plain"
                self.on_warning(
                    f"the live dashboard needs Rich, which cannot be imported ({exc}): plain text output instead",
                    component="dashboard",
                    from_mode="live",
                    to_mode="plain",
                )
        if self.mode == "live":
            from arbdash.dashboard.theme import console_options, effective

            theme = effective(self.theme)
            self.panes = PaneKeys(self._key_lines(), theme)
            console = Console(
                file=self._writer,
                width=self.width,
                force_terminal=self.force_terminal,
                **console_options(theme),
            )
            self._console = console
            self._live = Live(
                console=console,
                screen=True,
                auto_refresh=False,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._start_keys()  # before Live redirects sys.stdout
            self._live.start()
            self._install_terminal_signals()
        self._task = asyncio.create_task(self._run(), name="dashboard-refresh")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop_keys()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._remove_terminal_signals()
        self.drain()
        self._stop_live()
        await self._close_writer()

    async def final_checkpoint(self) -> bool:
        """Write the session's last ``dashboard.checkpoint`` now (``CheckpointEmitter.emit_final``); the composer
        calls it in the close sequence, before ``session.stopped``. ``False`` without checkpoints or when nothing
        was logged since the last one."""
        if self.checkpoints is None:
            return False
        return await self.checkpoints.emit_final()

    @property
    def frames_dropped(self) -> int:
        """Frames the terminal could not take in time (replaced by a newer one before being written)."""
        return self._writer.frames_dropped if self._writer is not None else 0

    async def _close_writer(self) -> None:
        """Give the terminal at most ``close_timeout_s`` seconds to take what is pending, without blocking the
        loop; then stop the writer thread (what is left is discarded)."""
        writer = self._writer
        if writer is None:
            return
        try:
            deadline = time.monotonic() + self.close_timeout_s
            with contextlib.suppress(OSError, ValueError):  # a broken terminal: nothing more to deliver
                writer.flush()
            while writer.pending and writer.error is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        finally:
            writer.close(timeout=0)

    # --- keys ---------------------------------------------------------------------------------------------

    def _start_keys(self) -> None:
        """Read keys from stdin when asked to and stdin is the terminal drawn on (never for a pipe or a test's
        stream); a terminal that refuses cbreak mode means no keys, never an error."""
        if not self.keys or self.stream is not sys.stdout or not keys_available():
            return
        reader = KeyReader(sys.stdin.fileno(), signals=False)  # runbot's signal handlers stay in charge
        try:
            reader.__enter__()
        except Exception:  # noqa: BLE001 - termios.error, OSError: a view without keys
            return
        self._reader = reader
        self._keys_task = asyncio.create_task(self._read_keys(reader.queue), name="dashboard-keys")

    def _stop_keys(self) -> None:
        if self._keys_task is not None:
            self._keys_task.cancel()
            self._keys_task = None
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()

    async def _read_keys(self, queue: asyncio.Queue[str]) -> None:
        while True:
            self.press(await queue.get())

    def _key_lines(self) -> tuple[tuple[str, str], ...]:
        return LIVE_KEY_LINES + (OPERATOR_KEY_LINES if self.operator is not None else ())

    def _note_changed(self) -> None:
        self._redraw_now = True

    def press(self, key: str) -> bool:
        """One key of the live view (see the module doc); ``True`` when it changed what is shown."""
        op = self.operator
        if op is not None and (op.asking or key in ("p", "c", "F", "+", "-")):
            op.press(key, self.reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS))
            self._redraw_now = True
            return True
        if key == "space":
            self.frozen = not self.frozen
            self._frozen_snap = self.reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS) if self.frozen else None
        elif key == "end":
            self.frozen, self._frozen_snap = False, None
            if self.panes is not None:
                self.panes = type(self.panes)(self._key_lines(), self.panes.theme)
        elif self.panes is None or not self.panes.press(
            key, self._frozen_snap or self.reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)
        ):
            return False
        self._redraw_now = True
        return True

    def _live_body(self) -> RenderableType:
        """The live frame: the snapshot as the pane keys leave it, with a status bar while frozen or paged."""
        from arbdash.dashboard.pane_keys import PaneKeys, status_bar, with_status

        snap = (
            self._frozen_snap
            if self._frozen_snap is not None
            else self.reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)
        )
        if self.panes is None:
            self.panes = PaneKeys(self._key_lines())
        body = self.panes.body(snap)
        op = self.operator
        if op is not None and (question := op.prompt()) is not None:
            bar = status_bar("confirm", "bold white on red", [question], "y confirms · Esc cancels")
        elif op is not None and op.note is not None and not self.frozen:
            bar = status_bar("command", "bold black on cyan", [op.note, *self.panes.status()], LIVE_KEYS)
        elif self.frozen:
            bar = status_bar("frozen", "bold black on yellow", ["the bot and its record go on"], LIVE_KEYS)
        elif self.panes.legend or self.panes.status():
            bar = status_bar("live", "bold black on green", self.panes.status(), LIVE_KEYS)
        else:
            return body
        return with_status(body, bar)

    # --- the terminal -------------------------------------------------------------------------------------

    def _install_terminal_signals(self) -> None:
        """SIGTSTP (Ctrl-Z) and SIGWINCH (resize) handlers on the running loop, while ``Live`` owns the terminal."""
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTSTP, self._suspend), (signal.SIGWINCH, self._resized)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                self._signals.append(sig)

    def _remove_terminal_signals(self) -> None:
        if not self._signals:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)
        self._signals.clear()

    def _suspend(self) -> None:
        """Ctrl-Z: give the terminal back (cursor, main screen), stop the process; after ``fg``, take it again."""
        live = self._live
        if live is not None:
            with contextlib.suppress(Exception):
                live.stop()
        if self._writer is not None:  # the restore sequences reach the terminal before the process stops
            self._writer.wait_idle(self.close_timeout_s)
        if self._reader is not None:
            self._reader.restore()  # the shell gets its line mode back
        os.kill(os.getpid(), signal.SIGSTOP)  # returns when the shell sends SIGCONT (``fg``/``bg``)
        if self._reader is not None:
            self._reader.cbreak()
        if live is not None and self._live is live:
            if self._writer is not None:  # what the screen shows after ``fg`` is unknown: repaint it whole
                self._writer.invalidate()
            try:
                live.start()
                self._redraw_now = True
            except Exception:  # noqa: BLE001 - no terminal to take back: go on without a screen
                self._live = None
                self.mode = "silent"

    def _resized(self) -> None:
        if self._writer is not None:
            self._writer.invalidate()  # the next frame is a full repaint
        self._redraw_now = True

    def _terminal_rows(self) -> int | None:
        """The height Rich draws at now (asked by the terminal writer's thread, to trust a frame as a base)."""
        console = self._console
        if console is None:
            return None
        try:
            return console.size.height
        except Exception:  # noqa: BLE001 - no size known: the frame is still checked against the one before
            return None

    def _stop_live(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            try:
                live.stop()
            except Exception:  # noqa: BLE001 - the terminal may be gone; the bot must still exit cleanly
                pass

    # --- folding and drawing ------------------------------------------------------------------------------

    def drain(self) -> int:
        """Fold every event logged so far, now (synchronously): wait up to ``settle_timeout_s`` for the
        pipeline's dispatcher to hand them over (``upstream_pending``), then fold what the tee holds. Returns how
        many were folded."""
        wait_upstream(self.upstream_pending, self.settle_timeout_s)
        return self.tee.drain_into(self.reducer, self.tee.pending)

    async def _drain_chunked(self) -> None:
        while self.tee.drain_into(self.reducer, _CHUNK) == _CHUNK:
            await asyncio.sleep(0)

    def final_frame(self, width: int) -> str:
        """The current frame as plain text at ``width`` columns (no colour, no control codes)."""
        self.drain()
        try:
            from arbdash.dashboard.render_rich import frame_text
        except ImportError:  # no Rich: the plain summary is the frame
            return plain_summary(self.reducer.snapshot())
        return frame_text(self.reducer.snapshot(), width)

    async def _run(self) -> None:
        tick = min(self.refresh_interval_s, 0.25)
        while True:
            await self._drain_chunked()
            if self.checkpoints is not None:
                await self.checkpoints.maybe_emit()
            try:
                self._maybe_draw()
            except Exception as exc:  # noqa: BLE001 - a renderer bug or a dead terminal must not stop the bot
                self._render_failed(exc)
            self._watch_terminal()
            await asyncio.sleep(tick)

    def _watch_terminal(self) -> None:
        """Report a terminal that stopped reading (frames being dropped) once, and once more when it has dropped
        nothing for ``terminal_recovered_after_s`` seconds (``TERMINAL_RECOVERED_AFTER_S``) and has nothing
        pending."""
        writer = self._writer
        if writer is None:
            return
        dropped = writer.frames_dropped
        now = time.monotonic()
        if dropped != self._dropped_seen:
            self._dropped_seen = dropped
            self._last_drop_at = now
            if not self._terminal_stalled:
                self._terminal_stalled = True
                reason = (
                    "the terminal is not reading (Ctrl-S, or a stalled SSH/tmux client): dashboard frames "
                    "are dropped; trading and the JSONL record go on"
                )
                if self.on_health is not None:
                    self.on_health("terminal", "degraded", reason)
                else:
                    self.on_warning(reason, component="terminal")
        elif (
            self._terminal_stalled
            and not writer.pending
            and now - self._last_drop_at >= self.terminal_recovered_after_s
        ):
            self._terminal_stalled = False
            if self.on_health is not None:
                self.on_health("terminal", "running", f"the terminal reads again ({dropped} frames dropped)")

    def _render_failed(self, exc: Exception) -> None:
        """Step down one mode (``live`` → ``plain`` → ``silent``; a dead terminal → ``silent``) and log it once."""
        self.render_failures += 1
        previous = self.mode
        self._stop_live()
        self.mode = "silent" if isinstance(exc, OSError) or previous != "live" else "plain"
        what = "terminal write failed" if isinstance(exc, OSError) else "dashboard renderer failed"
        output = "plain output" if self.mode == "plain" else "no dashboard output (events are still recorded)"
        self.on_warning(
            f"{what}, switching to {output}: {type(exc).__name__}: {exc}",
            component="dashboard",
            from_mode=previous,
            to_mode=self.mode,
        )

    def _maybe_draw(self) -> None:
        now = time.monotonic()
        if self.reducer.version != self._seen_version:  # something was folded: is any of it visible?
            self._seen_version = self.reducer.version
            self._state_key = visible_key(self.reducer.snapshot())
        changed = self._state_key != self._drawn_key
        since = now - self._last_draw
        if self.mode == "live":
            due = (changed and since >= self.refresh_interval_s) or since >= self.idle_refresh_interval_s
            if self.frozen:
                due = False  # the frame is held (a key or a resize still redraws it, as it was)
            if self._redraw_now:
                due, self._redraw_now = True, False
            if due and self._live is not None:
                self._live.update(self._live_body(), refresh=True)
                self._mark_drawn(now)
        elif self.mode == "plain":
            # a summary once there is something to summarise (nothing folded yet: an empty frame says nothing)
            if changed and since >= self.plain_interval_s and self.reducer.version > 0:
                out = self._writer if self._writer is not None else self.stream
                out.write(plain_summary(self.reducer.snapshot()) + "\n")
                out.flush()
                self._mark_drawn(now)

    def _mark_drawn(self, now: float) -> None:
        if self.reducer.version != self._seen_version:  # folded since the check: take the key again
            self._seen_version = self.reducer.version
            self._state_key = visible_key(self.reducer.snapshot())
        self._drawn_key = self._state_key
        self._last_draw = now
        self.frames_drawn += 1
