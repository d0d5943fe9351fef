"""Reading a session's JSONL file into a reducer: once (to the end) or following it as it grows.

Lines are read in binary, one at a time, so memory stays flat in the file's size and invalid UTF-8 reaches the
reducer (which counts it) instead of breaking the reader. A last line without its newline is *torn*: when the
file is read once it is counted as ``torn_line``; when following, it is kept until the rest of it arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import watchfiles


class LineSink(Protocol):
    def feed_line(self, raw: bytes) -> None: ...
    def note_skip(self, reason: str, detail: str = "") -> None: ...


class SourceError(Exception):
    """The path cannot be read as a log at all (missing, a directory, no permission). The message says why."""


def check_readable(path: Path) -> None:
    """Raise ``SourceError`` with an operator-readable reason if ``path`` cannot be opened as a log file."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a directory, expected a .jsonl file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise SourceError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from exc


def read_file(path: Path, sink: LineSink) -> int:
    """Feed every complete line of ``path`` to ``sink``; a torn last line is counted, not fed.

    Returns the byte offset just past the last complete line. Raises ``SourceError`` if the file is unreadable.
    """
    check_readable(path)
    offset = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                sink.note_skip("torn_line", f"{len(raw)} bytes without a newline at end of file")
                break
            offset += len(raw)
            if raw.strip():
                sink.feed_line(raw[:-1])
    return offset


async def follow_file(path: Path, sink: LineSink, *, start_offset: int = 0, poll_s: float = 0.5) -> AsyncIterator[int]:
    """Feed lines appended to ``path`` after ``start_offset`` as they arrive; yields after each batch (the number
    of lines fed) so the caller can redraw. Waits on filesystem notifications (watchfiles) and also wakes every
    ``poll_s`` seconds, which covers filesystems without notifications. A partial last line is held back until
    its newline arrives. If the file shrinks (truncated), reading restarts from its beginning."""
    offset = start_offset
    partial = b""
    watcher = watchfiles.awatch(
        path.parent, debounce=100, rust_timeout=int(poll_s * 1000), yield_on_timeout=True, recursive=False
    )
    async for _changes in watcher:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        if size < offset:
            offset, partial = 0, b""
            sink.note_skip("truncated", f"{path} shrank to {size} bytes; reading it again from the start")
        if size == offset:
            continue
        fed = 0
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(size - offset)
        offset += len(chunk)
        data = partial + chunk
        *lines, partial = data.split(b"\n")
        for raw in lines:
            if raw.strip():
                sink.feed_line(raw)
                fed += 1
        yield fed
        await asyncio.sleep(0)
