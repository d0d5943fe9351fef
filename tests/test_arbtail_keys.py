"""``arbtail`` playback keys: decoding what a terminal sends, the terminal restored on every exit path (a real
pty), the ``Player``'s pause / step / jump / speed / quit driven through ``playback`` with a fake clock, the
status bar, and the whole thing in a tmux pane (space, n, q; the shell prompt and ``stty`` afterwards).

Expected waits and jump targets are worked out from the log the test writes (its ``ts`` values), never typed in.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import pty
import random
import re
import signal
import sys
import termios
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_builder import Events, mark, round_trip
from rich.console import Console

from arbdash.dashboard import keys as arbtail_keys
from arbdash.dashboard.keys import ESC_TIMEOUT_S, KeyDecoder, KeyReader, terminal_keys
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.dashboard.timeaxis import line_time
from arbdash.tools.arbtail_view import JUMP_PLAYBACK_S, KEY_RACE_MIN_S, Player, format_time, playback

BASE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def write_log(path: Path, count: int, gap_s: Callable[[int], float]) -> list[datetime]:
    """A session of ``count`` events (a round trip, then mark prices); event ``i`` is ``gap_s(i)`` seconds after
    event ``i - 1``. Returns the events' ``ts``."""
    e = Events()
    opening, closing = round_trip(e)
    evs = opening + closing
    while len(evs) < count:
        evs.append(mark(e, "binance", f"{100 + len(evs) % 7}.00"))
    evs = evs[:count]
    ts = [BASE]
    for i in range(1, count):
        ts.append(ts[-1] + timedelta(seconds=gap_s(i)))
    for ev, t in zip(evs, ts, strict=True):
        ev["ts"] = t.isoformat()
    path.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in evs))
    return ts


class Clock:
    """A fake monotonic clock and ``sleep``: each sleep is recorded and moves the clock; ``at[n]`` are keys typed
    during the ``n``-th sleep (1-based)."""

    def __init__(self, keys: asyncio.Queue[str], at: dict[int, list[str]] | None = None) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.keys = keys
        self.at = at or {}

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        for key in self.at.get(len(self.waits), []):
            self.keys.put_nowait(key)


def run_playback(
    path: Path,
    speed: float,
    at: dict[int, list[str]],
    driver: Callable[[asyncio.Task[None], Reducer, asyncio.Queue[str], Clock], Any] | None = None,
    console: Console | None = None,
) -> tuple[Reducer, Clock]:
    """``playback`` of ``path`` with keys typed during given sleeps and, optionally, a ``driver`` coroutine that
    types more while the playback runs."""
    reducer = Reducer()

    async def main() -> Clock:
        keys: asyncio.Queue[str] = asyncio.Queue()
        clock = Clock(keys, at)
        task = asyncio.create_task(
            playback(
                JsonlSource(path),
                reducer,
                console or Console(file=io.StringIO(), width=120),
                120,
                speed=speed,
                start=None,
                end=None,
                sleep=clock.sleep,
                keys=keys,
                now=lambda: clock.now,
            )
        )
        if driver is not None:
            await driver(task, reducer, keys, clock)
        await asyncio.wait_for(task, 10)
        return clock

    return reducer, asyncio.run(main())


async def settle(task: asyncio.Task[None], rounds: int = 500) -> None:
    """Let the playback run as far as it can (it never sleeps for real here: only a key wait stops it)."""
    for _ in range(rounds):
        if task.done():
            return
        await asyncio.sleep(0)


def gaps(ts: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(ts)]


def uneven(i: int) -> float:
    return 10.0 * (1 + i % 3)  # 20, 30, 10, 20, … seconds: every wait different from its neighbours


# --- decoding ---------------------------------------------------------------------------------------------


def test_decoder_keys_and_escape_sequences() -> None:
    d = KeyDecoder()
    assert d.feed(b"q n+-=j\r") == ["q", "space", "n", "+", "-", "=", "j", "enter"]
    assert d.feed(b"\x1b[C\x1b[D\x1b[A\x1b[B") == ["right", "left", "up", "down"]
    assert d.feed(b"\x1bOC\x1bOD") == ["right", "left"]  # application cursor mode
    assert d.feed(b"\x1b[1;5C") == ["right"]  # with parameters (Ctrl-Right)
    assert d.feed(b"\x1b[2~\x1b[15~x") == ["x"]  # Insert, F5: not ours, dropped whole


def test_decoder_keeps_split_sequences_and_flushes_a_lone_escape() -> None:
    d = KeyDecoder()
    assert d.feed(b"\x1b") == [] and d.pending
    assert d.feed(b"[") == [] and d.pending
    assert d.feed(b"Cn") == ["right", "n"] and not d.pending
    assert d.feed(b"\x1b") == []
    assert d.flush() == ["esc"] and not d.pending
    assert d.feed("é".encode()[:1]) == []  # half a UTF-8 character waits for the rest
    assert d.feed("é".encode()[1:]) == ["é"]
    assert d.feed(b"\x1bq") == ["esc", "q"]  # Alt+q / Escape typed fast, then q


