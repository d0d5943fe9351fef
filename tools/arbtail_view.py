"""``arbtail PATH``: drawing a JSONL log — one frame, the state at a moment, following it, or playing it back.

* one frame   — ``--once`` or not an interactive terminal (pipe, ``TERM=dumb``): plain text, no
  cursor control; on a terminal the frame is printed once in colour;
* ``--at T``  — the state just before the first event later than T (checkpoint seek + fold, like a full
  replay); T is on the ``--clock`` (``dashboard.timeaxis``): ``market`` (default: ``market_ts``, for a paper run
  the replayed history) or ``wall`` (the envelope ``ts``);
* ``--follow``— keep folding as the file grows, like ``tail -F`` (``dashboard.sources.follow``); rotation,
  truncation and deletion are said on a notice line (stderr in a pipe);
* ``--speed N`` — play the events between ``--from`` and ``--to`` at N× their pace on the clock (``Player``:
  anchored pacing, so slow folds or draws do not make it drift; ``dashboard.timeaxis.line_time`` is the one place that says which
  clock is the time axis).

Keys, in the interactive view only and unless ``--no-keys`` (``dashboard.keys`` reads them in cbreak mode
and restores the terminal on every exit path, SIGTERM/SIGHUP and Ctrl-Z included). A status bar under the frame
shows the state, speed, log time and the keys:

* playback — ``space`` pause/resume, ``n`` or ``→`` step one event (pauses), ``j`` skip ``JUMP_PLAYBACK_S``
  seconds of playback (``JUMP_PLAYBACK_S × speed`` of log time, folded at once), ``+``/``-`` double/halve the
  speed, ``q`` quit (exit 0; the frame at that moment is left on the normal screen);
* ``--follow`` — ``space`` freezes/unfreezes the drawing (reading goes on), ``q`` quits.

``playback`` and ``follow`` also take the keys as names on an ``asyncio.Queue`` (tests drive them that way).

A replay that reads many MB shows a ``rich.progress`` bar on stderr, on a terminal only. Time filters and
playback use one clock (``--clock``), as the PostgreSQL source does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from arbdash.dashboard import timeaxis
from arbdash.dashboard.keys import keys_available, terminal_keys
from arbdash.dashboard.pane_keys import LIVE_CLOSED_ROWS, PANE_KEYS_HELP, PaneKeys, status_bar, with_status
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import build_frame, build_layout, frame_text
from arbdash.dashboard.sources.protocol import ReplaySource, SourceError
from arbdash.dashboard.text import safe_text
from arbdash.dashboard.theme import Theme, console_options, effective
from arbdash.dashboard.timeaxis import TIME_FIELD, Clock, line_time

#: Replays reading fewer bytes than this draw no progress bar (they finish in a blink).
PROGRESS_MIN_BYTES = 16 * 1024 * 1024

#: ``j`` skips this many seconds of *playback*, i.e. ``JUMP_PLAYBACK_S × speed`` of log time: the same feel at any
#: ``--speed`` (at ``--speed 360`` one jump is an hour of log).
JUMP_PLAYBACK_S = 10.0
#: ``+`` / ``-`` keep the speed within these bounds (the lower one is ``--speed``'s minimum).
SPEED_LIMITS = (0.001, 1_000_000.0)
#: Waits shorter than this are not raced against the keyboard (two tasks per event would cost more than the
#: wait); a key typed meanwhile acts before the next event, as one typed during any wait.
KEY_RACE_MIN_S = 0.02
#: A jump folds its events at once but lets the event loop run (keys, Ctrl-C) every this many events.
JUMP_YIELD_EVERY = 256
QUIT_KEYS = ("q", "Q")
STEP_KEYS = ("n", "right")
PLAYBACK_KEYS = (
    f"space pause · n/→ step · j skip {JUMP_PLAYBACK_S:g} s · +/- speed · {PANE_KEYS_HELP} · q quit"
)
FOLLOW_KEYS = f"space freeze · {PANE_KEYS_HELP} · q quit"


def interactive(console: Console) -> bool:
    """A terminal that takes cursor control (not a pipe, not ``TERM=dumb``). ``NO_COLOR`` takes the colour away
    (``dashboard.theme``), not the live view."""
    return console.is_terminal and not console.is_dumb_terminal


class _ProgressBar:
    """A transient ``rich.progress`` bar on stderr, started lazily once the replay proves long enough."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < PROGRESS_MIN_BYTES:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("replaying"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("replay", total=total)
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


