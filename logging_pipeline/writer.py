"""A background thread that appends lines to a file in batches, so file I/O never runs on the event loop.

Lines are handed over through a ``collections.deque`` (``append`` is atomic and never blocks); the thread wakes
every ``flush_interval_s`` (or sooner when ``flush()`` is asked for), writes what accumulated with one
``writelines`` and flushes the OS buffer, so a line reaches the file at most ``flush_interval_s`` after it was
logged. An I/O error (disk full, quota, a yanked device) does not propagate: the writer records it in
``error`` (the owner reports the sink as degraded), holds the unwritten bytes — up to ``hold_bytes``, oldest
first; later lines are counted in ``dropped`` — and retries every ``retry_s`` seconds. The file is written
unbuffered and a short write is continued exactly where it stopped, so once the disk has room again the held
lines land in order, none twice and none torn, and ``error`` clears. A write that does not return (a hung disk, a
stalled NFS mount) blocks only this thread: ``stalled_s`` tells the owner for how long, and ``close`` gives up
waiting after its ``timeout``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

#: Bytes of unwritten lines held for a retry while writes fail (64 MiB); lines beyond are dropped and counted.
HOLD_BYTES = 64 * 1024 * 1024
#: Seconds between attempts to write held lines after a failed write.
RETRY_S = 1.0


class BatchFileWriter:
    """Append-only writer thread for one file. ``submit`` is safe from any thread; ``close`` drains and joins.

    Counters (lines): ``written`` on disk, ``held`` waiting for a retry after a failed write, ``dropped`` lost
    (beyond ``hold_bytes``, or still held when the file is closed); ``recoveries`` counts failed spells that
    ended with everything held written."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float = 0.2,
        name: str = "jsonl-writer",
        hold_bytes: int = HOLD_BYTES,
        retry_s: float = RETRY_S,
    ) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.hold_bytes = hold_bytes
        self.retry_s = retry_s
        self._pending: deque[bytes] = deque()
        self._held: list[bytes] = []  # unwritten bytes, oldest first: whole lines with their b"\n"
        self._held_sizes: deque[int] = deque()  # bytes of each held record (the first may be partly written)
        self._held_bytes = 0
        self.held = 0
        self.recoveries = 0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._file = None
        self.written = 0
        self.dropped = 0
        self.error: str | None = None
        self._busy_since: float | None = None  # monotonic start of the write in progress

    def open(self) -> None:
        """Create the parent directory, open the file for appending and start the thread.

        Raises ``OSError`` if the file cannot be opened (the caller decides what to do: the bot should not start
        without its durable record).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - owned by the thread, closed in close()
        self._thread.start()

    def submit(self, line: bytes) -> None:
        """Queue one line (a trailing newline is added). Never blocks."""
        self._pending.append(line)

    @property
    def backlog(self) -> int:
        """Lines accepted but not yet written."""
        return len(self._pending)

    def flush(self) -> None:
        """Ask the thread to write what is pending now (does not wait)."""
        self._wake.set()

    @property
    def stalled_s(self) -> float:
        """Seconds the write in progress has been running (0 when the thread is idle)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything pending, close the file and join the thread. Idempotent. Blocks up to ``timeout``:
        call it off the event loop (``await asyncio.to_thread(writer.close, timeout)``).

        ``timeout`` (seconds, always finite: a hung disk must not hang the shutdown): stop waiting for a stalled
        thread after this long; it is left running (a daemon) with the file, and ``False`` is returned. ``True``
        when everything was written and closed."""
        if self._file is None:
            return True
        self._stop = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self._file.close()
        self._file = None
        return True

    def _drain(self) -> None:
        """Move what is pending behind what is held, then write it all (unless a retry is not due yet)."""
        pending = self._pending
        held = self._held
        while pending:
            line = pending.popleft()
            size = len(line) + 1
            if self.error is not None and self._held_bytes + size > self.hold_bytes and held:
                self.dropped += 1  # the disk has been failing for a while: keep the oldest, count the rest
                continue
            held.append(line)
            held.append(b"\n")
            self._held_sizes.append(size)
            self._held_bytes += size
            self.held += 1
        if not held or (self.error is not None and not self._stop and time.monotonic() < self._retry_at):
            return
        data = memoryview(b"".join(held))
        self._busy_since = time.monotonic()
        try:
            while data:
                data = data[self._file.write(data) :]
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self._retry_at = time.monotonic() + self.retry_s
            rest = bytes(data)
            done = self._held_bytes - len(rest)  # bytes that reached the file
            sizes = self._held_sizes
            while sizes and sizes[0] <= done:  # whole records written (a record may span lines: a banner)
                done -= sizes.popleft()
                self.written += 1
            if sizes and done:
                sizes[0] -= done  # a record written in part: the rest of it is held
            self.held = len(sizes)
            self._held = [rest]
            self._held_bytes = len(rest)
        else:
            self.written += self.held
            self.held = 0
            held.clear()
            self._held_sizes.clear()
            self._held_bytes = 0
            if self.error is not None:
                self.error = None
                self.recoveries += 1
        finally:
            self._busy_since = None

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self._drain()
        self._drain()  # the last attempt (a retry is due now); what still cannot be written is lost
        self.dropped += self.held
        self.held = 0