def test_decoder_never_raises_on_garbage() -> None:
    rng = random.Random(4)
    d = KeyDecoder()
    for _ in range(2000):
        keys = d.feed(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))))
        assert all(isinstance(k, str) and k for k in keys)
    d.flush()


# --- the terminal: a real pty --------------------------------------------------------------------------------


def _pty() -> tuple[int, int]:
    master, slave = pty.openpty()
    return master, slave


def test_reader_decodes_keys_from_a_tty_and_restores_after_an_exception() -> None:
    master, slave = _pty()
    try:
        before = termios.tcgetattr(slave)
        seen: list[str] = []

        async def main() -> None:
            with KeyReader(slave) as reader:
                lflag = termios.tcgetattr(slave)[3]
                assert not lflag & termios.ICANON and not lflag & termios.ECHO  # cbreak while inside
                assert lflag & termios.ISIG  # Ctrl-C still interrupts
                os.write(master, b" \x1b[Cq")
                for _ in range(3):
                    seen.append(await asyncio.wait_for(reader.queue.get(), 5))
                os.write(master, b"\x1b")  # a lone Escape: a key once nothing follows
                seen.append(await asyncio.wait_for(reader.queue.get(), 5 + ESC_TIMEOUT_S))
                raise RuntimeError("inside the loop")

        with pytest.raises(RuntimeError, match="inside the loop"):
            asyncio.run(main())
        assert seen == ["space", "right", "q", "esc"]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_reader_restores_on_keyboard_interrupt() -> None:
    master, slave = _pty()
    try:
        before = termios.tcgetattr(slave)

        async def main() -> None:
            with KeyReader(slave):
                assert termios.tcgetattr(slave) != before
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            asyncio.run(main())
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_reader_restores_on_sigterm_and_sighup(sig: signal.Signals) -> None:
    """The handler restores the terminal, then exits with 128 + signal through the caller's ``finally`` blocks;
    the handler it replaced is back afterwards."""
    master, slave = _pty()
    previous = signal.getsignal(sig)
    cleaned: list[bool] = []
    try:
        before = termios.tcgetattr(slave)

        async def main() -> None:
            with KeyReader(slave):
                try:
                    os.kill(os.getpid(), sig)
                    await asyncio.sleep(5)  # the signal arrives here (or before)
                finally:  # runs before the ``with`` restores: the handler did it already
                    cleaned.append(termios.tcgetattr(slave) == before)

        with pytest.raises(SystemExit) as exc:
            asyncio.run(main())
        assert exc.value.code == 128 + sig
        assert cleaned == [True]
        assert termios.tcgetattr(slave) == before
        assert signal.getsignal(sig) == previous
    finally:
        signal.signal(sig, previous)
        os.close(master)
        os.close(slave)


def test_terminal_keys_is_a_no_op_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> list[object]:
        got = []
        with terminal_keys(True) as reader:  # pytest's stdin is no terminal
            got.append(reader)
        monkeypatch.setattr(arbtail_keys, "keys_available", lambda: True)
        with terminal_keys(False) as reader:  # --no-keys: not even looked at
            got.append(reader)
        return got

    assert asyncio.run(main()) == [None, None]


# --- the player, driven through playback ---------------------------------------------------------------------


