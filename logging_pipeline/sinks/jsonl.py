"""JSONL sink: the durable record, one event per line at ``<log_dir>/<session_id>.jsonl``.

With ``rotate_bytes`` the writer thread rotates the file the way ``dashboard.sources.rotated`` reads a set and
``dashboard.sources.follow`` follows one: once ``x.jsonl`` has passed ``rotate_bytes``, at the next line
boundary, older members shift (``x.jsonl.1`` → ``x.jsonl.2`` …), ``x.jsonl`` is renamed ``x.jsonl.1`` and a
fresh ``x.jsonl`` is opened; members beyond ``keep_files`` are deleted. A record is never split between two
members: while a failed write holds part of one, the file is not rotated.

With ``keep_days`` the sink deletes, at start and off the event loop, other sessions' JSONL sets in its directory
(``<uuid>.jsonl`` and its rotated members) whose newest member was last written more than ``keep_days`` days ago
(``prune_old_sessions``); files not named like a session's record are never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from arbdash.logging_pipeline.sinks.file_sink import FileSink
from arbdash.logging_pipeline.writer import BatchFileWriter


class RotatingFileWriter(BatchFileWriter):
    """A ``BatchFileWriter`` that rotates its file past ``rotate_bytes`` (see the module doc), in its own thread.

    ``rotations`` counts the renames done; ``rotate_error`` is the last rotation that failed (the writer then
    keeps appending to the file it has and tries again at the next batch)."""

    def __init__(self, path: Path, *, rotate_bytes: int, keep_files: int, **kwargs: Any) -> None:
        if rotate_bytes <= 0:
            raise ValueError(f"rotate_bytes must be > 0, got {rotate_bytes}")
        if keep_files < 1:
            raise ValueError(f"keep_files must be >= 1, got {keep_files}")
        super().__init__(path, **kwargs)
        self.rotate_bytes = rotate_bytes
        self.keep_files = keep_files
        self.rotations = 0
        self.rotate_error: str | None = None

    def _size(self) -> int:
        """Bytes of the open file plus the bytes held for it (a failed write's rest goes to this file)."""
        assert self._file is not None
        return os.fstat(self._file.fileno()).st_size + self._held_bytes

    def _write_batch(self, lines: Iterator[bytes]) -> None:
        limit = self.rotate_bytes
        size = self._size()
        if size >= limit and not self._held and self._rotate():
            size = 0
        can_rotate = True
        chunk: list[bytes] = []
        for line in lines:
            chunk.append(line)
            size += len(line) + 1
            if size >= limit and can_rotate:
                super()._write_batch(iter(chunk))
                chunk = []
                # rotate only with nothing held: a record is never split between two members
                if not self._held and self._rotate():
                    size = 0
                else:
                    can_rotate = False  # retried at the next batch
        super()._write_batch(iter(chunk))  # also the retry / last call at close with no new lines

    def _member(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _rotate(self) -> bool:
        """Shift the rotated members, rename the live file ``.1`` and open a fresh one. ``False`` (and
        ``rotate_error`` set) if it could not be done; the writer then keeps the file it has."""
        path = self.path
        pattern = re.compile(re.escape(path.name) + r"\.(\d+)(\.gz)?")
        try:
            found = sorted(
                (
                    (int(m.group(1)), m.group(2) or "", p)
                    for p in path.parent.iterdir()
                    if (m := pattern.fullmatch(p.name))
                ),
                reverse=True,
            )
            for n, gz, member in found:  # oldest first, so no rename lands on a member not yet moved
                if n >= self.keep_files:
                    member.unlink(missing_ok=True)
                else:
                    os.replace(member, path.with_name(f"{path.name}.{n + 1}{gz}"))
            os.replace(path, self._member(1))
        except OSError as exc:
            self.rotate_error = f"rotation failed: {type(exc).__name__}: {exc}"
            return False
        try:
            fresh = open(path, "ab", buffering=0)  # noqa: SIM115 - owned by the thread, closed in close()
        except OSError as exc:
            self.rotate_error = f"rotation failed: {type(exc).__name__}: {exc}"
            try:  # put the live file back and keep appending to it
                os.replace(self._member(1), path)
            except OSError:
                pass  # still written through the open handle, under its rotated name
            return False
        old, self._file = self._file, fresh
        assert old is not None
        old.close()
        self.rotations += 1
        self.rotate_error = None
        return True


#: A session's record or one of its rotated members: ``<uuid>.jsonl``, ``<uuid>.jsonl.3``, ``<uuid>.jsonl.2.gz``.
_SESSION_FILE = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl)(?:\.\d+(?:\.gz)?)?"
)


def prune_old_sessions(
    log_dir: Path, keep_days: float, *, keep: str | None = None, now: float | None = None
) -> list[Path]:
    """Delete the JSONL sets in ``log_dir`` (other than ``keep``, a ``<uuid>.jsonl`` name) whose newest member
    was modified more than ``keep_days`` days before ``now`` (epoch seconds; default: now). Returns the files
    deleted; a file that cannot be deleted (or stat'ed) is left, never raised."""
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    sets: dict[str, list[tuple[Path, float]]] = {}
    try:
        entries = list(log_dir.iterdir())
    except OSError:
        return []
    for entry in entries:
        m = _SESSION_FILE.fullmatch(entry.name)
        if m is None or m.group(1) == keep:
            continue
        try:
            if not entry.is_file():
                continue
            sets.setdefault(m.group(1), []).append((entry, entry.stat().st_mtime))
        except OSError:
            continue
    removed: list[Path] = []
    for files in sets.values():
        if max(mtime for _, mtime in files) >= cutoff:
            continue  # written within ``keep_days``: kept whole
        for path, _ in files:
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


class JsonlSink(FileSink):
    """Appends each serialised event plus ``\\n`` through a writer thread (flushed at least every 0.2 s); health
    and close as ``FileSink``. ``rotate_bytes`` (``None``: never) and ``keep_files``: rotation; ``keep_days``
    (``None``: never): other sessions' old records deleted at start (``pruned`` lists them); see the module doc."""

    name = "jsonl"

    def __init__(
        self,
        path: Path,
        *,
        flush_interval_s: float = 0.2,
        stall_after_s: float = 2.0,
        close_timeout_s: float = 10.0,
        rotate_bytes: int | None = None,
        keep_files: int = 10,
        keep_days: float | None = None,
    ) -> None:
        super().__init__(
            path,
            flush_interval_s=flush_interval_s,
            stall_after_s=stall_after_s,
            close_timeout_s=close_timeout_s,
            thread_name="jsonl-writer",
        )
        if rotate_bytes is not None:
            self._writer = RotatingFileWriter(
                self.path,
                rotate_bytes=rotate_bytes,
                keep_files=keep_files,
                flush_interval_s=flush_interval_s,
                name="jsonl-writer",
            )
        self.keep_days = keep_days
        self.pruned: list[Path] = []

    async def start(self) -> None:
        await super().start()
        if self.keep_days is not None:
            self.pruned = await asyncio.to_thread(
                prune_old_sessions, self.path.parent, self.keep_days, keep=self.path.name
            )

    def check(self) -> None:
        """As ``FileSink.check``; also ``degraded`` while rotation fails (the record still grows in one file)."""
        super().check()
        rotate_error = getattr(self._writer, "rotate_error", None)
        if rotate_error is not None and self.health == "ok":
            self.health = "degraded"
            self.health_reason = f"{rotate_error}; still writing to {self.path.name}"

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self._writer.submit(line)
        if self._writer.error is not None and self.health == "ok":
            self.health = "degraded"
            self.health_reason = self._writer.error
