"""The sink's overflow file: events that could not reach PostgreSQL and did not fit in memory.

The spool is plain JSONL — the original lines, oldest first — so a spool left behind (PostgreSQL still away at
exit, or a crash) is loaded like any session file (``arbtail --db DSN import FILE``); ``runbot`` does that by
itself at its next start (``claim_orphan``) when the spool is for the database it uses: the sidecar
``<spool>.target``, written before the spool exists, names that database (``dsn.dsn_target``: host, port,
database, search_path — never a user or password).

While a spool file exists its owner holds an exclusive ``flock`` on ``<spool>.lock``; the kernel drops it when
the process ends, however it ends, so a lock that can be taken marks a spool nobody is writing. Whoever deletes
the lock file does so while holding the lock, and whoever takes a lock checks afterwards that the file it
locked is still the one at ``<spool>.lock`` (not an unlinked inode: the owner may have discarded its spool and
started a new one meanwhile) — else it retries. Methods do blocking file I/O: the sink calls them through
``asyncio.to_thread``. Not thread-safe; one owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

SPOOL_SUFFIX = ".pgspool.jsonl"

#: how many times ``claim_orphan`` retries when the lock file it locked was replaced meanwhile
CLAIM_ATTEMPTS = 3
#: the owner retries until it holds the current lock file; beyond this many replacements it gives up (OSError)
OWNER_ATTEMPTS = 1000


def lock_path(spool: Path) -> Path:
    """The lock file beside a spool file."""
    return spool.with_name(spool.name + ".lock")


def target_path(spool: Path) -> Path:
    """The sidecar beside a spool file naming the database its events are for (``dsn.dsn_target``)."""
    return spool.with_name(spool.name + ".target")


def read_target(spool: Path) -> str | None:
    """The database a spool is for (as written by ``Spool``), or ``None`` when its sidecar is missing (a spool
    from a version that did not write one), empty or unreadable. Never raises."""
    try:
        return target_path(spool).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _holds_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file at ``path`` now (not an unlinked or replaced inode)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _take_lock(spool: Path, *, wait: bool) -> int | None:
    """An fd holding ``flock(LOCK_EX)`` on the spool's current lock file (created if missing), or ``None`` when
    another process holds it and ``wait`` is false, or (``wait`` false) when the lock file kept being replaced
    for ``CLAIM_ATTEMPTS`` tries. Raises ``OSError`` if the lock file cannot be opened, or (``wait``) if it was
    replaced ``OWNER_ATTEMPTS`` times in a row."""
    path = lock_path(spool)
    for _ in range(OWNER_ATTEMPTS if wait else CLAIM_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            if _holds_current(fd, path):
                return fd
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # locked a lock file that was unlinked (and maybe recreated) meanwhile: again
    if wait:
        raise OSError(f"{path}: the lock file keeps being replaced")
    return None


def _remove_all(spool: Path) -> None:
    """Delete a spool, its target and its lock file (call while holding the lock). Never raises for a missing
    file; raises other ``OSError``."""
    for p in (spool, target_path(spool), lock_path(spool)):  # the lock file last: it guards the others
        _unlink(p)


def claim_orphan(spool: Path) -> int | None:
    """Take the lock of a spool left by a process that has ended: returns the lock fd (``release_orphan`` it
    after loading the file) or ``None`` when a live process owns the spool or the file is gone (a lock file or
    target left without a spool is deleted then). Never raises (``None`` for an unreadable spool directory)."""
    try:
        fd = _take_lock(spool, wait=False)
        if fd is not None and not spool.exists():  # discarded by its owner, or loaded by another start
            try:
                _remove_all(spool)
            finally:
                os.close(fd)
            return None
    except OSError:
        return None
    return fd


def release_orphan(spool: Path, fd: int, *, loaded: bool) -> None:
    """Release a claimed spool; when ``loaded`` (everything is in PostgreSQL) delete it, its target and its
    lock file. Raises ``OSError`` if a file cannot be deleted (the fd is closed all the same)."""
    try:
        if loaded:
            _remove_all(spool)
    finally:
        os.close(fd)


class Spool:
    """An append-only JSONL file read back in chunks from a remembered offset.

    ``path`` is created (with parents) on first append, after its lock is taken and its ``target`` (the
    database the events are for, ``dsn.dsn_target``; ``None``: unknown, the spool is then only loaded by hand)
    is written beside it. ``pending`` counts lines appended but not yet acknowledged with ``commit``.
    """

    def __init__(self, path: Path, *, target: str | None = None) -> None:
        self.path = Path(path)
        self.target = target
        self.pending = 0
        self._read_offset = 0  # bytes before this offset are acknowledged (written to PG)
        self._lock_fd: int | None = None

    def append(self, lines: list[bytes]) -> None:
        """Append lines (each without newline) and flush to the OS. Raises ``OSError`` (disk full, permissions);
        a failed append leaves the file as it was (no torn line for the next append to merge with)."""
        if not lines:
            return
        if self._lock_fd is None:  # before the file exists: a claimer never sees an unlocked live spool
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _take_lock(self.path, wait=True)
        if self.target is not None and not os.path.exists(target_path(self.path)):
            self._write_target(self.target)
        data = memoryview(b"\n".join(lines) + b"\n")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no torn line left behind
                raise
        finally:
            os.close(fd)
        self.pending += len(lines)

    def _write_target(self, target: str) -> None:
        """Write ``<spool>.target`` atomically (a reader sees the whole name or no file). Raises ``OSError``."""
        final = target_path(self.path)
        tmp = final.with_name(final.name + ".tmp")
        try:
            tmp.write_text(target + "\n", encoding="utf-8")
            os.replace(tmp, final)
        except BaseException:
            _unlink(tmp)
            raise

    def read_chunk(self, max_lines: int) -> tuple[list[bytes], int]:
        """Up to ``max_lines`` unacknowledged lines and the offset just past them (pass it to ``commit``).
        Returns ``([], offset)`` when nothing is pending — or when the pending lines are not in the file (it
        was deleted or truncated by someone else: the caller must count them as lost). Raises ``OSError``."""
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
        """Delete the file, its target and its lock file, give up the lock and forget them (after a complete
        backfill; a later append starts a new spool). Never raises for a missing file; raises other
        ``OSError`` (the lock is given up all the same)."""
        self.pending = 0
        self._read_offset = 0
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            release_orphan(self.path, fd, loaded=True)  # deletes while holding the lock
        else:
            _unlink(self.path)

    def close(self) -> None:
        """Give up the lock. Lines left unacknowledged stay in the file (with its target) for a later import;
        with none left the file, target and lock file are deleted. Idempotent; never raises."""
        if self._lock_fd is None:
            return
        if self.pending == 0:
            with contextlib.suppress(OSError):
                self.discard()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
