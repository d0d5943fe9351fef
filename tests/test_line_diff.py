"""The live view writes only what changed (issue 15 item 2, ``dashboard.line_diff``), and the screen stays the
one a full repaint leaves:

* unit: the diff of known frames (changed runs of cells only, a line with a wide character rewritten whole);
  full repaints on the first frame, after ``invalidate`` (resize, resume), after other output, for a frame of
  another height, and as the safety net; through the ``TerminalWriter``, a frame dropped as stale is never
  diffed against;
* through tmux (the reference terminal): 160 market hours of a real run drawn by Rich ``Live`` through the diff
  path in one pane and by full repaints in another, with a resize half way: ``capture-pane -e`` (text and
  colours) equal after each half.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from support_terminal import BlockedStream, Pane

from arbdash.dashboard.line_diff import HOME, ScreenDiff, cells, diff_frame, diff_line
from arbdash.dashboard.terminal_writer import TerminalWriter

ROOT = Path(__file__).resolve().parent.parent
BOLD = "\x1b[1m"
RESET = "\x1b[0m"


def _frame(*lines: str) -> str:
    return HOME + "\n".join(lines)


def test_a_changed_figure_is_written_as_its_run_of_cells_only() -> None:
    old = f"│ net {BOLD}-24.91{RESET} USD · fees 18.89   │"
    new = f"│ net {BOLD}-25.07{RESET} USD · fees 18.89   │"
    assert cells(old) is not None and len(cells(old)) == len(cells(new))  # type: ignore[arg-type]
    # columns 9..12 ("4.91" → "5.07", bold): cursor to row 3, column 9, the style, the cells, a reset
    assert diff_line(3, old, new) == f"\x1b[3;9H{BOLD}5.07{RESET}"
    assert diff_line(3, old, old) == ""
    # two changes further apart than GAP: two runs; closer: one
    a, b = "x" * 40, "y" + "x" * 20 + "y" + "x" * 18
    assert diff_line(1, a, b) == "\x1b[1;1Hy\x1b[1;22Hy"
    assert diff_line(1, a, b, gap=30) == "\x1b[1;1H" + b[:22]
    # an unstyled run between styled ones: the reset and the next style are written where they change
    old = f"{BOLD}ab{RESET}cd{BOLD}ef{RESET}"
    new = f"{BOLD}aB{RESET}Cd{BOLD}Ef{RESET}"
    assert diff_line(1, old, new) == f"\x1b[1;2H{BOLD}B{RESET}Cd{BOLD}E{RESET}"


def test_a_line_with_a_wide_or_combining_character_is_rewritten_whole() -> None:
    old = "│ stage 4. 👀 Monitoring Position   │"
    new = "│ stage 5. 👀 Monitoring Position   │"
    assert cells(new) is None
    assert diff_line(2, old, new) == f"\x1b[2;1H{new}"
    assert diff_line(2, "ab", "a\u0301b") == "\x1b[2;1Ha\u0301b"
    assert diff_line(2, "ab", "ac", runs=False) == "\x1b[2;1Hac"  # line level: always the whole line


def test_screen_diff_full_repaints_and_changed_lines() -> None:
    now = [0.0]
    diff = ScreenDiff(rows=lambda: 3, full_every_s=300, clock=lambda: now[0])
    a = _frame("aaaa", "bbbb", "cccc")
    b = _frame("aaaa", "bBbb", "cccc")

    def write(chunk: str) -> str:
        plan = diff.plan(chunk)
        diff.written(plan)
        return plan.text

    assert write(a) == a  # nothing on screen yet: in full
    assert write(b) == "\x1b[2;2HB"  # only the changed cell
    assert write(b) == HOME  # nothing changed: 3 bytes (the terminal is still asked to take something)
    diff.invalidate()  # a resize, a resume after Ctrl-Z
    assert write(a) == a
    assert write(b) == "\x1b[2;2HB"
    assert write("\x1b[?25h") == "\x1b[?25h"  # other output: what is on screen is not known any more
    assert write(a) == a
    assert write(_frame("aaaa", "bbbb", "cccc", "dddd")) != "" and write(a) == a  # another height: in full
    now[0] = 301.0  # the safety net
    assert write(b) == b
    assert write(a) == "\x1b[2;2Hb"
    assert (diff.full_frames, diff.diff_frames) == (5, 4)
    assert diff_frame(["ab", "cd"], ["ab", "ce"]) == "\x1b[2;2He"


def test_a_frame_printed_over_another_height_is_no_base() -> None:
    """Text Rich printed above the frame (``redirect_stdout``) arrives as home + text + frame: more lines than
    the terminal has rows. It is written as is and the frame after it is a full repaint."""
    diff = ScreenDiff(rows=lambda: 2)
    first = diff.plan(_frame("aa", "bb"))
    diff.written(first)
    printed = diff.plan(_frame("hello", "aa", "bb"))
    assert printed.text == _frame("hello", "aa", "bb") and printed.lines is None
    diff.written(printed)
    assert diff.plan(_frame("aa", "bc")).full


def test_a_dropped_frame_is_never_diffed_against() -> None:
    """The writer thread diffs against the frame it last *wrote*: frames 1, 2 (dropped as stale), 3 → the
    terminal gets 1 in full, then 3 as its changes against 1."""
    stream = BlockedStream()
    stream.release.set()
    writer = TerminalWriter(stream, frame_min_chars=8, diff=ScreenDiff(rows=lambda: 2))  # type: ignore[arg-type]
    frames = [_frame(f"line{n}-aaaa", f"stay-{n % 2}-bbb") for n in range(4)]
    try:
        writer.write(frames[0])
        writer.flush()
        assert writer.wait_idle(5)
        stream.release.clear()
        stream.entered.clear()
        writer.write(frames[1])
        writer.flush()
        assert stream.entered.wait(5)  # frame 1 is being written (as its diff against frame 0)
        for f in frames[2:]:
            writer.write(f)
            writer.flush()
        assert writer.frames_dropped == 1  # frame 2 never reaches the terminal
        stream.release.set()
        assert writer.wait_idle(5)
        f0, f1, f3 = (f[len(HOME) :].split("\n") for f in (frames[0], frames[1], frames[3]))
        assert stream.text == [frames[0], diff_frame(f0, f1), diff_frame(f1, f3)]
        assert stream.text[2] == "\x1b[1;5H3"  # "stay-1" is on screen (from frame 1): unchanged, not written
    finally:
        stream.release.set()
        writer.close(1.0)


_DRAW = """
import signal, sys, time
from pathlib import Path
import orjson
from rich.console import Console
from rich.live import Live
from arbdash.dashboard.line_diff import ScreenDiff
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import build_layout
from arbdash.dashboard.snapshot import LIVE_CLOSED_ROWS
from arbdash.dashboard.terminal_writer import TerminalWriter

