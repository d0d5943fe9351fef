"""Single keypresses from the controlling terminal, for the interactive views (``arbtail``'s, ``runbot``'s live
dashboard), without blocking asyncio.

``KeyReader`` puts the terminal on ``fd`` (stdin) in cbreak mode (``tty.setcbreak``: no line buffering, no echo;
Ctrl-C and Ctrl-Z still send their signals), reads what is typed through ``loop.add_reader`` and puts key names
on an ``asyncio.Queue`` (``KeyDecoder``): printable characters as themselves (``"q"``, ``"+"``), ``"space"``,
``"enter"``, ``"tab"``, ``"backspace"``, ``"esc"``, ``"pgup"``/``"pgdn"``/``"home"``/``"end"``, and the arrows ``"up"``/``"down"``/``"right"``/``"left"`` from
``ESC [ A…D`` (also with parameters, ``ESC [ 1 ; 5 C``) and ``ESC O A…D`` (application cursor mode). Other escape
sequences and control characters are dropped; bytes that are not UTF-8 never raise.

The saved termios attributes are put back on every exit path:

* leaving the ``with`` block — normally, on an exception, on ``KeyboardInterrupt`` (``close``, idempotent);
* SIGTERM and SIGHUP — the handler restores the terminal first, then raises ``SystemExit(128 + signal)`` in the
  main thread, so the caller's ``finally`` blocks (Rich ``Live`` leaving the alternate screen) still run and the
  process exits with the conventional status;
* Ctrl-Z (SIGTSTP) — restored (and ``on_suspend`` called) before the process stops; cbreak again (and
  ``on_resume``) after ``fg``.

A view that handles those signals itself (``runbot``: SIGTERM and SIGHUP close the session, its dashboard service
handles Ctrl-Z) makes the reader with ``signals=False`` and calls ``restore``/``cbreak`` around its own suspend;
leaving the ``with`` block still restores the terminal.

``terminal_keys`` is the switch the views use: a ``KeyReader`` on stdin when keys are wanted and both stdin and
stdout are terminals, else ``None`` (a no-op: nothing changes on the terminal).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: Final byte of ``ESC [ … X`` / ``ESC O X`` → key name.
_ARROWS = {
    ord("A"): "up",
    ord("B"): "down",
    ord("C"): "right",
    ord("D"): "left",
    ord("H"): "home",
    ord("F"): "end",
}
#: ``ESC [ n ~`` (the editing keypad) → key name.
_TILDE = {"1": "home", "7": "home", "4": "end", "8": "end", "5": "pgup", "6": "pgdn", "3": "delete"}
_CONTROL = {0x20: "space", 0x0D: "enter", 0x0A: "enter", 0x09: "tab", 0x7F: "backspace", 0x08: "backspace"}
ESC = 0x1B

#: A lone ESC is a key only if nothing follows within this many seconds (else it starts a sequence).
ESC_TIMEOUT_S = 0.05


class KeyDecoder:
    """Bytes typed on a terminal → key names. Keeps an incomplete escape sequence or UTF-8 character until the
    next ``feed``; ``flush`` turns a pending lone ESC into ``"esc"``."""

    def __init__(self) -> None:
        self._pending = b""

    @property
    def pending(self) -> bool:
        """Bytes are waiting for the rest of a sequence."""
        return bool(self._pending)

    def feed(self, data: bytes) -> list[str]:
        """The keys completed by ``data`` (with what was pending before it)."""
        buf = self._pending + data
        keys: list[str] = []
        i = 0
        while i < len(buf):
            b = buf[i]
            if b == ESC:
                used, key = _escape(buf, i)
                if used == 0:  # incomplete: wait for more bytes
                    break
                if key:
                    keys.append(key)
                i += used
            elif b in _CONTROL:
                keys.append(_CONTROL[b])
                i += 1
            elif b < 0x20:  # other control characters (Ctrl-letters that reach us): ignored
                i += 1
            else:
                size = _utf8_size(b)
                if i + size > len(buf):
                    break
                char = codecs.decode(buf[i : i + size], "utf-8", "replace")
                if char.isprintable():
                    keys.append(char)
                i += size
        self._pending = buf[i:]
        return keys

    def flush(self) -> list[str]:
        """Give up waiting: a pending lone ESC is the Escape key; any other partial bytes are dropped."""
        pending, self._pending = self._pending, b""
        return ["esc"] if pending[:1] == bytes([ESC]) else []


def _escape(buf: bytes, i: int) -> tuple[int, str | None]:
    """``(bytes used, key or None)`` for the escape sequence at ``buf[i]``; ``(0, None)`` if it is incomplete."""
    if i + 1 >= len(buf):
        return 0, None
    intro = buf[i + 1]
    if intro == ord("["):  # CSI: parameter and intermediate bytes 0x20–0x3F, then a final byte 0x40–0x7E
        j = i + 2
        while j < len(buf) and 0x20 <= buf[j] <= 0x3F:
            j += 1
        if j >= len(buf):
            return 0, None
        if buf[j] == ord("~"):  # the editing keypad: ESC [ 5 ~ is Page Up
            return j - i + 1, _TILDE.get(buf[i + 2 : j].split(b";")[0].decode("ascii", "replace"))
        if 0x40 <= buf[j] <= 0x7E:
            return j - i + 1, _ARROWS.get(buf[j])
        return j - i, None  # malformed: drop the prefix, read on from the odd byte
    if intro == ord("O"):  # SS3 (application cursor keys)
        if i + 2 >= len(buf):
            return 0, None
        return 3, _ARROWS.get(buf[i + 2])
    return 1, "esc"  # ESC followed by an ordinary key (Alt+key, or Escape typed fast): Escape, then the key


def _utf8_size(lead: int) -> int:
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    if lead >= 0xC0:
        return 2
    return 1


class KeyReader:
    """cbreak mode on ``fd`` and its keypresses on ``queue``, for as long as the ``with`` block runs (enter it
    inside the running event loop). The terminal's attributes are restored on every exit path (module doc)."""

    def __init__(
        self,
        fd: int,
        *,
        on_suspend: Callable[[], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        signals: bool = True,
    ) -> None:
        self.fd = fd
        self.signals = signals
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.on_suspend = on_suspend
        self.on_resume = on_resume
        self._decoder = KeyDecoder()
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}  # signal → handler it replaced (signal.signal)
        self._loop_signals: list[int] = []  # installed with loop.add_signal_handler
        self._esc_timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> KeyReader:
        self._loop = asyncio.get_running_loop()
        self._saved = termios.tcgetattr(self.fd)  # termios.error when fd is no terminal: nothing changed yet
        try:
            if self.signals:
                self._install_signals()
            tty.setcbreak(self.fd, termios.TCSANOW)  # TCSANOW: keys typed just before are kept, not flushed
            self._loop.add_reader(self.fd, self._readable)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading, remove the signal handlers, restore the terminal. Safe to call more than once."""
        if self._esc_timer is not None:
            self._esc_timer.cancel()
            self._esc_timer = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)
            for sig in self._loop_signals:
                with contextlib.suppress(Exception):
                    self._loop.remove_signal_handler(sig)
            self._loop_signals.clear()
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous)
        self._previous.clear()
        self.restore()

    def cbreak(self) -> None:
        """cbreak mode again (after ``restore``, e.g. when the process is resumed after Ctrl-Z)."""
        with contextlib.suppress(termios.error, OSError):
            tty.setcbreak(self.fd, termios.TCSANOW)

    def restore(self) -> None:
        """Put the saved attributes back (the terminal may be gone: then there is nothing to restore)."""
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    # --- reading -------------------------------------------------------------------------------------------

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # end of input (the terminal hung up): stop reading, keep what was restored
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)  # type: ignore[union-attr]
            return
        self._put(self._decoder.feed(data))
        if self._esc_timer is not None:
            self._esc_timer.cancel()
            self._esc_timer = None
        if self._decoder.pending:
            self._esc_timer = self._loop.call_later(ESC_TIMEOUT_S, self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        self._esc_timer = None
        self._put(self._decoder.flush())

    def _put(self, keys: list[str]) -> None:
        for key in keys:
            self.queue.put_nowait(key)

    # --- signals -------------------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread: the ``with`` block still restores
                self._previous[sig] = signal.signal(sig, self._on_exit_signal)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            self._loop.add_signal_handler(signal.SIGTSTP, self._suspend)  # type: ignore[union-attr]
            self._loop_signals.append(signal.SIGTSTP)

    def _on_exit_signal(self, signum: int, frame: FrameType | None) -> None:
        self.restore()
        raise SystemExit(128 + signum)

    def _suspend(self) -> None:
        """Ctrl-Z: hand the terminal back as it was, stop; after ``fg``, cbreak again."""
        if self.on_suspend is not None:
            with contextlib.suppress(Exception):
                self.on_suspend()
        self.restore()
        os.kill(os.getpid(), signal.SIGSTOP)  # returns on SIGCONT (``fg`` / ``bg``)
        with contextlib.suppress(termios.error, OSError):
            tty.setcbreak(self.fd, termios.TCSANOW)
        if self.on_resume is not None:
            with contextlib.suppress(Exception):
                self.on_resume()


def keys_available() -> bool:
    """Both stdin and stdout are terminals (keys can be read from the same terminal the view draws on)."""
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # closed or replaced streams
        return False


@contextlib.contextmanager
def terminal_keys(
    enabled: bool,
    *,
    on_suspend: Callable[[], None] | None = None,
    on_resume: Callable[[], None] | None = None,
) -> Iterator[KeyReader | None]:
    """A ``KeyReader`` on stdin when ``enabled`` and ``keys_available()``; otherwise ``None`` and the terminal is
    left alone. A stdin that refuses cbreak mode (``termios.error``) also gives ``None``."""
    if not enabled or not keys_available():
        yield None
        return
    reader = KeyReader(sys.stdin.fileno(), on_suspend=on_suspend, on_resume=on_resume)
    try:
        reader.__enter__()
    except termios.error:
        yield None
        return
    try:
        yield reader
    finally:
        reader.close()


__all__ = ["ESC_TIMEOUT_S", "KeyDecoder", "KeyReader", "keys_available", "terminal_keys"]
