"""Operator commands from the live view's keys (``runbot``'s live dashboard), with a confirmation step for what
closes positions.

Keys (shown on the ``?`` page):

* ``p`` — pause new entries, or resume them when paused (``pause_entries`` / ``resume_entries``);
* ``c`` — close one position: the status bar lists the open positions by number; a digit picks one, then
  ``y`` confirms (``close_position``, exit code ``OPERATOR_CLOSE``);
* ``F`` — flatten: close every open position and pause entries, after ``y`` (``flatten_all``);
* ``+`` / ``-`` — raise / lower ``max_positions`` by one (``set_limit``);
* ``Esc`` or ``n`` — cancel a question.

``OperatorKeys`` only turns keys into *requests* — ``{"command": ..., "position_id": ...}`` dicts — and hands
them to ``send`` (the composer's: ``tools/runbot_run.py`` gives each an id, submits it to the bot's command desk
with source ``terminal`` and returns the outcome's message). The dashboard never imports the bot or the desk:
the request goes out through the callable, the outcome comes back as text, and the record (``command.*``
events) comes back through the pipeline like every other event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from arbdash.dashboard.models import DashboardSnapshot

#: ``send(request) → outcome message``: carries a request to the bot (``runbot``'s command desk).
SendCommand = Callable[[dict[str, str]], Awaitable[str]]

#: The keys, for the help page.
OPERATOR_KEY_LINES = (
    ("p", "pause new entries / resume them"),
    ("c, then 1–9, then y", "close that open position (OPERATOR_CLOSE)"),
    ("F, then y", "flatten: close every open position and pause entries"),
    ("+ / -", "raise / lower max_positions by one"),
    ("Esc / n", "cancel a question"),
)
_MAX_PICK = 9


def _open_ids(snap: DashboardSnapshot) -> list[str]:
    """The open positions' ids in the order the positions pane lists them."""
    return [p.position_id for p in snap.positions if p.lifecycle not in ("closed", "rolled_back")]


def _flatten_what(n: int) -> str:
    """What ``F`` closes, in words: ``close the 1 open position`` / ``close all 3 open positions``."""
    if n == 0:
        return "close no position (none is open)"
    if n == 1:
        return "close the 1 open position"
    return f"close all {n} open positions"


class OperatorKeys:
    """The question being asked (``prompt``) and the last answer (``note``); ``press`` handles a key."""

    def __init__(self, send: SendCommand) -> None:
        self.send = send
        self._asking: str | None = None  # "pick" (which position), "close" / "flatten" (y / n)
        self._choices: list[str] = []
        self._target: str | None = None
        self.note: str | None = None  # what the last request came to (or that it is on its way)
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_note: Callable[[], None] | None = None  # the view redraws when an answer arrives

    @property
    def asking(self) -> bool:
        return self._asking is not None

    def prompt(self) -> str | None:
        """The question for the status bar, or ``None``."""
        if self._asking == "pick":
            listed = "  ".join(f"{i}:{pid}" for i, pid in enumerate(self._choices[:_MAX_PICK], 1))
            return f"close which position? {listed}  (Esc cancels)"
        if self._asking == "close":
            return f"close {self._target} now (OPERATOR_CLOSE)? y / n"
        if self._asking == "flatten":
            return f"{_flatten_what(len(self._choices))} and pause entries? y / n"
        return None

    def press(self, key: str, snap: DashboardSnapshot) -> bool:
        """Handle ``key`` (``True``: it was one of these keys, redraw). While a question is open every key
        answers it: ``y`` confirms, a digit picks, anything else cancels."""
        if self._asking is not None:
            return self._answer(key)
        if key == "p":
            self._send({"command": "resume_entries" if snap.session.entries_paused else "pause_entries"})
        elif key == "c":
            self._choices = _open_ids(snap)
            if not self._choices:
                self.note = "no open position to close"
            else:
                self._asking = "pick"
        elif key == "F":
            self._choices = _open_ids(snap)
            self._asking = "flatten"
        elif key in ("+", "-"):
            current = snap.session.max_positions
            if current is None:
                self.note = "max_positions is not known yet (no session.started)"
            else:
                value = max(0, current + (1 if key == "+" else -1))
                self._send({"command": "set_limit", "limit": "max_positions", "value": str(value)})
        else:
            return False
        return True

    def _answer(self, key: str) -> bool:
        asking, self._asking = self._asking, None
        if asking == "pick" and key.isdigit() and 1 <= int(key) <= min(len(self._choices), _MAX_PICK):
            self._target, self._asking = self._choices[int(key) - 1], "close"
        elif asking == "close" and key == "y" and self._target is not None:
            self._send({"command": "close_position", "position_id": self._target})
        elif asking == "flatten" and key == "y":
            self._send({"command": "flatten_all"})
        else:
            self.note = "cancelled"
        return True

    def _send(self, request: dict[str, str]) -> None:
        what = request["command"] + (f" {request['position_id']}" if "position_id" in request else "")
        self.note = f"{what}: sent"

        async def wait() -> None:
            try:
                self.note = f"{what}: {await self.send(request)}"
            except Exception as exc:  # noqa: BLE001 - a failed request is a note on screen, never the bot's end
                self.note = f"{what}: not sent ({type(exc).__name__}: {exc})"
            if self.on_note is not None:
                self.on_note()

        task = asyncio.get_running_loop().create_task(wait(), name="operator-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["OPERATOR_KEY_LINES", "OperatorKeys", "SendCommand"]