async def load_for_show(
    source: ReplaySource,
    reducer: Reducer,
    *,
    until: datetime | None,
    seek: bool,
    bar: bool,
    clock: Clock = "wall",
) -> bool:
    """Fold ``source`` into ``reducer`` (checkpoint seek when possible, a progress bar when ``bar`` and the log
    is big). Returns whether ``until`` stopped it before the end. Raises ``SourceError``."""
    progress = _ProgressBar(bar)
    try:
        return await source.load(reducer, until=until, clock=clock, seek=seek, progress=progress)
    finally:
        progress.close()


def print_frame(reducer: Reducer, console: Console, width: int | None, *, plain: bool) -> None:
    """One frame: plain text (no control codes) or, on an interactive terminal, in colour."""
    if plain:
        sys.stdout.write(frame_text(reducer.snapshot(), width or 120))
        sys.stdout.flush()
    else:
        console.print(build_frame(reducer.snapshot()))


def _with_notice(body: RenderableType, notice: str) -> RenderableType:
    if not notice:
        return body
    return Group(Text(safe_text(notice, 200), style="bold yellow"), body)


@contextlib.contextmanager
def _screen(
    reducer: Reducer,
    console: Console,
    keys: asyncio.Queue[str] | None,
    read_keys: bool,
    redraw: Callable[[], None],
) -> Iterator[tuple[Live, asyncio.Queue[str] | None]]:
    """The full-screen view (``Live`` on the alternate screen, restored on every exit) and where its keys come
    from: ``keys``, else the terminal when ``read_keys`` (``dashboard.keys``; Ctrl-Z stops the drawing and
    ``redraw`` draws again on resume), else ``None``."""
    with (
        Live(build_layout(reducer.snapshot()), console=console, screen=True, auto_refresh=False) as live,
        terminal_keys(
            read_keys and keys is None, on_suspend=live.stop, on_resume=lambda: (live.start(), redraw())
        ) as reader,
    ):
        yield live, keys if keys is not None else (reader.queue if reader is not None else None)


