"""Splitting a byte stream into JSONL lines, block by block, with memory bounded by the longest accepted line.

``LineSplitter.feed(chunk)`` returns the complete lines in ``chunk`` (without their ``\\n``) and keeps the
partial last line for the next call; a partial line that grows past ``max_line_bytes`` is dropped as it
arrives (never buffered whole) and reported once, when its newline arrives, as a ``too_long`` skip. Reading in
blocks and splitting with ``bytes.split`` is what makes replay fast (no per-line ``readline`` call).
"""

from __future__ import annotations

from collections.abc import Callable

#: Bytes read per ``read`` call (1 MiB).
BLOCK_BYTES = 1 << 20
#: Longest line a reader accepts (bytes). Checkpoint lines are well below this; a longer line is skipped.
MAX_LINE_BYTES = 16 * 1024 * 1024

SkipFn = Callable[[str, str], None]


class LineSplitter:
    """Incremental ``\\n`` splitter. ``on_skip(reason, detail)`` is called for an over-long line."""

    __slots__ = ("max_line_bytes", "on_skip", "_buf", "_dropping")

    def __init__(self, on_skip: SkipFn, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.on_skip = on_skip
        self._buf = b""
        self._dropping = -1  # ≥ 0: bytes of an over-long line dropped so far

    @property
    def pending(self) -> int:
        """Bytes of the partial last line held back (0 when the stream ends at a line boundary)."""
        return len(self._buf) if self._dropping < 0 else self._dropping

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines in ``chunk`` (``\\n`` removed, empty lines dropped), in order."""
        if self._dropping >= 0:
            i = chunk.find(b"\n")
            if i < 0:
                self._dropping += len(chunk)
                return []
            self.on_skip("too_long", f"a line of {self._dropping + i} bytes (limit {self.max_line_bytes})")
            self._dropping = -1
            chunk = chunk[i + 1:]
        data = self._buf + chunk if self._buf else chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        if len(tail) > self.max_line_bytes:
            self._dropping, self._buf = len(tail), b""
        else:
            self._buf = tail
        if b"" in lines:
            lines = [x for x in lines if x]
        return lines

    def feed_block(self, chunk: bytes) -> bytes:
        """The complete lines in ``chunk`` as one block, each still ending in ``\\n`` (``b""`` if none), for
        ``Reducer.feed_block``: the same lines ``feed`` returns (blank lines are dropped by the reader), without
        splitting them here. The partial last line is held back and an over-long one dropped exactly as ``feed``
        does."""
        if self._dropping >= 0:
            i = chunk.find(b"\n")
            if i < 0:
                self._dropping += len(chunk)
                return b""
            self.on_skip("too_long", f"a line of {self._dropping + i} bytes (limit {self.max_line_bytes})")
            self._dropping = -1
            chunk = chunk[i + 1:]
        data = self._buf + chunk if self._buf else chunk
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        if len(tail) > self.max_line_bytes:
            self._dropping, self._buf = len(tail), b""
        else:
            self._buf = tail
        return data[:end] if end < len(data) else data

    def reset(self) -> None:
        """Forget the partial line (the file was truncated or replaced)."""
        self._buf = b""
        self._dropping = -1

    def finish(self, where: str) -> None:
        """End of a finished stream: a partial last line is *torn* and counted (never parsed)."""
        if self._dropping >= 0:
            self.on_skip("too_long", f"a line of {self._dropping}+ bytes without a newline at the end of {where}")
        elif self._buf:
            self.on_skip("torn_line", f"{len(self._buf)} bytes without a newline at the end of {where}")
        self.reset()
