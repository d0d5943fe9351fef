"""Terminal test helpers: a shell in a private tmux server, its usability check, and a stream that blocks."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT_S = 30.0  # upper bound of any wait (a failing test, not a slow one, reaches it)


class Pane:
    """One shell in a private tmux server."""

    def __init__(
        self, tmp: Path, width: int = 120, height: int = 40, env: dict[str, str] | None = None
    ) -> None:
        self.socket = f"arbdash-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "TERM": "xterm-256color",
            "PS1": "$ ",
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        shell = (
            "env -i " + " ".join(f"{k}='{v}'" for k, v in environment.items()) + " bash --norc --noprofile"
        )
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), shell)
        self.wait(lambda: self.text().rstrip().endswith("$"), "the shell prompt")

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def flags(self) -> str:
        """``"<cursor visible> <alternate screen on>"`` — ``"1 0"`` is a terminal handed back in good order."""
        return self.tmux("display", "-p", "-t", "t", "#{cursor_flag} #{alternate_on}").strip()

    def shell_pid(self) -> int:
        return int(self.tmux("display", "-p", "-t", "t", "#{pane_pid}").strip())

    def wait(self, ok: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            result = ok()
            if result:
                return result
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; pane:\n{self.text()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def assert_terminal_usable(pane: Pane, expect_rc: int | None = None) -> None:
    assert pane.flags() == "1 0", pane.text()
    token = f"ok-{random.randrange(10**6, 10**7)}"
    pane.keys(f"echo {token} rc=$?", "Enter")
    line = pane.wait(
        lambda: next((ln for ln in pane.text().splitlines() if ln.startswith(token)), None),
        "the shell to answer",
    )
    if expect_rc is not None:
        assert line.strip() == f"{token} rc={expect_rc}", pane.text()


class BlockedStream:
    """A text stream whose ``write`` waits until ``release`` is set (a terminal that takes nothing)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(10)
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True
