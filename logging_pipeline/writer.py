"""A background thread that appends lines to a file in batches, so file I/O never runs on the event loop.

Lines are handed over through a ``collections.deque`` (``append`` is atomic and never blocks); the thread wakes
every ``flush_interval_s`` (or sooner when ``flush()`` is asked for), writes what accumulated with one
``writelines`` and flushes the OS buffer, so a line reaches the file at most ``flush_interval_s`` after it was
logged. An I/O error (disk full, file removed) does not propagate: the writer records it in ``error``, keeps
the unwritten lines counted in ``dropped`` and the owner reports the sink as degraded. A write that does not
return (a hung disk, a stalled NFS mount) blocks only this thread: ``stalled_s`` tells the owner for how long,
and ``close`` gives up waiting after its ``timeout``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path


class BatchFileWriter:
    """Append-only writer thread for one file. ``submit`` is safe from any thread; ``close`` drains and joins."""

    def __init__(self, path: Path, *, flush_interval_s: float = 0.2, name: str = "jsonl-writer") -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self._pending: deque[bytes] = deque()
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
        self._file = open(self.path, "ab")  # noqa: SIM115 - owned by the thread, closed in close()
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
        pending = self._pending
        batch = []
        while pending:
            batch.append(pending.popleft())
            batch.append(b"\n")
        if not batch:
            return
        if self.error is not None:
            self.dropped += len(batch) // 2
            return
        self._busy_since = time.monotonic()
        try:
            self._file.writelines(batch)
            self._file.flush()
            self.written += len(batch) // 2
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.dropped += len(batch) // 2
        finally:
            self._busy_since = None

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self._drain()
        self._drain()