async def _run_with_keys(
    work: Awaitable[None], keys: asyncio.Queue[str] | None, on_key: Callable[[str], bool]
) -> None:
    """Run ``work`` while handing each key from ``keys`` to ``on_key``; stop (cancelling ``work``) when
    ``on_key`` returns True. ``work`` ending (or raising) ends it too."""
    if keys is None:
        await work
        return
    task = asyncio.ensure_future(work)
    getter: asyncio.Future[str] | None = None
    try:
        while True:
            getter = asyncio.ensure_future(keys.get())
            done, _ = await asyncio.wait((task, getter), return_when=asyncio.FIRST_COMPLETED)
            if getter in done and on_key(getter.result()):
                return
            if task in done:
                task.result()
                return
    finally:
        for pending in (task, getter):
            if pending is not None:
                pending.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def follow_updates(
    source: ReplaySource,
    reducer: Reducer,
    console: Console,
    width: int | None,
    *,
    keys: asyncio.Queue[str] | None = None,
    read_keys: bool = False,
    theme: Theme = "dark",
) -> None:
    """Draw ``reducer`` each time ``source`` folds more into it (``ReplaySource.follow``, after its ``load``),
    until the source ends or the user quits. Rotation, truncation and the like come through the follower's
    notices. Interactive: redraw in place (``Live``, alternate screen, restored on every exit); otherwise print a
    plain frame per change and notices to stderr.

    Keys (names on ``keys``, or read from the terminal when ``read_keys`` and the view is interactive):
    ``q`` stops following, ``space`` freezes the drawing (the source is still read and folded) and unfreezes
    it. The status bar shows the source's label and where the session is (market now, or the last event's
    ``ts``)."""
    label = source.label
    live_view = interactive(console)
    notice = ""
    frozen = False
    ended_said = _ended(reducer) is not None  # a session that had ended before following began is no news

    def on_notice(text: str) -> None:
        nonlocal notice
        notice = text
        if not live_view:
            print(f"arbtail: {safe_text(text)}", file=sys.stderr, flush=True)
        else:
            redraw()  # at once: a notice (waiting for the file, a rotation) is news even when no event came

    def note_end() -> None:
        """Say once that the session ended (its ``session.stopped``): following goes on (a log may go on)."""
        nonlocal ended_said
        reason = _ended(reducer)
        if reason is not None and not ended_said:
            ended_said = True
            on_notice(f"the session ended ({reason}); still following — q or Ctrl-C to quit")

    panes = PaneKeys(FOLLOW_KEY_LINES, theme)

    def on_key(key: str) -> bool:
        nonlocal frozen
        if key in QUIT_KEYS:
            return True
        if key == "space":
            frozen = not frozen
            redraw()
        elif live_view and panes.press(key, reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)):
            redraw()
        return False

    drawn = reducer.version
    if not live_view:

        def redraw() -> None:
            pass

        async def pump_plain() -> None:
            nonlocal drawn
            async for _ in source.follow(reducer, on_notice):
                if reducer.version != drawn and not frozen:
                    sys.stdout.write(frame_text(reducer.snapshot(), width or 120) + "\n")
                    sys.stdout.flush()
                    drawn = reducer.version
                note_end()

        await _run_with_keys(pump_plain(), keys, on_key)
        return
    shown = None
    with _screen(reducer, console, keys, read_keys, lambda: redraw()) as (live, queue):

        def redraw() -> None:
            nonlocal drawn, shown
            status = None
            if queue is not None:
                at = _last_time(reducer, "market") or _last_time(reducer, "wall")
                reason = _ended(reducer)
                if frozen:
                    status = status_bar(
                        "frozen", "bold black on yellow", ["still reading; the frame is held"], FOLLOW_KEYS
                    )
                elif reason is not None:
                    where = [
                        safe_text(label, 60),
                        f"ended ({safe_text(reason, 40)})",
                        f"at {format_time(at)}",
                    ]
                    status = status_bar("ended", "bold white on blue", where, FOLLOW_KEYS)
                else:
                    where = [safe_text(label, 60), f"at {format_time(at)}", *panes.status()]
                    status = status_bar("following", "bold black on green", where, FOLLOW_KEYS)
            live.update(
                with_status(
                    _with_notice(panes.body(reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)), notice), status
                ),
                refresh=True,
            )
            drawn, shown = reducer.version, notice

        async def pump_live() -> None:
            async for _ in source.follow(reducer, on_notice):
                if not frozen and (reducer.version != drawn or notice != shown):
                    redraw()
                note_end()

        if queue is not None:
            redraw()  # the status bar from the first frame on
        await _run_with_keys(pump_live(), queue, on_key)


# --- the viewer: ``arbtail FILE`` on a terminal -----------------------------------------------------------

#: Viewer keys → a move on the time axis (seconds).
VIEW_STEPS: dict[str, float] = {"left": -3600.0, "h": -3600.0, "right": 3600.0, "l": 3600.0}
VIEW_STEPS.update({"[": -86400.0, "]": 86400.0, "down": -600.0, "up": 600.0})
VIEW_KEYS = f"←/→ 1h · ↓/↑ 10m · [/] 1d · Home/End · {PANE_KEYS_HELP} · q quit"
#: The viewer's keys for its help page.
VIEW_KEY_LINES = (
    ("← / →  (h / l)", "an hour back / on (each frame is --at of that moment)"),
    ("↓ / ↑", "ten minutes back / on"),
    ("[ / ]", "a day back / on"),
    ("Home / End  (g / G)", "the session's start / end"),
    ("q  (Esc)", "quit, leaving the frame on the screen (Esc on the help page closes it)"),
)
FOLLOW_KEY_LINES = (("space", "freeze / unfreeze the drawing (reading goes on)"), ("q", "quit"))
PLAYBACK_KEY_LINES = (
    ("space", "pause / resume"),
    ("n  (→)", "step one event (pauses first)"),
    ("j", f"skip {JUMP_PLAYBACK_S:g} s of playback (× the speed of log time, folded at once)"),
    ("+ / -", "double / halve the speed"),
    ("q", "quit, leaving the frame on the screen"),
)


