"""A background thread that appends lines to a file in batches, so file I/O never runs on the event loop.

Lines are handed over through a ``background.BackgroundWriter`` (``submit`` never blocks; at most
``max_pending`` lines wait for the thread, newer ones are dropped and counted in ``dropped``); the thread wakes
every ``flush_interval_s`` (or sooner when ``flush()`` is asked for) and writes what accumulated at once, so a
line reaches the file at most ``flush_interval_s`` after it was logged. An I/O error (disk full, quota, a yanked
device) does not propagate: the writer records it in ``error`` (the owner reports the sink as degraded), holds
the unwritten bytes — up to ``hold_bytes``, oldest first; later lines are counted in ``dropped`` — and retries
every ``retry_s`` seconds. The file is written unbuffered and a short write is continued exactly where it
stopped, so once the disk has room again the held lines land in order, none twice and none torn, and ``error``
clears. A write that does not return (a hung disk, a stalled NFS mount) blocks only this thread: ``stalled_s``
tells the owner for how long, and ``close`` gives up waiting after its ``timeout``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from arbdash.logging_pipeline.background import BackgroundWriter

#: Bytes of unwritten lines held for a retry while writes fail (64 MiB); lines beyond are dropped and counted.
HOLD_BYTES = 64 * 1024 * 1024
#: Seconds between attempts to write held lines after a failed write.
RETRY_S = 1.0
#: Lines waiting for the writer thread (a hung write holds them up); newer ones are dropped and counted.
MAX_PENDING = 200_000


class BatchFileWriter:
    """Append-only writer thread for one file. ``submit`` is safe from any thread; ``close`` drains and joins.

    Counters (lines): ``written`` on disk, ``held`` waiting for a retry after a failed write, ``dropped`` lost
    (beyond ``max_pending`` waiting for the thread, beyond ``hold_bytes``, or still held when the file is
    closed); ``recoveries`` counts failed spells that ended with everything held written."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float = 0.2,
        name: str = "jsonl-writer",
        hold_bytes: int = HOLD_BYTES,
        retry_s: float = RETRY_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.hold_bytes = hold_bytes
        self.retry_s = retry_s
        self._queue: BackgroundWriter[bytes] = BackgroundWriter(
            self._write_batch,
            name=name,
            max_pending=max_pending,
            overflow="drop-newest",
            batch=None,  # everything that accumulated, in one write
            interval_s=flush_interval_s,
            wake_at=None,  # batches: woken by the interval or ``flush``, not by each line
        )
        self._held: list[bytes] = []  # unwritten bytes, oldest first: whole lines with their b"\n"
        self._held_sizes: deque[int] = deque()  # bytes of each held record (the first may be partly written)
        self._held_bytes = 0
        self.held = 0
        self.recoveries = 0
        self._retry_at = 0.0
        self._file = None
        self.written = 0
        self._lost = 0  # lines dropped by the thread (hold full, still held at close)
        self.error: str | None = None

    def open(self) -> None:
        """Create the parent directory, open the file for appending and start the thread.

        Raises ``OSError`` if the file cannot be opened (the caller decides what to do: the bot should not start
        without its durable record).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - owned by the thread, closed in close()
        self._queue.start()

    def submit(self, line: bytes) -> None:
        """Queue one line (a trailing newline is added). Never blocks; beyond ``max_pending`` waiting lines it is
        dropped and counted."""
        self._queue.put(line)

    @property
    def dropped(self) -> int:
        """Lines lost: refused while ``max_pending`` waited, beyond ``hold_bytes``, or still held at close."""
        return self._queue.dropped + self._lost

    @property
    def backlog(self) -> int:
        """Lines accepted but not yet handed to the thread."""
        return self._queue.backlog

    def flush(self) -> None:
        """Ask the thread to write what is pending now (does not wait)."""
        self._queue.wake()

    @property
    def stalled_s(self) -> float:
        """Seconds the write in progress has been running (0 when the thread is idle)."""
        return self._queue.stalled_s

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything pending, close the file and join the thread. Idempotent. Blocks up to ``timeout``:
        call it off the event loop (``await asyncio.to_thread(writer.close, timeout)``).

        ``timeout`` (seconds, always finite: a hung disk must not hang the shutdown): stop waiting for a stalled
        thread after this long; it is left running (a daemon) with the file, and ``False`` is returned. ``True``
        when the thread is done and the file closed; lines it still could not write are then counted in
        ``dropped``. Raises ``ValueError`` for a negative or infinite ``timeout``."""
        if self._file is None:
            return True
        if not self._queue.close(timeout):
            return False
        self._file.close()
        self._file = None
        return True

    def _write_batch(self, lines: Iterator[bytes]) -> None:
        """The thread's consumer: move the lines behind what is held, then write it all (unless a retry is not
        due yet). At the last call (``close``) what still cannot be written is dropped."""
        held = self._held
        for line in lines:
            size = len(line) + 1
            if self.error is not None and self._held_bytes + size > self.hold_bytes and held:
                self._lost += 1  # the disk has been failing for a while: keep the oldest, count the rest
                continue
            held.append(line)
            held.append(b"\n")
            self._held_sizes.append(size)
            self._held_bytes += size
            self.held += 1
        closing = self._queue.closing
        if held and not (self.error is not None and not closing and time.monotonic() < self._retry_at):
            self._write_held()
        if closing and self._queue.backlog == 0 and self.held:
            # the last attempt (a retry was due): what still cannot be written is lost
            self._lost += self.held
            self.held = 0
            self._held.clear()
            self._held_sizes.clear()
            self._held_bytes = 0

    def _write_held(self) -> None:
        held = self._held
        data = memoryview(b"".join(held))
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
