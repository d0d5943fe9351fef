"""The sink's overflow file: events that could not reach PostgreSQL and did not fit in memory.

The spool is plain JSONL — the original lines, oldest first — so a spool left behind (PostgreSQL still away at
exit, or a crash) is loaded like any session file (``arbtail --db DSN import FILE``); ``runbot`` does that by
itself at its next start (``claim_orphan``). While a spool file exists its owner holds an exclusive ``flock`` on
``<spool>.lock``; the kernel drops it when the process ends, however it ends, so a lock that can be taken marks a
spool nobody is writing. Methods do blocking file I/O: the sink calls them through ``asyncio.to_thread``. Not
thread-safe; one owner.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SPOOL_SUFFIX = ".pgspool.jsonl"


def lock_path(spool: Path) -> Path:
    """The lock file beside a spool file."""
    return spool.with_name(spool.name + ".lock")


def _take_lock(spool: Path, *, wait: bool) -> int | None:
    """An fd holding ``flock(LOCK_EX)`` on the spool's lock file (created if missing), or ``None`` when another
    process holds it and ``wait`` is false. Raises ``OSError`` if the lock file cannot be opened."""
    fd = os.open(lock_path(spool), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def claim_orphan(spool: Path) -> int | None:
    """Take the lock of a spool left by a process that has ended: returns the lock fd (``release_orphan`` it
    after loading the file) or ``None`` when a live process owns the spool or the file is gone. Never raises for
    a vanished or unreadable spool (``None``)."""
    try:
        fd = _take_lock(spool, wait=False)
    except OSError:
        return None
    if fd is not None and not spool.exists():  # discarded by its owner between listing and locking
        os.close(fd)
        return None
    return fd


def release_orphan(spool: Path, fd: int, *, loaded: bool) -> None:
    """Release a claimed spool; when ``loaded`` (everything is in PostgreSQL) delete it and its lock file."""
    try:
        if loaded:
            for p in (spool, lock_path(spool)):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
    finally:
        os.close(fd)


class Spool:
    """An append-only JSONL file read back in chunks from a remembered offset.

    ``path`` is created (with parents) on first append. ``pending`` counts lines appended but not yet
    acknowledged with ``commit``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.pending = 0
        self._read_offset = 0  # bytes before this offset are acknowledged (written to PG)
        self._lock_fd: int | None = None

    def append(self, lines: list[bytes]) -> None:
        """Append lines (each without newline) and flush to the OS. Raises ``OSError`` (disk full, permissions)."""
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._lock_fd is None:  # before the file exists: a claimer never sees an unlocked live spool
            self._lock_fd = _take_lock(self.path, wait=True)
        with open(self.path, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")
            fh.flush()
        self.pending += len(lines)

    def read_chunk(self, max_lines: int) -> tuple[list[bytes], int]:
        """Up to ``max_lines`` unacknowledged lines and the offset just past them (pass it to ``commit``).
        Returns ``([], offset)`` when nothing is pending. Raises ``OSError``."""
        if self.pending <= 0 or not self.path.exists():
            return [], self._read_offset
        lines: list[bytes] = []
        with open(self.path, "rb") as fh:
            fh.seek(self._read_offset)
            end = self._read_offset
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                end += len(raw)
                lines.append(raw[:-1])
                if len(lines) >= max_lines:
                    break
        return lines, end

    def commit(self, end_offset: int, n_lines: int) -> None:
        """Acknowledge lines up to ``end_offset``; deletes the file once everything is acknowledged."""
        self._read_offset = end_offset
        self.pending = max(0, self.pending - n_lines)
        if self.pending == 0:
            self.discard()

    def discard(self) -> None:
        """Delete the file and forget it (after a complete backfill). Never raises for a missing file."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.pending = 0
        self._read_offset = 0
        if self._lock_fd is not None:
            release_orphan(self.path, self._lock_fd, loaded=True)  # the spool is gone: its lock file too
            self._lock_fd = None

    def close(self) -> None:
        """Give up the lock (the file, if any lines are left, stays for a later import). Idempotent."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
