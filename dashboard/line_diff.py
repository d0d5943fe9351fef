"""What to write to a terminal to turn the frame on screen into the next one (issue 15 item 2).

Rich's full-screen ``Live`` writes every frame whole: ``ESC[H`` (home) and then exactly one line per terminal
row, joined by ``\\n``, each padded to the terminal's width and closing every style it opens (``ESC[0m``).
``ScreenDiff`` keeps the lines of the frame that is on the screen and turns the next frame into what changed:

* a line whose cells all have width 1 in both frames (ASCII, box drawing, ``·``, ``…``: the cell is the column)
  is compared cell by cell (a cell = a character and the SGR codes in force on it); each run of changed cells
  (runs closer than ``GAP`` cells are merged) is written as ``ESC[row;colH`` + its SGR codes + its characters,
  then ``ESC[0m``;
* any other changed line (an emoji, a wide character, an escape other than SGR) is rewritten whole:
  ``ESC[row;1H`` + the line as Rich rendered it. No erase-to-end-of-line is needed (or safe: after a line
  that fills the last column the cursor still sits on it and ``ESC[K`` would erase it): every line Rich
  writes is padded to the full width.

A full repaint (the frame as Rich wrote it) happens when there is nothing trusted to compare with: the first
frame, a frame after ``invalidate`` (resize, resume after Ctrl-Z, any other output: alternate screen enter or
exit, cursor show), a frame with another number of lines than the one before or than the terminal's rows
(a resize, or text Rich printed above the frame, which scrolls the screen), and every ``full_every_s``
seconds as a safety net. A frame that changed nothing is still written, as ``ESC[H`` (3 bytes): the terminal is
asked to take something every frame, so one that stopped reading is noticed (dropped frames) at the frame's
pace, as with full repaints. ``ScreenDiff`` is told what was *written* (``written``), never what was merely
rendered: a frame the terminal writer dropped is never a base.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

HOME = "\x1b[H"
RESET = "\x1b[0m"
#: Changed cells closer than this many unchanged ones are written as one run (a cursor move costs ~8 bytes).
GAP = 8
#: Seconds between safety-net full repaints.
FULL_EVERY_S = 300.0

_SGR = re.compile(r"\x1b\[[0-9;]*m")
Cells = tuple[tuple[str, str], ...]  # (SGR codes in force, character) per column


def frame_lines(chunk: str) -> list[str] | None:
    """The lines of a Rich full-screen frame (``ESC[H`` + lines joined by ``\\n``), or None for any other text."""
    if not chunk.startswith(HOME):
        return None
    return chunk[len(HOME) :].split("\n")


def _narrow(ch: str) -> bool:
    """One column in every terminal: not wide, not combining, not a control, not a variation selector."""
    if ch < "\u0300":
        return ch >= " " and ch != "\x7f"
    return (
        unicodedata.east_asian_width(ch) not in ("W", "F")
        and not unicodedata.combining(ch)
        and unicodedata.category(ch) not in ("Mn", "Me", "Cf", "Cc", "Cs", "Co", "Cn")
        and not ("\ufe00" <= ch <= "\ufe0f")
        and ord(ch) < 0x1F000
    )


def cells(line: str) -> Cells | None:
    """``line`` as (SGR in force, character) per column, or None if a column is not one character (a wide or
    combining character) or the line holds an escape other than SGR."""
    out: list[tuple[str, str]] = []
    sgr = ""
    pos = 0
    for match in _SGR.finditer(line):
        for ch in line[pos : match.start()]:
            if not _narrow(ch):
                return None
            out.append((sgr, ch))
        code = match.group()
        sgr = "" if code in (RESET, "\x1b[m") else sgr + code
        pos = match.end()
    for ch in line[pos:]:
        if not _narrow(ch):
            return None
        out.append((sgr, ch))
    return tuple(out)


def diff_line(row: int, old: str, new: str, gap: int = GAP, *, runs: bool = True) -> str:
    """What turns ``old`` on terminal row ``row`` (1-based) into ``new``; ``""`` if they are equal. Without
    ``runs``, a changed line is always rewritten whole."""
    if old == new:
        return ""
    if not runs:
        return f"\x1b[{row};1H{new}"
    a, b = cells(old), cells(new)
    if a is None or b is None or len(a) != len(b):
        return f"\x1b[{row};1H{new}"
    changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if not changed:  # same cells, other escapes (e.g. a reset written twice): nothing visible moved
        return ""
    out: list[str] = []
    start = prev = changed[0]
    for i in [*changed[1:], None]:
        if i is not None and i - prev <= gap:
            prev = i
            continue
        out.append(f"\x1b[{row};{start + 1}H")
        sgr = ""
        for style, ch in b[start : prev + 1]:
            if style != sgr:
                out.append(RESET + style if sgr else style)
                sgr = style
            out.append(ch)
        if sgr:
            out.append(RESET)
        if i is not None:
            start = prev = i
    return "".join(out)


def diff_frame(old: list[str], new: list[str], gap: int = GAP, *, runs: bool = True) -> str:
    """What turns the screen showing ``old`` into ``new`` (same number of lines): the changed lines or runs."""
    return "".join(
        diff_line(row, a, b, gap, runs=runs) for row, (a, b) in enumerate(zip(old, new, strict=True), 1)
    )


class ScreenDiff:
    """The frame on screen, and what to write for the next one (see the module doc). Not thread-safe except
    ``invalidate``, which any thread may call: the terminal writer's thread owns the rest.

    ``rows()``: the terminal's height now (None if unknown): a frame of another height is written whole and is
    no base. ``runs=False``: changed lines rewritten whole, never runs of cells. Counters: ``full_frames``,
    ``diff_frames``."""

    def __init__(
        self,
        *,
        rows: Callable[[], int | None] | None = None,
        full_every_s: float = FULL_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        runs: bool = True,
    ) -> None:
        self.rows = rows
        self.runs = runs  # False: changed lines are rewritten whole (the benchmark's line-level figure)
        self.full_every_s = full_every_s
        self.clock = clock
        self.full_frames = 0
        self.diff_frames = 0
        self._screen: list[str] | None = None  # the lines on screen, if trusted
        self._full_at = 0.0
        self._epoch = 0  # bumped by ``invalidate``
        self._clean = -1  # the epoch of the last full repaint: diffs are allowed while it is ``_epoch``

    def invalidate(self) -> None:
        """The next frame is written whole (resize, resume, other output on the terminal)."""
        self._epoch += 1

    def plan(self, chunk: str) -> Plan:
        """What to write for ``chunk``; pass the plan to ``written`` once it reached the terminal."""
        epoch = self._epoch
        lines = frame_lines(chunk)
        if lines is None:
            return Plan(chunk, None, full=False, epoch=epoch)
        rows = self.rows() if self.rows is not None else None
        if rows is not None and len(lines) != rows:  # a resize under way, or text printed above the frame
            return Plan(chunk, None, full=False, epoch=epoch)
        screen = self._screen
        if (
            self._clean != epoch
            or screen is None
            or len(screen) != len(lines)
            or self.clock() - self._full_at >= self.full_every_s
        ):
            return Plan(chunk, lines, full=True, epoch=epoch)
        text = diff_frame(screen, lines, runs=self.runs) or HOME  # see the module doc: never nothing
        return Plan(text, lines, full=False, epoch=epoch)

    def written(self, plan: Plan) -> None:
        """``plan.text`` reached the terminal: the screen shows ``plan.lines`` now (None: not a trusted base)."""
        if plan.lines is None:
            self._screen = None
            return
        if plan.full:
            self._clean = plan.epoch
            self._full_at = self.clock()
            self.full_frames += 1
        else:
            self.diff_frames += 1
        self._screen = plan.lines


class Plan(NamedTuple):
    """What ``ScreenDiff.plan`` decided: ``text`` to write; ``lines`` on screen after it (None: untrusted);
    ``full``: a full repaint; ``epoch``: the invalidations it saw."""

    text: str
    lines: list[str] | None
    full: bool
    epoch: int