async def view(
    source: ReplaySource,
    reducer: Reducer,
    console: Console,
    *,
    clock: Clock,
    seek: bool = True,
    at: datetime | None = None,
    keys: asyncio.Queue[str] | None = None,
    read_keys: bool = True,
    theme: Theme = "dark",
) -> Reducer:
    """``arbtail FILE`` on a terminal: a viewer, like ``less`` for the dashboard. It opens on ``reducer`` (the
    session loaded to its end, or to ``at``) on the alternate screen, with a status bar, and moves through
    the session's time with keys: ``←``/``→`` (or ``h``/``l``) an hour on ``clock``, ``↓``/``↑`` ten minutes,
    ``[``/``]`` a day, ``Home``/``End`` (or ``g``/``G``) the start and the end; ``q`` (or Esc) quits. Each move
    folds the session anew up to the new moment (``ReplaySource.load``, from a checkpoint when ``seek``), so the
    frame is exactly ``arbtail FILE --at T``'s. Returns the reducer shown last (the caller leaves its frame on
    the normal screen). Keys come as names on ``keys``, or from the terminal when ``read_keys``; without
    either it returns at once."""
    first = await source.first_time(clock)
    last = await source.last_time(clock)
    position = at  # None: the end of the session
    shown = reducer
    panes = PaneKeys(VIEW_KEY_LINES, theme)
    with _screen(reducer, console, keys, read_keys, lambda: redraw()) as (live, queue):

        def redraw() -> None:
            at = format_time(_last_time(shown, clock)) + (" (end)" if position is None else "")
            parts = [
                f"{clock} {at}",
                f"events {shown.state.stats.applied}",
            ]  # the file was named on the command line
            status = status_bar("viewing", "bold black on cyan", [*parts, *panes.status()], VIEW_KEYS)
            live.update(
                with_status(panes.body(shown.snapshot(closed_rows=LIVE_CLOSED_ROWS)), status), refresh=True
            )

        if queue is None:
            return shown
        redraw()
        while True:
            key = await queue.get()
            if key == "esc" and panes.press(key, shown.snapshot(closed_rows=LIVE_CLOSED_ROWS)):
                redraw()  # Esc closes the help page first; on the frame it quits
                continue
            if key in (*QUIT_KEYS, "esc"):
                return shown
            moved: datetime | None
            if key in ("home", "g"):
                moved = first
            elif key in ("end", "G"):
                moved = None
            elif key in VIEW_STEPS and first is not None and last is not None:
                shifted = (position if position is not None else last) + timedelta(seconds=VIEW_STEPS[key])
                moved = None if shifted >= last else max(shifted, first)
            else:
                if panes.press(key, shown.snapshot(closed_rows=LIVE_CLOSED_ROWS)):
                    redraw()
                continue  # not a move in time
            if moved == position:
                continue
            position = moved
            fresh = Reducer(timeline_size=reducer.timeline_size, session=source.session, focus=reducer.focus)
            await source.load(fresh, until=position, clock=clock, seek=seek)
            shown = fresh
            redraw()


# --- the playback time axis ------------------------------------------------------------------------------
# Which clock paces a playback: ``dashboard.timeaxis.line_time`` reads it from a line, ``format_time`` shows it.
# Pacing (``Player``) only subtracts and compares what ``line_time`` returns.