def test_pause_stops_folding_until_resumed(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    ts = write_log(path, 24, uneven)
    state: dict[str, int] = {}

    async def driver(task: asyncio.Task[None], r: Reducer, keys: asyncio.Queue[str], clock: Clock) -> None:
        await settle(task)
        assert not task.done(), "space did not pause the playback"
        state["paused_at"], state["waits"] = r.stats.applied, len(clock.waits)
        await settle(task)
        assert (r.stats.applied, len(clock.waits)) == (
            state["paused_at"],
            state["waits"],
        )  # no fold, no sleep loop
        keys.put_nowait("space")

    r, clock = run_playback(path, 1.0, {2: ["space"]}, driver)
    # typed during the 2nd wait: the event after it still folds (the first needs no wait), then nothing
    assert state == {"paused_at": 3, "waits": 2}
    assert r.stats.applied == len(ts)
    # resumed where it paused: every gap waited once, at speed 1
    assert clock.waits == pytest.approx(gaps(ts))


def test_step_folds_exactly_one_event(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    ts = write_log(path, 24, uneven)
    applied: list[int] = []

    async def driver(task: asyncio.Task[None], r: Reducer, keys: asyncio.Queue[str], clock: Clock) -> None:
        await settle(task)
        applied.append(r.stats.applied)
        for key in ("n", "right", "n"):
            keys.put_nowait(key)
            await settle(task)
            applied.append(r.stats.applied)
        keys.put_nowait("q")

    r, clock = run_playback(path, 1.0, {3: ["space"]}, driver)
    assert applied == [4, 5, 6, 7]
    assert r.stats.applied == 7 < len(ts)
    assert len(clock.waits) == 3  # steps never wait


def test_step_while_playing_pauses_after_one_event(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    write_log(path, 24, uneven)
    held: list[int] = []

    async def driver(task: asyncio.Task[None], r: Reducer, keys: asyncio.Queue[str], clock: Clock) -> None:
        await settle(task)
        held.append(r.stats.applied)
        keys.put_nowait("q")

    r, _ = run_playback(path, 1.0, {2: ["n"]}, driver)
    assert held == [4]  # event 3 after the 2nd wait, then exactly one more


def test_jump_folds_up_to_the_computed_time_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    speed = 7.0  # a jump of 70 s of log, ending between two events
    ts = write_log(path, 30, uneven)
    r, clock = run_playback(path, speed, {1: ["j"]})
    # "j" typed during the first wait: the position is still the first event's time
    target = ts[0] + timedelta(seconds=JUMP_PLAYBACK_S * speed)
    landed = next(i for i, t in enumerate(ts) if t > target)  # first event after the jump
    assert landed > 2, "the test log must have several events inside one jump"
    expected = [gaps(ts)[0] / speed, (ts[landed] - target).total_seconds() / speed] + [
        g / speed for g in gaps(ts)[landed:]
    ]
    assert clock.waits == pytest.approx(expected)
    assert r.stats.applied == len(ts)


def test_jump_while_paused_stays_paused(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    speed = 3.0
    ts = write_log(path, 30, uneven)
    held: list[int] = []

    async def driver(task: asyncio.Task[None], r: Reducer, keys: asyncio.Queue[str], clock: Clock) -> None:
        await settle(task)
        keys.put_nowait("j")
        await settle(task)
        held.append(r.stats.applied)
        keys.put_nowait("q")

    r, clock = run_playback(path, speed, {1: ["space"]}, driver)
    # paused after event 1 (position ts[1]); the jump folds every event up to ts[1] + JUMP × speed, no further
    target = ts[1] + timedelta(seconds=JUMP_PLAYBACK_S * speed)
    assert held == [sum(1 for t in ts if t <= target)]
    assert len(clock.waits) == 1


def test_speed_keys_scale_the_waits(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    ts = write_log(path, 12, uneven)
    speed = 2.0
    r, clock = run_playback(path, speed, {2: ["+"], 4: ["-", "-"]})
    # each key acts from the event after the wait it was typed in
    g = gaps(ts)
    speeds = [speed, speed, speed * 2, speed * 2] + [speed / 2] * (len(g) - 4)
    assert clock.waits == pytest.approx([gap / s for gap, s in zip(g, speeds, strict=True)])
    assert r.stats.applied == len(ts)


def test_speed_keys_stay_within_limits() -> None:
    player = Player(0.001)
    player.press("-")
    assert player.speed == 0.001
    for _ in range(40):
        player.press("+")
    assert player.speed == 1_000_000.0


def test_quit_ends_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.jsonl"
    ts = write_log(path, 24, uneven)
    r, clock = run_playback(path, 1.0, {3: ["q"]})
    assert r.stats.applied == 4 < len(ts)  # the event after the 3rd wait folds, then it stops
    assert len(clock.waits) == 3
    assert "positions" in capsys.readouterr().out  # the last frame is still printed


def test_short_waits_read_keys_before_the_next_event(tmp_path: Path) -> None:
    """Waits under ``KEY_RACE_MIN_S`` are not raced against the keyboard; a key typed then acts at the same
    point as one typed during a long wait."""
    path = tmp_path / "s.jsonl"
    write_log(path, 24, lambda i: KEY_RACE_MIN_S / 4)
    r, clock = run_playback(path, 1.0, {3: ["q"]})
    assert r.stats.applied == 4 and len(clock.waits) == 3


def test_no_keys_no_status_bar_and_plain_pacing(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    ts = write_log(path, 12, uneven)
    waits: list[float] = []
    now = [0.0]

    async def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    asyncio.run(
        playback(
            JsonlSource(path),
            Reducer(),
            Console(file=io.StringIO(), width=120),
            120,
            speed=5,
            start=None,
            end=None,
            sleep=sleep,
            now=lambda: now[0],
        )
    )
    assert waits == pytest.approx([g / 5 for g in gaps(ts)])


# --- the status bar -----------------------------------------------------------------------------------------


def test_status_bar_text() -> None:
    player = Player(600)
    player.advance(BASE + timedelta(seconds=1.5))
    player.press("space")
    line = player.status().plain
    assert line.split()[:3] == ["paused", "×600", format_time(player.clock)]
    assert format_time(player.clock) == "2026-03-10T12:00:01.500Z"
    assert "event 1" in line and "q quit" in line
    player.press("space")
    assert player.status().plain.split()[0] == "playing"


def test_live_view_shows_the_status_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    path = tmp_path / "s.jsonl"
    write_log(path, 24, uneven)
    out = io.StringIO()
    console = Console(file=out, width=120, height=40, force_terminal=True)
    seen: list[str] = []

    async def driver(task: asyncio.Task[None], r: Reducer, keys: asyncio.Queue[str], clock: Clock) -> None:
        await settle(task)
        seen.append(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue()))
        keys.put_nowait("q")

    run_playback(path, 1.0, {2: ["space"]}, driver, console=console)
    (text,) = seen
    assert " playing " in text and " paused " in text and "space pause" in text


def test_line_time_is_the_one_time_axis() -> None:
    assert line_time(b'{"ts":"2026-03-10T12:00:00+00:00"}', "wall") == BASE
    for bad in (b"", b"{}", b'{"ts":"2026-03-10T12:00:00"}', b'{"ts":5}', b"not json", b'{"ts":"yesterday"}'):
        assert line_time(bad, "wall") is None


# --- in a terminal: tmux -----------------------------------------------------------------------------------

ARBTAIL = Path(sys.executable).with_name("arbtail")


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_keys_in_tmux(tmp_path: Path, pane_factory: Callable[..., Any]) -> None:
    from support_terminal import assert_terminal_usable

    path = tmp_path / "s.jsonl"
    write_log(path, 200, lambda i: 60.0)  # 200 minutes of log: 12 s at --speed 1000
    pane = pane_factory()
    pane.keys(f"{ARBTAIL} {path} --speed 1000 --clock wall", "Enter")  # the test log has wall times only

    def status() -> str:
        lines = [ln for ln in pane.text().splitlines() if "q quit" in ln]
        return lines[-1] if lines else ""

    def played(line: str) -> int:
        found = re.search(r"event (\d+)", line)
        return int(found.group(1)) if found else -1

    pane.wait(lambda: status().split()[:1] == ["playing"] and played(status()) > 1, "the playback to run")
    pane.keys("Space")
    paused = pane.wait(
        lambda: status() if status().split()[:1] == ["paused"] else None, "the status bar: paused"
    )
    assert pane.flags() == "0 1"  # alternate screen, cursor hidden
    stepped = played(paused) + 1
    pane.keys("n")
    pane.wait(lambda: played(status()) == stepped, "one step")
    pane.keys("q")
    pane.wait(lambda: pane.flags() == "1 0", "arbtail to give the terminal back")
    assert_terminal_usable(pane, expect_rc=0)
    pane.keys("stty -a | tr ';' '\\n' | grep -owE -- '-?(icanon|echo)' | sort | tr '\\n' ' '; echo", "Enter")
    modes = pane.wait(
        lambda: next((ln for ln in pane.text().splitlines() if ln.startswith("echo icanon")), None),
        "stty's answer",
    )
    assert modes.split() == ["echo", "icanon"], pane.text()


async def test_reanchor_after_a_stop_does_not_make_up_the_stopped_time() -> None:
    """Ctrl-Z / ``fg`` while playing: the time the process was stopped is not caught up (events would all fold at
    once); pacing goes on from the current position."""
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(d: float) -> None:
        sleeps.append(d)
        now[0] += d

    player = Player(1.0, sleep=sleep, now=lambda: now[0])
    for k, stopped in ((0, 0.0), (10, 0.0), (20, 100.0)):
        now[0] += stopped
        if stopped:
            player.reanchor()  # what playback's resume() does on SIGCONT
        assert await player.turn(BASE + timedelta(seconds=k))
        player.advance(BASE + timedelta(seconds=k))
    assert sleeps == [10.0, 10.0]


async def test_quit_during_a_long_jump_folds_nothing_more() -> None:
    from arbdash.tools.arbtail_view import JUMP_YIELD_EVERY

    keys: asyncio.Queue[str] = asyncio.Queue()
    player = Player(1000.0, keys=keys)
    player.advance(BASE)
    player.press("j")
    folded = 0
    while await player.turn(BASE + timedelta(milliseconds=folded + 1)):
        folded += 1
        if folded == JUMP_YIELD_EVERY // 2:
            keys.put_nowait("q")
    assert folded < JUMP_YIELD_EVERY  # the q was heard at the jump's next yield and ended it there
