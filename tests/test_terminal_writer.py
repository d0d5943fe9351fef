"""A terminal that stops reading never stops the bot (DESIGN invariant 2): the dashboard's terminal output goes
through ``dashboard.terminal_writer.TerminalWriter``, whose ``write``/``flush`` never wait on the terminal.

* unit: the writer against a stream whose ``write`` blocks until released — calls return at once, stale frames
  are dropped and counted, small control chunks are kept in order, ``close`` with a timeout returns;
* integration: a real ``runbot --dashboard-mode=live`` (the shipped config over one market day at 8 market
  hours per second, redrawn every 0.05 s: many frames, a few seconds) whose terminal is a pty nobody reads keeps
  going: its JSONL reaches ``session.stopped`` while nothing has read the pty (a bot blocked on the terminal
  would stop after its first frames), with the record of the same run on a pty that is read; once the pty is
  drained the run exits and the terminal is handed back (cursor shown, alternate screen left).

No timings: "returns at once" is shown by returning while the stream is still held (a call that waited could not),
with generous joins and deadlines as hang guards only.
"""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import yaml
from support_terminal import BlockedStream

from arbdash.dashboard.terminal_writer import TerminalWriter

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
RUNBOT = Path(sys.executable).with_name("runbot")
JOIN_S = 60.0  # a hang guard for calls that must return while the stream is held, not a speed claim
STALLED_RUN_S = 300.0  # a hang guard for the run on a pty nobody reads (it takes seconds), not a speed claim


class HeldStream(BlockedStream):
    """A ``BlockedStream`` that holds a write longer than any hang guard here (until ``release``)."""

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(10 * JOIN_S)
        self.text.append(text)
        return len(text)