def format_time(t: datetime | None) -> str:
    """A playback position for the status bar, in UTC to the millisecond (pastes into ``--at``)."""
    if t is None:
        return "—"
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Player:
    """Pacing of one playback and its keys: pause, step, jump, speed, quit.

    ``turn(ts)`` waits until the event logged at ``ts`` is due and ``advance(ts)`` records that it was folded.
    Pacing is anchored: from an anchor (a wall instant ``now()``, a log position), the event at ``ts`` is due
    ``(ts − anchor position) / speed`` seconds after the anchor instant, so time lost folding and drawing is made
    up instead of adding up. Every key that changes the pace re-anchors at the current position.

    Keys arrive as names on ``keys`` (``None``: no keys, plain pacing) and are handled at fixed points — those
    already queued before each event, then any that arrive during a wait; a key that arrives together with the
    end of a wait (or during a wait shorter than ``KEY_RACE_MIN_S``) acts after that event:

    * ``space`` pause / resume — a paused player awaits the next key (no polling);
    * ``n`` or ``right`` step: pause (if playing) and let exactly one more event through;
    * ``j`` jump: every event up to ``position + JUMP_PLAYBACK_S × speed`` folds at once, then pacing goes on from
      there (paused stays paused; jumps add up);
    * ``+`` (or ``=``) / ``-`` double / halve the speed, within ``SPEED_LIMITS``;
    * ``q`` quit: ``turn`` returns False.
    """

    def __init__(
        self,
        speed: float,
        *,
        keys: asyncio.Queue[str] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.speed = speed
        self.keys = keys
        self.paused = False
        self.steps = 0
        self.quit = False
        #: The playback position on the log's time axis: the last folded event's time, or the end of a jump.
        self.clock: datetime | None = None
        self.jump_to: datetime | None = None
        self.played = 0
        #: Called after a key changed something (the view redraws its status bar).
        self.on_change: Callable[[], None] = lambda: None
        #: Called before the player blocks on a key or for a wait of at least ``KEY_RACE_MIN_S``: the view draws
        #: what its redraw limit held back.
        self.on_idle: Callable[[], None] = lambda: None
        #: a key the player does not use (the view's own: paging, the legend)
        self.on_other_key: Callable[[str], None] = lambda _key: None
        self._sleep = sleep
        self._now = now
        self._anchor: tuple[float, datetime] | None = None
        self._jumped = 0

    @property
    def jumping(self) -> bool:
        """Events are folding at once up to a jump's end."""
        return self.jump_to is not None

    def press(self, key: str) -> None:
        """Act on one key name (unknown keys are ignored)."""
        if key == "space":
            self.paused, self.steps = not self.paused, 0
        elif key in STEP_KEYS:
            self.paused, self.steps = True, self.steps + 1
        elif key == "j":
            if self.clock is None:
                return
            self.jump_to = max(self.jump_to or self.clock, self.clock) + timedelta(
                seconds=JUMP_PLAYBACK_S * self.speed
            )
        elif key in ("+", "="):
            self.speed = min(self.speed * 2, SPEED_LIMITS[1])
        elif key == "-":
            self.speed = max(self.speed / 2, SPEED_LIMITS[0])
        elif key in QUIT_KEYS:
            self.quit = True
        else:
            self.on_other_key(key)
            return
        self._anchor = None
        self.on_change()

    def reanchor(self) -> None:
        """Pace from now on, from the current position (after the process was stopped, Ctrl-Z / ``fg``: the time
        it spent stopped is not made up)."""
        self._anchor = None

    def advance(self, ts: datetime) -> None:
        """The event logged at ``ts`` was folded."""
        if self.clock is None or ts > self.clock:
            self.clock = ts
        self.played += 1

    async def turn(self, ts: datetime) -> bool:
        """Wait until the event logged at ``ts`` may be folded. False: the user quit."""
        self._drain()
        while not self.quit:
            if self.jump_to is not None:
                if ts <= self.jump_to:
                    self._jumped += 1
                    if self._jumped % JUMP_YIELD_EVERY == 0:  # a long jump still hears keys and Ctrl-C
                        await asyncio.sleep(0)
                        self._drain()
                        if self.quit:
                            return False
                    return True
                self.clock = max(self.clock or self.jump_to, self.jump_to)
                self.jump_to, self._anchor = None, None
                self.on_change()  # the jump is over: show where it landed
            if self.paused and self.keys is not None:
                if self.steps:
                    self.steps -= 1
                    return True
                self.on_idle()
                self.press(await self.keys.get())
                continue
            if self.clock is None or ts <= self.clock:
                return True
            if self._anchor is None:
                self._anchor = (self._now(), self.clock)
            wall0, log0 = self._anchor
            delay = wall0 + (ts - log0).total_seconds() / self.speed - self._now()
            if delay <= 0 or await self._wait(delay, ts):
                return True
        return False

    def status(self) -> Text:
        """The one-line status bar: state, speed, position, events played, key help."""
        where = [f"×{self.speed:g}", format_time(self.clock), f"event {self.played}"]
        if self.paused:
            return status_bar("paused", "bold black on yellow", where, PLAYBACK_KEYS)
        return status_bar("playing", "bold black on green", where, PLAYBACK_KEYS)

    def _drain(self) -> None:
        while self.keys is not None:
            try:
                key = self.keys.get_nowait()
            except asyncio.QueueEmpty:
                return
            self.press(key)

    async def _wait(self, delay: float, ts: datetime) -> bool:
        """Sleep ``delay`` s unless a key comes first. True: the delay is over."""
        if delay >= KEY_RACE_MIN_S:
            self.on_idle()
        if self.keys is None or delay < KEY_RACE_MIN_S:  # short waits: keys are read before the next event
            await self._sleep(delay)
            return True
        sleeper = asyncio.ensure_future(self._sleep(delay))
        getter = asyncio.ensure_future(self.keys.get())
        try:
            done, _ = await asyncio.wait((sleeper, getter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            getter.cancel()
        if sleeper in done:
            sleeper.result()
        if getter in done:
            if sleeper not in done and self._anchor is not None and self.clock is not None:
                wall0, log0 = self._anchor  # the position moved on while we waited
                reached = log0 + timedelta(seconds=(self._now() - wall0) * self.speed)
                self.clock = max(self.clock, min(ts, reached))
            self.press(getter.result())
            self._drain()
        return sleeper in done


async def playback(
    source: ReplaySource,
    reducer: Reducer,
    console: Console,
    width: int | None,
    *,
    speed: float,
    start: datetime | None,
    end: datetime | None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    keys: asyncio.Queue[str] | None = None,
    read_keys: bool = False,
    now: Callable[[], float] = time.monotonic,
    clock: Clock = "wall",
    theme: Theme = "dark",
) -> int:
    """Fold events up to ``start`` at once, then the rest up to ``end`` at ``speed``× the pace of their time
    on ``clock`` (``line_time``; each is due its log-time distance from the pacing anchor divided by ``speed``, so the gaps
    between events are ``gap / speed`` and a slow fold or draw is made up, ``Player``). ``sleep`` and ``now``
    (a monotonic clock) are injectable for tests. Redraws at most 10 times a second (interactive)
    or prints a plain frame every second of wall time and at the end. Raises ``SourceError``.

    Keys (``Player``) come as names on ``keys``, or from the terminal when ``read_keys`` and the view is
    interactive (``dashboard.keys``; the terminal is restored on every exit). With keys, the interactive view
    has a status bar: playing/paused, speed, log time, events played, key help. Returns how many events were
    played (paced between ``start`` and ``end``)."""
    live_view = interactive(console)
    live = (
        Live(build_layout(reducer.snapshot()), console=console, screen=True, auto_refresh=False)
        if live_view
        else None
    )
    player = Player(speed, keys=keys, sleep=sleep, now=now)
    panes = PaneKeys(PLAYBACK_KEY_LINES, theme)
    last_draw = 0.0
    drawn = -1
    show_status = False

    def draw(final: bool = False) -> None:
        nonlocal last_draw, drawn
        now = time.monotonic()
        if live is not None and (final or now - last_draw >= 0.1):
            live.update(
                with_status(
                    panes.body(reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)),
                    player.status() if show_status else None,
                ),
                refresh=True,
            )
            last_draw, drawn = now, reducer.version
        elif live is None and (final or now - last_draw >= 1.0):
            sys.stdout.write(frame_text(reducer.snapshot(), width or 120) + ("" if final else "\n"))
            sys.stdout.flush()
            last_draw = now

    def finish() -> int:
        """The last frame (a plain view prints none for an empty window: the caller reports it) and the count."""
        if player.played or live is not None or (start is None and end is None):
            draw(final=True)
        return player.played

    def resume() -> None:
        player.reanchor()
        if live is not None:
            live.start()
            draw(final=True)

    def draw_held_back() -> None:
        if drawn != reducer.version:
            draw(final=True)

    if live is not None:
        live.start()
        player.on_change = lambda: draw(final=True)
        player.on_idle = draw_held_back
        player.on_other_key = lambda key: (
            panes.press(key, reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)) and draw(final=True)
        )
    try:
        with terminal_keys(
            read_keys and live is not None and keys is None,
            on_suspend=live.stop if live is not None else None,
            on_resume=resume,
        ) as reader:
            if reader is not None:
                player.keys = reader.queue
            show_status = live is not None and player.keys is not None
            if show_status:
                draw(final=True)
            async for batch in source.batches(reducer.note_skip):
                for raw in batch:
                    ts = line_time(raw, clock)
                    if ts is not None and end is not None and ts > end:
                        return finish()
                    if ts is not None and (start is None or ts >= start):
                        if not await player.turn(ts):
                            return finish()
                        reducer.feed_line(raw)
                        player.advance(ts)
                        draw(final=player.paused and not player.jumping)  # a step is drawn at once
                    else:
                        reducer.feed_line(raw)
            return finish()
    finally:
        if live is not None:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                live.stop()


async def show(
    source: ReplaySource,
    *,
    follow: bool = False,
    once: bool = False,
    width: int | None = None,
    timeline: int = 20,
    at: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    speed: float | None = None,
    seek: bool = True,
    keys: bool = True,
    clock: Clock = "wall",
    theme: Theme = "dark",
    strategy: str | None = None,
) -> None:
    """The ``show`` command on any ``ReplaySource`` (a log file, a rotated set, a PostgreSQL session): one frame
    (plain text for ``once`` or a non-interactive output), the state at ``at``, a playback of ``start``..``end``
    at ``speed``, or ``follow``. ``keys``: read playback / follow keys in the interactive view (``--no-keys``
    turns it off); ``clock``: the time axis of ``at`` / ``start`` / ``end`` and of the playback pace; ``theme``:
    the colours (``dashboard.theme``; ``NO_COLOR`` means ``none``); ``strategy``: the strategy instance every
    frame focuses on (``dashboard.focus``; one the session does not have is a ``SourceError``). After a
    live view (``q``, Ctrl-C) the last frame is left on the normal screen. Raises ``SourceError`` (the CLI
    prints it and exits 2)."""
    async with source:
        await _show(
            source,
            follow,
            once,
            width,
            timeline,
            at,
            start,
            end,
            speed,
            seek,
            keys,
            clock,
            effective(theme),
            strategy,
        )


async def _show(
    source: ReplaySource,
    follow: bool,
    once: bool,
    width: int | None,
    timeline: int,
    at: datetime | None,
    start: datetime | None,
    end: datetime | None,
    speed: float | None,
    seek: bool,
    keys: bool,
    clock: Clock,
    theme: Theme,
    strategy: str | None = None,
) -> None:
    reducer = Reducer(timeline_size=timeline, session=source.session, focus=strategy)
    console = Console(width=width, **console_options(theme))
    plain = once or not interactive(console)
    if speed is not None or at is not None or start is not None or end is not None:
        clock, notice = await source.time_axis(clock)
        if notice:
            print(f"arbtail: {notice}", file=sys.stderr, flush=True)
    if speed is not None and not once:
        played = 0
        try:
            played = await playback(
                source,
                reducer,
                console,
                width,
                speed=speed,
                start=start,
                end=end or at,
                read_keys=keys,
                clock=clock,
                theme=theme,
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            played = -1
        if played == 0 and (start is not None or end is not None or at is not None):
            raise SourceError(await _nothing_between(source, clock, start, end or at))
        _check_strategy(source, reducer)
        if (
            not plain
        ):  # the alternate screen is gone: leave the state where playback stopped on the normal screen
            print_frame(reducer, console, width, plain=False)
        return
    until = at or end
    following = follow and not once and until is None
    waiting = following and not await source.exists()
    if not waiting:  # a missing log is waited for by the follower, like tail -F (and it says so)
        stopped = await load_for_show(
            source, reducer, until=until, seek=seek, bar=not plain and console.is_terminal, clock=clock
        )
        await _check_loaded(source, reducer, until, stopped, following, clock)
        if not following:  # a followed log may name its strategies later
            _check_strategy(source, reducer)
    live_follow = following and not plain
    if (
        not plain and not following and keys and keys_available()
    ):  # a terminal: the viewer (q leaves the frame)
        reducer = await view(source, reducer, console, clock=clock, seek=seek, at=until, theme=theme)
    if (
        not live_follow and not waiting
    ):  # a live view draws its own first frame, and the last one when it ends
        print_frame(reducer, console, width, plain=plain)
    if following:
        try:
            await follow_updates(source, reducer, console, width, read_keys=keys, theme=theme)
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        if live_follow:  # the alternate screen is gone: leave the state at exit on the normal screen
            print_frame(reducer, console, width, plain=False)


async def _check_loaded(
    source: ReplaySource,
    reducer: Reducer,
    until: datetime | None,
    stopped: bool,
    following: bool,
    clock: Clock,
) -> None:
    """After ``load``: nothing at or before ``until`` and a source without any event are ``SourceError``s that
    say what the source holds; ``until`` past the end is a notice on stderr."""
    label = source.label
    stats = reducer.state.stats
    if until is not None and stats.applied == 0:
        first = await source.first_time(clock)
        field = TIME_FIELD[clock]
        other = "wall" if clock == "market" else "market"
        raise SourceError(
            f"{label}: no event at or before {format_time(until)} on the {clock} clock (`{field}`"
            + (f"; its {clock} time starts at {format_time(first)}" if first else "; no event has one")
            + f"; --clock {other} compares `{TIME_FIELD[other]}`)"
        )
    if until is None and not following and (empty := nothing_folded(label, reducer)):
        raise SourceError(empty)
    if until is not None and not stopped:
        last = _last_time(reducer, clock)
        print(
            f"arbtail: {format_time(until)} is after the last event on the {clock} clock"
            f" ({format_time(last)}): this is the log's end",
            file=sys.stderr,
            flush=True,
        )


def _check_strategy(source: ReplaySource, reducer: Reducer) -> None:
    """A focus (``--strategy``) on a strategy the folded session does not have is a ``SourceError`` naming the
    ones it has."""
    name = reducer.focus
    if name is None or name in reducer.state.strategies:
        return
    known = ", ".join(safe_text(n, 40) for n in reducer.state.strategies) or "none"
    raise SourceError(
        f"{source.label}: no strategy {safe_text(name, 40)!r} in this session (strategies: {known})"
    )


def nothing_folded(label: str, reducer: Reducer) -> str | None:
    """The message for a source that gave ``reducer`` no event at all (empty, or only lines that are not
    events), or ``None`` when it folded some. ``arbtail`` and ``arbtail stats`` exit 2 with it."""
    stats = reducer.state.stats
    if stats.applied:
        return None
    if not stats.skipped_total:
        return f"{label}: no event in it (it is empty); --follow waits for events"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.skipped.items()))
    return (
        f"{label}: no event in it, {stats.skipped_total} lines skipped ({reasons});"
        " is it a session log (one JSON event per line)?"
    )


