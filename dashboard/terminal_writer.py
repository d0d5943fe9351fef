"""A non-blocking file for the dashboard's terminal output: the event loop never waits on the terminal.

A terminal that stops reading (Ctrl-S, a stalled SSH or ``tmux`` client, a pty nobody reads) makes every write
to it block. The dashboard draws on the bot's event loop, so it must never write to the terminal itself:
``TerminalWriter`` is the file it gives to Rich's ``Console(file=...)`` (and the plain summaries). Its
``write`` only buffers; its ``flush`` hands the buffered text, as one chunk, to a ``terminal-writer`` thread
(a ``logging_pipeline.background.BackgroundWriter``) that writes and flushes the real stream.

When the terminal cannot keep up, stale frames are dropped, never the small control sequences: a chunk of at
least ``frame_min_chars`` characters is a *frame* (a full redraw — Rich's alternate-screen frames start at
the home position — or a plain summary); when a new frame is queued, the frames still waiting behind it are
dropped and counted (``frames_dropped``). Small chunks (alternate-screen enter/exit, cursor hide/show) are
kept, in order. A bound (``max_pending`` chunks) keeps memory finite if small chunks alone pile up; chunks
beyond it are dropped (the newest) and counted (``chunks_dropped``).

With ``diff`` (a ``dashboard.line_diff.ScreenDiff``, the live view's), the writer thread writes a Rich
full-screen frame as the lines that changed since the frame it last *wrote* (a frame dropped as stale is never
compared with), and in full after anything else reached the terminal, after ``invalidate`` (resize, resume)
and every few minutes (``dashboard.line_diff``). Frames are still queued, and dropped, whole. ``bytes_written``
counts what reached the stream (encoded).

A broken stream (``OSError``/``ValueError`` in the thread: closed pipe, terminal gone after SIGHUP) is
reported to the caller: the next ``write``/``flush`` raises that error, and everything after is discarded.
``wait_idle``/``close`` wait a bounded time for the pending chunks to reach the stream and never hang. If the
terminal has not taken everything by then, ``close`` drops the pending frames but leaves the small control
chunks (the alternate-screen exit, the cursor show) to the daemon thread, so a terminal that resumes reading
later is still handed back in good order; a terminal that never does costs nothing but that daemon thread.

A real file (a ``TextIOWrapper`` with a ``fileno``, e.g. ``sys.stdout``) is written through its file
descriptor (``os.write`` of the text in the stream's encoding, unencodable characters replaced), after flushing what the stream
itself buffered: a thread blocked on the terminal then holds no Python-level lock of ``sys.stdout`` (which
would block every other writer of ``sys.stdout`` and can abort interpreter shutdown). Other streams
(``StringIO``, test doubles) get ``write`` + ``flush``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import IO

from arbdash.dashboard.line_diff import ScreenDiff
from arbdash.logging_pipeline.background import BackgroundWriter

FRAME_MIN_CHARS = 256


class TerminalWriter:
    """File-like, thread-safe front of ``stream`` (see the module docstring).

    Forwards what Rich asks of a file (``isatty``, ``fileno``, ``encoding``, ``errors``, ``name``) to
    ``stream``. Counters: ``chunks_written``, ``frames_dropped``, ``chunks_dropped``, ``bytes_written``."""

    def __init__(
        self,
        stream: IO[str],
        *,
        frame_min_chars: int = FRAME_MIN_CHARS,
        max_pending: int = 1_000,
        diff: ScreenDiff | None = None,
    ) -> None:
        self.stream = stream
        self.diff = diff
        self.bytes_written = 0
        self.frame_min_chars = frame_min_chars
        self.chunks_written = 0
        self.frames_dropped = 0
        self._lost = 0  # chunks not written because the stream broke
        self.error: BaseException | None = None  # what broke the stream (raised once to the caller)
        self._error_reported = False
        self._buffer: list[str] = []
        self._closed = False
        self._lock = threading.Lock()  # the buffer, the queue's frames and ``_closed``, for the callers
        self._fd = _raw_fd(stream)
        self._flush_stream_first = self._fd is not None
        self._queue: BackgroundWriter[str] = BackgroundWriter(
            self._write_chunks,
            name="terminal-writer",
            max_pending=max_pending,
            overflow="drop-newest",
            batch=1,  # one chunk per write: a newer frame can still replace the ones behind it
            interval_s=0.2,
            wake_at=1,
        )
        self._queue.start()

    @property
    def max_pending(self) -> int:
        """Chunks that may wait for the writer thread."""
        return self._queue.max_pending

    @property
    def chunks_dropped(self) -> int:
        """Chunks lost: beyond ``max_pending``, or still queued when the stream broke."""
        return self._queue.dropped + self._lost

    # --- the file interface (caller side: never blocks on the stream) ---------------------------------------

    def write(self, text: str) -> int:
        """Buffer ``text`` until the next ``flush``."""
        with self._lock:
            self._raise_broken()
            if not self._closed and text:
                self._buffer.append(text)
        return len(text)

    def flush(self) -> None:
        """Queue the buffered text as one chunk for the writer thread; drop stale frames it replaces."""
        with self._lock:
            self._raise_broken()
            self._queue_buffer()

    def _is_control(self, chunk: str) -> bool:
        return len(chunk) < self.frame_min_chars

    def _queue_buffer(self) -> None:
        """(Lock held.) Move the buffered text to the queue as one chunk."""
        if not self._buffer:
            return
        chunk = "".join(self._buffer)
        self._buffer.clear()
        if self._closed or self.error is not None:
            return
        if not self._is_control(chunk):  # a frame: the frames still waiting are stale
            self.frames_dropped += self._queue.discard(keep=self._is_control)
        self._queue.put(chunk)

    def invalidate(self) -> None:
        """The next frame is written in full (with ``diff``; a resize, a resume after Ctrl-Z)."""
        if self.diff is not None:
            self.diff.invalidate()

    def isatty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self.stream, "errors", None)

    @property
    def name(self) -> str:
        return str(getattr(self.stream, "name", "<terminal>"))

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Chunks queued and not yet written (including the one being written)."""
        return self._queue.pending

    # --- delivery and shutdown -------------------------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Flush, then wait at most ``timeout`` seconds for every queued chunk to reach the stream.
        True if everything was delivered (or the stream broke and nothing more can be); never raises."""
        with self._lock:
            self._queue_buffer()
        return self._queue.wait_idle(timeout) or self.error is not None

    def close(self, timeout: float = 2.0) -> bool:
        """Deliver what is pending within ``timeout`` seconds, then stop taking text. If the stream has not
        taken everything by then, the pending frames are dropped and the daemon thread goes on with the small
        control chunks alone, then ends. True if everything was delivered. Idempotent; never blocks longer
        than ``timeout`` (+ 0.5 s to join a thread that has finished)."""
        delivered = self.wait_idle(timeout) if not self._closed else not self.pending
        with self._lock:
            self._closed = True
            self.frames_dropped += self._queue.discard(keep=self._is_control)
            self._buffer.clear()
        self._queue.close(0.5 if delivered else 0)
        return delivered

    # --- the writer thread -----------------------------------------------------------------------------------

    def _write_chunks(self, chunks: Iterator[str]) -> None:
        """The writer thread's consumer (one chunk at a time). A broken stream drops what is queued and is
        reported to the caller by the next ``write``/``flush``."""
        for chunk in chunks:
            try:
                if self.diff is None:
                    self._write_out(chunk)
                else:  # a frame as the lines that changed since the frame last written
                    try:
                        plan = self.diff.plan(chunk)
                    except Exception:  # noqa: BLE001 - a diff bug must cost bytes, never the screen
                        self.diff.invalidate()  # the chunk as it is, and the next frame in full
                        self._write_out(chunk)
                    else:
                        self._write_out(plan.text)
                        self.diff.written(plan)
            except (OSError, ValueError) as exc:
                self.error = exc
                self._lost += self._queue.discard()
                return
            self.chunks_written += 1

    def _write_out(self, chunk: str) -> None:
        if not chunk:
            return
        if self._fd is None:
            self.stream.write(chunk)
            self.stream.flush()
            self.bytes_written += len(chunk.encode(self.encoding, "replace"))
            return
        if self._flush_stream_first:  # what the stream buffered itself goes out first
            self._flush_stream_first = False
            self.stream.flush()
        data = memoryview(chunk.encode(self.encoding, "replace"))  # a "?" beats a broken dashboard
        self.bytes_written += len(data)
        while data:
            data = data[os.write(self._fd, data) :]

    def _raise_broken(self) -> None:
        if self.error is not None and not self._error_reported:
            self._error_reported = True
            raise self.error


def _raw_fd(stream: IO[str]) -> int | None:
    """The file descriptor under a real text file (``TextIOWrapper``), else None."""
    if not hasattr(stream, "buffer"):
        return None
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None