log, mode, frames, done = sys.argv[1:]
console = None
diff = ScreenDiff(rows=lambda: console.size.height) if mode == "diff" else None
writer = TerminalWriter(sys.stdout, diff=diff)
signal.signal(signal.SIGWINCH, lambda *_: writer.invalidate())  # as DashboardService does
console = Console(file=writer)
live = Live(console=console, screen=True, auto_refresh=False)
live.start()
reducer, hour, n = Reducer(), None, 0
with open(log, "rb") as fh:
    for raw in fh:
        market = orjson.loads(raw).get("market_ts") or ""
        if hour is not None and market[:13] != hour:
            live.update(build_layout(reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)), refresh=True)
            writer.wait_idle(10)
            n += 1
            if n % int(frames) == 0:  # a batch drawn: say so, wait for the test (it resizes the pane)
                Path(done).write_text(f"{n} {diff.diff_frames if diff else 0} {diff.full_frames if diff else n}")
                go = Path(done + ".go")
                while not go.exists():
                    time.sleep(0.05)
                go.unlink()
        hour = market[:13] or hour
        reducer.feed_line(raw.rstrip(b"\\n"))
"""


def test_the_diff_path_leaves_the_screen_a_full_repaint_leaves(
    pane_factory: Callable[..., Pane], real_log: Path, tmp_path: Path
) -> None:
    """Two batches of 80 market hours (positions opened and closed, the timeline scrolling, figures moving), the
    second after a resize from 120×40 to 100×30: after each, both panes show the same text and colours."""
    script = tmp_path / "draw.py"
    script.write_text(_DRAW)
    frames = 80
    panes = {}
    for mode in ("full", "diff"):
        pane = panes[mode] = pane_factory(width=120, height=40)
        done = tmp_path / f"{mode}.done"
        pane.keys(f"cd {ROOT} && {sys.executable} {script} {real_log} {mode} {frames} {done}", "Enter")
    for batch, size in enumerate([(120, 40), (100, 30)], 1):
        if batch > 1:  # a resize between two batches: a full repaint, then diffs at the new size
            for mode, pane in panes.items():
                pane.tmux("resize-window", "-t", "t", "-x", str(size[0]), "-y", str(size[1]))
                (tmp_path / f"{mode}.done").write_text("")
                (tmp_path / f"{mode}.done.go").write_text("")
        for mode, pane in panes.items():
            done = tmp_path / f"{mode}.done"
            pane.wait(lambda done=done: done.exists() and done.read_text(), f"the {mode} pane's frames")
        drawn, diffs, fulls = map(int, (tmp_path / "diff.done").read_text().split())
        assert (
            drawn == batch * frames and diffs >= drawn - 2 * batch and fulls >= batch
        )  # diffs did the drawing
        full_screen = panes["full"].tmux("capture-pane", "-p", "-e", "-t", "t")
        diff_screen = panes["diff"].tmux("capture-pane", "-p", "-e", "-t", "t")
        assert "positions" in full_screen and panes["diff"].flags().split()[1] == "1"  # the alternate screen
        assert len(full_screen.splitlines()) == size[1]
        assert diff_screen == full_screen