def run_show(source: ReplaySource, **kw: object) -> None:
    """``show`` for a CLI: runs it to the end; Ctrl-C ends a view quietly. Raises ``SourceError``."""
    try:
        asyncio.run(show(source, **kw))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


def _ended(reducer: Reducer) -> str | None:
    """Why the folded session stopped (its ``session.stopped`` reason), or ``None`` while it runs."""
    session = reducer.state.session
    return session.stop_reason if session.stop_reason else None


def _last_time(reducer: Reducer, clock: Clock) -> datetime | None:
    """The latest time folded on ``clock``: the state's market now, or its last event's ``ts``."""
    state = reducer.state
    if clock == "market":
        return state.market_now
    return timeaxis.event_time({"ts": state.last_ts}, "wall") if state.last_ts else None


async def _nothing_between(
    source: ReplaySource, clock: Clock, start: datetime | None, end: datetime | None
) -> str:
    """The message for a playback that found no event to play between ``start`` and ``end``."""
    first, last = await source.first_time(clock), await source.last_time(clock)
    if first is None:
        span = f"no event has a {clock} time"
    elif last is None or last < first:
        span = f"its {clock} time starts at {format_time(first)}"
    else:
        span = f"its {clock} time runs {format_time(first)} → {format_time(last)}"
    if start is not None and end is not None:
        window = f"between {format_time(start)} and {format_time(end)}"
    else:
        window = (
            f"at or after {format_time(start)}" if start is not None else f"at or before {format_time(end)}"
        )
    return f"{source.label}: no event to play {window} on the {clock} clock ({span})"


__all__ = [
    "SourceError",
    "Player",
    "follow_updates",
    "format_time",
    "interactive",
    "load_for_show",
    "nothing_folded",
    "playback",
    "print_frame",
    "view",
    "run_show",
    "show",
]
