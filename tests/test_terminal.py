"""Terminal hygiene (issue 5 §3), driven through tmux: every exit path of ``runbot --dashboard-mode=live`` leaves
the terminal usable and closes the session.

Each test starts ``runbot`` in a shell in its own tmux server (``tmux -L <unique>``), lets the live dashboard
draw, takes an exit path (Ctrl-C, SIGTERM, SIGHUP, Ctrl-Z + ``fg`` + Ctrl-C, an exception inside the ``Live``
context, a dropped terminal) and then reads the pane: cursor visible and no alternate screen
(``#{cursor_flag} #{alternate_on}`` = ``1 0``), the shell prompt answers an ``echo``, and the session's JSONL
ends with ``session.stopped`` carrying the final health. Waits poll the pane or the process; nothing asserts
on elapsed time.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from support_terminal import Pane, assert_terminal_usable

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (CI installs it)")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
RUNBOT = Path(sys.executable).with_name("runbot")
# ``runbot`` with fault-injection hooks (``--crash-after S``, ``--stray-output``): a test-only wrapper
HOOKED_RUNBOT = f"{sys.executable} {ROOT / 'tests' / 'runbot_hooks.py'}"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Bot:
    """``runbot --dashboard-mode=live`` started in a pane."""

    def __init__(self, pane: Pane, *extra: str, hooks: tuple[str, ...] = ()) -> None:
        self.pane = pane
        self.log_dir = pane.tmp / f"logs-{uuid.uuid4().hex[:6]}"
        runbot = f"{HOOKED_RUNBOT} {' '.join(hooks)}" if hooks else str(RUNBOT)
        pane.keys(
            f"{runbot} --config {CONFIG} --dashboard-mode=live --log-dir {self.log_dir} {' '.join(extra)}",
            "Enter",
        )
        self.pid = pane.wait(lambda: next(iter(_children(pane.shell_pid())), None), "runbot to start")
        pane.wait(lambda: pane.flags().endswith(" 1") and "positions" in pane.text(), "the live dashboard")

    def running(self) -> bool:
        return Path(f"/proc/{self.pid}").exists() and "(Z)" not in _state(self.pid)

    def wait_exit(self) -> None:
        self.pane.wait(lambda: not self.running(), "runbot to exit")

    def last_event(self) -> dict[str, Any]:
        (jsonl,) = self.log_dir.glob("*.jsonl")
        return orjson.loads(jsonl.read_bytes().splitlines()[-1])

    def events(self) -> list[dict[str, Any]]:
        (jsonl,) = self.log_dir.glob("*.jsonl")
        return [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]


def _state(pid: int) -> str:
    try:
        return "(" + Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] + ")"
    except OSError:
        return "(gone)"


def assert_session_closed(bot: Bot, *, reason: str, health: str = "stopped") -> None:
    last = bot.last_event()
    assert last["event"] == "session.stopped", last
    assert last["reason"] == reason and last["health"] == health


# --- exit paths --------------------------------------------------------------------------------------------


def test_ctrl_c(pane_factory: Callable[..., Pane]) -> None:
    pane = pane_factory()
    bot = Bot(pane)
    pane.keys("C-c")
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    assert_session_closed(bot, reason="interrupted")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup(pane_factory: Callable[..., Pane], sig: signal.Signals) -> None:
    pane = pane_factory()
    bot = Bot(pane)
    os.kill(bot.pid, sig)
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    assert_session_closed(bot, reason=f"interrupted by {sig.name}")


def test_terminal_dropped(pane_factory: Callable[..., Pane]) -> None:
    """The SSH connection drops: tmux kills the session (SIGHUP, the pty gone). The session is still closed."""
    pane = pane_factory()
    bot = Bot(pane)
    pane.tmux("kill-session", "-t", "t")
    bot.wait_exit()
    assert_session_closed(bot, reason="interrupted by SIGHUP")


def test_ctrl_z_then_fg(pane_factory: Callable[..., Pane]) -> None:
    pane = pane_factory()
    bot = Bot(pane)
    pane.keys("C-z")
    pane.wait(lambda: _state(bot.pid) == "(T)", "runbot to stop")
    pane.wait(lambda: pane.flags() == "1 0", "the terminal handed back while stopped")
    assert_terminal_usable(pane)  # the shell works while the bot is stopped
    pane.keys("fg", "Enter")
    pane.wait(lambda: pane.flags() == "0 1" and "positions" in pane.text(), "the dashboard back after fg")
    pane.keys("C-c")
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    assert_session_closed(bot, reason="interrupted")


def test_exception_inside_live(pane_factory: Callable[..., Pane]) -> None:
    pane = pane_factory()
    bot = Bot(pane, hooks=("--crash-after", "2"))
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=1)
    assert_session_closed(bot, reason="crashed: RuntimeError", health="error")
    (crash,) = [e for e in bot.events() if e.get("exc_type") == "RuntimeError"]
    assert "injected crash" in crash["exc_message"] and "Traceback" in crash["exc"]


# --- sizes and stray output --------------------------------------------------------------------------------


def _renderer_warnings(bot: Bot) -> list[dict[str, Any]]:
    return [e for e in bot.events() if e.get("component") == "dashboard"]


def test_tiny_terminal_and_resizes(pane_factory: Callable[..., Pane]) -> None:
    tiny = pane_factory(width=10, height=3)
    log_dir = tiny.tmp / "tiny-logs"
    tiny.keys(f"{RUNBOT} --config {CONFIG} --dashboard-mode=live --log-dir {log_dir}", "Enter")
    pid = tiny.wait(lambda: next(iter(_children(tiny.shell_pid())), None), "runbot to start")
    tiny.wait(lambda: tiny.flags().endswith(" 1") and list(log_dir.glob("*.jsonl")), "the live dashboard")
    time.sleep(1.5)  # let it draw a few frames at 10×3
    tiny.tmux("resize-window", "-t", "t", "-x", "60", "-y", "15")
    time.sleep(1.2)
    tiny.keys("C-c")
    tiny.wait(lambda: not Path(f"/proc/{pid}").exists() or "(Z)" in _state(pid), "runbot to exit")
    assert_terminal_usable(tiny, expect_rc=130)

    pane = pane_factory()
    bot = Bot(pane)
    for w, h in ((60, 15), (200, 60), (40, 8), (120, 40)):
        pane.tmux("resize-window", "-t", "t", "-x", str(w), "-y", str(h))
        time.sleep(0.6)
    pane.wait(lambda: "positions" in pane.text(), "a redraw at 120×40")
    pane.keys("C-c")
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    assert_session_closed(bot, reason="interrupted")
    assert _renderer_warnings(bot) == []
    (jsonl,) = log_dir.glob("*.jsonl")
    tiny_events = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    assert tiny_events[-1]["event"] == "session.stopped" and tiny_events[-1]["reason"] == "interrupted"


def test_third_party_output_does_not_corrupt_the_frame(pane_factory: Callable[..., Pane]) -> None:
    """A thread prints to stdout and stderr every 0.2 s while Live runs: Rich routes it, the frame stays whole.

    Rich writes a routed line as "home, the line, the whole frame" (the frame then scrolls it away), so a
    capture taken in the middle of that one write may see the line for an instant: each look waits (briefly)
    for the screen to settle; a frame the stray output really corrupted stays corrupted and fails."""
    pane = pane_factory()
    bot = Bot(pane, hooks=("--stray-output",))

    def whole() -> bool:
        screen = pane.text().splitlines()
        return bool(screen) and screen[0].startswith("╭─ session") and not any("stray" in ln for ln in screen)

    for _ in range(6):
        time.sleep(0.4)
        pane.wait(whole, "a whole frame, no stray line on it")
    pane.keys("C-c")
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    assert_session_closed(bot, reason="interrupted")


def test_live_keys_freeze_help_and_back_to_live(tmp_path: Path) -> None:
    """``runbot``'s live view reads keys (issue 14/15): ``space`` holds the frame (a status bar says the bot goes
    on) while the record grows, ``?`` shows the keys and the legend, ``Tab``/``PgDn`` page the timeline back (its
    border says how much is above), ``End`` is the live frame again; Ctrl-C still stops the bot and the terminal
    is handed back."""
    pane = Pane(tmp_path, width=120, height=40)
    try:
        bot = Bot(pane, "--speed 20000")
        pane.keys("Space")
        pane.wait(
            lambda: " frozen " in pane.text() and "the bot and its record go on" in pane.text(), "frozen"
        )
        held = pane.text().splitlines()[:6]
        grown = len(bot.events())
        pane.wait(lambda: len(bot.events()) > grown + 50, "the record to grow while frozen")
        assert pane.text().splitlines()[:6] == held  # the frame is held
        pane.keys("?")
        pane.wait(lambda: "keys" in pane.text() and "freeze / unfreeze" in pane.text(), "the help page")
        pane.keys("End")
        pane.wait(lambda: " frozen " not in pane.text() and "positions" in pane.text(), "the live frame")
        pane.wait(lambda: pane.text().splitlines()[:6] != held, "the frame to move again")
        pane.keys("Tab", "Tab", "Tab", "PageDown")  # the timeline, a page back
        pane.wait(
            lambda: "paging timeline +5" in pane.text() and " above" in pane.text(), "the timeline paged"
        )
        pane.keys("End")
        pane.wait(lambda: "paging" not in pane.text(), "the live frame again")
        pane.keys("C-c")
        bot.wait_exit()
        pane.wait(lambda: pane.flags() == "1 0", "the terminal back")
        assert_terminal_usable(pane, expect_rc=130)
    finally:
        pane.close()


# --- operator commands from the keys ----------------------------------------------------------------------------


def test_operator_keys_pause_resume_and_close_a_position(pane_factory: Callable[..., Pane]) -> None:
    """``p`` pauses entries (the header says so) and resumes them; ``c`` lists the open positions, a digit picks
    one and ``y`` closes it with ``OPERATOR_CLOSE``; ``F`` then ``n`` cancels a flatten. The record holds each
    command (source ``terminal``) and its outcome."""
    pane = pane_factory(width=160, height=45)
    bot = Bot(pane, "--speed", "36000")
    pane.keys("p")
    pane.wait(lambda: "ENTRIES PAUSED" in pane.text(), "the header to say entries are paused")
    pane.wait(lambda: "pause_entries: entries paused" in pane.text(), "the outcome in the status bar")
    pane.keys("p")
    pane.wait(lambda: "ENTRIES PAUSED" not in pane.text(), "entries resumed")

    def asked() -> bool:
        if "close which position?" in pane.text():
            return True
        pane.keys("Escape")  # no position open yet ("no open position to close"): ask again later
        pane.keys("c")
        return False

    pane.wait(asked, "an open position to close")
    listed = pane.text().split("close which position?")[1].split()[0]  # "1:P0001-BTC"
    pid = listed.split(":", 1)[1]
    pane.keys("1")
    pane.wait(lambda: f"close {pid} now (OPERATOR_CLOSE)? y / n" in pane.text(), "the confirmation")
    pane.keys("y")
    pane.wait(lambda: f"close_position {pid}: {pid} closed" in pane.text(), "the close's outcome")
    pane.keys("F")
    pane.wait(lambda: "and pause entries? y / n" in pane.text(), "the flatten question")
    pane.keys("n")
    pane.wait(lambda: "cancelled" in pane.text(), "the flatten cancelled")
    pane.keys("C-c")
    bot.wait_exit()
    assert_terminal_usable(pane, expect_rc=130)
    events = bot.events()
    received = [e for e in events if e["event"] == "command.received"]
    assert [e["command"] for e in received] == ["pause_entries", "resume_entries", "close_position"]
    assert all(e["source"] == "terminal" and e["command_id"].startswith("term-") for e in received)
    assert sum(e["event"] == "command.executed" for e in events) == 3
    (closed,) = [e for e in events if e["event"] == "position.closed" and e["position_id"] == pid]
    assert closed["reason"] == "OPERATOR_CLOSE"