def _returns_while_held(call: Callable[[], object]) -> list[object]:
    """Run ``call`` on a thread of its own and wait for it at most ``JOIN_S``; its result, in a list (empty if it
    did not return: a call that waits for a held stream fails the caller's check instead of hanging the test)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(JOIN_S)
    return result


def _frame(n: int) -> str:
    return f"\x1b[HFRAME {n} " + "x" * 1000


def test_write_and_flush_return_at_once_while_the_stream_blocks_and_stale_frames_are_dropped() -> None:
    stream = HeldStream()
    writer = TerminalWriter(stream, frame_min_chars=256)  # type: ignore[arg-type]
    try:
        assert writer.isatty()
        writer.write("\x1b[?1049h")  # alternate screen: small, kept
        writer.flush()
        assert stream.entered.wait(JOIN_S)  # the thread is now stuck in the stream's write

        def draw() -> bool:
            writer.write("\x1b[?25l")  # cursor hidden: small, kept
            writer.flush()
            for n in range(1, 501):
                writer.write(_frame(n)[:500])  # a frame arrives in pieces, goes out as one chunk
                writer.write(_frame(n)[500:])
                writer.flush()
            writer.write("\x1b[?25h")
            writer.flush()
            writer.write("\x1b[?1049l")
            writer.flush()
            return True

        # 500 frames while the stream is stuck: every call returned before it was released, none waited on it
        assert _returns_while_held(draw) == [True] and not stream.text
        assert writer.frames_dropped == 499  # every frame but the newest one
        assert (
            writer.pending == 5
        )  # the stuck alt-screen chunk + cursor hide, frame 500, cursor show, alt exit
        stream.release.set()
        assert writer.wait_idle(JOIN_S)
        assert stream.text == ["\x1b[?1049h", "\x1b[?25l", _frame(500), "\x1b[?25h", "\x1b[?1049l"]
        assert writer.chunks_written == 5 and writer.chunks_dropped == 0
    finally:
        stream.release.set()
        writer.close(1.0)


def test_close_with_a_stuck_stream_returns_in_time_and_still_delivers_the_control_chunks_later() -> None:
    stream = HeldStream()
    writer = TerminalWriter(stream, frame_min_chars=256)  # type: ignore[arg-type]
    try:
        writer.write(_frame(1))
        writer.flush()
        assert stream.entered.wait(JOIN_S)
        writer.write(_frame(2))
        writer.flush()
        writer.write("\x1b[?25h\x1b[?1049l")  # the exit sequences, queued behind a frame
        writer.flush()
        # the terminal took nothing: close gives up after its timeout, returning while the stream is still held
        assert _returns_while_held(lambda: writer.close(timeout=0.2)) == [False] and not stream.text
        assert writer.frames_dropped == 1  # frame 2 will never be drawn …
        writer.write("after close")  # … and nothing new is taken
        writer.flush()
        stream.release.set()  # the terminal reads again: it still gets the exit sequences, last
        deadline = time.monotonic() + JOIN_S  # a hang guard
        while writer.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stream.text == [_frame(1), "\x1b[?25h\x1b[?1049l"]
    finally:
        stream.release.set()


def test_a_broken_stream_is_reported_once_to_the_caller() -> None:
    class Broken(BlockedStream):
        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

    writer = TerminalWriter(Broken())  # type: ignore[arg-type]
    writer.write("x")
    writer.flush()
    assert writer.wait_idle(5)  # nothing more can be delivered: not a hang
    assert isinstance(writer.error, OSError)
    try:
        writer.write("y")
    except OSError:
        pass
    else:
        raise AssertionError("the broken stream was not reported")
    writer.write("z")  # reported once; afterwards text is discarded quietly
    writer.flush()
    assert writer.close(0.5)


def test_a_real_file_is_written_through_its_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("before ")  # buffered in the stream itself: goes out first
        writer = TerminalWriter(stream)
        assert writer.fileno() == stream.fileno() and writer.encoding.lower().replace("-", "") == "utf8"
        writer.write("é ")
        writer.write(_frame(1))
        writer.flush()
        assert writer.close(5)
    assert path.read_text(encoding="utf-8") == "before é " + _frame(1)


# --- integration: runbot on a pty nobody reads --------------------------------------------------------------


def short_config(tmp_path: Path) -> Path:
    """The shipped config over one market day at 8 market hours per wall second, redrawn every 0.05 s."""
    config = yaml.safe_load(CONFIG.read_text())
    config["market"].update(
        start="2026-03-01T00:00:00+00:00", end="2026-03-02T00:00:00+00:00", speed=8 * 3600
    )
    config["dashboard"].update(refresh_interval_s=0.05, idle_refresh_interval_s=0.05)
    path = tmp_path / "short.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class PtyRun:
    """``runbot --dashboard-mode=live`` with a pty as its terminal (stdin, stdout, stderr)."""

    def __init__(self, config: Path, log_dir: Path, *, read: bool) -> None:
        self.log_dir = log_dir
        self.master, slave = pty.openpty()
        subprocess.run(["stty", "-F", os.ttyname(slave), "cols", "140", "rows", "50"], check=False)
        env = {**os.environ, "TERM": "xterm", "COLUMNS": "140", "LINES": "50"}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [str(RUNBOT), "--config", str(config), "--dashboard-mode=live", "--log-dir", str(log_dir)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.output = bytearray()
        self._reader: threading.Thread | None = None
        if read:
            self.drain()

    def drain(self) -> None:
        """Start reading the pty (until the process has closed it)."""

        def read() -> None:
            with contextlib.suppress(OSError):
                while chunk := os.read(self.master, 65536):
                    self.output += chunk

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def lines(self) -> list[bytes]:
        found = list(self.log_dir.glob("*.jsonl"))
        return found[0].read_bytes().splitlines() if found else []

    def stopped(self) -> bool:
        lines = self.lines()
        return bool(lines) and orjson.loads(lines[-1])["event"] == "session.stopped"

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_runbot_on_a_terminal_nobody_reads_keeps_going_and_restores_the_terminal(tmp_path: Path) -> None:
    config = short_config(tmp_path)
    undisturbed = PtyRun(config, tmp_path / "read", read=True)
    try:
        assert undisturbed.finish(120) == 0
    finally:
        undisturbed.kill()
    assert undisturbed.stopped()
    undisturbed_lines = len(undisturbed.lines())

    stalled = PtyRun(config, tmp_path / "stalled", read=False)
    try:
        # nobody reads: the bot still runs to the end of its market window (a bot blocked on the terminal
        # stops after its first frames and never gets there, however long it is given)
        deadline = time.monotonic() + STALLED_RUN_S  # a hang guard
        while not stalled.stopped() and time.monotonic() < deadline and stalled.proc.poll() is None:
            time.sleep(0.05)
        assert stalled.stopped(), (len(stalled.lines()), undisturbed_lines)
        assert (
            len(stalled.lines()) >= 0.9 * undisturbed_lines
        )  # same window, same record (give or take health)
        spells = [
            ev
            for ev in map(orjson.loads, stalled.lines())
            if ev["event"] == "session.health" and ev.get("component") == "terminal"
        ]
        assert spells and spells[0]["health"] == "degraded"  # the record says the terminal stopped reading

        stalled.drain()  # the terminal reads again: the run exits and hands the terminal back
        assert stalled.finish(60) == 0
    finally:
        stalled.kill()
    out = bytes(stalled.output)
    assert b"\x1b[?1049h" in out and b"\x1b[?25l" in out  # it did take the terminal
    last_alt = max(out.rfind(b"\x1b[?1049h"), out.rfind(b"\x1b[?1049l"))
    last_cursor = max(out.rfind(b"\x1b[?25l"), out.rfind(b"\x1b[?25h"))
    assert out[last_alt : last_alt + 8] == b"\x1b[?1049l"  # the alternate screen was left …
    assert out[last_cursor : last_cursor + 6] == b"\x1b[?25h"  # … and the cursor shown, last
