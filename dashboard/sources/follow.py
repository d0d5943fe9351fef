"""Following a JSONL log like ``tail -F``: growth, rotation, truncation, deletion and a file not there yet.

On every wake-up (``dashboard.sources.watcher``) the follower stats the path and compares it with the file it
has open (device + inode):

* grown         → read the new bytes; a last line without its newline is held back until the rest arrives;
* rotated       → the path now names another file: finish the old one (to its end), then read the new one
                  from its start;
* truncated     → same file, smaller than what was read: read it again from its start;
* deleted/moved → keep reading the open file (a writer may still append to it) until the path reappears,
                  then finish it and read the new file;
* not there yet → wait for it.

The reducer sees the concatenation of everything that was appended, so the final state equals a fresh replay
of those lines. A record cut in two by a rotation or a ``copytruncate`` (the old file ends without its newline,
the new one starts with the rest) is joined back and folded once, as a replay of the rotated set joins it
(``LineSplitter.end_member``); a partial line the new file does not complete is counted as torn. A file read
from its start is read without a UTF-8 byte-order mark (``strip_bom``), as a replay reads it. Rotation,
truncation and deletion are not bad input: they are reported through ``on_notice`` (one line of text, for the
operator), not as skipped lines.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from arbdash.dashboard.sources.lines import BLOCK_BYTES, LineSplitter, strip_bom
from arbdash.dashboard.sources.watcher import wakeups

NoticeFn = Callable[[str], None]


class LineSink(Protocol):
    def feed_lines(self, lines: list[bytes]) -> int: ...
    def note_skip(self, reason: str, detail: str = "") -> None: ...


class _Tail:
    """The open file, its identity and the read position."""

    def __init__(self, path: Path, sink: LineSink, notice: NoticeFn) -> None:
        self.path = path
        self.sink = sink
        self.notice = notice
        self.fh: BinaryIO | None = None
        self.ident: tuple[int, int] | None = None
        self.offset = 0
        self.splitter = LineSplitter(sink.note_skip)
        self.missing_said = False

    def open(self, offset: int) -> bool:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            if not self.missing_said:
                self.notice(f"{self.path}: cannot open ({exc.strerror or exc}); retrying")
                self.missing_said = True
            return False
        st = os.fstat(fh.fileno())
        self.fh, self.ident, self.offset = fh, (st.st_dev, st.st_ino), offset
        self.missing_said = False
        fh.seek(offset)
        return True

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        self.fh = None
        self.ident = None

    def drain(self) -> int:
        """Feed every complete line from the current position to the end of the open file."""
        fed = 0
        assert self.fh is not None
        while chunk := self.fh.read(BLOCK_BYTES):
            at_start = self.offset == 0
            self.offset += len(chunk)
            if at_start:  # the file's first bytes: a byte-order mark is not its first line's
                chunk = strip_bom(chunk)
            fed += self.sink.feed_lines(self.splitter.feed(chunk))
        return fed

    def finish_old(self, why: str) -> int:
        """Read the old file to its end; the new one continues the stream (a record cut in two is joined)."""
        fed = self.drain()
        self.splitter.end_member(f"{self.path} ({why})")
        self.close()
        return fed

    def step(self) -> int:
        """One check of the path; returns how many lines were fed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:
            st = None
        fed = 0
        if self.fh is None:
            if st is None or not self.open(0):
                if not self.missing_said:
                    self.notice(f"waiting for {self.path} to appear")
                    self.missing_said = True
                return 0
            self.notice(f"reading {self.path}")
            return self.drain()
        if st is None:  # deleted or moved away: keep reading the open file until a new one appears
            fed += self.drain()
            if not self.missing_said:
                self.notice(f"{self.path} was deleted or moved; waiting for it to reappear")
                self.missing_said = True
            return fed
        if (st.st_dev, st.st_ino) != self.ident:
            fed += self.finish_old("rotated")
            if self.open(0):
                self.notice(f"{self.path} was rotated or replaced; reading the new file from its start")
                fed += self.drain()
            return fed
        if st.st_size < self.offset:
            self.notice(
                f"{self.path} was truncated ({self.offset} → {st.st_size} bytes); reading it from the start"
            )
            assert self.fh is not None
            self.fh.seek(0)
            self.offset = 0
            self.splitter.end_member(f"{self.path} (truncated)")
        if st.st_size > self.offset:
            fed += self.drain()
        return fed


async def follow_file(
    path: Path,
    sink: LineSink,
    *,
    start_offset: int = 0,
    poll_s: float = 0.5,
    notify: bool = True,
    on_notice: NoticeFn | None = None,
    carry: bytes = b"",
) -> AsyncIterator[int]:
    """Feed lines appended to ``path`` after ``start_offset`` (a line boundary) as they arrive, across
    rotation/truncation/deletion (see the module doc). ``carry``: the partial last line of the rotated member
    before ``path`` still waiting for its rest (``LoadResult.carry``), joined with the first line read when the
    two make one record. Yields the number of lines fed after each wake-up that fed some, so the caller can
    redraw; runs until cancelled or closed. Never raises for file trouble: it is reported through ``on_notice``
    and retried."""
    notice = on_notice or (lambda _text: None)
    tail = _Tail(path, sink, notice)
    tail.splitter.resume(carry, f"the member before {path}")
    if tail.open(start_offset):
        st = os.fstat(tail.fh.fileno())  # type: ignore[union-attr]
        if st.st_size < start_offset:
            tail.fh.seek(0)  # type: ignore[union-attr]
            tail.offset = 0
    try:
        parent = path.parent if str(path.parent) else Path(".")
        async for _ in wakeups(parent, poll_s=poll_s, notify=notify):
            fed = tail.step()
            if fed:
                yield fed
            await asyncio.sleep(0)
    finally:
        tail.close()
